#!/bin/sh
# ft-gen: generation against independent values. stories260K in its four
# forms (llama2.c .bin, Hugging Face directory, tar archive, GGUF) gives the
# greedy ids of the shared reference.tsv (read from the file); -n, EOS,
# --stop-ids and the end of the context cut that list where the list says;
# seeded sampling repeats; top-k and top-p keep exactly the candidates that
# tests/cli/gen_oracle.py (float64 PyTorch, from the model files) computes,
# drawn with its probabilities; text prompts through GPT-2's tokenizer (the
# shared encoder.json: "Hello world" is 15496 995) and text out as the
# oracle decodes it, --stop strings; LoRA adapters applied unmerged give what
# the merged weights give and what the oracle's own LoRA layers give;
# prefix-tuning adapters (plain and projected, Llama and GPT-2) give the
# oracle's greedy ids; every kind of bad input is one line and exit 1 or 2.
: "${FT_BIN:?}" "${FT_ROOT:?}"
data=${FT_DATA_DIR:-$FT_ROOT/../shared/data}
PY=/usr/bin/python3
OR="$FT_ROOT/tests/cli/gen_oracle.py"
REF="$FT_ROOT/tests/ref"
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
status=0
fail() { echo "FAIL: $*"; status=1; }
gen() { "$FT_BIN/ft-gen" -j 1 "$@"; }
run() { "$@" >out 2>err; rc=$?; }
expect() {
    [ "$rc" -eq "$2" ] || fail "$1: exit status $rc, expected $2 ($(cat err))"
    [ "$(wc -l <err)" -eq 1 ] || fail "$1: stderr is not one line: $(cat err)"
    grep -qF -- "$3" err || fail "$1: stderr lacks '$3': $(cat err)"
}
same() { [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"; }

if ! [ -f "$data/llama2c/stories260K.bin" ]; then
    echo "skipped: no shared data at $data"
    exit 77
fi
if ! $PY -c 'import torch' 2>/dev/null; then
    echo "skipped: $PY has no torch (scripts/install.sh installs python3-torch)"
    exit 77
fi
L=$data/llama2c

# --- Help and man page --------------------------------------------------------
run gen --help
[ "$rc" -eq 0 ] || fail "--help: exit $rc"
for opt in --model --prompt --ids --adapter --tokenizer --max-tokens --temp --top-k \
    --top-p --stop --stop-ids --ignore-eos --print-ids --echo --no-special --keep-special; do
    grep -qF -- "$opt" out || fail "--help lacks $opt"
    pat=$(printf '%s' "$opt" | sed 's/-/\\-/g')
    grep -qF -- "$pat" "$FT_ROOT/man/ft-gen.1" || fail "man page lacks $opt"
done

# --- The reference ids, in every form of the model ------------------------------
want=$(awk -F'\t' '$1 == "greedy_from_bos" { print $3 }' "$L/reference.tsv")
[ "$(echo "$want" | wc -w)" -eq 40 ] || fail "reference.tsv: no 40 greedy ids"
(cd "$L" && tar cf "$tmp/stories.tar" hf)
"$FT_BIN/ft-convert" -q -m "$L/hf" -o stories.gguf || fail "ft-convert to GGUF"
for m in "$L/stories260K.bin" "$L/hf" stories.tar stories.gguf; do
    same "greedy $m" "$(gen -m "$m" --ids 1 -n 40 --temp 0 --print-ids)" "$want"
done

# -n takes the first N; EOS (here made 401 in the config) ends before it;
# --stop-ids ends before the first "401 461"; --ignore-eos goes on
cut_at() { echo "$want" | $PY -c "
import sys
ids, stop = sys.stdin.read().split(), '$1'.split()
k = next(i for i in range(len(ids)) if ids[i:i + len(stop)] == stop)
print(' '.join(ids[:k]))"; }
same "-n 7" "$(gen -m "$L/hf" --ids 1 -n 7 --temp 0 --print-ids)" \
    "$(echo "$want" | cut -d' ' -f1-7)"
mkdir eos && cp "$L/hf/model.safetensors" eos/ &&
    sed 's/}$/, "eos_token_id": 401}/' "$L/hf/config.json" >eos/config.json
same "EOS" "$(gen -m eos --ids 1 -n 40 --temp 0 --print-ids)" "$(cut_at 401)"
same "--ignore-eos" "$(gen -m eos --ids 1 -n 40 --temp 0 --print-ids --ignore-eos)" "$want"
same "--stop-ids" "$(gen -m "$L/hf" --ids 1 -n 40 --temp 0 --print-ids --stop-ids 401,461)" \
    "$(cut_at '401 461')"

# the context (512) ends generation: 509 + 3 new tokens fill it
long=$($PY -c "print(','.join(['1'] + ['300'] * 508))")
got=$(gen -m "$L/hf" --ids "$long" -n 10 --temp 0 --print-ids | wc -w)
same "context end" "$got" 3

# --- Sampling: seeded, and restricted as top-k / top-p say -----------------------
a=$(gen -m "$L/hf" --ids 1 -n 40 --seed 5 --print-ids)
same "same seed" "$(gen -m "$L/hf" --ids 1 -n 40 --seed 5 --print-ids)" "$a"
[ "$a" != "$(gen -m "$L/hf" --ids 1 -n 40 --seed 6 --print-ids)" ] ||
    fail "seeds 5 and 6 gave the same 40 tokens"
[ "$a" != "$want" ] || fail "sampling at temperature 1 gave the greedy ids"

# draws: 120 seeds, one token each, against the oracle's candidates
draws() {
    for s in $(seq 1 120); do gen -m "$L/hf" --ids 1 -n 1 --seed "$s" --print-ids "$@"; done
}
check_draws() {  # NAME: draws.txt against cand.txt ("id probability" lines)
    $PY - "$1" <<'EOF' || status=1
import collections, math, sys
cand = {int(l.split()[0]): float(l.split()[1]) for l in open("cand.txt")}
got = collections.Counter(int(x) for x in open("draws.txt").read().split())
n, bad = sum(got.values()), False
for v in got:
    if v not in cand:
        print("FAIL: %s: drew %d, not a candidate %s" % (sys.argv[1], v, sorted(cand)))
        bad = True
for v, p in cand.items():
    sd = math.sqrt(n * p * (1 - p))
    if abs(got[v] - n * p) > 4 * sd + 1:
        print("FAIL: %s: id %d drawn %d times of %d, expected %.1f" % (sys.argv[1], v,
                                                                      got[v], n, n * p))
        bad = True
sys.exit(1 if bad else 0)
EOF
}
$PY "$OR" probs "$L/hf" 1 0.7 2 1 >cand.txt
draws --temp 0.7 --top-k 2 >draws.txt
[ "$(wc -l <cand.txt)" -eq 2 ] || fail "top-k oracle: $(cat cand.txt)"
check_draws "top-k 2 at 0.7"
p=$($PY "$OR" nucleus "$L/hf" 1 1.0 3)
$PY "$OR" probs "$L/hf" 1 1.0 0 "$p" >cand.txt
[ "$(wc -l <cand.txt)" -eq 3 ] || fail "top-p oracle: $(cat cand.txt)"
draws --top-p "$p" >draws.txt
check_draws "top-p $p"

# --- Text: GPT-2's tokenizer on a tiny random GPT-2 ------------------------------
$PY "$OR" gpt2 g2 && cp "$data/gpt2/encoder.json" "$data/gpt2/vocab.bpe" g2/ ||
    fail "make the GPT-2 model"
G="-m g2 --temp 0 -n 12 --ignore-eos"
ids=$(gen $G -p "Hello world" --print-ids)
same "text prompt" "$ids" "$($PY "$OR" greedy g2 15496,995 12)"
same "ids prompt" "$(gen $G --ids 15496,995 --print-ids)" "$ids"
same "stdin prompt" "$(printf 'Hello world\n' | gen $G --print-ids)" "$ids"
csv=$(echo "$ids" | tr ' ' ,)
$PY "$OR" decode g2/encoder.json "$csv" >want.txt && echo >>want.txt
gen $G -p "Hello world" >got.txt
cmp -s got.txt want.txt || fail "text out: '$(cat got.txt)', expected '$(cat want.txt)'"
{ printf 'Hello world'; cat want.txt; } >want-echo.txt
gen $G -p "Hello world" --echo >got.txt
cmp -s got.txt want-echo.txt || fail "--echo: '$(cat got.txt)'"

# --stop: a string made of tokens 5 and 6 (and a few characters into 7)
$PY - "$OR" g2/encoder.json "$ids" <<'EOF' >stop.sh || fail "stop oracle"
import importlib.util, sys
spec = importlib.util.spec_from_file_location("o", sys.argv[1])
o = importlib.util.module_from_spec(spec)
spec.loader.exec_module(o)
ids = sys.argv[3].split()
def text(k):
    return o.decode_text(sys.argv[2], [int(i) for i in ids[:k]])
full = text(len(ids))
stop = text(6)[len(text(4)):] + text(7)[len(text(6)):][:2]
at = full.index(stop)
keep = max(k for k in range(len(ids) + 1) if len(text(k)) <= at)
print("stop='%s'" % stop.replace("'", "'\\''"))
print("want_text='%s'" % full[:at].replace("'", "'\\''"))
print("want_ids='%s'" % " ".join(ids[:keep]))
EOF
. ./stop.sh
same "--stop text" "$(gen $G -p "Hello world" --stop "$stop")" "$want_text"
same "--stop ids" "$(gen $G -p "Hello world" --stop "$stop" --print-ids)" "$want_ids"
same "--stop never met" "$(gen $G -p "Hello world" --stop "no such text" --print-ids)" "$ids"

# --- Adapters ---------------------------------------------------------------------
I="--ids 1,5,9 --temp 0 -n 16 --ignore-eos --print-ids"
S="--ids 1,5,9 --temp 1.5 --seed 3 -n 16 --ignore-eos --print-ids"
for fam in llama gpt2; do
    $PY "$REF/lora_ref.py" --family $fam --out lo-$fam --steps 1 --clip 0 >/dev/null ||
        fail "lora_ref $fam"
    $PY "$OR" merge lo-$fam/model lo-$fam/roundtrip merged-$fam || fail "merge $fam"
    a=$(gen -m lo-$fam/model -a lo-$fam/roundtrip $I)
    same "LoRA $fam vs merged" "$a" "$(gen -m merged-$fam $I)"
    same "LoRA $fam vs oracle" "$a" \
        "$($PY "$OR" greedy lo-$fam/model 1,5,9 16 --lora lo-$fam/roundtrip)"
    [ "$a" != "$(gen -m lo-$fam/model $I)" ] || fail "LoRA $fam: same ids as the base"
    same "LoRA $fam sampled vs merged" "$(gen -m lo-$fam/model -a lo-$fam/roundtrip $S)" \
        "$(gen -m merged-$fam $S)"
done
for v in "llama 0" "llama 8" "gpt2 0"; do
    set -- $v
    d=pr-$1-$2
    $PY "$REF/prefix_ref.py" --family $1 --projection $2 --out $d --steps 1 --clip 0 \
        >/dev/null || fail "prefix_ref $v"
    a=$(gen -m $d/model -a $d/init_adapter $I)
    same "prefix $v vs oracle" "$a" \
        "$($PY "$OR" greedy $d/model 1,5,9 16 --prefix $d/init_adapter)"
    [ "$a" != "$(gen -m $d/model $I)" ] || fail "prefix $v: same ids as the base"
done

# --- Bad input ----------------------------------------------------------------------
run gen -m nosuch --print-ids --ids 1
expect "missing model" 1 "nosuch"
run gen --ids 1
expect "no model" 2 "-m MODEL"
run gen -m "$L/hf" --print-ids --ids 1,x,3
expect "bad id" 2 '--ids: "x" is not a token id'
run gen -m "$L/hf" --print-ids --ids ,
expect "no ids" 2 "--ids: no token ids"
run gen -m "$L/hf" --print-ids --ids 1,-4
expect "negative id" 2 '"-4" is not a token id'
run gen -m "$L/hf" --print-ids --ids 1,512
expect "id out of vocabulary" 1 "512 is outside the vocabulary"
run gen -m "$L/hf" --print-ids --ids "$long,7,7,7,7"
expect "prompt too long" 1 "prompt of 513 tokens exceeds the model's 512 positions"
run gen -m pr-llama-0/model -a pr-llama-0/init_adapter --print-ids --ids \
    "$($PY -c "print(','.join(['1'] * 61))")"
expect "prompt after prefix too long" 1 "after a prefix of 4 exceeds the model's 64 positions"
run gen -m "$L/stories260K.bin" -p "Once"
expect "no tokenizer" 1 "no tokenizer"
run gen -m "$L/hf" --ids 1 --stop "x" --print-ids
expect "--stop without tokenizer" 1 "no tokenizer"
run gen -m g2 -p ""
expect "empty prompt" 1 "prompt is empty"
run gen -m "$L/hf" --print-ids --ids 1 --top-p 0
expect "top-p 0" 2 "--top-p"
run gen -m "$L/hf" --print-ids --ids 1 --temp -1
expect "negative temperature" 2 "--temp"
run gen -m "$L/hf" --print-ids --ids 1 -n x
expect "bad -n" 2 "--max-tokens"
run gen -m "$L/hf" -p a --ids 1
expect "prompt and ids" 2 "one of -p TEXT and --ids"
run gen -m "$L/hf" --print-ids --ids 1 extra
expect "stray argument" 2 'unexpected argument "extra"'
run gen -m "$L/hf" --print-ids --ids 1 -a nosuch
expect "missing adapter" 1 "nosuch"
run gen -m lo-llama/model -a lo-gpt2/roundtrip --print-ids --ids 1
expect "adapter of another base" 1 "transformer.h.0.attn.c_attn"
run gen -m "$L/hf" --print-ids --ids 1 -a pr-llama-0/init_adapter
expect "prefix of another model" 1 "pr-llama-0/init_adapter"
exit $status
