#!/bin/sh
# P-tuning v2 on one task, continued on another: a 16-token prefix at every
# layer learns SST-2 (film reviews), then starts the training on CR
# (product reviews) with --init-adapter; each is evaluated on CR's test.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PATH=$here/../bin:$PATH
EDA=${EDA:-$here/../../shared/data/eda}
WORK=${WORK:-$here/work}
STEPS=${STEPS:-300}
sh "$here/base.sh"
cd "$WORK"

for s in sst2 cr; do
    ft-import --label-map 0=negative,1=positive "$EDA/$s/train.tsv" |
        ft-split --sample 500 --seed 1 >$s-500.mp
    ft-import --label-map 0=negative,1=positive "$EDA/$s/test.tsv" >$s-test.mp
done
ft-train -m base --method ptuning --prefix-len 16 --task classify --max-len 64 \
    --max-steps "$STEPS" --lr 1e-2 -f -o sst2.prefix sst2-500.mp
ft-train -m base --method ptuning --init-adapter sst2.prefix --task classify --max-len 64 \
    --max-steps "$STEPS" --lr 5e-3 -f -o cr.prefix cr-500.mp
echo "SST-2 prefix on CR:"; ft-eval -m base -a sst2.prefix cr-test.mp >/dev/null
echo "continued on CR:";    ft-eval -m base -a cr.prefix cr-test.mp >/dev/null
