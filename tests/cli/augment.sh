#!/bin/sh
# ft-augment as a record filter: record counts, ids and added keys, every
# other key byte for byte (an independent msgpack codec, mpjson.py, reads the
# output), the same bytes for the same seed at any thread count, each bad
# input with its exit status and one stderr line, edge cases (empty text,
# one word, numbers and punctuation, a long text, CJK with a synonym file),
# sentence reordering, the perturbation rules and rule files, --field, and
# the man page covering every option of --help.
set -u
: "${FT_ROOT:=$(pwd)}"
: "${FT_BIN:=$FT_ROOT/bin}"
PY=/usr/bin/python3
MP="$FT_ROOT/tests/cli/mpjson.py"
AUG="$FT_BIN/ft-augment"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

enc() { "$PY" "$MP" enc; }
dec() { "$PY" "$MP" dec; }
count() { "$PY" "$MP" dec < "$1" | wc -l; }

# expect_error STATUS "STDERR LINE" ARGS... < input: one line on stderr.
expect_error() {
    want_rc=$1 want_msg=$2
    shift 2
    "$AUG" "$@" > "$T/err.out" 2> "$T/err.txt"
    rc=$?
    [ "$rc" -eq "$want_rc" ] || fail "$*: exit $rc, expected $want_rc"
    [ "$(wc -l < "$T/err.txt")" -eq 1 ] || fail "$*: stderr has $(wc -l < "$T/err.txt") lines"
    [ "$(cat "$T/err.txt")" = "$want_msg" ] ||
        fail "$*: stderr \"$(cat "$T/err.txt")\", expected \"$want_msg\""
}

# --- Help and man page ---------------------------------------------------------
"$AUG" --help > "$T/help" || fail "--help exits $?"
for opt in $(grep -o -- '--[a-z][a-z-]*' "$T/help" | sort -u); do
    grep -q -- "$(echo "$opt" | sed 's/-/\\\\-/g')" "$FT_ROOT/man/ft-augment.1" ||
        fail "man page lacks $opt"
done

# --- Records in, records out ---------------------------------------------------
cat > "$T/in.jsonl" <<'EOF'
{"id": "r1", "label": "positive", "text": "A gripping film with a superb cast.", "extra": [1, 2.5, {"k": null}], "source": "gold"}
{"id": 7, "text": "the plot is thin but the acting is wonderful", "label": "negative", "tokens": [5, 6, 7], "weight": 0.5}
{"id": "r3", "text": "Dull.", "aug": "old", "aug_of": "r0", "label": "negative"}
EOF
enc < "$T/in.jsonl" > "$T/in.mp"
"$AUG" --seed 11 < "$T/in.mp" > "$T/out.mp" || fail "plain run exits $?"
[ "$(count "$T/out.mp")" -eq 15 ] || fail "3 records, N=4: $(count "$T/out.mp") records, not 15"
"$AUG" --seed 11 --no-original -n 2 < "$T/in.mp" > "$T/out2.mp"
[ "$(count "$T/out2.mp")" -eq 6 ] || fail "--no-original -n 2: not 6 records"
"$AUG" -n 0 < "$T/in.mp" | cmp -s - "$T/in.mp" || fail "-n 0 does not copy the input"

# Every key: originals unchanged; rewrites keep other keys' bytes and order.
"$PY" - "$MP" "$T/in.mp" "$T/out.mp" <<'EOF' || fail "record structure (above)"
import sys, importlib.util
spec = importlib.util.spec_from_file_location("mp", sys.argv[1])
mp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mp)
ins = [r for _, r in mp.records(open(sys.argv[2], "rb").read())]
outs = [r for _, r in mp.records(open(sys.argv[3], "rb").read())]
ok = True
def bad(msg):
    global ok; ok = False; print(msg)
for i, orig in enumerate(ins):
    group = outs[5 * i:5 * i + 5]
    if group[0] != orig: bad(f"record {i}: original changed")
    of = mp.raw_fields(orig)
    oid, _ = mp.dec(of["id"], 0)
    for k, rew in enumerate(group[1:], 1):
        rf = mp.raw_fields(rew)
        keep = [x for x in of if x not in ("aug", "aug_of", "aug_seed", "tokens")]
        if list(rf) != keep + ["aug_of", "aug", "aug_seed"]: bad(f"{oid}#{k}: keys {list(rf)}")
        for x in keep:
            if x not in ("id", "text") and rf[x] != of[x]: bad(f"{oid}#{k}: {x} bytes differ")
        if mp.dec(rf["id"], 0)[0] != f"{oid}#{k}": bad(f"{oid}#{k}: id")
        if rf["aug_of"] != of["id"]: bad(f"{oid}#{k}: aug_of is not the id's bytes")
        if mp.dec(rf["aug"], 0)[0] not in ("sr", "ri", "rs", "rd"): bad(f"{oid}#{k}: aug")
        if mp.dec(rf["aug_seed"], 0)[0] != 11: bad(f"{oid}#{k}: aug_seed")
sys.exit(0 if ok else 1)
EOF

# --- Reproducible: same seed same bytes at any -j; another seed differs --------
"$PY" -c '
import json
for i in range(3000):
    print(json.dumps({"id": "s%d" % i, "text": "the good film had a sad plot and a fine actor %d" % i}))
' | enc > "$T/many.mp"
"$AUG" -j 1 --seed 3 < "$T/many.mp" > "$T/j1.mp"
"$AUG" -j 2 --seed 3 < "$T/many.mp" > "$T/j2.mp"
cmp -s "$T/j1.mp" "$T/j2.mp" || fail "-j 1 and -j 2 differ"
"$AUG" -j 2 --seed 3 < "$T/many.mp" | cmp -s - "$T/j1.mp" || fail "two runs differ"
"$AUG" -j 2 --seed 4 < "$T/many.mp" | cmp -s - "$T/j1.mp" && fail "seeds 3 and 4 agree"
# A record's rewrites do not depend on the records around it.
dec < "$T/j1.mp" | grep '"s2999' > "$T/last.all"
dec < "$T/many.mp" | tail -n 1 | enc | "$AUG" --seed 3 | dec > "$T/last.alone"
cmp -s "$T/last.all" "$T/last.alone" || fail "record s2999 alone gives other rewrites"
# Files as arguments, in order, like cat.
"$AUG" --seed 3 "$T/many.mp" - < "$T/in.mp" > "$T/files.mp"
"$AUG" --seed 3 < "$T/in.mp" > "$T/in.aug"
cat "$T/j1.mp" "$T/in.aug" | cmp -s - "$T/files.mp" || fail "FILE arguments"

# --- Bad input: exit status and one line ---------------------------------------
S='ft-augment: standard input: record'
one() { printf '%s\n' "$@" | enc; }
one '{"id": "a", "text": "fine"}' '{"id": "b", "text": "ok \udcc3("}' > "$T/bad.mp"
expect_error 1 "$S 2 (byte 16): id \"b\": text: invalid UTF-8 at byte 3" < "$T/bad.mp"
[ "$(count "$T/err.out")" -eq 5 ] || fail "records before the bad one were not all written"
one '{"id": "a", "prompt": "fine"}' > "$T/nofield.mp"
expect_error 1 "$S 1 (byte 0): id \"a\": no \"text\" field (choose the text with --field)" \
    < "$T/nofield.mp"
one '{"id": "a", "text": 5}' > "$T/num.mp"
expect_error 1 "$S 1 (byte 0): id \"a\": field \"text\": expected a string, found an integer" \
    < "$T/num.mp"
one '{"text": "fine"}' > "$T/noid.mp"
expect_error 1 "$S 1 (byte 0): no \"id\" field (ft-import gives every record one)" \
    < "$T/noid.mp"
one '{"id": [1], "text": "fine"}' > "$T/arrid.mp"
expect_error 1 "$S 1 (byte 0): \"id\" is neither a string nor an integer" < "$T/arrid.mp"
head -c 20 "$T/bad.mp" > "$T/trunc.mp"
expect_error 1 "$S 2 (byte 16): truncated record at end of input" < "$T/trunc.mp"
expect_error 2 'ft-augment: --ops: unknown operation "swap" (expected sr, ri, rs, rd, reorder or perturb)' --ops swap < /dev/null
expect_error 2 'ft-augment: --alpha: 2 is out of range [0, 1]' --alpha 2 < /dev/null
expect_error 1 'ft-augment: /nonexistent.tsv: No such file or directory' \
    --synonyms /nonexistent.tsv < /dev/null
printf 'rule x\nmatch (\nreplace y\n' > "$T/bad.rules"
expect_error 1 "ft-augment: $T/bad.rules: line 2: (: at offset 1: missing closing parenthesis" \
    --ops perturb --rules "$T/bad.rules" < /dev/null
expect_error 1 'ft-augment: WordNet: /nonexistent/data.noun: No such file or directory (install wordnet-base, or give --wordnet DIR or --no-wordnet)' \
    --wordnet /nonexistent < /dev/null
"$AUG" < /dev/null > "$T/empty.out" || fail "empty input exits $?"
[ -s "$T/empty.out" ] && fail "empty input gives output"

# --- Edge cases -------------------------------------------------------------
long=$("$PY" -c 'print(" ".join(["good film"] * 50000))')
{
    printf '{"id": "e1", "text": ""}\n{"id": "e2", "text": "film"}\n'
    printf '{"id": "e3", "text": "3.14 !!! 42, -7%%"}\n{"id": "e4", "text": "%s"}\n' "$long"
} | enc > "$T/edge.mp"
"$AUG" -n 8 < "$T/edge.mp" | dec > "$T/edge.out" || fail "edge cases exit $?"
"$PY" - "$T/edge.out" <<'EOF' || fail "edge cases (above)"
import json, re, sys
from collections import Counter
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 36, len(recs)
by = {}
for r in recs:
    by.setdefault(r.get("aug_of", r["id"]), []).append(r["text"])
assert all(t == "" for t in by["e1"]), by["e1"]
# "film" alone: sr gives a synonym, ri adds one; rs and rd cannot act.
for t in by["e2"][1:]:
    assert t != "film" and len(t) > 0, t
# Numbers are never replaced, punctuation never moves; rs/rd act on words.
for t in by["e3"][1:]:
    nums = Counter(re.findall(r"[0-9.]+", t))
    assert not nums - Counter(["3.14", "42", "7"]) and not re.search("[a-z]", t), t
    assert "!!!" in t and t.endswith("%"), t
for t in by["e4"][1:]:
    # rd and rs keep 80,000 to 100,000 words; ri adds 10,000; sr may make
    # every "film" or "good" two words ("motion picture", "trade good").
    assert 80000 < len(t.split()) <= 200000, len(t.split())
EOF

# CJK with a synonym file: 我喜欢电影 is cut by longest match, no spaces added.
printf '喜欢\t爱\n电影\t片子\n' > "$T/zh.tsv"
printf '%s\n' '{"id": "z", "text": "我喜欢电影"}' | enc > "$T/zh.mp"
"$AUG" --no-wordnet --synonyms "$T/zh.tsv" --ops sr,ri -n 8 --no-original < "$T/zh.mp" |
    dec > "$T/zh.out"
"$PY" - "$T/zh.out" <<'EOF' || fail "CJK rewrites (above)"
import json, sys
ok = {"我爱电影", "我喜欢片子"}
for l in open(sys.argv[1]):
    r = json.loads(l)
    t = r["text"]
    if r["aug"] == "sr":
        assert t in ok, t
    else:
        # One synonym inserted somewhere, no space: removing it gives the text.
        assert any(t[:i] + t[i + len(s):] == "我喜欢电影" and t[i:i + len(s)] == s
                   for s in ("爱", "片子") for i in range(len(t))), t
EOF

# --- Sentence operations and rules -------------------------------------------
printf '%s\n' '{"id": "p1", "text": "In the end, the film works."}' \
    '{"id": "p2", "text": "The plot is thin, but the acting is great."}' \
    '{"id": "p3", "text": "It rains. We stay in! Tea is hot."}' | enc > "$T/sent.mp"
"$AUG" --ops perturb -n 2 --no-original < "$T/sent.mp" | dec > "$T/pert.out"
"$PY" - "$T/pert.out" <<'EOF' || fail "perturb (above)"
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert [x["text"] for x in r[:4]] == ["The film works in the end."] * 2 + \
    ["The plot is thin, but the acting is great."] * 2, [x["text"] for x in r]
assert all(x["aug"] == "perturb" for x in r)
EOF
"$AUG" --ops reorder -n 4 --no-original < "$T/sent.mp" | dec | grep '"p3#' > "$T/reorder.out"
"$PY" - "$T/reorder.out" <<'EOF' || fail "reorder (above)"
import json, sys
for l in open(sys.argv[1]):
    t = json.loads(l)["text"]
    parts = sorted(t.replace(". ", ".|").replace("! ", "!|").split("|"))
    assert parts == sorted(["It rains.", "We stay in!", "Tea is hot."]), t
    assert t != "It rains. We stay in! Tea is hot.", t
EOF
printf 'rule shout\nmatch ^(?i)(it rains)\\.$\nreplace \\U$1\\E!\n' > "$T/my.rules"
"$AUG" --ops perturb --rules "$T/my.rules" --no-default-rules -n 1 --no-original \
    < "$T/sent.mp" | dec > "$T/my.out"
grep -q '"text": "IT RAINS! We stay in! Tea is hot."' "$T/my.out" || fail "--rules FILE"
grep -q '"text": "In the end, the film works."' "$T/my.out" || fail "--no-default-rules"

# --field prompt rewrites the prompt only.
one '{"id": "q", "prompt": "Describe a good film.", "response": "A good film moves."}' \
    > "$T/q.mp"
"$AUG" --field prompt --ops sr -n 3 --no-original < "$T/q.mp" | dec > "$T/q.out"
grep -c '"response": "A good film moves."' "$T/q.out" | grep -q '^3$' ||
    fail "--field prompt changed the response"
grep -q '"prompt": "Describe a good film."' "$T/q.out" &&
    fail "--field prompt left the prompt alone"

# -o: the same bytes as standard output; nothing left behind after a
# failure; an existing file refused without -f.
"$AUG" -n 2 --seed 3 -o "$T/o.mp" < "$T/sent.mp" || fail "-o"
"$AUG" -n 2 --seed 3 < "$T/sent.mp" | cmp -s - "$T/o.mp" || fail "-o differs from stdout"
mkdir "$T/o"
printf '\201\244text' | "$AUG" -o "$T/o/bad.mp" 2>/dev/null && fail "truncated input: exit 0"
[ -z "$(ls -A "$T/o")" ] || fail "-o left a file after a failure: $(ls -A "$T/o")"
"$AUG" -o "$T/o.mp" < "$T/sent.mp" 2>/dev/null; [ $? -eq 1 ] || fail "existing -o: not exit 1"

# Installed as PREFIX/bin and PREFIX/share/ft (PREFIX/share exists too).
mkdir -p "$T/prefix/bin" "$T/prefix/share/ft" "$T/prefix/share/man"
cp "$AUG" "$T/prefix/bin/"
cp "$FT_ROOT/share/"* "$T/prefix/share/ft/"
FT_SHARE= "$T/prefix/bin/ft-augment" --ops sr,perturb -n 1 < "$T/sent.mp" > /dev/null ||
    fail "an installed ft-augment does not find its share folder"

[ "$fails" -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "all ft-augment checks passed"
