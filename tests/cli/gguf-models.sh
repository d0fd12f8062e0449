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
#    exp(logit - logsumexp) within 1e-4 relative; the model ft-train wrote
#    loads there too.
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

# The model ft-train wrote from the GGUF base, back in GGUF: llama.cpp
# loads it with the same vocabulary.
llama full.gguf --texts texts.txt >full.out 2>llama.err ||
    fail "llama.cpp could not load the trained model: $(tail -3 llama.err)"
grep '^tokens ' full.out | cmp -s - llama.tokens || fail "the trained model tokenizes otherwise"
exit $status
