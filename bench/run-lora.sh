#!/bin/sh
# LoRA training beside PyTorch on the stories15M shape (dim 288, 6 layers, 6
# heads, vocab 32000, tied classifier), batch 8 x 256 tokens: LoRA r 8,
# alpha 16 on q, k, v and o, the base frozen, AdamW on A and B only -- the
# same work as bench/torch_engine.py's lora mode. ft is the program itself:
# ft-train --method lora over STEPS updates with -j 1 and -j 2; its
# tokens/s is taken from the --log between the end of update 2 and the last
# update, its peak resident memory from -v (getrusage). With -j 1 ft also
# runs 2 updates alone, so the CPU time (user + sys) of the STEPS - 2 timed
# updates is the difference of the two runs: cpu_tokens_per_s, the figure a
# busy machine disturbs least. PyTorch: torch_engine.py in the same run with
# the threading settings in SETTINGS, timing STEPS - 2 steps after 2 warm-up
# steps. Prints a TSV table and the ratios (ft's best over PyTorch's best,
# for tokens/s and for tokens per CPU second; the peak RSS of the runs with
# the best tokens/s).
#   STEPS=7  SHAPES=stories15M  SETTINGS=default,t1,t2,passive-t1,passive-t2
set -eu
: "${FT_ROOT:=$(cd "$(dirname "$0")/.." && pwd)}"
BIN=$FT_ROOT/bin
PY=/usr/bin/python3
MP=$FT_ROOT/tests/cli/mpjson.py
STEPS=${STEPS:-7}
SHAPES=${SHAPES:-stories15M}
SETTINGS=${SETTINGS:-default,t1,t2,passive-t1,passive-t2}
[ "$STEPS" -ge 4 ] || { echo "run-lora.sh: STEPS must be at least 4" >&2; exit 2; }
T=$(mktemp -d "${TMPDIR:-/tmp}/ft-bench-lora.XXXXXX")
trap 'rm -rf "$T"' EXIT
make -C "$FT_ROOT" -s bin/ft-train

config() {
    case $1 in
    stories15M) echo '{"model_type": "llama", "hidden_size": 288, "intermediate_size": 768,
 "num_hidden_layers": 6, "num_attention_heads": 6, "num_key_value_heads": 6,
 "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "vocab_size": 32000,
 "tie_word_embeddings": true}' ;;
    stories260K) echo '{"model_type": "llama", "hidden_size": 64, "intermediate_size": 172,
 "num_hidden_layers": 5, "num_attention_heads": 8, "num_key_value_heads": 4,
 "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "vocab_size": 512,
 "tie_word_embeddings": true}' ;;
    *) echo "run-lora.sh: unknown shape $1" >&2; exit 2 ;;
    esac
}

# tokens/s between update 2 and the last, from ft's log.
rate() {
    $PY "$MP" dec <"$1" | $PY -c '
import json, sys
log = [json.loads(l) for l in sys.stdin]
a, b = log[1], log[-1]
print("%.1f" % ((b["tokens"] - a["tokens"]) / (b["elapsed_s"] - a["elapsed_s"])))'
}

# ft-train with n updates and j threads; user + sys seconds into $T/cpu.
lora() {
    /usr/bin/time -f '%U %S' -o "$T/time" "$BIN/ft-train" --init "$T/config.json" \
        --method lora --lora-r 8 --lora-alpha 16 --lora-targets q_proj,k_proj,v_proj,o_proj \
        --no-shuffle --seq-len 256 -b 8 --max-steps "$1" -j "$2" -v --log "$T/log.mp" \
        -o "$T/out" -f "$T/data.mp" 2>"$T/err"
    awk '{ print $1 + $2 }' "$T/time" >"$T/cpu"
}

printf '# who\tshape\tsetting\ttokens_per_s\tpeak_rss_mib\tcpu_tokens_per_s\n'
for shape in $(echo "$SHAPES" | tr , ' '); do
    config "$shape" >"$T/config.json"
    vocab=$(sed -n 's/.*"vocab_size": \([0-9]*\).*/\1/p' "$T/config.json")
    # Token rows of 257 ids (one row each; packed windows line up with them).
    $PY -c '
import json, random
r = random.Random(1)
for i in range('"$((STEPS * 8))"'):
    print(json.dumps({"tokens": [r.randrange('"$vocab"') for _ in range(257)]}))
' | $PY "$MP" enc >"$T/data.mp"
    for j in 1 2; do
        lora "$STEPS" $j
        kib=$(sed -n 's/.*peak resident memory: \([0-9]*\) KiB.*/\1/p' "$T/err")
        tps=$(rate "$T/log.mp")
        cpu=-
        if [ $j -eq 1 ]; then
            long=$(cat "$T/cpu")
            lora 2 1
            cpu=$(echo "$long $(cat "$T/cpu")" |
                awk -v n=$(((STEPS - 2) * 2048)) '{ printf "%.1f", n / ($1 - $2) }')
        fi
        printf 'ft\t%s\tj%s\t%s\t%.1f\t%s\n' "$shape" $j "$tps" \
            "$(echo "$kib / 1024" | bc -l)" "$cpu"
    done
done | tee "$T/ft.tsv"
$PY "$FT_ROOT/bench/torch_engine.py" --shapes "$SHAPES" --modes lora \
    --settings "$SETTINGS" --steps $((STEPS - 2)) 2>/dev/null |
    awk -F'\t' '$1 == "run" { printf "torch\t%s\t%s\t%s\t%s\t%s\n", $2, $4, $5, $6, $8 }' |
    tee "$T/torch.tsv"

# Ratios: each side's best (tokens/s, with that run's peak RSS; and tokens
# per CPU second).
for shape in $(echo "$SHAPES" | tr , ' '); do
    awk -F'\t' -v s="$shape" '
        $2 != s { next }
        FILENAME ~ /ft.tsv/ && $4 > fb { fb = $4; frss = $5 }
        FILENAME ~ /ft.tsv/ && $6 != "-" && $6 > fc { fc = $6 }
        FILENAME ~ /torch.tsv/ && $4 > tb { tb = $4; trss = $5 }
        FILENAME ~ /torch.tsv/ && $6 > tc { tc = $6 }
        END { printf "ratio\t%s\ttokens/s %.2fx\tpeak RSS %.2fx\ttokens per CPU second %.2fx\n",
                     s, fb / tb, frss / trss, fc / tc }
    ' "$T/ft.tsv" "$T/torch.tsv"
done
