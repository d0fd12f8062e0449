#!/bin/sh
# The results table of a pipeline run, in Markdown on standard output, from
# ft-eval's one-line JSON reports and the records themselves.
#   report.sh NAME DIR "METHODS" ROUNDS THRESHOLD "SETTINGS"
set -eu
name=$1 dir=$2 methods=$3 rounds=$4 threshold=$5 settings=$6
bin=${BIN:-$(cd "$(dirname "$0")/.." && pwd)/bin}

count() { "$bin/ft-export" --format text --fields id "$1" | wc -l; }
# A number, or a [lo, hi] pair, from a one-line JSON report.
num() { sed -n "s/.*\"$1\": *\([-0-9.eE+]*\).*/\1/p" "$2"; }
pair() { sed -n "s/.*\"$1\": *\[\([-0-9.eE+]*\), *\([-0-9.eE+]*\)\].*/\1 \2/p" "$2"; }
pct() { awk -v x="$1" 'BEGIN { printf "%.1f", 100 * x }'; }

test_n=$(count "$dir/test.mp")
majority=$("$bin/ft-export" --format text --fields label "$dir/test.mp" | sort | uniq -c |
    sort -rn | awk -v n="$test_n" 'NR == 1 { printf "%.1f%% (%s)", 100 * $1 / n, $2 }')

echo "# $name: results"
echo
echo "Settings: $settings."
echo
echo "Records: $(count "$dir/train.mp") train, $test_n test; gold $(count "$dir/gold.mp")," \
    "unlabelled $(count "$dir/unlabelled.mp") (pool offered to ft-label:" \
    "$(count "$dir/pool.mp")). Majority class of the test split: $majority."
echo
echo "| model | test accuracy | 95% bootstrap interval | macro-F1 | ECE |"
echo "|---|---|---|---|---|"
row() {
    f=$dir/eval-$1.json
    [ -f "$f" ] || return 0
    set -- "$2" "$(num accuracy "$f")" "$(pair accuracy_ci "$f")" "$(num macro_f1 "$f")" \
        "$(num ece "$f")"
    lo=${3% *} hi=${3#* }
    echo "| $1 | $(pct "$2") | $(pct "$lo") – $(pct "$hi") | $(pct "$4") | $(pct "$5") |"
}
row round0 "LoRA on the gold set only (self-training round 0)"
for m in $methods; do
    case $m in
    full) what="full fine-tuning" ;;
    freeze) what="Freeze (top 2 blocks)" ;;
    lora) what="LoRA (r 8, all linear layers)" ;;
    ptuning) what="P-tuning v2 (prefix 16)" ;;
    *) what=$m ;;
    esac
    row "$m" "$what"
done
row merged "LoRA merged into the base (ft-merge)"
echo
echo "The four methods train on the gold set, its augmentations (ft-augment," \
    "4 each) and the pseudo-labels of the last self-training round."

k=1
while [ "$k" -le "$rounds" ]; do
    f=$dir/pseudo$k.mp
    if [ -f "$f" ]; then
        "$bin/ft-export" --format tsv --no-header --fields label,gold_label "$f" |
            awk -F '\t' -v k="$k" -v t="$threshold" -v pool="$(count "$dir/pool.mp")" '
                { n++; if ($1 == $2) ok++ }
                END { printf "\nSelf-training round %d: %d of %d pool records at confidence >= %s, " \
                      "pseudo-labels %.1f%% correct.\n", k, n, pool, t, n ? 100 * ok / n : 0 }'
    fi
    k=$((k + 1))
done
if [ -f "$dir/merge.txt" ]; then
    echo
    echo "ft-merge's report (how much of each update survives rounding; the merged"
    echo "model is f32, so all of it does), first tensors and summary:"
    echo
    { head -n 3 "$dir/merge.txt"; echo "..."; tail -n 1 "$dir/merge.txt"; } | sed 's/^/    /'
fi
