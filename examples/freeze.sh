#!/bin/sh
# Freeze: only the top two blocks (and the final norm) of the base train,
# on subjectivity classification; the backward pass stops below them.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PATH=$here/../bin:$PATH
EDA=${EDA:-$here/../../shared/data/eda}
WORK=${WORK:-$here/work}
STEPS=${STEPS:-300}
sh "$here/base.sh"
cd "$WORK"

ft-import --label-map 0=objective,1=subjective "$EDA/subj/train.tsv" |
    ft-split --sample 500 --seed 1 >subj-500.mp
ft-train -m base --method freeze --trainable-layers 2 --task classify --max-len 64 \
    --max-steps "$STEPS" --lr 2e-3 -f -o subj-freeze subj-500.mp
ft-import --label-map 0=objective,1=subjective "$EDA/subj/test.tsv" |
    ft-eval -m subj-freeze >/dev/null
