#!/bin/sh
# P-tuning v2 training speed: prefix 16 on the stories15M shape (batch 8 x 256,
# forward + backward + AdamW on the prefix, the base frozen), ft
# (bench/ptuning_bench.c) beside bench/torch_engine.py's prefix mode in the
# same run; tokens/s and peak RSS. ft runs with 1 and 2 threads, PyTorch
# with its threading settings; each side's best is compared. With
# PROJECTION=H set, ft also runs the projected prefix (MLP of hidden size H).
set -e
: "${FT_ROOT:=$(cd "$(dirname "$0")/.." && pwd)}"
STEPS=${STEPS:-5}
SETTINGS=${SETTINGS:-default,t1,t2,passive-t1,passive-t2}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ft-bench-ptuning.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
PKGS="msgpack libarchive libpcre2-8 jansson libutf8proc openblas libxxhash zlib"

make -C "$FT_ROOT" -s lib/libft.a
# shellcheck disable=SC2046
cc -std=gnu11 -O2 -fopenmp -I"$FT_ROOT/lib" $(pkg-config --cflags $PKGS) \
    -o "$tmp/ptuning_bench" "$FT_ROOT/bench/ptuning_bench.c" "$FT_ROOT/lib/libft.a" \
    $(pkg-config --libs $PKGS) -lwordnet -lm -lpthread

echo "# side	setting	tokens_per_s	peak_rss_mib	steps"
for t in 1 2; do
    "$tmp/ptuning_bench" "$t" "$STEPS" 16 | awk -F'\t' '{ printf "ft\tj%s\t%s\t%s\t%s\n", $1, $2, $3, $4 }'
    if [ -n "$PROJECTION" ]; then
        "$tmp/ptuning_bench" "$t" "$STEPS" 16 "$PROJECTION" |
            awk -F'\t' -v h="$PROJECTION" '{ printf "ft-proj%s\tj%s\t%s\t%s\t%s\n", h, $1, $2, $3, $4 }'
    fi
done
/usr/bin/python3 "$FT_ROOT/bench/torch_engine.py" --shapes stories15M --modes prefix \
    --settings "$SETTINGS" --steps "$STEPS" 2>/dev/null |
    awk -F'\t' '$1 == "run" { printf "torch\t%s\t%s\t%s\t%s\n", $4, $5, $6, $7 }'
