#!/bin/sh
# ft-label scoring speed: records/s and tokens/s of label scoring (two
# labels, plain template, batches of 8 rows) on the stories15M shape with a
# byte-level tokenizer, over SST-2 sentences, ft-label beside the same
# scoring in PyTorch (bench/label_bench.py) in the same run, 1 and 2
# threads each. Tokens are those of the scored rows (BOS, text, label word).
# ft's figure includes starting the program, loading the model and
# tokenizing; the reference's only the scoring. Rates are per CPU second.
set -e
: "${FT_ROOT:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${FT_DATA_DIR:=$FT_ROOT/../shared/data}"
N=${N:-512}
TSV=$FT_DATA_DIR/eda/sst2/train.tsv
[ -f "$TSV" ] || { echo "no $TSV: skipped"; exit 0; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ft-bench-label.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
PY=/usr/bin/python3

make -C "$FT_ROOT" -s bin/ft-label bin/ft-import
"$PY" "$FT_ROOT/bench/label_bench.py" make "$tmp/model"
head -n "$N" "$TSV" | cut -f2 | "$FT_ROOT/bin/ft-import" --format text >"$tmp/texts.mp"
head -n "$N" "$TSV" >"$tmp/texts.tsv"
# Tokens of the rows: BOS + text bytes + " bad"/" good" bytes, for each text.
tokens=$(awk -F'\t' '{ n += 2 * (1 + length($2)) + 4 + 5 } END { print n }' "$tmp/texts.tsv")

# CPU seconds (user + system, all threads) and wall seconds of one command.
cpu() {
    "$PY" -c 'import resource, subprocess, sys, time
t = time.time()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.3f\t%.3f" % (r.ru_utime + r.ru_stime, time.time() - t))' "$@"
}

echo "# side	threads	records	tokens	cpu_s	wall_s	records_per_cpu_s	tokens_per_cpu_s"
for t in 1 2; do
    cpu "$FT_ROOT/bin/ft-label" -m "$tmp/model" --labels negative,positive \
        --verbalizer negative=bad,positive=good -j "$t" -q "$tmp/texts.mp" |
        awk -F'\t' -v n="$N" -v k="$tokens" -v t="$t" \
            '{ printf "ft\t%d\t%d\t%d\t%s\t%s\t%.2f\t%.0f\n", t, n, k, $1, $2, n / $1, k / $1 }'
    OMP_NUM_THREADS=$t "$PY" "$FT_ROOT/bench/label_bench.py" run "$tmp/model" "$tmp/texts.tsv" \
        "$N" "$t" | awk -F'\t' -v t="$t" \
            '{ printf "torch\t%d\t%d\t%d\t%s\t%s\t%.2f\t%.0f\n", t, $1, $2, $3, $4, $1 / $3, $2 / $3 }'
done
