#!/bin/sh
# ft-tokenize: ids from GPT-2's files (published encodings, and gpt-3-encoder
# on the CR test sentences when node is there), other keys kept byte for
# byte, "tokens" replaced, --field, --decode, special tokens from
# tokenizer_config.json, invalid UTF-8, bad tokenizer files and usage errors.
: "${FT_BIN:?}" "${FT_ROOT:?}" "${FT_DATA_DIR:=}"
PY=/usr/bin/python3
MP="$FT_ROOT/tests/cli/mpjson.py"
[ -x "$PY" ] || { echo "no /usr/bin/python3 for the msgpack codec"; exit 77; }
[ -f "$FT_DATA_DIR/gpt2/encoder.json" ] || { echo "shared data absent (FT_DATA_DIR)"; exit 77; }
GPT2="$FT_DATA_DIR/gpt2"
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

# Published encodings; every other key kept, in order; "tokens" replaced.
cat >in.jsonl <<'EOF'
{"id":"a","text":"Hello world","label":"pos","weight":0.5,"probs":{"x":1}}
{"id":"b","tokens":[1,2,3],"text":" Hello"}
EOF
enc <in.jsonl >in.mp
"$FT_BIN/ft-tokenize" -m "$GPT2" in.mp >out.mp || fail "encode"
dec <out.mp >got.jsonl
cat >want.jsonl <<'EOF'
{"id": "a", "text": "Hello world", "label": "pos", "weight": 0.5, "probs": {"x": 1}, "tokens": [15496, 995]}
{"id": "b", "text": " Hello", "tokens": [18435]}
EOF
cmp -s got.jsonl want.jsonl || fail "encode: $(cat got.jsonl)"
"$PY" "$MP" raw <in.mp | sed 's/, "tokens": "[0-9a-f]*"//; s/"tokens": "[0-9a-f]*", //' >raw-in
"$PY" "$MP" raw <out.mp | sed 's/, "tokens": "[0-9a-f]*"//' >raw-out
cmp -s raw-in raw-out || fail "other keys not kept byte for byte"

# --field, and --decode back to text (special tokens dropped by default).
printf '{"id":1,"prompt":"Say hi<|endoftext|>"}\n' | enc >p.mp
"$FT_BIN/ft-tokenize" --tokenizer "$GPT2/encoder.json" --field prompt p.mp | dec >got
printf '{"id": 1, "prompt": "Say hi<|endoftext|>", "tokens": [25515, 23105, 50256]}\n' >want
cmp -s got want || fail "--field: $(cat got)"
"$FT_BIN/ft-tokenize" -m "$GPT2" --field prompt p.mp |
    "$FT_BIN/ft-tokenize" -m "$GPT2" --decode --field prompt | dec >got
printf '{"id": 1, "prompt": "Say hi"}\n' >want
cmp -s got want || fail "--decode: $(cat got)"
"$FT_BIN/ft-tokenize" -m "$GPT2" --field prompt p.mp |
    "$FT_BIN/ft-tokenize" -m "$GPT2" --decode --keep-special --field prompt | dec >got
printf '{"id": 1, "prompt": "Say hi<|endoftext|>"}\n' >want
cmp -s got want || fail "--keep-special: $(cat got)"
"$FT_BIN/ft-tokenize" -m "$GPT2" --split-special --field prompt p.mp | dec >got
grep -q '50256' got && fail "--split-special kept <|endoftext|> whole"

# The CR test sentences: gpt-3-encoder's ids, and decoding gives them back.
cut -f2 "$FT_DATA_DIR/eda/cr/test.tsv" | "$PY" -c '
import json, sys
for i, l in enumerate(sys.stdin):
    print(json.dumps({"id": i, "text": l.rstrip("\n")}))' | enc >cr.mp
"$FT_BIN/ft-tokenize" -m "$GPT2" cr.mp >cr-tok.mp || fail "encode cr"
"$FT_BIN/ft-tokenize" -m "$GPT2" --decode cr-tok.mp | dec >cr-back.jsonl
dec <cr.mp >cr.jsonl
cmp -s cr.jsonl cr-back.jsonl || fail "cr: decode(encode(text)) != text"
if command -v node >/dev/null && [ -d "$FT_ROOT/tests/node/node_modules/gpt-3-encoder" ]; then
    dec <cr-tok.mp >cr-tok.jsonl
    NODE_PATH="$FT_ROOT/tests/node/node_modules" node -e '
        const enc = require("gpt-3-encoder"), fs = require("fs");
        let bad = 0;
        for (const l of fs.readFileSync("cr-tok.jsonl", "utf8").split("\n").filter((x) => x)) {
            const r = JSON.parse(l);
            if (JSON.stringify(enc.encode(r.text)) !== JSON.stringify(r.tokens)) bad++;
        }
        process.exit(bad ? 1 : 0);' || fail "cr: ids differ from gpt-3-encoder"
else
    echo "note: node or tests/node/node_modules absent, gpt-3-encoder comparison skipped"
fi

# GPT-2's files under their Hugging Face names: vocab.json + merges.txt are
# encoder.json + vocab.bpe, and give the same ids.
mkdir hfnames
cp "$GPT2/encoder.json" hfnames/vocab.json
cp "$GPT2/vocab.bpe" hfnames/merges.txt
"$FT_BIN/ft-tokenize" -m hfnames cr.mp >hf-tok.mp || fail "vocab.json + merges.txt"
cmp -s hf-tok.mp cr-tok.mp || fail "vocab.json + merges.txt: ids differ from encoder.json's"
"$FT_BIN/ft-tokenize" --tokenizer hfnames/vocab.json in.mp | dec | head -n 1 >got
grep -q '"tokens": \[15496, 995\]' got || fail "--tokenizer vocab.json: $(cat got)"

# Special tokens: a model directory whose tokenizer_config.json adds BOS/EOS.
mkdir model
cat >model/tokenizer.json <<'EOF'
{"added_tokens":[{"id":3,"content":"<s>","special":true},{"id":4,"content":"</s>","special":true}],
 "normalizer":null,"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false},
 "post_processor":null,"decoder":{"type":"ByteLevel"},
 "model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}
EOF
printf '{"add_bos_token":true,"add_eos_token":true,"bos_token":"<s>","eos_token":"</s>"}' \
    >model/tokenizer_config.json
printf '{"text":"abab"}\n' | enc >ab.mp
"$FT_BIN/ft-tokenize" -m model ab.mp | dec >got
printf '{"text": "abab", "tokens": [3, 2, 2, 4]}\n' >want
cmp -s got want || fail "bos/eos: $(cat got)"
"$FT_BIN/ft-tokenize" -m model --no-special ab.mp | dec >got
printf '{"text": "abab", "tokens": [2, 2]}\n' >want
cmp -s got want || fail "--no-special: $(cat got)"

# Invalid UTF-8: {"id":7,"text":"a\xffb"}; the record starts at byte 0.
printf '\202\242id\007\244text\243a\377b' >bad.mp
run "$FT_BIN/ft-tokenize" -m "$GPT2" bad.mp
expect utf8 1 'ft-tokenize: bad.mp: record 1 (byte 0): field "text": invalid UTF-8 at byte 1 (--fix-utf8 replaces it)'
# gpt-3-encoder gives [64, 4210, 65] for "a\ufffdb"; the text stays as it was.
"$FT_BIN/ft-tokenize" -m "$GPT2" --fix-utf8 bad.mp >got.mp || fail "--fix-utf8"
"$PY" "$MP" raw <got.mp >got
printf '{"id": "07", "text": "a361ff62", "tokens": "9340cd107241"}\n' >want
cmp -s got want || fail "--fix-utf8: $(cat got)"

# A record without the field; one without tokens under --decode.
printf '{"id":1,"text":"x"}\n{"id":2}\n' | enc >nofield.mp
run "$FT_BIN/ft-tokenize" -m "$GPT2" nofield.mp
expect no-field 1 'ft-tokenize: nofield.mp: record 2 (byte 12): no "text" field'
run "$FT_BIN/ft-tokenize" -m "$GPT2" --decode nofield.mp
expect no-tokens 1 'ft-tokenize: nofield.mp: record 1 (byte 0): no "tokens" field'
printf '{"id":1,"tokens":[50257]}\n' | enc >far.mp
run "$FT_BIN/ft-tokenize" -m "$GPT2" --decode far.mp
expect far-id 1 'ft-tokenize: far.mp: record 1 (byte 0): field "tokens": token id 50257 is not in the vocabulary (0-50256)'

# Bad tokenizer files: one line naming the file, exit 1.
bad_json() {
    printf '%s' "$2" >t.json
    run "$FT_BIN/ft-tokenize" --tokenizer t.json ab.mp
    expect "$1" 1 "ft-tokenize: t.json: $3"
}
bad_json model-type '{"model":{"type":"Unigram","vocab":[]}}' \
    'unknown model type "Unigram" (ft reads BPE tokenizers)'
bad_json pretok-type '{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"Bert"}}' \
    'unknown pre-tokenizer type "Bert"'
bad_json merge '{"model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":["a b"]},"pre_tokenizer":{"type":"ByteLevel"}}' \
    'merge 1 ("a b"): "ab" is not in the vocabulary'
head -c 300 model/tokenizer.json >t.json
run "$FT_BIN/ft-tokenize" --tokenizer t.json ab.mp
# 300 bytes end on line 4 after 63 characters, inside a string.
expect truncated 1 "ft-tokenize: t.json: line 4 column 63: premature end of input near '\"'"
run "$FT_BIN/ft-tokenize" -m nowhere ab.mp
expect no-model 1 "ft-tokenize: nowhere: No such file or directory"

# Usage errors: exit 2.
run "$FT_BIN/ft-tokenize" ab.mp
expect usage-none 2 "ft-tokenize: give one of -m MODEL and --tokenizer FILE"
run "$FT_BIN/ft-tokenize" -m model --tokenizer t.json ab.mp
expect usage-both 2 "ft-tokenize: give one of -m MODEL and --tokenizer FILE"
run "$FT_BIN/ft-tokenize" -m model --decode --fix-utf8 ab.mp
expect usage-decode 2 "ft-tokenize: --no-special, --split-special and --fix-utf8 are for encoding"
"$FT_BIN/ft-tokenize" --help >help || fail "--help"
for opt in $(grep -o -- '--[a-z0-9-]*' help | sort -u); do
    grep -q -- "$(echo "$opt" | sed 's/-/\\\\-/g')" "$FT_ROOT/man/ft-tokenize.1" ||
        fail "man page lacks $opt"
done
exit $status
