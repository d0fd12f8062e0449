#!/bin/sh
# Freeze keeps no activations below the lowest trainable block: the blocks
# under it run in place in one shared slot, as in inference. ft-train's
# --dry-run measures the buffers it allocates (the heap before and after),
# and the difference between training the top 4 and the top 1 of 8 blocks
# must be what 3 more blocks cost, worked out here from the shapes: per
# block, the activations a backward pass keeps (residual stream, its
# mid-point, two norm outputs and their statistics, q/k/v, attention output,
# gate/up, SwiGLU output, attention probabilities) plus the block's
# gradients and two AdamW moments.
: "${FT_BIN:?}" "${FT_ROOT:?}"
if [ -n "${FT_SANITIZE:-}" ]; then
    echo "skip: heap sizes are not measured under AddressSanitizer"
    exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
PY=/usr/bin/python3
MP="$FT_ROOT/tests/cli/mpjson.py"
cat >cfg.json <<'JSON'
{"model_type": "llama", "hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 8,
 "num_attention_heads": 4, "num_key_value_heads": 4, "max_position_embeddings": 512,
 "vocab_size": 300, "tie_word_embeddings": true}
JSON
$PY -c '
import json
for r in range(4):
    print(json.dumps({"id": r, "tokens": [(r + 7 * i) % 300 for i in range(300)]}))' | $PY "$MP" enc >d.mp
mem() { # LAYERS: the estimate in MiB
    "$FT_BIN/ft-train" -j 1 -m model --method freeze --trainable-layers "$1" --seq-len 256 -b 8 \
        --dry-run d.mp 2>&1 | sed -n 's/^memory  *estimated peak \([0-9.]*\) MiB$/\1/p'
}
"$FT_BIN/ft-train" -j 1 -q --init cfg.json --seq-len 16 -b 1 --max-steps 1 -o model d.mp ||
    { echo "FAIL: a model to start from"; exit 1; }
m1=$(mem 1) m4=$(mem 4) m8=$(mem 8)
[ -n "$m1" ] && [ -n "$m4" ] && [ -n "$m8" ] || { echo "FAIL: no estimates ($m1, $m4, $m8)"; exit 1; }
echo "freeze top 1: $m1 MiB, top 4: $m4 MiB, all 8: $m8 MiB"
awk -v m1="$m1" -v m4="$m4" -v m8="$m8" 'BEGIN {
    B = 8; T = 256; N = B * T; C = 256; H = 688; heads = 4; LD = 3 * C; Q = C
    MiB = 1048576 / 4                   # floats in a MiB
    slot = N * (C + C + 2 + 2 + LD + Q + 2 * H + H)  # norms, stats, qkv, attn, gate/up, act
    keep = N * C + N * C + B * heads * T * T         # residual, mid-point, probabilities
    params = 4 * C * C + 3 * C * H + 2 * C
    per = (slot + keep + 3 * params) / MiB
    want = 3 * per
    printf "3 blocks: %.1f MiB measured, %.1f worked out\n", m4 - m1, want
    if ((m4 - m1) < 0.97 * want || (m4 - m1) > 1.03 * want) exit 1
    # all 8 train: 4 more blocks than the top 4, but no shared slot below
    want8 = 4 * per - slot / MiB
    printf "4 more: %.1f MiB measured, %.1f worked out\n", m8 - m4, want8
    if ((m8 - m4) < 0.97 * want8 || (m8 - m4) > 1.03 * want8) exit 1
}' || { echo "FAIL: the memory of the frozen blocks is not what their shapes say"; exit 1; }
