#!/bin/sh
# ft-eval --compare against an independent value: tests/ref/compare_ref.py
# works out, from ft-eval(1)'s definition, the exact probability that the
# paired bootstrap's p-value estimates (a sum over the multinomial of the
# resampled counts of discordant pairs, by SciPy). ft-eval's Monte-Carlo
# estimate from R resamples must lie within 4.5 standard errors,
# sqrt(p(1-p)/R), of it: a clear difference, none (p exactly 1), a small
# one, B the better system, and ten records. Accuracies and the difference
# are checked exactly; --resamples out of range is a usage error.
: "${FT_BIN:?}" "${FT_ROOT:?}"
PY=/usr/bin/python3
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
status=0
fail() { echo "FAIL: $*"; status=1; }
[ -x "$PY" ] || { echo "skip: no /usr/bin/python3"; exit 77; }
"$PY" -c 'import numpy, scipy.stats' 2>/dev/null ||
    { echo "skip: /usr/bin/python3 lacks numpy or scipy"; exit 77; }
R=200000

# streams N10 N01 N11 N00 SEED: A.mp and B.mp, the pairs in a shuffled order
streams() {
    "$PY" - "$@" <<'PY'
import json, os, random, subprocess, sys
n10, n01, n11, n00, seed = (int(a) for a in sys.argv[1:])
pairs = [(1, 0)] * n10 + [(0, 1)] * n01 + [(1, 1)] * n11 + [(0, 0)] * n00
random.Random(seed).shuffle(pairs)
for side, name in ((0, "A"), (1, "B")):
    lines = "".join(json.dumps({"id": "r%d" % i, "label": "x",
                                "prediction": "x" if p[side] else "y"}) + "\n"
                    for i, p in enumerate(pairs))
    enc = subprocess.run([sys.executable, os.environ["MPJSON"], "enc"],
                         input=lines.encode(), capture_output=True, check=True)
    open(name + ".mp", "wb").write(enc.stdout)
PY
}
export MPJSON="$FT_ROOT/tests/cli/mpjson.py"

for case in "30 10 120 40 1" "12 12 150 26 2" "15 11 140 34 3" "5 14 150 31 4" "4 1 4 1 5"; do
    set -- $case
    streams "$@" || { fail "$case: could not write the streams"; continue; }
    "$PY" "$FT_ROOT/tests/ref/compare_ref.py" "$1" "$2" "$3" "$4" >want.json ||
        { fail "$case: compare_ref.py failed"; continue; }
    "$FT_BIN/ft-eval" -q --compare --resamples $R --seed 7 A.mp B.mp >got.json 2>err ||
        { fail "$case: ft-eval exit $?: $(cat err)"; continue; }
    "$PY" - "$R" <<'PY' || fail "$case: $(cat got.json) against $(cat want.json)"
import json, math, sys
R = int(sys.argv[1])
got, want = json.load(open("got.json")), json.load(open("want.json"))
for k in ("n", "accuracy_a", "accuracy_b", "difference"):
    assert got[k] == want[k], (k, got[k], want[k])
p = want["p"]
se = math.sqrt(p * (1 - p) / R)
assert abs(got["p_value"] - p) <= 4.5 * se, (got["p_value"], p, se)
print("p %.6f, exact %.6f, %.2f standard errors" %
      (got["p_value"], p, abs(got["p_value"] - p) / se if se else 0.0))
PY
done

# The default is 1000 resamples: a p-value on that grid, and not the one
# 200000 give.
streams 15 11 140 34 3
"$FT_BIN/ft-eval" -q --compare A.mp B.mp >d1.json || fail "default resamples"
"$FT_BIN/ft-eval" -q --compare --resamples 1000 A.mp B.mp | cmp -s - d1.json ||
    fail "the default is not --resamples 1000"

# Usage errors: one line, exit 2.
for bad in 0 -3 x 10000001; do
    "$FT_BIN/ft-eval" --compare --resamples "$bad" A.mp B.mp >out 2>err; rc=$?
    [ "$rc" -eq 2 ] && [ "$(wc -l <err)" -eq 1 ] && grep -q -- '--resamples' err ||
        fail "--resamples $bad: exit $rc: $(cat err)"
done
"$FT_BIN/ft-eval" --help | grep -q -- '--resamples' || fail "--help lacks --resamples"
exit $status
