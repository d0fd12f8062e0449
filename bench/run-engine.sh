#!/bin/sh
# Engine speed: forward + backward + AdamW of full training steps (every
# tensor trainable), batch 8 x 256, for the stories260K and stories15M shapes;
# ft (bench/engine_bench.c) beside bench/torch_engine.py's "full" mode in the
# same run. ft runs with 1 and 2 threads (settings "1", "2", and "passive-2"
# with OMP_WAIT_POLICY=PASSIVE) before and after PyTorch's threading settings (the machine is shared: taking each side's best of runs spread over
# the same minutes keeps the comparison fair). Prints every run, then per
# shape the ratio of the best wall-clock rates and, less disturbed by other
# load, the ratio of tokens per second of process CPU time on one thread.
# Environment: SETTINGS (PyTorch's, see torch_engine.py), SHAPES, STEPS_SMALL,
# STEPS_LARGE, WARMUP (fewer steps and settings when the machine is busy).
set -e
: "${FT_ROOT:=$(cd "$(dirname "$0")/.." && pwd)}"
SETTINGS=${SETTINGS:-default,t1,t2,passive-t1,passive-t2}
SHAPES=${SHAPES:-stories260K stories15M}
STEPS_SMALL=${STEPS_SMALL:-20}   # timed steps of stories260K
STEPS_LARGE=${STEPS_LARGE:-5}    # and of stories15M
WARMUP=${WARMUP:-2}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ft-bench-engine.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
PKGS="msgpack libarchive libpcre2-8 jansson libutf8proc openblas libxxhash zlib"

make -C "$FT_ROOT" -s lib/libft.a
# shellcheck disable=SC2046
cc -std=gnu11 -O2 -fopenmp -I"$FT_ROOT/lib" $(pkg-config --cflags $PKGS) \
    -o "$tmp/engine_bench" "$FT_ROOT/bench/engine_bench.c" "$FT_ROOT/lib/libft.a" \
    $(pkg-config --libs $PKGS) -lwordnet -lm -lpthread

ft_runs() {  # SHAPE STEPS: 1 and 2 threads, and 2 with OpenMP's passive wait
    for t in 1 2 passive-2; do
        n=${t#passive-}
        if [ "$n" = "$t" ]; then
            "$tmp/engine_bench" "$1" "$n" "$2" "$WARMUP"
        else
            OMP_WAIT_POLICY=PASSIVE "$tmp/engine_bench" "$1" "$n" "$2" "$WARMUP"
        fi | awk -F'\t' -v s="$t" '{ printf "ft\t%s\t%s\t%s\t%s\t%s\t%s\n", $1, s, $3, $4, $5, $6 }'
    done
}

echo "# side	shape	setting	tokens_per_s	peak_rss_mib	steps	cpu_tokens_per_s"
for shape in $SHAPES; do
    steps=$STEPS_LARGE
    [ "$shape" = stories260K ] && steps=$STEPS_SMALL
    ft_runs "$shape" "$steps"
    /usr/bin/python3 "$FT_ROOT/bench/torch_engine.py" --shapes "$shape" --modes full \
        --settings "$SETTINGS" --steps "$steps" --warmup "$WARMUP" 2>/dev/null |
        awk -F'\t' '$1 == "run" { printf "torch\t%s\t%s\t%s\t%s\t%s\t%s\n", $2, $4, $5, $6, $7, $8 }'
    ft_runs "$shape" "$steps"
done >"$tmp/runs.tsv"
cat "$tmp/runs.tsv"

# best wall rate per side; CPU-time rate of the one-thread runs
awk -F'\t' '
{
    k = $1 SUBSEP $2
    if ($4 > best[k]) { best[k] = $4; how[k] = $3; rss[k] = $5 }
    if (($3 == "1" || $3 == "t1" || $3 == "passive-t1") && $7 > cpu[k]) cpu[k] = $7
    shapes[$2] = 1
}
END {
    for (s in shapes) {
        f = "ft" SUBSEP s; t = "torch" SUBSEP s
        if (!(f in best) || !(t in best)) continue
        printf "ratio\t%s\twall %.2fx (ft %.0f tokens/s %s, %.0f MiB; torch %.0f %s, %.0f MiB)", \
            s, best[f] / best[t], best[f], how[f], rss[f], best[t], how[t], rss[t]
        printf "\tcpu, 1 thread %.2fx (ft %.0f, torch %.0f tokens per CPU second)\n", \
            cpu[f] / cpu[t], cpu[f], cpu[t]
    }
}' "$tmp/runs.tsv"
