#!/bin/sh
# ft-augment's speed on SST-2 sentences (the EDA copy of SST-2 train, 7,447
# sentences, repeated 14 times: 104,258 records) with the default operations
# and --num-aug 4: input sentences/s and rewrites/s on one core (CPU time,
# start-up with WordNet loading subtracted) and wall time at -j 1 and -j 2;
# beside a plain-Python EDA (bench/eda_ref.py) on the same sentences.
set -eu
: "${FT_ROOT:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${FT_DATA_DIR:=$FT_ROOT/../shared/data}"
BIN="$FT_ROOT/bin"
SST="$FT_DATA_DIR/eda/sst2/train.tsv"
[ -f "$SST" ] || { echo "no $SST (FT_DATA_DIR)"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14; do cat "$SST"; done > "$T/sst.tsv"
"$BIN/ft-import" --format tsv --no-header "$T/sst.tsv" > "$T/sst.mp"
n=$(wc -l < "$T/sst.tsv")

# best_of CMD...: the smallest CPU seconds (user + sys) and wall seconds of 5 runs.
best_of() {
    for r in 1 2 3 4 5; do
        /usr/bin/time -f "%U %S %e" "$@" < "$T/in" > /dev/null 2>> "$T/times" || exit 1
    done
    awk '{ c = $1 + $2; if (NR == 1 || c < bc) bc = c; if (NR == 1 || $3 < bw) bw = $3 }
         END { print bc, bw }' "$T/times"
    rm -f "$T/times"
}

: > "$T/in"
set -- $(best_of "$BIN/ft-augment" -j 1)
start=$1
cp "$T/sst.mp" "$T/in"
set -- $(best_of "$BIN/ft-augment" -j 1 -n 4)
cpu1=$1 wall1=$2
set -- $(best_of "$BIN/ft-augment" -j 2 -n 4)
wall2=$2

awk -v n="$n" -v s="$start" -v c="$cpu1" -v w1="$wall1" -v w2="$wall2" 'BEGIN {
    printf "ft-augment: %d sentences, start-up %.2f s CPU\n", n, s
    printf "  one core (CPU time): %.0f sentences/s, %.0f rewrites/s\n", n / (c - s), 4 * n / (c - s)
    printf "  wall -j 1: %.2f s (%.0f sentences/s); -j 2: %.2f s (%.0f sentences/s)\n",
           w1, n / w1, w2, n / w2 }'
printf 'plain-Python EDA, one core: '
/usr/bin/python3 "$FT_ROOT/bench/eda_ref.py" "$SST" --num-aug 4
