#!/bin/sh
# Plots of a pipeline run, drawn by gnuplot (gnuplot-nox) from ft's own
# outputs turned into TSV by ft-export:
#   plot.sh loss OUT.png DIR METHOD...   training loss of each method (--log)
#   plot.sh pseudo OUT.png SCORED.mp     pseudo-label accuracy and coverage
#                                        against the confidence threshold
#   plot.sh confusion OUT.png EVAL.json NAME   a confusion matrix
set -eu
kind=$1 out=$2
shift 2
bin=${BIN:-$(cd "$(dirname "$0")/.." && pwd)/bin}
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
term='set terminal pngcairo size 800,500 font "sans,11"'
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot is not installed" >&2; exit 1; }

case $kind in
loss)
    dir=$1
    shift
    plot=
    for m in "$@"; do
        [ -f "$dir/$m.log" ] || continue
        "$bin/ft-export" --format tsv --no-header --fields step,loss "$dir/$m.log" >"$tmp/$m.tsv"
        plot="$plot${plot:+, }'$tmp/$m.tsv' using 1:2 with lines lw 2 title '$m'"
    done
    gnuplot -e "$term; set output '$out'; set title 'Training loss by method';
        set xlabel 'update'; set ylabel 'loss (label tokens)'; set key top right; set grid;
        plot $plot"
    ;;
pseudo)
    # For each threshold t: coverage = share of the pool at confidence >= t;
    # accuracy = share of those whose pseudo-label equals the true label.
    "$bin/ft-export" --format tsv --no-header --fields confidence,label,gold_label "$1" |
        awk -F '\t' '{ c[NR] = $1; ok[NR] = ($2 == $3) }
            END { for (t = 0.50; t <= 0.995; t += 0.01) { n = 0; k = 0
                      for (i = 1; i <= NR; i++) if (c[i] >= t) { n++; k += ok[i] }
                      printf "%.2f\t%.4f\t%s\n", t, n / NR, n ? k / n : "NaN" } }' \
        >"$tmp/p.tsv"
    gnuplot -e "$term; set output '$out'; set title 'Pseudo-labels against the threshold';
        set xlabel 'confidence threshold'; set ylabel 'share'; set yrange [0:1.02];
        set key bottom left; set grid;
        plot '$tmp/p.tsv' using 1:3 with lines lw 2 title 'accuracy of the kept',
             '$tmp/p.tsv' using 1:2 with lines lw 2 title 'coverage of the pool'"
    ;;
confusion)
    f=$1 name=$2
    labels=$(sed -n 's/.*"labels": *\[\([^]]*\)\].*/\1/p' "$f" | tr -d '" ')
    sed -n 's/.*"confusion": *\[\(\[[^"]*\]\)\].*/\1/p' "$f" | tr -d ' ' |
        sed 's/\],\[/\n/g; s/[][]//g' | tr ',' '\t' >"$tmp/c.tsv"
    n=$(wc -l <"$tmp/c.tsv")
    tics=$(echo "$labels" | awk -F, '{ for (i = 1; i <= NF; i++)
        printf "%s\"%s\" %d", (i > 1 ? ", " : ""), $i, i - 1 }')
    gnuplot -e "$term; set output '$out'; set title 'Confusion matrix: $name (test split)';
        set xlabel 'predicted'; set ylabel 'true'; set xtics ($tics); set ytics ($tics);
        set yrange [$n - 0.5:-0.5]; set xrange [-0.5:$n - 0.5]; set palette defined (0 'white', 1 '#2166ac');
        unset key; set view map;
        plot '$tmp/c.tsv' matrix with image, '$tmp/c.tsv' matrix using 1:2:(sprintf('%d', \$3)) with labels font 'sans,14'"
    ;;
*)
    echo "plot.sh: unknown plot '$kind'" >&2
    exit 2
    ;;
esac
