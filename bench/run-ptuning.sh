#!/bin/sh
# P-tuning v2 training speed: prefix 16 on the stories15M shape (batch 8 x 256,
# forward + backward + AdamW on the prefix, the base frozen) beside
# bench/torch_engine.py's prefix mode in the same run; tokens/s and peak RSS.
# ft is timed twice: the engine alone (bench/ptuning_bench.c, STEPS timed
# steps) and the program (ft-train --method ptuning over STEPS + 2 updates,
# tokens/s from its --log between update 2 and the last, peak RSS from -v),
# each with 1 and 2 threads; PyTorch with its threading settings. With -j 1
# ft-train also runs 2 updates alone, so the CPU time (user + sys) of the
# timed updates is the difference of the two runs: cpu_tokens_per_s, the
# figure a busy machine disturbs least (PyTorch's from torch_engine.py).
# With PROJECTION=H set, ft also runs the projected prefix (MLP of hidden
# size H). Prints a TSV table and the ratios of each side's best.
set -e
: "${FT_ROOT:=$(cd "$(dirname "$0")/.." && pwd)}"
STEPS=${STEPS:-5}
SETTINGS=${SETTINGS:-default,t1,t2,passive-t1,passive-t2}
PY=/usr/bin/python3
MP=$FT_ROOT/tests/cli/mpjson.py
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ft-bench-ptuning.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
PKGS="msgpack libarchive libpcre2-8 jansson libutf8proc openblas libxxhash zlib"

make -C "$FT_ROOT" -s lib/libft.a bin/ft-train
# shellcheck disable=SC2046
cc -std=gnu11 -O2 -fopenmp -I"$FT_ROOT/lib" $(pkg-config --cflags $PKGS) \
    -o "$tmp/ptuning_bench" "$FT_ROOT/bench/ptuning_bench.c" "$FT_ROOT/lib/libft.a" \
    $(pkg-config --libs $PKGS) -lwordnet -lm -lpthread

cat >"$tmp/config.json" <<'JSON'
{"model_type": "llama", "hidden_size": 288, "intermediate_size": 768,
 "num_hidden_layers": 6, "num_attention_heads": 6, "num_key_value_heads": 6,
 "max_position_embeddings": 272, "rms_norm_eps": 1e-5, "vocab_size": 32000,
 "tie_word_embeddings": true}
JSON
# Token rows of 257 random ids, one window each (272 positions: 16 + 256).
$PY -c '
import json, random
r = random.Random(1)
for i in range('"$(((STEPS + 2) * 8))"'):
    print(json.dumps({"tokens": [r.randrange(32000) for _ in range(257)]}))
' | $PY "$MP" enc >"$tmp/data.mp"

# tokens/s between update 2 and the last, from ft-train's log.
rate() {
    $PY "$MP" dec <"$1" | $PY -c '
import json, sys
log = [json.loads(l) for l in sys.stdin]
a, b = log[1], log[-1]
print("%.1f" % ((b["tokens"] - a["tokens"]) / (b["elapsed_s"] - a["elapsed_s"])))'
}

# ft-train with n updates and j threads; user + sys seconds into $tmp/cpu.
ptrain() {
    /usr/bin/time -f '%U %S' -o "$tmp/time" "$FT_ROOT/bin/ft-train" --init "$tmp/config.json" \
        --method ptuning --prefix-len 16 --no-shuffle --seq-len 256 -b 8 --max-steps "$1" \
        -j "$2" -v --log "$tmp/log.mp" -o "$tmp/out" -f "$tmp/data.mp" 2>"$tmp/err"
    awk '{ print $1 + $2 }' "$tmp/time" >"$tmp/cpu"
}

echo "# side	setting	tokens_per_s	peak_rss_mib	steps	cpu_tokens_per_s"
for t in 1 2; do
    "$tmp/ptuning_bench" "$t" "$STEPS" 16 | awk -F'\t' '{ printf "ft\tj%s\t%s\t%s\t%s\n", $1, $2, $3, $4 }'
    if [ -n "$PROJECTION" ]; then
        "$tmp/ptuning_bench" "$t" "$STEPS" 16 "$PROJECTION" |
            awk -F'\t' -v h="$PROJECTION" '{ printf "ft-proj%s\tj%s\t%s\t%s\t%s\n", h, $1, $2, $3, $4 }'
    fi
    ptrain $((STEPS + 2)) $t
    kib=$(sed -n 's/.*peak resident memory: \([0-9]*\) KiB.*/\1/p' "$tmp/err")
    tps=$(rate "$tmp/log.mp")
    cpu=-
    if [ $t -eq 1 ]; then
        long=$(cat "$tmp/cpu")
        ptrain 2 1
        cpu=$(echo "$long $(cat "$tmp/cpu")" |
            awk -v n=$((STEPS * 2048)) '{ printf "%.1f", n / ($1 - $2) }')
    fi
    printf 'ft-train\tj%s\t%s\t%.1f\t%s\t%s\n' $t "$tps" "$(echo "$kib / 1024" | bc -l)" \
        "$STEPS" "$cpu"
done | tee "$tmp/ft.tsv"
$PY "$FT_ROOT/bench/torch_engine.py" --shapes stories15M --modes prefix \
    --settings "$SETTINGS" --steps "$STEPS" 2>/dev/null |
    awk -F'\t' '$1 == "run" { printf "torch\t%s\t%s\t%s\t%s\t%s\n", $4, $5, $6, $7, $8 }' |
    tee "$tmp/torch.tsv"

# Ratios: the best setting of each ft side over PyTorch's best (tokens/s,
# with those runs' peak RSS); ft-train's tokens per CPU second over
# PyTorch's best.
for side in ft ft-train; do
    awk -F'\t' -v s="$side" '
        FILENAME ~ /ft.tsv/ && $1 == s && $3 > best { best = $3; rss = $4 }
        FILENAME ~ /ft.tsv/ && $1 == s && $6 != "" && $6 != "-" && $6 > fc { fc = $6 }
        FILENAME ~ /torch.tsv/ && $3 > tb { tb = $3; trss = $4 }
        FILENAME ~ /torch.tsv/ && $6 > tc { tc = $6 }
        END { printf "ratio\t%s\ttokens/s %.2fx\tpeak RSS %.2fx", s, best / tb, rss / trss
              if (fc) printf "\ttokens per CPU second %.2fx", fc / tc
              printf "\n" }
    ' "$tmp/ft.tsv" "$tmp/torch.tsv"
done
