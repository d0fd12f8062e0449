#!/bin/sh
# ft-train beside PyTorch on the stories15M shape (dim 288, 6 layers, 6
# heads, vocab 32000, tied classifier), batch 8 x 256 tokens, AdamW: full
# fine-tuning and freeze of the top 2 blocks (plus the final norm; the tied
# embedding frozen). ft's tokens/s is taken from its --log between the end
# of update 2 and the last update (the first two warm up caches), over the
# best of -j 1, -j 2 and -j 2 with OMP_WAIT_POLICY=PASSIVE (threads that wait
# sleep instead of spinning: what a shared machine wants); its peak
# resident memory from -v (getrusage). The
# PyTorch side is bench/torch_engine.py with its best threading setting.
# Prints a TSV table and the ratios. PART=wall or PART=cpu runs one half.
set -eu
: "${FT_ROOT:=$(cd "$(dirname "$0")/.." && pwd)}"
BIN=$FT_ROOT/bin
PY=/usr/bin/python3
MP=$FT_ROOT/tests/cli/mpjson.py
STEPS=${STEPS:-7}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

cat >"$T/config.json" <<'EOF'
{"model_type": "llama", "hidden_size": 288, "intermediate_size": 768,
 "num_hidden_layers": 6, "num_attention_heads": 6, "num_key_value_heads": 6,
 "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "vocab_size": 32000,
 "tie_word_embeddings": true}
EOF
# Token rows of 257 ids (one row each, packed windows line up with them).
$PY -c '
import json, random
r = random.Random(1)
for i in range('"$((STEPS * 8))"'):
    print(json.dumps({"tokens": [r.randrange(32000) for _ in range(257)]}))
' | $PY "$MP" enc >"$T/data.mp"

# tokens/s between update 2 and the last, from ft's log.
rate() {
    $PY "$MP" dec <"$1" | $PY -c '
import json, sys
log = [json.loads(l) for l in sys.stdin]
a, b = log[1], log[-1]
print("%.1f" % ((b["tokens"] - a["tokens"]) / (b["elapsed_s"] - a["elapsed_s"])))'
}

if [ "${PART:-all}" != cpu ]; then
printf '# who\tmode\tsetting\ttokens_per_s\tpeak_rss_mib\n'
for mode in full freeze; do
    case $mode in
    full) opts="--method full" ;;
    freeze) opts="--method freeze --trainable-layers 2" ;;
    esac
    for setting in j1 j2 passive-j2; do
        j=${setting#*j}
        case $setting in
        passive-*) wait=PASSIVE ;;
        *) wait= ;;
        esac
        rm -rf "$T/out" "$T/out.ckpt"
        env ${wait:+OMP_WAIT_POLICY=$wait} "$BIN/ft-train" --init "$T/config.json" $opts \
            --no-shuffle --seq-len 256 -b 8 --max-steps "$STEPS" -j "$j" -v \
            --log "$T/log.mp" -o "$T/out" "$T/data.mp" 2>"$T/err"
        kib=$(sed -n 's/.*peak resident memory: \([0-9]*\) KiB.*/\1/p' "$T/err")
        printf 'ft\t%s\t%s\t%s\t%.1f\n' $mode $setting "$(rate "$T/log.mp")" \
            "$(echo "$kib / 1024" | bc -l)"
    done
done | tee "$T/ft.tsv"
$PY "$FT_ROOT/bench/torch_engine.py" --shapes stories15M --modes full,freeze \
    --steps "$((STEPS - 2))" 2>/dev/null >"$T/torch.raw"
awk -F'\t' '$1 == "run" { printf "torch-run\t%s\t%s\t%s\t%s\n", $3, $4, $5, $6 }' "$T/torch.raw"
awk -F'\t' '$1 == "best" { printf "torch\t%s\t%s\t%s\t%s\n", $3, $4, $5, $6 }' "$T/torch.raw" |
    tee "$T/torch.tsv"

# Ratios: ft's best setting over PyTorch's best.
for mode in full freeze; do
    awk -F'\t' -v m=$mode '
        FILENAME ~ /ft.tsv/ && $2 == m && $4 > best { best = $4; rss = $5 }
        FILENAME ~ /torch.tsv/ && $2 == m { tb = $4; trss = $5 }
        END { printf "ratio\t%s\ttokens/s %.2fx\tpeak RSS %.2fx\n", m, best / tb, rss / trss }
    ' "$T/ft.tsv" "$T/torch.tsv"
done
fi

# On a busy machine the wall clock measures the other tenants as much as the
# programs; CPU time does not. One thread each (ft -j 1, PyTorch with
# OMP_NUM_THREADS=1), tokens per CPU-second (user + system) of 5 updates:
# the CPU time of a run of N + 5 updates less that of a run of N (start-up,
# random initialisation, warm-up and writing cancel out).
cpu_of() {
    $PY -c '
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(r.ru_utime + r.ru_stime)' "$@"
}
[ "${PART:-all}" = wall ] && exit 0
printf '# who\tmode\tsetting\ttokens_per_cpu_s\n'
for mode in full freeze; do
    case $mode in
    full) opts="--method full" ;;
    freeze) opts="--method freeze --trainable-layers 2" ;;
    esac
    for n in 2 7; do
        rm -rf "$T/out" "$T/out.ckpt"
        eval "ft$n=\$(cpu_of \"\$BIN/ft-train\" --init \"\$T/config.json\" \$opts --no-shuffle \
            --seq-len 256 -b 8 --max-steps $n -j 1 -o \"\$T/out\" \"\$T/data.mp\")"
    done
    for n in 1 6; do
        eval "pt$n=\$(OMP_NUM_THREADS=1 cpu_of \"\$PY\" \"\$FT_ROOT/bench/torch_engine.py\" \
            --worker --shape stories15M --mode $mode --setting t1 --batch 8 --seq 256 \
            --steps $n --warmup 2)"
    done
    # shellcheck disable=SC2154
    awk -v m=$mode -v a="$ft2" -v b="$ft7" -v c="$pt1" -v d="$pt6" 'BEGIN {
        f = 5 * 2048 / (b - a); p = 5 * 2048 / (d - c)
        printf "ft\t%s\tcpu-j1\t%.1f\ntorch\t%s\tcpu-t1\t%.1f\nratio\t%s\ttokens/cpu-s %.2fx\n",
            m, f, m, p, m, f / p }'
done
