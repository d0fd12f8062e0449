#!/bin/sh
# The commands of README.md's "A tour" section, run as written from a folder
# with ../shared/data beside it, except that every --max-steps is cut to 5
# (the tour's budgets take minutes): each must succeed and leave what the
# text says -- evaluations of the 1752 SST-2 test sentences, the merged
# model scoring as base + adapter, the GGUF files.
: "${FT_BIN:?}" "${FT_ROOT:?}" "${FT_DATA_DIR:?}"
if [ ! -f "$FT_DATA_DIR/eda/sst2/train.tsv" ]; then
    echo "skip: no $FT_DATA_DIR/eda/sst2"
    exit 77
fi
PY=/usr/bin/python3
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/shared" "$tmp/repo"
ln -s "$(cd "$FT_DATA_DIR" && pwd)" "$tmp/shared/data"
awk '/^## A tour/ { on = 1; next } /^## / { on = 0 } on && /^    / { print substr($0, 5) }' \
    "$FT_ROOT/README.md" | sed 's/--max-steps [0-9]*/--max-steps 5/g' >"$tmp/commands.sh"
[ "$(grep -c '^ft-' "$tmp/commands.sh")" -ge 15 ] || { echo "FAIL: the tour has too few commands"; exit 1; }
# every program of the Programs table appears in the tour
for p in $(sed -n 's/^| `\(ft-[a-z]*\)` .*/\1/p' "$FT_ROOT/README.md"); do
    grep -q "\\b$p\\b" "$tmp/commands.sh" || { echo "FAIL: the tour has no $p"; exit 1; }
done
cd "$tmp/repo" || exit 1
PATH=$FT_BIN:$PATH sh -e "$tmp/commands.sh" >out 2>err || {
    echo "FAIL: README tour: $(tail -3 err)"
    exit 1
}
status=0
for f in sent.lora/adapter_config.json sent-freeze/config.json sent.prefix/adapter_config.json \
    sent-model/config.json sent.gguf sent-lora.gguf pred.mp pseudo.mp gold-aug.mp; do
    [ -s "$f" ] || { echo "FAIL: no $f"; status=1; }
done
# ft-label relabelled the pool: each kept record has its gold label aside
PATH=$FT_BIN:$PATH ft-export pseudo.mp | $PY -c '
import json, sys
rs = [json.loads(l) for l in sys.stdin]
assert rs and all("gold_label" in r and r["confidence"] >= 0.9 for r in rs), "pseudo.mp"' ||
    { echo "FAIL: pseudo.mp is not relabelled"; status=1; }
$PY - lora.json freeze.json merged.json <<'PYEOF' || status=1
import json, sys
lora, freeze, merged = (json.load(open(p)) for p in sys.argv[1:])
for r in (lora, freeze, merged):
    assert r["n"] == 1752, r["n"]
# the merged model carries the task and scores as base + adapter
d = abs(lora["accuracy"] - merged["accuracy"]) * 1752
assert d <= 2, ("merged", merged["accuracy"], "lora", lora["accuracy"])
PYEOF
exit $status
