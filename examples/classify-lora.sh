#!/bin/sh
# Sentiment classification with LoRA: 500 labelled SST-2 sentences train a
# rank-8 adapter on every linear layer of the base to answer with the label
# word; ft-eval scores it on the test set; ft-label labels new sentences.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PATH=$here/../bin:$PATH
EDA=${EDA:-$here/../../shared/data/eda}
WORK=${WORK:-$here/work}
STEPS=${STEPS:-300}
sh "$here/base.sh"
cd "$WORK"

ft-import --label-map 0=negative,1=positive "$EDA/sst2/train.tsv" |
    ft-split --sample 500 --seed 1 >sst2-500.mp
ft-train -m base --method lora --lora-targets all-linear --task classify \
    --max-len 64 --max-steps "$STEPS" --lr 5e-3 -f -o sst2.lora sst2-500.mp
ft-import --label-map 0=negative,1=positive "$EDA/sst2/test.tsv" |
    ft-eval -m base -a sst2.lora >sst2-eval.json
printf '%s\n' 'a moving and beautifully acted film' 'dull , flat and far too long' |
    ft-import --format text | ft-label -m base -a sst2.lora --keep-all | ft-export
