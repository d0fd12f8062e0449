#!/bin/sh
# Every script in examples/ runs to the end at a tiny budget (STEPS) in a
# scratch folder, and leaves what it says it makes: the base, the adapters
# and models, the evaluation reports (numbers checked to be accuracies).
# Skips without ../shared/data/eda.
set -u
: "${FT_ROOT:=$(pwd)}"
: "${FT_DATA_DIR:=$FT_ROOT/../shared/data}"
if [ ! -f "$FT_DATA_DIR/eda/sst2/train.tsv" ]; then
    echo "skip: $FT_DATA_DIR/eda is absent"
    exit 77
fi
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
status=0
fail() { echo "FAIL: $*"; status=1; }
export WORK="$T/work" EDA="$FT_DATA_DIR/eda"

STEPS=30 sh "$FT_ROOT/examples/base.sh" >"$T/base.out" 2>&1 || fail "base.sh: $(tail -3 "$T/base.out")"
[ -f "$WORK/base/config.json" ] && [ -f "$WORK/base/tokenizer.json" ] || fail "base.sh made no base"
for ex in classify-lora sft-alpaca ptuning-transfer freeze; do
    STEPS=10 sh "$FT_ROOT/examples/$ex.sh" >"$T/$ex.out" 2>&1 ||
        fail "$ex.sh: $(tail -3 "$T/$ex.out")"
done
for f in sst2.lora/adapter_config.json alpaca.lora/adapter_config.json \
    sst2.prefix/adapter_config.json cr.prefix/adapter_config.json subj-freeze/config.json; do
    [ -f "$WORK/$f" ] || fail "no $f"
done
$PY - "$WORK/sst2-eval.json" <<'PYEOF' || fail "sst2-eval.json"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["n"] == 1752 and 0 <= r["accuracy"] <= 1, r
PYEOF
# ft-label printed the two sentences with a label each
[ "$(grep -c '"label":"\(positive\|negative\)"' "$T/classify-lora.out")" -eq 2 ] ||
    fail "classify-lora.sh: ft-label's output: $(cat "$T/classify-lora.out")"
grep -q "accuracy" "$T/ptuning-transfer.out" || fail "ptuning-transfer.sh printed no accuracy"
exit $status
