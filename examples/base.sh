#!/bin/sh
# A small base model for the other examples, made here from nothing: a
# 4096-token byte-level BPE vocabulary learnt by ft-vocab and a 1.25 M-
# parameter Llama pre-trained by ft-train on the training sentences of the
# four EDA sets (../shared/data/eda), none that is also a test sentence.
# A few minutes on two cores; made once, into $WORK/base (default
# examples/work/base).
#   STEPS   pre-training updates of 8 x 64 tokens (default 600)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PATH=$here/../bin:$PATH
EDA=${EDA:-$here/../../shared/data/eda}
WORK=${WORK:-$here/work}
STEPS=${STEPS:-600}
[ -f "$WORK/base/config.json" ] && exit 0
mkdir -p "$WORK"
cd "$WORK"

# Training sentences only, leaving out any that is also a test sentence.
cat "$EDA"/*/test.tsv | cut -f2- | sort -u >test-lines.txt
for s in sst2 subj trec cr; do cut -f2- "$EDA/$s/train.tsv"; done |
    grep -vxFf test-lines.txt | ft-import --format text >text.mp
ft-vocab --size 4096 -o tokenizer.json text.mp
cat >config.json <<'JSON'
{"model_type": "llama", "hidden_size": 128, "intermediate_size": 344,
 "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
 "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "vocab_size": 4096,
 "tie_word_embeddings": true, "bos_token_id": 0, "eos_token_id": 0}
JSON
ft-train --init config.json --tokenizer tokenizer.json --seq-len 64 \
    --max-steps "$STEPS" --lr 2e-3 --warmup 50 -o base text.mp
