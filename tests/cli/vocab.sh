#!/bin/sh
# ft-vocab: the vocabulary it learns from the EDA sentences equals the one a
# plain re-implementation of the training rule learns (tests/node/
# vocab-oracle.mjs: JavaScript regexes, every pair recounted each step); the
# tokenizer.json it writes loads in @huggingface/tokenizers and encodes held-
# out sentences and hand cases to the same ids as ft-tokenize; ft-train
# --tokenizer takes it; the same text in another order gives the same
# bytes; bad records, bad options and an existing output.
: "${FT_BIN:?}" "${FT_ROOT:?}" "${FT_DATA_DIR:=}"
PY=/usr/bin/python3
MP="$FT_ROOT/tests/cli/mpjson.py"
[ -x "$PY" ] || { echo "no /usr/bin/python3 for the msgpack codec"; exit 77; }
[ -f "$FT_DATA_DIR/eda/cr/train.tsv" ] || { echo "shared data absent (FT_DATA_DIR)"; exit 77; }
EDA="$FT_DATA_DIR/eda"
NODE_DIR="$FT_ROOT/tests/node"
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
status=0
fail() { echo "FAIL: $*"; status=1; }
expect() {
    [ "$rc" -eq "$2" ] || fail "$1: exit status $rc, expected $2"
    [ "$(wc -l <err)" -eq 1 ] || fail "$1: stderr is not one line: $(cat err)"
    [ "$(cat err)" = "$3" ] || fail "$1: stderr: $(cat err)"
}
run() { "$@" >out 2>err; rc=$?; }
enc() { "$PY" "$MP" enc; }
dec() { "$PY" "$MP" dec; }
# tsv_text FILE: the sentences of an EDA file as {"text"} lines.
tsv_text() {
    cut -f2 "$1" | "$PY" -c '
import json, sys
for l in sys.stdin:
    print(json.dumps({"text": l.rstrip("\n")}))'
}
have_node=0
if command -v node >/dev/null && [ -d "$NODE_DIR/node_modules/@huggingface/tokenizers" ]; then
    have_node=1
else
    echo "note: node or tests/node/node_modules absent, oracle comparisons skipped"
fi

# same_vocab NAME CORPUS.jsonl SIZE MIN_FREQ SPECIALS PATTERN NFC: ft-vocab's
# v.json (already written) against the oracle's training.
same_vocab() {
    [ "$have_node" -eq 1 ] || return 0
    (cd "$NODE_DIR" && node vocab-oracle.mjs train "$tmp/$2" "$3" "$4" "$5" "$6" "$7") \
        >want.json || { fail "$1: oracle training"; return; }
    "$PY" - "$1" <<'EOF' || fail "$1: vocabulary differs from the oracle's"
import json, sys
want = json.load(open("want.json"))
got = json.load(open("v.json"))["model"]
merges = [" ".join(m) for m in got["merges"]]
for i, (a, b) in enumerate(zip(want["merges"], merges)):
    if a != b:
        sys.exit("%s: merge %d: oracle %r, ft %r" % (sys.argv[1], i + 1, a, b))
if len(want["merges"]) != len(merges) or want["vocab"] != got["vocab"]:
    sys.exit("%s: %d merges and %d tokens, oracle %d and %d" % (sys.argv[1], len(merges),
             len(got["vocab"]), len(want["merges"]), len(want["vocab"])))
print("%s: %d merges, %d tokens, as the oracle" % (sys.argv[1], len(merges), len(got["vocab"])))
EOF
}

# same_ids NAME TOKENIZER TEXTS.jsonl: @huggingface/tokenizers' ids against
# ft-tokenize's for every text.
same_ids() {
    [ "$have_node" -eq 1 ] || return 0
    (cd "$NODE_DIR" && node vocab-oracle.mjs encode "$tmp/$2" "$tmp/$3") >hf.jsonl ||
        { fail "$1: @huggingface/tokenizers could not load or encode"; return; }
    enc <"$3" | "$FT_BIN/ft-tokenize" --tokenizer "$2" | dec >ft.jsonl ||
        { fail "$1: ft-tokenize"; return; }
    "$PY" - "$1" <<'EOF' || fail "$1: ids differ from @huggingface/tokenizers'"
import json, sys
hf = [json.loads(l) for l in open("hf.jsonl")]
ft = [json.loads(l) for l in open("ft.jsonl")]
assert len(hf) == len(ft) > 400, (len(hf), len(ft))
bad = [(h["text"], h["ids"], f["tokens"]) for h, f in zip(hf, ft) if h["ids"] != f["tokens"]]
for t, a, b in bad[:3]:
    print("%s: %r: hf %s, ft %s" % (sys.argv[1], t[:60], a[:12], b[:12]))
n = sum(len(h["ids"]) for h in hf)
print("%s: %d texts, %d ids, %d differ" % (sys.argv[1], len(hf), n, len(bad)))
sys.exit(1 if bad else 0)
EOF
}

# Hand cases and held-out sentences to encode.
"$PY" - >hand.jsonl <<'EOF'
import json
for t in ["Hello world", " leading", "trailing  ", "a  b   c", "tab\tand\nnewline\n\n",
          "digits 1 12 123 1234 12345", "I'm can't they'll WE'VE", "emoji \U0001F600\U0001F389",
          "\u6f22\u5b57\u304b\u306a \ud55c\uad6d\uc5b4", "combining e\u0301 and \u00e9",
          "caf\u00e9 na\u00efve", "<|endoftext|>between<|endoftext|>", "x<s>y</s>z",
          "$100.00!!!", "http://example.com/a?b=1", "\u00a0nbsp\u2028sep", "x" * 200]:
    print(json.dumps({"text": t}))
EOF
tsv_text "$EDA/cr/test.tsv" >cr-test.jsonl
cat hand.jsonl cr-test.jsonl >texts.jsonl

# GPT-2's pattern, the default special token, on the CR training sentences.
tsv_text "$EDA/cr/train.tsv" >cr.jsonl
enc <cr.jsonl >cr.mp
"$FT_BIN/ft-vocab" --size 600 -o v.json cr.mp || fail "ft-vocab cr"
same_vocab gpt2 cr.jsonl 600 2 '<|endoftext|>' gpt2 0
same_ids gpt2 v.json texts.jsonl
cp v.json cr-vocab.json

# Llama 3's pattern, NFC, two special tokens, BOS added, a higher
# min-frequency, on the TREC questions.
tsv_text "$EDA/trec/train.tsv" >trec.jsonl
enc <trec.jsonl >trec.mp
"$FT_BIN/ft-vocab" --size 700 --pattern llama3 --nfc --special '<s>,</s>' --add-bos \
    --min-frequency 3 trec.mp >v.json || fail "ft-vocab trec"
same_vocab llama3 trec.jsonl 700 3 '<s>,</s>' llama3 1
same_ids llama3 v.json texts.jsonl
"$PY" -c '
import json, sys
t = json.load(open("v.json"))
assert t["normalizer"] == {"type": "NFC"}, t["normalizer"]
assert t["pre_tokenizer"]["type"] == "Sequence", t["pre_tokenizer"]
assert [a["content"] for a in t["added_tokens"]] == ["<s>", "</s>"]
assert t["model"]["vocab"]["<s>"] == 0 and t["model"]["vocab"]["</s>"] == 1
' || fail "llama3: tokenizer.json sections"
printf '{"text":"Hi"}\n' | enc | "$FT_BIN/ft-tokenize" --tokenizer v.json | dec >got
grep -q '"tokens": \[0, ' got || fail "--add-bos: $(cat got)"

# Qwen2's pattern (single digits) given as a regex, no special tokens, on
# the SUBJ sentences.
tsv_text "$EDA/subj/test.tsv" >subj.jsonl
enc <subj.jsonl >subj.mp
qwen2="(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
"$FT_BIN/ft-vocab" --size 500 --pattern "$qwen2" --special '' subj.mp >v.json ||
    fail "ft-vocab subj"
same_vocab qwen2 subj.jsonl 500 2 '' qwen2 0
same_ids qwen2 v.json texts.jsonl
"$FT_BIN/ft-vocab" --size 500 --pattern qwen2 --special '' subj.mp | cmp -s - v.json ||
    fail "--pattern qwen2 differs from Qwen2's regex"

# Min-frequency: with pairs seen at least 1000 times only, the vocabulary
# stops short of the size (and says so).
"$FT_BIN/ft-vocab" --size 5000 --min-frequency 1000 cr.mp >v.json 2>err ||
    fail "min-frequency"
grep -q 'warning: the text has too few pairs' err || fail "min-frequency: $(cat err)"
same_vocab min-frequency cr.jsonl 5000 1000 '<|endoftext|>' gpt2 0

# The same sentences in another order: the same file, byte for byte.
"$FT_BIN/ft-split" --shuffle --seed 7 cr.mp >cr-shuf.mp || fail "shuffle"
cmp -s cr.mp cr-shuf.mp && fail "shuffle left the order"
"$FT_BIN/ft-vocab" --size 600 cr-shuf.mp >v2.json || fail "ft-vocab shuffled"
cmp -s cr-vocab.json v2.json || fail "another order gave another tokenizer.json"

# ft-train takes the tokenizer: text records to ids, the model keeps it.
cat >cfg.json <<'EOF'
{"model_type": "llama", "hidden_size": 16, "intermediate_size": 32,
 "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2,
 "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "vocab_size": 600}
EOF
head -n 64 cr.jsonl | enc >few.mp
"$FT_BIN/ft-train" -j 1 -q --init cfg.json --tokenizer cr-vocab.json --seq-len 32 -b 2 \
    --max-steps 1 -o model few.mp 2>err || fail "ft-train --tokenizer: $(cat err)"
cmp -s model/tokenizer.json cr-vocab.json || fail "ft-train did not keep the tokenizer"

# Bad records: one line naming the record, exit 1, no output file.
printf '{"id":1,"text":"x"}\n{"id":2}\n' | enc >nofield.mp
run "$FT_BIN/ft-vocab" --size 300 -o o.json nofield.mp
expect no-field 1 'ft-vocab: nofield.mp: record 2 (byte 12): no "text" field'
[ -e o.json ] && fail "no-field: o.json left behind"
printf '{"id":1,"text":5}\n' | enc >num.mp
run "$FT_BIN/ft-vocab" --size 300 num.mp
[ "$rc" -eq 1 ] && [ "$(wc -l <err)" -eq 1 ] && grep -q 'record 1 (byte 0): field "text"' err ||
    fail "non-string text: $rc $(cat err)"
# {"id":7,"text":"a\xffb"}
printf '\202\242id\007\244text\243a\377b' >bad.mp
run "$FT_BIN/ft-vocab" --size 300 bad.mp
expect utf8 1 'ft-vocab: bad.mp: record 1 (byte 0): field "text": invalid UTF-8 at byte 1 (--fix-utf8 replaces it)'
"$FT_BIN/ft-vocab" -q --size 300 --fix-utf8 bad.mp >v.json || fail "--fix-utf8"
printf 'truncated' | head -c 5 | cat cr.mp - >trunc.mp
run "$FT_BIN/ft-vocab" --size 300 trunc.mp
[ "$rc" -eq 1 ] && [ "$(wc -l <err)" -eq 1 ] && grep -q '^ft-vocab: trunc.mp: ' err ||
    fail "truncated stream: $rc $(cat err)"

# An existing output is kept unless -f.
echo keep >o.json
run "$FT_BIN/ft-vocab" --size 300 -o o.json cr.mp
[ "$rc" -eq 1 ] && [ "$(cat o.json)" = keep ] || fail "existing output: $rc $(cat err)"
"$FT_BIN/ft-vocab" -f --size 300 -o o.json cr.mp && [ "$(cat o.json)" != keep ] ||
    fail "-f did not replace the output"

# Usage errors: exit 2.
run "$FT_BIN/ft-vocab" cr.mp
expect no-size 2 'ft-vocab: give the vocabulary size: --size N'
run "$FT_BIN/ft-vocab" --size 200 cr.mp
expect small 2 'ft-vocab: vocabulary size 200 is below the 257 byte and special tokens'
run "$FT_BIN/ft-vocab" --size 300 --special '<a>,<x>,<a>' cr.mp
expect special-twice 2 'ft-vocab: special token "<a>" given twice'
run "$FT_BIN/ft-vocab" --size 300 --special '<x>,,<y>' cr.mp
expect special-empty 2 'ft-vocab: special token 2 is empty'
run "$FT_BIN/ft-vocab" --size 300 --special '!' cr.mp
expect special-byte 2 'ft-vocab: special token "!" is a byte token'
run "$FT_BIN/ft-vocab" --size 300 --pattern '(ab' cr.mp
[ "$rc" -eq 2 ] && [ "$(wc -l <err)" -eq 1 ] && grep -q '^ft-vocab: .*(ab' err ||
    fail "bad pattern: $rc $(cat err)"
run "$FT_BIN/ft-vocab" --size 300 --special '' --add-bos cr.mp
expect no-bos 2 'ft-vocab: a BOS token is asked for, but no special token is <s>, <|begin_of_text|> or <|endoftext|>'
run "$FT_BIN/ft-vocab" --size x cr.mp
[ "$rc" -eq 2 ] || fail "--size x: exit $rc"
"$FT_BIN/ft-vocab" --help >help || fail "--help"
for opt in $(grep -o -- '--[a-z0-9-]*' help | sort -u); do
    grep -q -- "$(echo "$opt" | sed 's/-/\\\\-/g')" "$FT_ROOT/man/ft-vocab.1" ||
        fail "man page lacks $opt"
done
# Without the oracles the test did not do what it is for: a skip, not a pass.
if [ "$status" -eq 0 ] && [ "$have_node" -eq 0 ]; then
    echo "skip: the Hugging Face oracle comparisons did not run (the rest passed)"
    exit 77
fi
exit $status
