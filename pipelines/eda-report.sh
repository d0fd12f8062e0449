#!/bin/sh
# results/eda.md from the EDA grid's ft-eval reports: per set and setting
# the test accuracy with its 95% bootstrap interval, the four-set average,
# and the published references.
#   eda-report.sh DIR "SETS" "METHODS" "SETTINGS"
set -eu
dir=$1 sets=$2 methods=$3 settings=$4
bin=${BIN:-$(cd "$(dirname "$0")/.." && pwd)/bin}

num() { sed -n "s/.*\"$1\": *\([-0-9.eE+]*\).*/\1/p" "$2"; }
pair() { sed -n "s/.*\"$1\": *\[\([-0-9.eE+]*\), *\([-0-9.eE+]*\)\].*/\1 \2/p" "$2"; }
count() { "$bin/ft-export" --format text --fields id "$1" | wc -l; }

echo "# EDA sets: $(echo "$settings" | sed -n "s/.*GOLD=\([0-9]*\).*/\1/p") gold examples per set: the methods, augmentation, self-training"
echo
echo "Settings: $settings. Measured by \`make -f pipelines/eda.mk\`."
echo
n_set=$(echo "$sets" | wc -w)
echo "One base (a 1.25 M-parameter Llama, see pipelines/common.mk) was pre-trained" \
    "on the unlabelled text of the $n_set sets (train minus gold)," \
    "$(cat "$dir/pretrain.mp" >/dev/null 2>&1 && count "$dir/pretrain.mp") sentences;" \
    "$(cat "$dir/overlap.txt") pool sentences that also occur in a test file were" \
    "left out first."
echo
printf '| setting |'
for s in $sets; do printf ' %s |' "$s"; done
printf ' average |\n|---|'
for s in $sets; do printf -- '---|'; done
printf -- '---|\n'
for m in $methods; do
    for v in noaug-nost aug-nost noaug-st aug-st; do
        case $v in
        noaug-nost) what="gold only" ;;
        aug-nost) what="+ augmentation" ;;
        noaug-st) what="+ self-training" ;;
        aug-st) what="+ both" ;;
        esac
        printf '| %s, %s |' "$m" "$what"
        sum=0 n=0
        for s in $sets; do
            f=$dir/$s/eval-$m-$v.json
            if [ -f "$f" ]; then
                a=$(num accuracy "$f")
                ci=$(pair accuracy_ci "$f")
                printf ' %s |' "$(awk -v a="$a" -v lo="${ci% *}" -v hi="${ci#* }" \
                    'BEGIN { printf "%.1f (%.1f–%.1f)", 100 * a, 100 * lo, 100 * hi }')"
                sum=$(awk -v s="$sum" -v a="$a" 'BEGIN { print s + a }')
                n=$((n + 1))
            else
                printf ' – |'
            fi
        done
        if [ "$n" -eq "$n_set" ]; then
            printf ' %s |\n' "$(awk -v s="$sum" -v n="$n" 'BEGIN { printf "%.1f", 100 * s / n }')"
        else
            printf ' – |\n'
        fi
    done
done
echo
echo "Test accuracy in percent, with the 95% percentile bootstrap interval" \
    "(ft-eval, 1000 resamples)."
echo
for s in $sets; do
    f=$dir/$s/pseudo.mp
    [ -f "$f" ] || continue
    "$bin/ft-export" --format tsv --no-header --fields label,gold_label "$f" |
        awk -F '\t' -v s="$s" -v pool="$(count "$dir/$s/pool.mp")" '
            { n++; if ($1 == $2) ok++ }
            END { printf "- %s: %d of %d pool sentences pseudo-labelled, %.1f%% correct.\n",
                  s, n, pool, n ? 100 * ok / n : 0 }'
done
# Compute, from the training logs: the last update's elapsed seconds.
secs() { "$bin/ft-export" --format tsv --no-header --fields elapsed_s "$1" | tail -n 1; }
pre=$(secs "$dir/base.log")
fine=0 n_fine=0
for f in "$dir"/*/*.log; do
    [ -f "$f" ] || continue
    fine=$(awk -v a="$fine" -v b="$(secs "$f")" 'BEGIN { print a + b }')
    n_fine=$((n_fine + 1))
done
echo
awk -v p="$pre" -v f="$fine" -v n="$n_fine" 'BEGIN {
    printf "Compute: pre-training the base took %.1f minutes on one thread; the %d\n", p / 60, n
    printf "fine-tuning runs %.1f minutes of training in all (one thread each, two at a\n", f / 60
    printf "time under make -j2); labelling the pools and the evaluations add a few minutes.\n" }'
echo
echo "Published references (EDA paper, averages over five sets of which these" \
    "are four; the fifth, PC, is not here, so the averages are not directly" \
    "comparable): a CNN reaches about 78.6% with 500 examples per set and" \
    "80.7% with EDA augmentation (88.3% and 88.8% on the full sets); an RNN" \
    "75.3% with 500. Those models start from pre-trained word embeddings;" \
    "the base here (1.25 M parameters) was pre-trained from nothing on about" \
    "0.6 M tokens of text, five passes."
