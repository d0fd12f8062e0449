#!/bin/sh
# Checks a finished spam pipeline run (make check-demo): every stage left
# its output, and some method's test accuracy has its 95% bootstrap interval
# above the majority-class rate of the test split. Prints the table.
#   check-demo.sh DIR
set -u
dir=$1
bin=${BIN:-$(cd "$(dirname "$0")/.." && pwd)/bin}
status=0
fail() { echo "check-demo: $*" >&2; status=1; }

for f in all.mp train.mp test.mp gold.mp unlabelled.mp pool.mp tokenizer.json \
    base/config.json base/model.safetensors round0/adapter_config.json scored1.mp pseudo1.mp \
    gold-aug.mp final.mp full/config.json freeze/config.json lora/adapter_config.json \
    ptuning/adapter_config.json merged/config.json merged.gguf lora.gguf \
    eval-round0.json eval-full.json eval-freeze.json eval-lora.json eval-ptuning.json \
    eval-merged.json full.log lora.log ptuning.log freeze.log; do
    [ -s "$dir/$f" ] || fail "$dir/$f: missing or empty"
done
for f in "$dir.md" "$dir-loss.png" "$dir-pseudo.png" "$dir-confusion.png"; do
    [ -s "$f" ] || fail "$f: missing or empty"
done
[ "$status" -eq 0 ] || exit 1

n=$("$bin/ft-export" --format text --fields label "$dir/test.mp" | wc -l)
top=$("$bin/ft-export" --format text --fields label "$dir/test.mp" | sort | uniq -c | sort -rn |
    awk 'NR == 1 { print $1 }')
best=
for m in full freeze lora ptuning; do
    f=$dir/eval-$m.json
    lo=$(sed -n 's/.*"accuracy_ci": *\[\([-0-9.eE+]*\),.*/\1/p' "$f")
    acc=$(sed -n 's/.*"accuracy": *\([-0-9.eE+]*\).*/\1/p' "$f")
    f1=$(sed -n 's/.*"macro_f1": *\([-0-9.eE+]*\).*/\1/p' "$f")
    echo "check-demo: $m: accuracy $acc, interval from $lo, macro-F1 $f1;" \
        "majority rate $top/$n"
    if awk -v lo="$lo" -v k="$top" -v n="$n" 'BEGIN { exit !(lo > k / n) }'; then
        best="$best $m"
    fi
done
[ -n "$best" ] || fail "no method's accuracy interval lies above the majority rate $top/$n"
[ -z "$best" ] || echo "check-demo: above the majority rate:$best"

# The merged model predicts what the adapter does (to within near-ties).
a=$(sed -n 's/.*"accuracy": *\([-0-9.eE+]*\).*/\1/p' "$dir/eval-lora.json")
b=$(sed -n 's/.*"accuracy": *\([-0-9.eE+]*\).*/\1/p' "$dir/eval-merged.json")
awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN { d = (a - b) * n; exit !(d <= 2 && d >= -2) }' ||
    fail "merged model accuracy $b differs from the adapter's $a by more than 2 records"
exit "$status"
