#!/bin/sh
# ft-merge against independent values:
# - merged models (Llama, Qwen2 with lm_head on a tied base, GPT-2; one
#   adapter, a weighted pair, an rsLoRA one, LoRA on the embedding (tied
#   pairs untied); f32 and bf16 outputs; the real
#   stories260K with an adapter from ft-train) are read back by
#   tests/ref/merge_ref.py, which computes W + sum w s B A in float64 from
#   the files it wrote and the logits of the unmerged base + adapters;
# - gguf-lora files are read by @huggingface/gguf: keys, names, dimensions
#   and types against a table from llama.cpp's conventions, and merge_ref.py
#   recomputes every A, every permuted w s B and base + B A against the
#   merged GGUF;
# - the survival report against the hand-worked case of ft-merge(1);
# - --inspect's lines; help and man page; every kind of bad input (one line
#   on stderr, exit 1, usage exit 2, nothing left at the output path).
set -u
: "${FT_ROOT:=$(pwd)}"
: "${FT_BIN:=$FT_ROOT/bin}"
data=${FT_DATA_DIR:-$FT_ROOT/../shared/data}
PY=/usr/bin/python3
REF="$FT_ROOT/tests/ref/merge_ref.py"
MP="$FT_ROOT/tests/cli/mpjson.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
status=0
fail() { echo "FAIL: $*"; status=1; }
run() { "$@" >out 2>err; rc=$?; }
expect() {
    [ "$rc" -eq "$2" ] || fail "$1: exit status $rc, expected $2 ($(cat err))"
    [ "$(wc -l <err)" -eq 1 ] || fail "$1: stderr is not one line: $(cat err)"
    grep -qF -- "$3" err || fail "$1: stderr lacks '$3': $(cat err)"
}
nothing_at() { [ ! -e "$1" ] || fail "$2: $1 was left behind"; }
merge() { "$FT_BIN/ft-merge" -j 1 "$@"; }
ref() { $PY "$REF" "$@" >ref.out || fail "merge_ref.py $*: $(cat ref.out)"; }

if ! $PY -c 'import torch' >/dev/null 2>&1; then
    echo "skipped: /usr/bin/python3 cannot import torch"
    exit 77
fi

# --- Help and man page ---------------------------------------------------------
run merge --help
[ "$rc" -eq 0 ] && grep -q "^usage: ft-merge" out || fail "--help"
for opt in $(grep -o -- '--[a-z][a-z0-9-]*' out | sort -u); do
    grep -qF -- "$(echo "$opt" | sed 's/-/\\-/g')" "$FT_ROOT/man/ft-merge.1" ||
        fail "man page lacks $opt"
done
grep -q '^| `ft-merge`' "$FT_ROOT/README.md" || fail "README has no ft-merge line"

# --- Merged models against the float64 reference --------------------------------
for f in llama qwen2 gpt2; do
    head=
    [ $f = qwen2 ] && head=--head
    ref make --family $f --out $f $head
    merge -q -m $f/model -a $f/a1 -a $f/a2 --weights 0.7,-1.5 -o $f/m2 --dtype f32 ||
        fail "$f: weighted merge"
    ref check --base $f/model --adapter $f/a1 --adapter $f/a2 --weights=0.7,-1.5 \
        --merged $f/m2 --logits
    merge -q -m $f/model -a $f/a2 -o $f/rs || fail "$f: rsLoRA merge"
    ref check --base $f/model --adapter $f/a2 --merged $f/rs --logits
    merge -q -m $f/model -a $f/a1 -o $f/bf --dtype bf16 || fail "$f: bf16 merge"
    ref check --base $f/model --adapter $f/a1 --merged $f/bf --dtype bf16
done
# adapters ft-train made for the tiny Qwen2 and GPT-2 (all-linear; f16 out)
$PY -c '
import json
for r in range(16):
    print(json.dumps({"id": r, "tokens": [(7 * r + 5 * i) % 97 for i in range(17)]}))
' | $PY "$MP" enc >d97.mp
for f in qwen2 gpt2; do
    "$FT_BIN/ft-train" -j 1 -q -m $f/model --method lora --lora-targets all-linear \
        --seq-len 16 -b 4 --max-steps 3 --lr 5e-2 -o $f/ft.lora d97.mp || fail "$f: ft-train"
    merge -q -m $f/model -a $f/ft.lora -o $f/ftm --dtype f32 || fail "$f: ft-train adapter"
    ref check --base $f/model --adapter $f/ft.lora --merged $f/ftm --logits
    merge -q -m $f/model -a $f/ft.lora -o $f/ftm16 --dtype f16 || fail "$f: f16 merge"
    ref check --base $f/model --adapter $f/ft.lora --merged $f/ftm16 --dtype f16
done

# a check that must fail: the weights swapped
$PY "$REF" check --base llama/model --adapter llama/a1 --adapter llama/a2 \
    --weights=-1.5,0.7 --merged llama/m2 >ref.out && fail "merge_ref.py accepts swapped weights"
grep -q "^FAIL model.layers.0.self_attn.q_proj.weight: max |got - want|" ref.out ||
    fail "merge_ref.py on swapped weights: $(cat ref.out)"

# Qwen2's lm_head on a tied base: untied, said on stderr and in config.json
run merge -m qwen2/model -a qwen2/a1 -o qwen2/untied --dtype f32
[ "$rc" -eq 0 ] || fail "qwen2 untie: exit $rc"
grep -q "ties to the embedding: the output gets its own lm_head" err ||
    fail "qwen2 untie: not said on stderr: $(head -2 err)"
grep -q '"tie_word_embeddings": false' qwen2/untied/config.json ||
    fail "qwen2 untie: config.json still tied"

# PEFT's LoRA on the embedding (lora_embedding_A/B): untied Llama with a
# weighted pair; tied Qwen2 with the embedding alone (untied: lm_head keeps
# the base's embedding); tied GPT-2 (tensors only: the reference runs GPT-2
# tied); not written to llama.cpp adapter files
ref make --family llama --out el --embed
merge -q -m el/model -a el/a1 -a el/a2 --weights 0.7,-1.5 -o el/m --dtype f32 ||
    fail "llama embedding merge"
ref check --base el/model --adapter el/a1 --adapter el/a2 --weights=0.7,-1.5 --merged el/m \
    --logits
ref make --family qwen2 --out eq --embed
run merge -m eq/model -a eq/a1 -o eq/m --dtype f32
[ "$rc" -eq 0 ] || fail "qwen2 embedding merge: $(cat err)"
grep -q "an adapter changes the embedding, which eq/model ties to the classifier" err ||
    fail "qwen2 embedding untie: not said on stderr: $(head -1 err)"
ref check --base eq/model --adapter eq/a1 --merged eq/m --logits
ref make --family gpt2 --out eg --embed
merge -q -m eg/model -a eg/a1 -o eg/m --dtype f32 || fail "gpt2 embedding merge"
ref check --base eg/model --adapter eg/a1 --merged eg/m
run merge -m eg/model -a eg/a1 -o eg.gguf --format gguf-lora
expect "embedding to gguf-lora" 1 "LoRA on the token embedding is not written to llama.cpp"
nothing_at eg.gguf "embedding to gguf-lora"

# the real stories260K (Llama 2 shape, tied) with an adapter ft-train made
if [ -f "$data/llama2c/hf/config.json" ]; then
    $PY -c '
import json
for r in range(16):
    print(json.dumps({"id": r, "tokens": [(7 * r + 5 * i) % 512 for i in range(17)]}))
' | $PY "$MP" enc >data.mp
    "$FT_BIN/ft-train" -j 1 -q -m "$data/llama2c/hf" --method lora --lora-targets all-linear \
        --rslora --lora-r 4 --lora-alpha 8 --seq-len 16 -b 4 --max-steps 3 --lr 5e-2 \
        -o st.lora data.mp || fail "ft-train on stories260K"
    merge -q -m "$data/llama2c/hf" -a st.lora -o st --dtype f32 || fail "stories merge"
    ref check --base "$data/llama2c/hf" --adapter st.lora --merged st --logits

    # llama.cpp itself (node-llama-cpp): the base GGUF with the gguf-lora
    # adapter applied gives the merged GGUF's next-token probabilities, all
    # 512 of them after each of 5 tokens, within 1e-5; the base alone does
    # not (the adapter, rsLoRA at 8/sqrt(4), must change them by > 1e-2).
    NM="$FT_ROOT/tests/node/node_modules"
    if [ -f "$NM/node-llama-cpp/package.json" ] && node --version >/dev/null 2>&1; then
        $PY "$FT_ROOT/tests/cli/spm512.py" >tok512.json || fail "spm512.py"
        "$FT_BIN/ft-convert" -q -m "$data/llama2c/hf" --tokenizer tok512.json -o sbase.gguf ||
            fail "stories260K base GGUF"
        merge -q -m "$data/llama2c/hf" -a st.lora --tokenizer tok512.json -o smerged.gguf \
            --dtype f32 || fail "stories merged GGUF"
        merge -q -m sbase.gguf -a st.lora --format gguf-lora -o slora.gguf ||
            fail "stories gguf-lora"
        ids="1 50 100 7 300"
        lc() { node "$FT_ROOT/tests/node/llamacpp.mjs" "$@" --eval "$ids" --top 0; }
        lc sbase.gguf >p-base || fail "llama.cpp: base"
        lc sbase.gguf --lora slora.gguf >p-lora || fail "llama.cpp: base + gguf-lora"
        lc smerged.gguf >p-merged || fail "llama.cpp: merged"
        $PY - p-lora p-merged p-base <<'PYEOF' || fail "llama.cpp: adapter vs merged"
import sys
def probs(path):
    out = {}
    for line in open(path):
        f = line.split()
        if f and f[0] == "probs":
            out[int(f[1])] = {int(t): float(p) for t, p in (x.split(":") for x in f[2:])}
    return out
a, m, b = (probs(p) for p in sys.argv[1:])
assert len(a) == 5 and all(len(a[p]) == 512 for p in a), "not 5 x 512 probabilities"
d = max(abs(a[p][t] - m[p].get(t, 0)) for p in a for t in a[p])
e = max(abs(b[p][t] - m[p].get(t, 0)) for p in b for t in b[p])
print("max |lora - merged| %.3g, max |base - merged| %.3g" % (d, e))
sys.exit(0 if d < 1e-5 and e > 1e-2 else 1)
PYEOF
    else
        echo "note: no node-llama-cpp; llama.cpp checks not run"
    fi
else
    echo "note: no $data/llama2c/hf; stories260K case not run"
fi

# --- gguf-lora: the file llama.cpp reads -----------------------------------------
if [ -f "$FT_ROOT/tests/node/node_modules/@huggingface/gguf/package.json" ] &&
    node --version >/dev/null 2>&1; then
    for f in llama gpt2; do
        "$FT_BIN/ft-convert" -q -m $f/model -o $f/base.gguf || fail "$f: base GGUF"
        merge -q -m $f/model -a $f/a1 -a $f/a2 --weights 0.7,-1.5 -o $f/merged.gguf \
            --dtype f32 || fail "$f: merged GGUF"
        merge -q -m $f/model -a $f/a1 -a $f/a2 --weights 0.7,-1.5 -o $f/lora.gguf \
            --format gguf-lora || fail "$f: gguf-lora"
        ref gguf --base $f/model --adapter $f/a1 --adapter $f/a2 --weights=0.7,-1.5 \
            --lora $f/lora.gguf --base-gguf $f/base.gguf --merged-gguf $f/merged.gguf
    done
    # rsLoRA alone, f16: the scale 4/sqrt(8) is in B, alpha is 0
    merge -q -m llama/model -a llama/a2 -o rs.gguf --format gguf-lora --dtype f16 ||
        fail "rsLoRA gguf-lora"

    # The table, from llama.cpp's conventions (convert_lora_to_gguf.py and
    # the base's set_gguf_parameters; llama-adapter.cpp's checks): the
    # llama base's keys, general.type adapter, adapter.type lora, alpha 0,
    # lora_a ne [in, r] and lora_b ne [r, out], F16 as asked. Tiny llama:
    # hidden 64, 4 heads of 16, 2 kv heads, intermediate 96, 2 layers,
    # vocab 97, context 64; a2 adapts q_proj and v_proj with r 8.
    node "$FT_ROOT/tests/node/gguf-dump.mjs" rs.gguf >rs.dump || fail "gguf-dump rs.gguf"
    sed 's/^\(tensor .*\) [0-9]*$/\1/; /^data_offset /d' rs.dump | sort >rs.got
    {
        cat <<'EOF'
version 3
kv general.architecture string "llama"
kv general.file_type uint32 1
kv general.type string "adapter"
kv adapter.type string "lora"
kv adapter.lora.alpha float32 0
kv llama.vocab_size uint32 97
kv llama.context_length uint32 64
kv llama.embedding_length uint32 64
kv llama.block_count uint32 2
kv llama.feed_forward_length uint32 96
kv llama.attention.head_count uint32 4
kv llama.attention.head_count_kv uint32 2
kv llama.rope.freq_base float32 10000
kv llama.attention.layer_norm_rms_epsilon float32 0.00001
kv llama.rope.dimension_count uint32 16
EOF
        for n in 0 1; do
            cat <<EOF
tensor blk.$n.attn_q.weight.lora_a F16 64,8
tensor blk.$n.attn_q.weight.lora_b F16 8,64
tensor blk.$n.attn_v.weight.lora_a F16 64,8
tensor blk.$n.attn_v.weight.lora_b F16 8,32
EOF
        done
    } | sort >rs.want
    cmp -s rs.want rs.got || { fail "gguf-lora table"; diff rs.want rs.got; }

    # --inspect reads it back: rank 8, scale 1 (alpha 0), fits the base
    run merge --inspect rs.gguf -m llama/model
    [ "$rc" -eq 0 ] || fail "--inspect rs.gguf: exit $rc"
    grep -qx "module blk.0.attn_q.weight rank 8 scale 1" out || fail "--inspect gguf-lora rank"
    grep -qx "fits llama/model yes" out || fail "--inspect gguf-lora fits"
    run merge --inspect rs.gguf -m gpt2/model
    [ "$rc" -eq 1 ] && grep -q "^fits gpt2/model no: the adapter is for llama" out ||
        fail "--inspect gguf-lora on another base: $rc $(tail -1 out)"
else
    echo "note: no node or @huggingface/gguf; gguf-lora checks not run"
fi

# --- The survival report: the hand-worked case of ft-merge(1) -----------------
# q_proj all 1.0 in bf16 (unit in the last place 2^-7 there), r 1, alpha 1:
# rows 0-31 get 2^-9 (16 columns), 2^-7 (16), 3*2^-9 (32). bf16 keeps 1,
# 1 + 2^-7, 1 + 2^-7: errors -2^-9, 0, +2^-9; per row sum of squares
# 48 * 2^-18 against 560 * 2^-18 for the update: lost sqrt(48/560) = 29.3%,
# unchanged 16 of 64 = 25.0%; rms 2^-9 * sqrt(32 * 560 / 4096) = 0.00409.
# f16 (unit 2^-10) and f32 hold every value: 0.0% lost.
ref survival --out sv
Q=model.layers.0.self_attn.q_proj.weight
run merge -m sv/model -a sv/adapter -o sv/bf
want="ft-merge: $Q: update rms 0.00409; as bf16 29.3% of it lost,"
grep -qx "$want 25.0% of its entries unchanged" err ||
    fail "survival bf16: $(head -1 err)"
grep -qx "ft-merge: tensors merged: 1; the most lost: 29.3% of $Q" err ||
    fail "survival summary: $(sed -n 2p err)"
run merge -m sv/model -a sv/adapter -o sv/f16 --dtype f16
want="ft-merge: $Q: update rms 0.00409; as f16 0.0% of it lost,"
grep -qx "$want 0.0% of its entries unchanged" err ||
    fail "survival f16: $(head -1 err)"
# weight 1/4: 2^-11, 2^-9, 3*2^-11 are all below half a unit (2^-8): every
# entry rounds back, 100% lost, 100% unchanged, and a warning says so
run merge -m sv/model -a sv/adapter --weights 0.25 -o sv/q
want="ft-merge: $Q: update rms 0.00102; as bf16 100.0% of it lost,"
grep -qx "$want 100.0% of its entries unchanged" err ||
    fail "survival 1/4: $(head -1 err)"
grep -q "warning: rounding to the output type loses most of the update of 1 tensors" err ||
    fail "survival warning: $(cat err)"
run merge -q -m sv/model -a sv/adapter -o sv/quiet
[ "$rc" -eq 0 ] && [ ! -s err ] || fail "-q: stderr not empty: $(cat err)"

# --- --inspect -------------------------------------------------------------------
run merge --inspect llama/a2 -m llama/model
[ "$rc" -eq 0 ] || fail "--inspect a2: exit $rc"
grep -qx "kind lora" out || fail "--inspect kind"
grep -qx "scale 1.41421356 (lora_alpha/sqrt(r), rsLoRA)" out || fail "--inspect rsLoRA scale"
grep -qx "tensor base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight F32 8,64" out ||
    fail "--inspect tensor line"
grep -qx "fits llama/model yes" out || fail "--inspect fits"
run merge --inspect llama/a1 -m gpt2/model
[ "$rc" -eq 1 ] && grep -q "^fits gpt2/model no: .*the model has no module" out ||
    fail "--inspect another base: $rc $(tail -1 out)"
run merge --inspect qwen2/a1 -m qwen2/model
grep -qx "note merging unties lm_head from the embedding of qwen2/model" out ||
    fail "--inspect untie note"
run merge --inspect qwen2/model
grep -qx "tied yes" out && grep -qx "kv_heads 2" out || fail "--inspect model"

# --- Bad input ----------------------------------------------------------------------
run merge -m llama/model -a nowhere -o x
expect "missing adapter" 1 "nowhere/adapter_config.json"
nothing_at x "missing adapter"
run merge -m gpt2/model -a llama/a1 -o x
expect "another base" 1 "the model has no module model.layers.0.self_attn.q_proj"
nothing_at x "another base"
if [ -f "$data/llama2c/hf/config.json" ]; then
    run merge -m "$data/llama2c/hf" -a llama/a1 -o x
    expect "shape mismatch" 1 \
        "mlp.gate_proj.lora_B.weight has shape [96, 4], this model needs [172, 4]"
    nothing_at x "shape mismatch"
fi
# a P-tuning v2 adapter ft-train made: refused with exit 2, described by --inspect
"$FT_BIN/ft-train" -j 1 -q -m llama/model --method ptuning --prefix-len 4 --seq-len 16 -b 4 \
    --max-steps 1 -o prefix d97.mp || fail "ft-train --method ptuning"
run merge -m llama/model -a prefix -o x
expect "prefix adapter" 2 "a P-tuning v2 (prefix) adapter changes no weight and cannot be \
merged; load it at inference instead (-a prefix)"
nothing_at x "prefix adapter"
run merge -m llama/model -a llama/a1 -a prefix -o x
expect "prefix adapter second" 2 "prefix: a P-tuning v2 (prefix) adapter"
run merge --inspect prefix -m llama/model
[ "$rc" -eq 0 ] && grep -qx "kind prefix" out && grep -qx "fits llama/model yes" out &&
    grep -qx "tensor prompt_embeddings F32 4,128" out || fail "--inspect prefix: $(cat out)"
run merge -m qwen2/model -a qwen2/a1 -o x.gguf --format gguf-lora
expect "tied head to gguf-lora" 1 "llama.cpp's file of this model has no output.weight"
nothing_at x.gguf "tied head to gguf-lora"
cp llama/m2/config.json before.json
run merge -m llama/model -a llama/a1 -o llama/m2
expect "existing output" 1 "llama/m2: already exists (use --force to replace it)"
cmp -s before.json llama/m2/config.json || fail "existing output was changed"
merge -q -f -m llama/model -a llama/a1 -o llama/m2 --dtype f32 || fail "--force"
ref check --base llama/model --adapter llama/a1 --merged llama/m2
run merge -m llama/model -a llama/a1 -a llama/a2 --weights 1 -o x
expect "weights count" 2 "--weights: 1 weights for 2 adapters"
run merge -m llama/model -a llama/a1 -o x --format safetensors
expect "bad format" 2 "--format: \"safetensors\" is not hf, gguf or gguf-lora"
run merge -m llama/model -o x
expect "no adapter" 2 "-m MODEL, -a ADAPTER and -o OUT are needed"
run merge -m llama/model -a llama/a1 -o x --weights 1,x
expect "bad weight" 2 "--weights"
# a disk that fills: writes fail (file size limit, SIGXFSZ ignored), nothing left
(trap '' XFSZ; ulimit -f 40; exec "$FT_BIN/ft-merge" -q -m llama/model -a llama/a1 -o full) \
    >out 2>err
rc=$?
expect "disk full" 1 "full"
nothing_at full "disk full"
[ -z "$(ls -a | grep '^\.full')" ] || fail "disk full: a temporary was left: $(ls -a)"
(trap '' XFSZ; ulimit -f 4; exec "$FT_BIN/ft-merge" -q -m llama/model -a llama/a1 \
    -o full.gguf --format gguf-lora --dtype f32) >out 2>err
rc=$?
expect "disk full gguf-lora" 1 "full.gguf"
nothing_at full.gguf "disk full gguf-lora"
[ -z "$(ls -a | grep '^\.full')" ] || fail "disk full: a temporary was left: $(ls -a)"

exit $status
