#!/bin/sh
# Instruction tuning (--task sft) on a tiny alpaca-style file: the loss is
# on the responses only, rendered with the alpaca template; then ft-gen
# answers an instruction through the adapter.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PATH=$here/../bin:$PATH
WORK=${WORK:-$here/work}
STEPS=${STEPS:-200}
sh "$here/base.sh"
cd "$WORK"

cat >tiny-alpaca.json <<'JSON'
[
 {"instruction": "Is this review positive or negative?", "input": "a wonderful film", "output": "positive"},
 {"instruction": "Is this review positive or negative?", "input": "a dull mess", "output": "negative"},
 {"instruction": "Is this review positive or negative?", "input": "the acting is superb", "output": "positive"},
 {"instruction": "Is this review positive or negative?", "input": "boring and far too long", "output": "negative"},
 {"instruction": "Repeat the word.", "input": "film", "output": "film"},
 {"instruction": "Repeat the word.", "input": "story", "output": "story"},
 {"instruction": "Repeat the word.", "input": "music", "output": "music"},
 {"instruction": "Name a colour.", "input": "", "output": "blue"}
]
JSON
ft-import tiny-alpaca.json >tiny-alpaca.mp      # instruction + input -> prompt, output -> response
ft-train -m base --method lora --task sft --template alpaca --max-len 96 \
    --epochs 100 --max-steps "$STEPS" --lr 5e-3 -f -o alpaca.lora tiny-alpaca.mp
ft-gen -m base -a alpaca.lora --temp 0 -n 8 --stop '###' \
    -p "$(printf 'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\nRepeat the word.\n\n### Input:\nmusic\n\n### Response:\n')"
echo
