#!/bin/sh
# Pseudo-label quality against the confidence threshold, measured on SST-2
# (the table in ft-label(1)). A small Llama (pipelines/eda.mk's base: 4
# blocks, dim 128, a 4096-token ft-vocab tokenizer) is pre-trained from
# random weights on the unlabelled text of the four EDA training sets (no
# test sentence), a LoRA classifier is trained on 500 SST-2 training
# examples (ft-split --per-class 250 --seed 1), and ft-label --relabel
# --keep-all labels the other 6947 training sentences. For each threshold
# the table gives the share of sentences at or above it (coverage) and the
# accuracy of their labels against the gold ones, with ft-eval's 95%
# bootstrap interval.
#   sh pipelines/label-sst2.sh [DATA_DIR]      (default ../shared/data)
#   PRE=DIR sh pipelines/label-sst2.sh         (with a base already made)
# Takes about ten minutes on two cores (one without pre-training). Prints
# the table; work files in $OUT
# (default a temporary folder, removed).
set -eu
: "${FT_ROOT:=$(cd "$(dirname "$0")/.." && pwd)}"
D=${1:-$FT_ROOT/../shared/data}/eda
B=$FT_ROOT/bin
J=${J:--j 2}
if [ -n "${OUT:-}" ]; then mkdir -p "$OUT"; T=$OUT; else
    T=$(mktemp -d); trap 'rm -rf "$T"' EXIT; fi
cd "$T"

# Data: unlabelled text without any test sentence; SST-2's 500 + the rest.
cat "$D"/*/test.tsv | cut -f2- | sort -u >test-lines
for s in sst2 subj trec cr; do cut -f2- "$D/$s/train.tsv"; done | grep -vxFf test-lines >pre.txt
"$B/ft-import" --format text pre.txt >pre.mp
"$B/ft-import" --no-header --label-map 0=negative,1=positive "$D/sst2/train.tsv" >sst2.mp
"$B/ft-split" --per-class 250 --seed 1 --rest pool.mp sst2.mp >train500.mp

# The base and the classifier: the base of pipelines/eda.mk (a 1.25 M-
# parameter Llama, 4096-token ft-vocab vocabulary, 6000 updates of 8 x 64
# tokens: about ten minutes on one core), or PRE=DIR, a base already made
# (eda.mk's, say); then LoRA on the 500 gold sentences.
if [ -n "${PRE:-}" ]; then
    ln -sfn "$PRE" pre
else
    [ -f tok.json ] || "$B/ft-vocab" --size 4096 -o tok.json pre.mp
    cat >cfg.json <<'EOF2'
{"model_type": "llama", "hidden_size": 128, "intermediate_size": 344,
 "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
 "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "vocab_size": 4096,
 "tie_word_embeddings": true, "bos_token_id": 0, "eos_token_id": 0}
EOF2
    [ -d pre ] || "$B/ft-train" $J -q --init cfg.json --tokenizer tok.json --seq-len 64 -b 8 \
        --lr 2e-3 --warmup 50 --max-steps 6000 -o pre pre.mp
fi
[ -d cls.lora ] || "$B/ft-train" $J -q -m pre --method lora --lora-r 8 --lora-alpha 16 \
    --lora-targets all-linear --lr 5e-3 --task classify --labels negative,positive -b 8 \
    --max-steps 600 --warmup 10 --max-len 64 --seed 1 -o cls.lora train500.mp

# Pseudo-labels for the rest, scored against the gold labels.
"$B/ft-label" $J -m pre -a cls.lora --relabel --keep-all --max-len 64 pool.mp >pseudo.mp
"$B/ft-export" --format tsv --fields confidence,label,gold_label --no-header pseudo.mp >conf.tsv
n=$(wc -l <conf.tsv)
echo "# $n sentences; threshold, coverage, kept, accuracy [95% interval]"
for t in 0.5 0.6 0.7 0.8 0.9 0.95 0.99; do
    awk -F'\t' -v t="$t" '$1 >= t { printf "{\"label\": \"%s\", \"gold_label\": \"%s\"}\n", $2, $3 }' \
        conf.tsv | "$B/ft-import" --format jsonl >kept.mp
    k=$("$B/ft-export" --format text --fields label kept.mp | wc -l)
    if [ "$k" -eq 0 ]; then printf '%s\t0.0000\t0\t-\n' "$t"; continue; fi
    "$B/ft-eval" -q kept.mp |
        /usr/bin/python3 -c 'import json, sys
r = json.load(sys.stdin); t, k, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lo, hi = r["accuracy_ci"]
print("%s\t%.4f\t%d\t%.4f [%.4f, %.4f]" % (t, k / n, k, r["accuracy"], lo, hi))' "$t" "$k" "$n"
done
