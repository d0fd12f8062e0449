#!/bin/sh
# ft-eval on predictions already in the records: the classification scores
# against scikit-learn on the same predictions, the calibration error and
# the bootstrap interval against a numpy computation written here from the
# definitions, generation scores on hand-worked pairs, the paired
# comparison, and bad input (one line, exit 1; usage errors exit 2).
: "${FT_BIN:?}" "${FT_ROOT:?}"
PY=/usr/bin/python3
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
status=0
fail() { echo "FAIL: $*"; status=1; }
enc() { "$PY" "$FT_ROOT/tests/cli/mpjson.py" enc; }
[ -x "$PY" ] || { echo "no /usr/bin/python3"; exit 77; }

# 600 records, 5 classes (the last never true), 70% right, a confidence.
"$PY" - <<'PY' | enc >cls.mp
import json, random
r = random.Random(11)
names = ["neg", "pos", "neutral", "mixed", "zzz"]
for i in range(600):
    t = r.randrange(4)
    p = t if r.random() < 0.7 else r.randrange(5)
    rec = {"id": i, "text": "t%d" % i, "gold_label": names[t], "label": names[p]}
    if i % 3:
        rec["confidence"] = round(r.uniform(0.2, 1.0), 6)
    else:   # the predicted class's probability from "probs" instead
        q = round(r.uniform(0.2, 1.0), 6)
        rec["probs"] = {n: (q if n == names[p] else (1 - q) / 4) for n in names}
    print(json.dumps(rec))
PY
"$FT_BIN/ft-eval" --seed 3 cls.mp >rep.json 2>table.txt || fail "classify exit $?"
"$FT_BIN/ft-eval" --seed 3 cls.mp 2>/dev/null | cmp -s - rep.json || fail "not repeatable"
grep -q '^confusion (rows true, columns predicted):' table.txt || fail "no table on stderr"
if "$PY" -c 'import sklearn' 2>/dev/null; then
    "$PY" "$FT_ROOT/tests/cli/mpjson.py" dec <cls.mp >cls.jsonl
    "$PY" - <<'PY' || fail "scikit-learn disagrees"
import json, numpy as np
from sklearn import metrics as m
rep = json.load(open("rep.json"))
recs = [json.loads(l) for l in open("cls.jsonl")]
t = [r["gold_label"] for r in recs]
p = [r["label"] for r in recs]
conf = np.array([r["confidence"] if "confidence" in r else r["probs"][r["label"]] for r in recs])
L = sorted(set(t) | set(p))
assert rep["labels"] == L, rep["labels"]
assert rep["n"] == 600
close = lambda a, b: abs(a - b) <= 1e-9
assert close(rep["accuracy"], m.accuracy_score(t, p))
assert close(rep["macro_f1"], m.f1_score(t, p, labels=L, average="macro", zero_division=0))
P, R, F, S = m.precision_recall_fscore_support(t, p, labels=L, zero_division=0)
for i, c in enumerate(L):
    pc = rep["per_class"][c]
    assert close(pc["precision"], P[i]) and close(pc["recall"], R[i]), c
    assert close(pc["f1"], F[i]) and pc["support"] == S[i], c
assert rep["confusion"] == m.confusion_matrix(t, p, labels=L).tolist()
# ECE, 15 equal-width bins (lo, hi], from the definition.
ok = np.array([a == b for a, b in zip(t, p)], float)
ece = 0.0
for b in range(15):
    lo, hi = b / 15, (b + 1) / 15
    sel = (conf > lo) & (conf <= hi) if b else (conf <= hi)
    if sel.any():
        ece += sel.sum() / len(conf) * abs(ok[sel].mean() - conf[sel].mean())
assert close(rep["ece"], ece), (rep["ece"], ece)
# The 95% interval holds the accuracy and is about +-1.96 sd wide.
lo, hi = rep["accuracy_ci"]
a = rep["accuracy"]; sd = (a * (1 - a) / 600) ** 0.5
assert lo < a < hi, (lo, hi)
assert abs((hi - lo) - 2 * 1.96 * sd) < 0.25 * 2 * 1.96 * sd, (lo, hi, sd)
print("scikit-learn agrees")
PY
else
    echo "scikit-learn missing: classification scores not compared"
fi
"$FT_BIN/ft-eval" --seed 4 cls.mp 2>/dev/null | cmp -s - rep.json && fail "seed ignored"

# --labels fixes the order of the report; a label outside it is an error.
"$FT_BIN/ft-eval" -q --labels zzz,neg,pos,neutral,mixed cls.mp >fixed.json || fail "--labels"
grep -q '"labels": \["zzz", "neg", "pos", "neutral", "mixed"\]' fixed.json ||
    fail "--labels order: $(cat fixed.json)"
"$FT_BIN/ft-eval" --labels neg,pos cls.mp >/dev/null 2>err; [ $? -eq 1 ] &&
    [ "$(wc -l <err)" -eq 1 ] && grep -q "^ft-eval: cls.mp: record [0-9]*: label '[a-z]*' is not in the label set$" err ||
    fail "unknown label: $(cat err)"

# Generation scores on hand-worked pairs:
#   "The cat sat." / "the cat sat"   EM 1, F1 1, ROUGE-L 1
#   "a big dog" / "the dog"          EM 0; normalised "big dog" vs "dog":
#                                    F1 2(1/2)(1)/(3/2) = 2/3; ROUGE-L words
#                                    [a big dog] vs [the dog]: LCS 1,
#                                    P 1/3, R 1/2, F 0.4
#   "red fish blue fish" / "one fish two fish red fish blue fish"
#                                    EM 0; F1 P 4/4, R 4/8 -> 2/3;
#                                    ROUGE-L LCS 4 (red fish blue fish),
#                                    P 1, R 1/2 -> 2/3
# means: EM 1/3, F1 (1 + 2/3 + 2/3)/3 = 7/9, ROUGE-L (1 + .4 + 2/3)/3 = 31/45
enc >sft.mp <<'EOF2'
{"id": 1, "prompt": "p", "gold_response": "the cat sat", "response": "The cat sat."}
{"id": 2, "prompt": "p", "response": "the dog", "prediction": "a big dog"}
{"id": 3, "prompt": "p", "response": "one fish two fish red fish blue fish", "prediction": "red fish blue fish"}
EOF2
"$FT_BIN/ft-eval" -q --task sft sft.mp >sft.json || fail "sft exit"
"$PY" - <<'PY' || fail "sft scores: $(cat sft.json)"
import json
r = json.load(open("sft.json"))
assert r["n"] == 3
assert abs(r["exact_match"] - 1 / 3) < 1e-9
assert abs(r["token_f1"] - 7 / 9) < 1e-9
assert abs(r["rouge_l"] - 31 / 45) < 1e-9
PY

# --compare: A right on 8 of 10, B on 5 of 10, same records.
"$PY" - <<'PY'
import json, subprocess
a = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]
b = [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]
for name, ok in (("A", a), ("B", b)):
    with open(name + ".jsonl", "w") as f:
        for i, c in enumerate(ok):
            f.write(json.dumps({"id": "r%d" % i, "label": "x", "prediction": "x" if c else "y"}) + "\n")
PY
enc <A.jsonl >A.mp
enc <B.jsonl >B.mp
"$FT_BIN/ft-eval" -q --compare A.mp B.mp >cmp.json || fail "compare exit"
"$PY" - <<'PY' || fail "compare: $(cat cmp.json)"
import json
r = json.load(open("cmp.json"))
assert r["n"] == 10 and r["accuracy_a"] == 0.8 and r["accuracy_b"] == 0.5
assert abs(r["difference"] - 0.3) < 1e-12
assert 0 <= r["p_value"] <= 1
PY
"$FT_BIN/ft-eval" -q --compare A.mp A.mp | grep -q '"p_value": 1.0' || fail "A vs A: p != 1"
head -c "$(($(wc -c <B.mp) * 9 / 10))" B.mp >short.mp
"$FT_BIN/ft-eval" --compare A.mp short.mp >/dev/null 2>err; [ $? -eq 1 ] &&
    [ "$(wc -l <err)" -eq 1 ] || fail "truncated stream: $(cat err)"
sed 's/"r3"/"q3"/' B.jsonl | enc >B2.mp
"$FT_BIN/ft-eval" --compare A.mp B2.mp >/dev/null 2>err; [ $? -eq 1 ] &&
    grep -qx "ft-eval: B2.mp: record 4: its id differs from record 4 of A.mp" err ||
    fail "different ids: $(cat err)"

# Bad input: no true label, no prediction, a label that is not a string,
# a malformed stream, a confidence outside [0, 1].
echo '{"id": 1, "text": "x", "prediction": "a"}' | enc >nolabel.mp
"$FT_BIN/ft-eval" nolabel.mp >/dev/null 2>err; [ $? -eq 1 ] &&
    grep -qx 'ft-eval: nolabel.mp: record 1: no "label" field (the true value)' err ||
    fail "no label: $(cat err)"
echo '{"id": 1, "text": "x", "label": "a"}' | enc >nopred.mp
"$FT_BIN/ft-eval" nopred.mp >/dev/null 2>err; [ $? -eq 1 ] && [ "$(wc -l <err)" -eq 1 ] &&
    grep -q '^ft-eval: nopred.mp: record 1: no prediction' err || fail "no prediction: $(cat err)"
echo '{"id": 1, "label": 3, "prediction": "a"}' | enc >intlabel.mp
"$FT_BIN/ft-eval" intlabel.mp >/dev/null 2>err; [ $? -eq 1 ] && [ "$(wc -l <err)" -eq 1 ] &&
    grep -q '^ft-eval: intlabel.mp: record 1: field "label"' err || fail "int label: $(cat err)"
printf '\201\245label\301' | "$FT_BIN/ft-eval" >/dev/null 2>err; [ $? -eq 1 ] &&
    [ "$(wc -l <err)" -eq 1 ] && grep -q '^ft-eval: standard input: record 1 (byte 0)' err ||
    fail "malformed: $(cat err)"
echo '{"id": 1, "label": "a", "prediction": "a", "confidence": 1.5}' | enc >conf.mp
"$FT_BIN/ft-eval" conf.mp >/dev/null 2>err; [ $? -eq 1 ] && [ "$(wc -l <err)" -eq 1 ] ||
    fail "confidence 1.5: $(cat err)"

# An empty stream: a report with n = 0 and nulls, exit 0.
"$FT_BIN/ft-eval" -q </dev/null >empty.json || fail "empty stream exit"
grep -q '"n": 0' empty.json && grep -q '"accuracy": null' empty.json ||
    fail "empty report: $(cat empty.json)"

# Usage errors exit 2.
"$FT_BIN/ft-eval" --task nope cls.mp >/dev/null 2>err; [ $? -eq 2 ] || fail "--task nope"
"$FT_BIN/ft-eval" --compare A.mp >/dev/null 2>err; [ $? -eq 2 ] || fail "--compare one file"
"$FT_BIN/ft-eval" --labels a,,b cls.mp >/dev/null 2>err; [ $? -eq 2 ] || fail "--labels a,,b"
"$FT_BIN/ft-eval" --help | grep -q -- '--compare' || fail "--help"
exit $status
