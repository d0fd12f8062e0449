#!/bin/sh
# ft-import on small hand-made inputs, one per format and rule; each
# expected output is written out by hand below (ft-export's JSON form).
: "${FT_BIN:?}"
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
status=0
fail() { echo "FAIL: $*"; status=1; }
# check NAME EXPECTED ARGS...: import ARGS, export as JSONL, compare.
check() {
    name=$1 want=$2
    shift 2
    if ! "$FT_BIN/ft-import" "$@" >"$name.mp" 2>"$name.err"; then
        fail "$name: exit status $? ($(cat "$name.err"))"
        return
    fi
    "$FT_BIN/ft-export" "$name.mp" >"$name.got"
    printf '%s\n' "$want" >"$name.want"
    cmp -s "$name.got" "$name.want" || {
        fail "$name: output differs"
        diff "$name.want" "$name.got"
    }
}

# JSONL: own ids kept, line numbers otherwise; keys in order; numbers.
printf '{"a":1,"text":"x"}\n\n{"id":7,"text":"y\\u00e9\\ud83d\\ude00","f":1.5e3}\n' >a.jsonl
check jsonl '{"id":"a.jsonl:1","a":1,"text":"x"}
{"id":7,"text":"yé😀","f":1500.0}' a.jsonl

# A JSON array, pretty-printed: element numbers.
printf '[\n {"text": "a"},\n {"text": "b", "n": null, "t": true, "v": [1, -2, 3.25]}\n]\n' >b.json
check json-array '{"id":"b.json:1","text":"a"}
{"id":"b.json:2","text":"b","n":null,"t":true,"v":[1,-2,3.25]}' b.json

# A file holding one object is one document: its path is the id.
printf '{"id": "x1", "text": "whole"}\n' >one.json
check json-whole '{"id":"one.json","orig_id":"x1","text":"whole"}' one.json

# --id, --text-field, --label-field; integer labels become strings.
printf '{"uid":"u1","sentence":"s1","y":0}\n{"uid":"u2","sentence":"s2","y":1}\n' >c.jsonl
check renames '{"id":"u1","text":"s1","label":"negative"}
{"id":"u2","text":"s2","label":"positive"}' --id uid --text-field sentence \
    --label-field y --label-map 0=negative,1=positive c.jsonl

# A field pushed aside by a rename is kept as orig_NAME.
printf '{"text":"old","body":"new"}\n' >d.jsonl
check displaced '{"id":"d.jsonl:1","orig_text":"old","text":"new"}' --text-field body d.jsonl

# CSV with a header: RFC 4180 quotes, an embedded line break, CRLF.
printf 'label,text\r\npos,"a ""quoted"", text\nwith newline"\r\nneg,plain\r\n' >e.csv
check csv '{"id":"e.csv:2","label":"pos","text":"a \"quoted\", text\nwith newline"}
{"id":"e.csv:4","label":"neg","text":"plain"}' e.csv

# Headerless CSV rows are label,text.
printf '1,one\n0,"zero, really"\n' >f.csv
check csv-headerless '{"id":"f.csv:1","label":"positive","text":"one"}
{"id":"f.csv:2","label":"negative","text":"zero, really"}' --label-map 0=negative,1=positive f.csv

# TSV with a header (quotes are plain characters), columns in order.
printf 'id\ttext\tlabel\nr1\t"q" \tspam\n' >g.tsv
check tsv-header '{"id":"r1","text":"\"q\" ","label":"spam"}' g.tsv

# Headerless TSV: label<TAB>text, nothing trimmed; an empty label is none.
printf 'a\t x \n\tno label\n' >h.tsv
check tsv-headerless '{"id":"h.tsv:1","label":"a","text":" x "}
{"id":"h.tsv:2","text":"no label"}' h.tsv

# --header forces a header that detection would not see.
printf 'sentence\ty\nhello\t1\n' >i.tsv
check tsv-forced-header '{"id":"i.tsv:2","text":"hello","label":"1"}' --header \
    --text-field sentence --label-field y i.tsv

# Text: a record per non-empty line, or per paragraph.
printf 'l1\n\nl3 \r\n  \npara line1\npara line2' >j.txt
check text-lines '{"id":"j.txt:1","text":"l1"}
{"id":"j.txt:3","text":"l3 "}
{"id":"j.txt:4","text":"  "}
{"id":"j.txt:5","text":"para line1"}
{"id":"j.txt:6","text":"para line2"}' j.txt
check text-paragraphs '{"id":"j.txt:1","text":"l1"}
{"id":"j.txt:3","text":"l3 "}
{"id":"j.txt:5","text":"para line1\npara line2"}' --paragraphs j.txt

# Content decides when the name does not: JSON, then TSV, then text.
printf '  {"text":"j"}\n' >k.data
printf 'x\ty\n' >l.data
printf 'just text\n' >m.data
check by-content '{"id":"k.data","text":"j"}
{"id":"l.data:1","label":"x","text":"y"}
{"id":"m.data:1","text":"just text"}' k.data l.data m.data

# --format overrides names.
printf 'a,b\n' >n.json
check format-flag '{"id":"n.json:1","text":"a,b"}' --format text n.json

# Alpaca, ShareGPT and OpenAI chat records.
cat >chat.jsonl <<'JSON'
{"instruction":"Do","input":"this","output":"ok","system":"S"}
{"instruction":"Hi","input":"","output":"yo","history":[["q1","a1"]]}
{"instruction":"","input":"only input","output":"r"}
{"conversations":[{"from":"human","value":"hey"},{"from":"gpt","value":"ho"}],"system":"sys"}
{"messages":[{"role":"user","content":"u"}],"k":1}
JSON
check chat '{"id":"chat.jsonl:1","prompt":"Do\nthis","response":"ok","system":"S"}
{"id":"chat.jsonl:2","messages":[{"role":"user","content":"q1"},{"role":"assistant","content":"a1"},{"role":"user","content":"Hi"},{"role":"assistant","content":"yo"}]}
{"id":"chat.jsonl:3","prompt":"only input","response":"r"}
{"id":"chat.jsonl:4","messages":[{"role":"system","content":"sys"},{"role":"user","content":"hey"},{"role":"assistant","content":"ho"}]}
{"id":"chat.jsonl:5","messages":[{"role":"user","content":"u"}],"k":1}' chat.jsonl
head -n 1 chat.jsonl >alpaca1.jsonl
check schema-none '{"id":"alpaca1.jsonl:1","instruction":"Do","input":"this","output":"ok","system":"S"}' \
    --schema none alpaca1.jsonl
check jsonl-flag '{"id":"x1","text":"whole"}' --format jsonl one.json

# Standard input; --fix-utf8 (each maximal bad subsequence is one U+FFFD).
printf 'a\200b\n\342\202\n' | "$FT_BIN/ft-import" --fix-utf8 -q | "$FT_BIN/ft-export" >fix.got
printf '{"id":"stdin:1","text":"a\357\277\275b"}\n{"id":"stdin:2","text":"\357\277\275"}\n' >fix.want
cmp -s fix.got fix.want || fail "fix-utf8 differs"
printf '{"text":"a\377"}\n' | "$FT_BIN/ft-import" --fix-utf8 2>fix.err | "$FT_BIN/ft-export" >fix2.got
printf '{"id":"stdin","text":"a\357\277\275"}\n' >fix2.want
cmp -s fix2.got fix2.want || fail "fix-utf8 in JSON differs"
grep -q 'warning: replaced 1 invalid UTF-8' fix.err || fail "no repair warning"

# Archives and compressed files, recognised by content; members by glob;
# labels by a capture on the member path.
mkdir -p arc/pos arc/neg
printf 'good\n' >arc/pos/1.txt
printf 'bad\n' >arc/neg/2.txt
printf '{"text":"j"}\n' >arc/x.json
tar cf arc.tar arc
tar czf arc.tgz arc
(cd arc && zip -qr ../arc.zip pos neg x.json)
cp arc.tgz arc.bin
check tar-glob '{"id":"arc/neg/2.txt:1","text":"bad","label":"neg"}
{"id":"arc/pos/1.txt:1","text":"good","label":"pos"}' --glob 'arc/*/*.txt' \
    --label-from-path 'arc/(\w+)/' arc.tar
check tgz-by-content '{"id":"arc/x.json","text":"j"}' --glob 'arc/*.json' arc.bin
check zip '{"id":"x.json","text":"j"}' --glob '*.json' arc.zip
for z in gzip xz zstd bzip2; do
    printf 'label\ttext\nok\tcompressed %s\n' $z | $z -c >c.tsv.$z
    check "$z" "{\"id\":\"c.tsv.$z:2\",\"label\":\"ok\",\"text\":\"compressed $z\"}" c.tsv.$z
done

# Duplicate ids: a warning per id, records kept.
printf '{"id":1}\n{"id":1}\n' >dup.jsonl
"$FT_BIN/ft-import" dup.jsonl 2>dup.err | "$FT_BIN/ft-export" >dup.got
[ "$(wc -l <dup.got)" -eq 2 ] || fail "duplicates: records lost"
grep -qx 'ft-import: warning: dup.jsonl: record 2: duplicate id 1 (first at record 1)' dup.err ||
    fail "duplicates: warning: $(cat dup.err)"
exit $status
