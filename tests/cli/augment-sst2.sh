#!/bin/sh
# ft-augment on real data (SST-2 as cleaned for the EDA study): the
# 500-example subset with the recommended 16 rewrites gives 8,500 records,
# labels unchanged; then each EDA operation alone on 1,000 sentences, checked
# by augment_oracle.py against WordNet read independently (synsets shared,
# stop words untouched, >= 90% of texts changed, insertion sources, swaps
# keep the words, the deletion rate within its bound), and a few replacements
# confirmed with WordNet's own `wn` command when it is installed.
set -u
: "${FT_ROOT:=$(pwd)}"
: "${FT_BIN:=$FT_ROOT/bin}"
: "${FT_DATA_DIR:=$FT_ROOT/../shared/data}"
PY=/usr/bin/python3
MP="$FT_ROOT/tests/cli/mpjson.py"
ORACLE="$FT_ROOT/tests/cli/augment_oracle.py"
SST="$FT_DATA_DIR/eda/sst2/train.tsv"
WN=${WNSEARCHDIR:-/usr/share/wordnet}
if [ ! -f "$SST" ]; then
    echo "skip: $SST not found (the shared data folder, FT_DATA_DIR)"
    exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
import() { "$FT_BIN/ft-import" --format tsv --no-header --label-map 0=negative,1=positive "$@"; }

# --- 500 examples, 16 rewrites each ---------------------------------------------
awk 'NR % 14 == 1' "$SST" | head -n 500 > "$T/sst2-500.tsv"
import "$T/sst2-500.tsv" > "$T/500.mp" || fail "ft-import"
"$FT_BIN/ft-augment" -n 16 --alpha 0.05 --seed 1 < "$T/500.mp" > "$T/500-aug.mp" ||
    fail "ft-augment exits $?"
"$PY" "$MP" dec < "$T/500-aug.mp" > "$T/500-aug.jsonl"
"$PY" - "$T/500-aug.jsonl" <<'EOF' || fail "500 x 16 (above)"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 8500, len(recs)
for i in range(500):
    o, group = recs[17 * i], recs[17 * i + 1:17 * i + 17]
    assert "aug" not in o
    for k, r in enumerate(group, 1):
        assert r["id"] == f"{o['id']}#{k}" and r["aug_of"] == o["id"], r["id"]
        assert r["label"] == o["label"] and r["aug_seed"] == 1
        assert r["aug"] in ("sr", "ri", "rs", "rd")
print("8500 records, labels kept")
EOF

# --- Each operation alone, checked against WordNet ------------------------------
head -n 1000 "$SST" | import > "$T/1k.mp"
"$PY" "$MP" dec < "$T/1k.mp" > "$T/1k.jsonl"
for op in sr ri rs rd; do
    "$FT_BIN/ft-augment" --ops "$op" -n 4 --seed 5 --no-original < "$T/1k.mp" |
        "$PY" "$MP" dec > "$T/$op.jsonl"
    "$PY" "$ORACLE" "$op" "$T/1k.jsonl" "$T/$op.jsonl" "$FT_ROOT/share/stopwords-en.txt" \
        "$WN" 0.1 || fail "oracle $op"
done

# --- WordNet's own wn agrees on a few replacements --------------------------------
if command -v wn > /dev/null; then
    "$PY" - "$T/1k.jsonl" "$T/sr.jsonl" > "$T/pairs" <<'EOF'
import json, sys
orig = {json.loads(l)["id"]: json.loads(l)["text"].split() for l in open(sys.argv[1])}
n = 0
for l in open(sys.argv[2]):
    r = json.loads(l)
    a, b = orig[r["aug_of"]], r["text"].split()
    if len(a) == len(b):
        for x, y in zip(a, b):
            if x != y and n < 25:
                print(x, y)
                n += 1
EOF
    while read -r word syn; do
        wn "$word" -synsn -synsv -synsa -synsr 2>/dev/null | grep -qiw -- "$syn" ||
            fail "wn does not list $syn as a synonym of $word"
    done < "$T/pairs"
    [ "$(wc -l < "$T/pairs")" -ge 20 ] || fail "too few one-word replacements to check"
else
    echo "note: no wn command (apt install wordnet): the wn cross-check is skipped"
fi

[ "$fails" -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "all SST-2 checks passed"
