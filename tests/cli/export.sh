#!/bin/sh
# ft-export on hand-encoded msgpack: every value type's JSON form, key
# order, escapes; CSV quoting, TSV, text, --fields, --header, --label-map.
# Each expected output is written by hand from the msgpack specification.
: "${FT_BIN:?}"
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
status=0
fail() { echo "FAIL: $*"; status=1; }
check() {   # check NAME WANT-FILE ARGS...
    name=$1 want=$2
    shift 2
    "$FT_BIN/ft-export" "$@" >got 2>err || fail "$name: exit status $? ($(cat err))"
    cmp -s got "$want" || { fail "$name: output differs"; od -c got | head -20; }
}

# One record, twelve entries (8c), in this order:
#  id: 1 | s: "a\"b\\c<LF><01><U+2028><FF>" (11 bytes) | f: 0.1 | g: 1.0 |
#  h: float32 0.5 | n: NaN | u: 2^64-1 | m: int8 -100 | b: bin "abc" |
#  e: fixext1 type 5 [01] | k: {1: nil, "t": true} | a: [-1, false]
{
    printf '\214'
    printf '\242id\001'
    printf '\241s\253a"b\\c\n\001\342\200\250\377'
    printf '\241f\313\077\271\231\231\231\231\231\232'
    printf '\241g\313\077\360\000\000\000\000\000\000'
    printf '\241h\312\077\000\000\000'
    printf '\241n\313\177\370\000\000\000\000\000\000'
    printf '\241u\317\377\377\377\377\377\377\377\377'
    printf '\241m\320\234'
    printf '\241b\304\003abc'
    printf '\241e\324\005\001'
    printf '\241k\202\001\300\241t\303'
    printf '\241a\222\377\302'
} >all.mp
printf '{"id":1,"s":"a\\"b\\\\c\\n\\u0001\\u2028\357\277\275","f":0.1,"g":1.0,"h":0.5,"n":null,"u":18446744073709551615,"m":-100,"b":"YWJj","e":{"ext":5,"base64":"AQ=="},"k":{"1":null,"t":true},"a":[-1,false]}\n' >all.want
check jsonl all.want all.mp
printf '{"a":[-1,false],"id":1}\n' >some.want
check jsonl-fields some.want --fields a,missing,id all.mp

# Two plain records: {id: "x", label: "pos", text: "he said \"hi\", twice"}
# and {id: 2, text: "two<LF>lines"} (no label).
{
    printf '\203\242id\241x\245label\243pos\244text\263he said "hi", twice'
    printf '\202\242id\002\244text\251two\nlines'
} >two.mp
printf 'pos,"he said ""hi"", twice"\n,"two\nlines"\n' >csv.want
check csv csv.want --format csv two.mp
printf 'id,text\nx,"he said ""hi"", twice"\n2,"two\nlines"\n' >csv-fields.want
check csv-fields csv-fields.want --format csv --fields id,text two.mp
printf 'x,"he said ""hi"", twice"\n2,"two\nlines"\n' >csv-noheader.want
check csv-no-header csv-noheader.want --format csv --fields id,text --no-header two.mp
printf 'label\ttext\n1\the said "hi", twice\n' >tsv.want
head -c 41 two.mp >one.mp     # the first record: 1+3+2+6+4+5+20 bytes
check tsv-header-map tsv.want --format tsv --header --label-map 0=neg,1=pos one.mp
printf 'x\n2\n' >text.want
check text text.want --format text --fields id two.mp
printf 'he said "hi", twice\ntwo\nlines\n' >text2.want
check text-default text2.want --format text two.mp
printf '{"id":"x","label":"1","text":"he said \\"hi\\", twice"}\n{"id":2,"text":"two\\nlines"}\n' >map.want
check jsonl-label-map map.want --label-map 0=neg,1=pos two.mp

# Several inputs are read in turn; -o writes a file, refused when it exists.
{ head -n 1 csv-noheader.want; cat csv-noheader.want; } >inputs.want
check two-inputs inputs.want --format csv --fields id,text --no-header one.mp - <two.mp
"$FT_BIN/ft-export" -o out.jsonl two.mp || fail "-o: exit status $?"
"$FT_BIN/ft-export" --format jsonl two.mp | cmp -s - out.jsonl || fail "-o: content"
"$FT_BIN/ft-export" -o out.jsonl two.mp 2>err && fail "-o over a file: exit 0"
grep -qx 'ft-export: out.jsonl: already exists (use --force to replace it)' err ||
    fail "-o over a file: $(cat err)"

# A JSONL round trip through ft-import keeps every value.
"$FT_BIN/ft-export" all.mp | "$FT_BIN/ft-import" --format jsonl --fix-utf8 -q |
    "$FT_BIN/ft-export" | cmp -s - all.want || fail "JSONL round trip"

# Usage errors.
"$FT_BIN/ft-export" --format xml two.mp 2>err; [ $? -eq 2 ] || fail "bad format: not 2"
"$FT_BIN/ft-export" --format text --fields a,b two.mp 2>err; [ $? -eq 2 ] ||
    fail "two text fields: not 2"
exit $status
