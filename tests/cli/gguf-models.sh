#!/bin/sh
# GGUF models wherever ft takes a model, and llama.cpp's own reading of the
# GGUF files ft writes.
#
# stories260K (../shared/data/llama2c) gets a 512-token SentencePiece
# tokenizer (spm512.py) and becomes a GGUF file through ft-convert. Then:
#  - ft-tokenize -m FILE.gguf tokenizes with the tokenizer in the file's
#    metadata, as --tokenizer with the tokenizer.json it came from does;
#  - ft-train -m FILE.gguf trains (full and LoRA) on text records, the full
#    model's output carries the GGUF's tokenizer as tokenizer.json, and
#    ft-convert makes that output a GGUF file with the same tokens, types
#    and special ids (as @huggingface/gguf reads them) and encodings;
#  - llama.cpp itself (node-llama-cpp's prebuilt library, tests/node/
#    llamacpp.mjs) loads the files ft wrote: its vocabulary type, special
#    ids and flags are those written, it tokenizes sentences into ft's ids and
#    back into the same text, generates greedily from BOS the 40 ids of
#    reference.tsv (an independent float64 implementation), and its
#    next-token probabilities over the 16 input positions are reference.tsv's
#    exp(logit - logsumexp) within 1e-4 relative; ft-eval's perplexity of
#    the sentences is llama.cpp's; the model ft-train wrote loads there too.
: "${FT_BIN:?}" "${FT_ROOT:?}"
data=${FT_DATA_DIR:-$FT_ROOT/../shared/data}
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
status=0
fail() { echo "FAIL: $*"; status=1; }
PY=/usr/bin/python3
MP="$FT_ROOT/tests/cli/mpjson.py"
NM="$FT_ROOT/tests/node/node_modules"

if ! [ -f "$data/llama2c/stories260K.bin" ]; then
    echo "skipped: no shared data at $data"
    exit 77
fi
have_node=0
node --version >/dev/null 2>&1 && [ -f "$NM/@huggingface/gguf/package.json" ] && have_node=1
have_llama=0
[ $have_node -eq 1 ] && [ -f "$NM/node-llama-cpp/package.json" ] && have_llama=1

$PY "$FT_ROOT/tests/cli/spm512.py" >tok512.json || { fail "spm512.py"; exit 1; }
"$FT_BIN/ft-convert" -q -m "$data/llama2c/stories260K.bin" --tokenizer tok512.json \
    -o s.gguf || { fail "stories260K -> GGUF with a tokenizer"; exit 1; }

# Sentences: plain, spaces and a tab, characters only byte fallback spells.
printf '%s\n' 'Once upon a time, Lily saw a cat.' 'The dog ran to the park and smiled!' \
    '  two  spaces, tab	here' 'unicode: café 漢字 😀' >texts.txt
$PY -c '
import json, sys
for i, l in enumerate(open(sys.argv[1], encoding="utf-8").read().split("\n")):
    if l:
        print(json.dumps({"id": i, "text": l}))' texts.txt | $PY "$MP" enc >texts.mp

# ------------------------------------------------------------- ft-tokenize
"$FT_BIN/ft-tokenize" -m s.gguf texts.mp | $PY "$MP" dec >gguf.jsonl ||
    fail "ft-tokenize -m s.gguf"
"$FT_BIN/ft-tokenize" --tokenizer tok512.json texts.mp | $PY "$MP" dec >json.jsonl ||
    fail "ft-tokenize --tokenizer tok512.json"
[ -s gguf.jsonl ] && cmp -s gguf.jsonl json.jsonl ||
    fail "ft-tokenize: the GGUF's tokenizer differs from its tokenizer.json"
grep -q '"tokens": \[1, ' gguf.jsonl || fail "ft-tokenize -m s.gguf: no BOS (add_bos_token)"
"$FT_BIN/ft-tokenize" -m s.gguf --no-special texts.mp | $PY "$MP" dec |
    $PY -c '
import json, sys
for i, l in enumerate(sys.stdin):
    print("tokens %d %s" % (i, " ".join(map(str, json.loads(l)["tokens"]))))' >ft.tokens

# ---------------------------------------------------------------- ft-train
$PY -c '
import json
for i in range(40):
    print(json.dumps({"id": i, "text": "Once upon a time, there was a little girl named Lily."}))' |
    $PY "$MP" enc >train.mp
"$FT_BIN/ft-train" -q -j 1 -m s.gguf --seq-len 16 -b 4 --max-steps 3 -o full train.mp \
    2>train.err || fail "ft-train -m s.gguf: $(cat train.err)"
[ -f full/tokenizer.json ] || fail "ft-train from a GGUF base wrote no tokenizer.json"
"$FT_BIN/ft-train" -q -j 1 -m s.gguf --method lora --seq-len 16 -b 4 --max-steps 3 -o lora \
    train.mp 2>train.err || fail "ft-train --method lora -m s.gguf: $(cat train.err)"
[ -f lora/adapter_model.safetensors ] || fail "ft-train --method lora: no adapter"
"$FT_BIN/ft-convert" -q -m full -o full.gguf || fail "ft-convert: trained model -> GGUF"
if [ $have_node -eq 1 ]; then
    for f in s full; do
        node "$FT_ROOT/tests/node/gguf-dump.mjs" "$f.gguf" |
            grep '^kv tokenizer\.' | grep -v '^kv tokenizer\.ggml\.scores ' >"$f.tok"
    done
    [ -s s.tok ] && cmp -s s.tok full.tok ||
        fail "the trained model's GGUF has other tokenizer keys than its base's"
fi
# Scores may be renumbered on the way through tokenizer.json's merge list;
# the encodings may not change.
"$FT_BIN/ft-tokenize" -m full texts.mp | $PY "$MP" dec | cmp -s - gguf.jsonl ||
    fail "the trained model's tokenizer.json encodes otherwise than its GGUF base"
"$FT_BIN/ft-tokenize" -m full.gguf texts.mp | $PY "$MP" dec | cmp -s - gguf.jsonl ||
    fail "the trained model's GGUF encodes otherwise than its GGUF base"

# ------------------------------------------------------ ft-eval, ft-label
# The GGUF file and the same model as a Hugging Face directory (ft-convert
# writes its tokenizer.json) give the same reports and labels; the
# perplexity is checked against llama.cpp below.
"$FT_BIN/ft-convert" -q -m s.gguf -o s-hf || fail "GGUF -> hf"
$PY -c '
import json
for i, (t, l) in enumerate([("Lily saw a cat.", "a"), ("The dog ran home.", "b"),
                            ("She loved to play.", "a"), ("Tom went to the store.", "b")]):
    print(json.dumps({"id": i, "text": t, "label": l}))' | $PY "$MP" enc >cls.mp
for m in s.gguf s-hf; do
    "$FT_BIN/ft-eval" -q -m "$m" --task lm texts.mp >"$m.lm.json" 2>eval.err ||
        fail "ft-eval --task lm -m $m: $(cat eval.err)"
    "$FT_BIN/ft-eval" -q -m "$m" --task classify --labels a,b --verbalizer a=happy,b=sad \
        cls.mp >"$m.cls.json" 2>eval.err || fail "ft-eval --task classify -m $m: $(cat eval.err)"
    "$FT_BIN/ft-label" -q -m "$m" --labels a,b --verbalizer a=happy,b=sad cls.mp |
        $PY "$MP" dec >"$m.label.jsonl" 2>eval.err || fail "ft-label -m $m: $(cat eval.err)"
done
for k in lm.json cls.json label.jsonl; do
    [ -s "s.gguf.$k" ] && cmp -s "s.gguf.$k" "s-hf.$k" ||
        fail "the GGUF model's $k differs from the same model's as a directory"
done

# --------------------------------------------------------------- llama.cpp
if [ $have_llama -eq 0 ]; then
    echo "(llama.cpp checks skipped: no node or node-llama-cpp in tests/node/node_modules)"
    exit $status
fi
ref="$data/llama2c/reference.tsv"
input=$(awk -F'\t' '$1 == "input" { print $2 }' "$ref")
llama() { node "$FT_ROOT/tests/node/llamacpp.mjs" "$@"; }
llama s.gguf --texts texts.txt --greedy 40 --eval "$input" --top 0 >llama.out 2>llama.err ||
    { fail "llama.cpp could not load or run s.gguf: $(tail -3 llama.err)"; exit 1; }

grep -qx 'vocab spm' llama.out || fail "llama.cpp: $(grep ^vocab llama.out), not spm"
grep -qx 'special bos 1 eos 2 nl 13 add_bos 1 add_eos 0' llama.out ||
    fail "llama.cpp special tokens: $(grep ^special llama.out)"
grep '^tokens ' llama.out >llama.tokens
cmp -s ft.tokens llama.tokens || { fail "llama.cpp tokenizes otherwise than ft"; diff ft.tokens llama.tokens; }
$PY - texts.txt llama.out <<'PY' || fail "llama.cpp detokenizes otherwise"
import json, sys
texts = [l for l in open(sys.argv[1], encoding="utf-8").read().split("\n") if l]
got = [json.loads(l.split(" ", 2)[2]) for l in open(sys.argv[2], encoding="utf-8")
       if l.startswith("text ")]
sys.exit(0 if got == texts else 1)
PY
want=$(awk -F'\t' '$1 == "greedy_from_bos" { print $3 }' "$ref")
[ "$(sed -n 's/^greedy //p' llama.out)" = "$want" ] ||
    fail "llama.cpp's greedy ids are not reference.tsv's: $(grep ^greedy llama.out)"
$PY - "$ref" llama.out <<'PY' || fail "llama.cpp's probabilities are not reference.tsv's"
import math, sys
ref = {}
for line in open(sys.argv[1]):
    if not line.startswith("#"):
        k, *v = line.rstrip("\n").split("\t")
        ref[k] = v
lse = [float(x) for x in ref["logsumexp_per_position"][0].split()]
probs = {}
for line in open(sys.argv[2]):
    if line.startswith("probs "):
        _, p, *rest = line.split()
        probs[int(p)] = {int(t): float(q) for t, q in (e.split(":") for e in rest)}
bad = 0
assert len(probs) == len(lse) == 16
for pos in range(16):
    assert abs(sum(probs[pos].values()) - 1) < 1e-4
    for item in ref["logits_top5_at_%d" % pos][0].split():
        t, logit = item.split(":")
        want = math.exp(float(logit) - lse[pos])
        got = probs[pos].get(int(t), -1)
        if abs(got - want) > 1e-4 * want:
            print("position %d token %s: llama.cpp %.8g, reference %.8g" % (pos, t, got, want))
            bad += 1
sys.exit(1 if bad else 0)
PY

# ft-eval's negative log-likelihood of the texts (each after BOS) is the
# sum of llama.cpp's.
seqs=$($PY -c '
import sys
print(";".join("1 " + " ".join(l.split()[2:]) for l in open(sys.argv[1])))' ft.tokens)
llama s.gguf --nll "$seqs" >nll.out 2>llama.err || fail "llama.cpp --nll: $(tail -3 llama.err)"
$PY - s.gguf.lm.json nll.out <<'PY' || fail "ft-eval's nll on the GGUF model is not llama.cpp's"
import json, sys
got = json.load(open(sys.argv[1]))["nll"]
want = sum(float(l.split()[2]) for l in open(sys.argv[2]) if l.startswith("nll "))
if not abs(got - want) <= 1e-5 * abs(want):
    print("ft-eval %.9g, llama.cpp %.9g" % (got, want))
    sys.exit(1)
PY

# The model ft-train wrote from the GGUF base, back in GGUF: llama.cpp
# loads it with the same vocabulary.
llama full.gguf --texts texts.txt >full.out 2>llama.err ||
    fail "llama.cpp could not load the trained model: $(tail -3 llama.err)"
grep '^tokens ' full.out | cmp -s - llama.tokens || fail "the trained model tokenizes otherwise"

# ------------------------------------------ byte-level vocabularies, llama.cpp
# GPT-2's vocabulary as a GPT-2-style tokenizer.json, as a Llama-3-style one
# (Split regex, ignore_merges, added specials; tok-oracle.mjs builds both and
# encodes its texts with @huggingface/tokenizers) and as a Qwen2-style one
# (the Llama 3 file with Qwen2's single-digit regex): each goes with a model
# pre-trained from scratch (ft-train --init --tokenizer) that ft-convert
# writes as GGUF ("gpt-2", "llama-bpe", "qwen2" in tokenizer.ggml.pre); so
# do vocabularies ft-vocab learns with each of its patterns. llama.cpp must
# tokenize every text as ft reading the same file does, and (GPT-2,
# Llama 3) as Hugging Face does except where Hugging Face's NFC changes the
# text (llama.cpp normalizes nothing).
node "$FT_ROOT/tests/node/tok-oracle.mjs" "$data" . hf-gpt2 --quick >/dev/null &&
    node "$FT_ROOT/tests/node/tok-oracle.mjs" "$data" . hf-llama3 --quick >/dev/null ||
    { fail "tok-oracle.mjs"; exit 1; }
$PY - hf-llama3.json >hf-qwen2.json <<'PY'
import json, sys
t = json.load(open(sys.argv[1], encoding="utf-8"))
split = t["pre_tokenizer"]["pretokenizers"][0]["pattern"]
split["Regex"] = split["Regex"].replace("\\p{N}{1,3}", "\\p{N}")
json.dump(t, sys.stdout)
PY
$PY -c '
import json, sys
for i, l in enumerate(open(sys.argv[1], encoding="utf-8").read().split("\n")):
    if l:
        print(json.dumps({"id": i, "text": json.loads(l)["text"]}))' hf-llama3.jsonl |
    $PY "$MP" enc >bl.mp
# ft-vocab's own vocabularies (600 tokens learnt from SST-2's training
# sentences) with each of its pre-tokenizer patterns, NFC for Qwen2's.
cut -f2 "$data/eda/sst2/train.tsv" | head -n 2000 | $PY -c '
import json, sys
for i, l in enumerate(sys.stdin):
    print(json.dumps({"id": i, "text": l.rstrip("\n")}))' | $PY "$MP" enc >corpus.mp
for p in gpt2 llama3 qwen2; do
    nfc=
    [ $p = qwen2 ] && nfc=--nfc
    "$FT_BIN/ft-vocab" -q --size 600 --pattern $p $nfc -o "vocab-$p.json" corpus.mp ||
        fail "ft-vocab --pattern $p"
done
# init NAME FAMILY VOCAB TOKENIZER: a 1-block model of FAMILY pre-trained
# for one update on the texts, written as GGUF.
init() {
    case $2 in
    gpt2) printf '{"model_type": "gpt2", "n_embd": 16, "n_layer": 1, "n_head": 2,
        "n_positions": 64, "vocab_size": %d}\n' "$3" ;;
    *) printf '{"model_type": "%s", "hidden_size": 16, "intermediate_size": 32,
        "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
        "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "vocab_size": %d}\n' "$2" "$3" ;;
    esac >"$1.cfg.json"
    "$FT_BIN/ft-train" -q -j 1 --init "$1.cfg.json" --tokenizer "$4" --seq-len 16 -b 2 \
        --max-steps 1 -o "$1.dir" bl.mp 2>"$1.err" &&
        "$FT_BIN/ft-convert" -q -m "$1.dir" -o "$1.gguf" 2>>"$1.err"
}
for spec in gpt2:gpt2:50257:hf-gpt2:gpt-2 llama:llama:50262:hf-llama3:llama-bpe \
    qwen2:qwen2:50262:hf-qwen2:qwen2 vocab-gpt2:gpt2:600:vocab-gpt2:gpt-2 \
    vocab-llama3:llama:600:vocab-llama3:llama-bpe vocab-qwen2:qwen2:600:vocab-qwen2:qwen2; do
    IFS=: read -r name fam vocab tj pre <<EOS
$spec
EOS
    init "bl-$name" "$fam" "$vocab" "$tj.json" || { fail "$name: $(cat "bl-$name.err")"; continue; }
    node "$FT_ROOT/tests/node/gguf-dump.mjs" "bl-$name.gguf" |
        grep -qx "kv tokenizer.ggml.pre string \"$pre\"" || fail "$name: tokenizer.ggml.pre is not $pre"
    texts=hf-llama3.jsonl
    [ "$name" = gpt2 ] && texts=hf-gpt2.jsonl
    if [ "$name" = gpt2 ]; then
        $PY -c '
import json, sys
for i, l in enumerate(open(sys.argv[1], encoding="utf-8").read().split("\n")):
    if l:
        print(json.dumps({"id": i, "text": json.loads(l)["text"]}))' hf-gpt2.jsonl |
            $PY "$MP" enc >bl-gpt2.mp
        mp=bl-gpt2.mp
    else
        mp=bl.mp
    fi
    llama "bl-$name.gguf" --texts "$texts" --special 1 >"bl-$name.out" 2>llama.err ||
        { fail "$name: llama.cpp could not load it: $(tail -3 llama.err)"; continue; }
    "$FT_BIN/ft-tokenize" -m "bl-$name.gguf" "$mp" | $PY "$MP" dec >"bl-$name.ft" ||
        fail "$name: ft-tokenize"
    $PY - "$texts" "bl-$name.out" "bl-$name.ft" "$name" <<'PY' || fail "$name: llama.cpp, ft and Hugging Face disagree"
import json, sys, unicodedata
oracle = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8").read().split("\n") if l]
llama = [[int(x) for x in l.split()[2:]] for l in open(sys.argv[2], encoding="utf-8")
         if l.startswith("tokens ")]
ft = [json.loads(l)["tokens"] for l in open(sys.argv[3], encoding="utf-8")]
assert len(oracle) == len(llama) == len(ft) > 200, (len(oracle), len(llama), len(ft))
bad = nfc = 0
for o, l, f in zip(oracle, llama, ft):
    if l != f:
        print("%s: %r: llama.cpp %s, ft %s" % (sys.argv[4], o["text"][:60], l[:12], f[:12]))
        bad += 1
    if sys.argv[4] == "qwen2" or sys.argv[4].startswith("vocab-"):
        continue  # no Hugging Face ids for these vocabularies
    if unicodedata.normalize("NFC", o["text"]) != o["text"] and sys.argv[4] != "gpt2":
        nfc += 1
    elif l != o["ids"]:
        print("%s: %r: llama.cpp %s, Hugging Face %s" % (sys.argv[4], o["text"][:60], l[:12],
                                                          o["ids"][:12]))
        bad += 1
sys.exit(1 if bad else 0)
PY
done

# --------------------------------------- PyTorch's models, run by llama.cpp
# The engine's PyTorch reference (tests/ref/engine_ref.py, float64) makes
# tiny random llama, mistral (filed under llama), qwen2 (q/k not permuted,
# biases), gpt2 (fused attn_qkv, position_embd) and Llama-3-rope-scaled
# (rope_freqs.weight) models; ft-convert writes them as GGUF with a 97-token
# byte-level vocabulary, and llama.cpp's next-token probabilities over the
# first batch row are PyTorch's softmax within 1e-4 relative (for
# probabilities above 1e-3; gpt2 1e-2, ggml's GELU goes through an f16
# table). An f16 llama and a bf16 qwen2 (PyTorch computing from the same
# rounded weights) within 2e-2 and 1e-1: llama.cpp rounds the activations
# it multiplies with them to that type too.
if ! /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
    echo "(PyTorch models in llama.cpp skipped: /usr/bin/python3 has no torch)"
    exit $status
fi
$PY - >tok97.json <<'PY'
import json
toks = [chr(c) for c in range(33, 127)] + ["\u0120", "\u010a", "<|endoftext|>"]
json.dump({"version": "1.0", "truncation": None, "padding": None,
           "added_tokens": [{"id": 96, "content": "<|endoftext|>", "single_word": False,
                             "lstrip": False, "rstrip": False, "normalized": False,
                             "special": True}],
           "normalizer": None,
           "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False,
                             "trim_offsets": True, "use_regex": True},
           "post_processor": None, "decoder": {"type": "ByteLevel"},
           "model": {"type": "BPE", "vocab": {t: i for i, t in enumerate(toks)},
                     "merges": []}}, open(1, "w"))
PY
for spec in llama::f32:1e-4 mistral::f32:1e-4 qwen2::f32:1e-4 gpt2::f32:1e-2 \
    llama:llama3:f32:1e-4 llama::f16:2e-2 qwen2::bf16:1e-1; do
    IFS=: read -r fam rope dt tol <<EOS
$spec
EOS
    name="pt-$fam-$rope-$dt"
    set -- --family "$fam" --out "$name" --dtype "$dt"
    [ -n "$rope" ] && set -- "$@" --rope-scaling "$rope"
    /usr/bin/python3 "$FT_ROOT/tests/ref/engine_ref.py" "$@" >/dev/null ||
        { fail "$name: engine_ref.py"; continue; }
    "$FT_BIN/ft-convert" -q -m "$name" --tokenizer tok97.json -o "$name.gguf" ||
        { fail "$name: ft-convert"; continue; }
    ids=$(/usr/bin/python3 -c '
import sys
sys.path.insert(0, sys.argv[1])
import hfref
t, _ = hfref.st_read(sys.argv[2])
print(" ".join(str(int(x)) for x in t["tokens"][0]))' "$FT_ROOT/tests/ref" "$name/expected.safetensors")
    llama "$name.gguf" --eval "$ids" --top 0 >"$name.out" 2>llama.err ||
        { fail "$name: llama.cpp could not run it: $(tail -3 llama.err)"; continue; }
    /usr/bin/python3 - "$FT_ROOT/tests/ref" "$name/expected.safetensors" "$name.out" "$tol" \
        <<'PY' || fail "$name: llama.cpp's probabilities are not PyTorch's"
import math, sys
sys.path.insert(0, sys.argv[1])
import hfref
t, _ = hfref.st_read(sys.argv[2])
logits = t["logits"][0].double()
probs = {}
for line in open(sys.argv[3]):
    if line.startswith("probs "):
        _, p, *rest = line.split()
        probs[int(p)] = {int(a): float(b) for a, b in (e.split(":") for e in rest)}
T, V = logits.shape
assert len(probs) == T and all(len(p) == V for p in probs.values())
worst = 0
for pos in range(T):
    ls = logits[pos] - logits[pos].logsumexp(0)
    for i in range(V):
        want = math.exp(ls[i].item())
        worst = max(worst, abs(probs[pos][i] - want) / max(want, 1e-3))
if worst > float(sys.argv[4]):
    print("worst relative difference %.3g" % worst)
    sys.exit(1)
PY
done
exit $status
