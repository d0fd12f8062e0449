#!/bin/sh
# ft-train --task sft, chat and classify as a program: the plan, the task
# metadata in models and adapters of all four methods, the label set from
# --labels or the data, held-out accuracy by label scoring, and every kind
# of bad record (exit 1, one line naming the record, nothing at the output)
# or bad option (exit 2). The tokenizer is byte-level with one token per
# byte, so token counts below are byte counts worked out by hand.
set -u
: "${FT_ROOT:=$(pwd)}"
: "${FT_BIN:=$FT_ROOT/bin}"
PY=/usr/bin/python3
MP="$FT_ROOT/tests/cli/mpjson.py"
T=$(mktemp -d)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
status=0
fail() { echo "FAIL: $*"; status=1; }
run() { "$@" >out 2>err; rc=$?; }
expect() {
    [ "$rc" -eq "$2" ] || fail "$1: exit status $rc, expected $2 ($(cat err))"
    [ "$(wc -l <err)" -eq 1 ] || fail "$1: stderr is not one line: $(cat err)"
    [ "$(cat err)" = "$3" ] || fail "$1: stderr: $(cat err)"
}
nothing_at() { [ ! -e "$1" ] || fail "$2: $1 was left behind"; }
train() { "$FT_BIN/ft-train" -j 1 --init cfg.json --tokenizer tok/tokenizer.json "$@"; }
enc() { $PY "$MP" enc; }
# meta FILE KEY: a value of a safetensors file's __metadata__
meta() {
    $PY -c '
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
print(json.loads(b[8:8 + n]).get("__metadata__", {}).get(sys.argv[2], "-"))' "$1" "$2"
}

# A byte-level tokenizer: ids 0..255 are bytes, 256 <s> (BOS, added), 257
# </s> (EOS), 258/259 chatml's markers; and a tiny Llama over it.
mkdir tok
$PY - <<'EOF'
import json
bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
cs, n = bs[:], 0
for b in range(256):
    if b not in bs:
        bs.append(b); cs.append(256 + n); n += 1
vocab = {chr(c): b for b, c in zip(bs, cs)}
sp = ["<s>", "</s>", "<|im_start|>", "<|im_end|>"]
for k, s in enumerate(sp):
    vocab[s] = 256 + k
tj = {"version": "1.0", "added_tokens": [{"id": 256 + k, "content": s, "single_word": False,
      "lstrip": False, "rstrip": False, "normalized": False, "special": True}
      for k, s in enumerate(sp)], "normalizer": None,
      "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                        "use_regex": True}, "post_processor": None,
      "decoder": {"type": "ByteLevel"},
      "model": {"type": "BPE", "vocab": vocab, "merges": []}}
json.dump(tj, open("tok/tokenizer.json", "w"))
json.dump({"add_bos_token": True, "bos_token": "<s>", "eos_token": "</s>"},
          open("tok/tokenizer_config.json", "w"))
json.dump({"model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
           "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
           "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "vocab_size": 260},
          open("cfg.json", "w"))
EOF

# Classification records: "good"/"bad" words decide the label.
$PY -c '
import json
for i in range(24):
    pos = i % 2 == 0
    print(json.dumps({"id": i, "text": ("a good film %d" if pos else "a bad film %d") % i,
                      "label": "positive" if pos else "negative"}))
' | enc >cls.mp

# --- The plan ------------------------------------------------------------------
run train --task classify --verbalizer negative=no,positive=yes -b 4 --dry-run cls.mp
[ "$rc" -eq 0 ] || fail "classify dry run: $(cat err)"
grep -q "^task  *classify, template plain, labels (from the data, sorted) negative, positive; words 'no', 'yes'; 0 of 24 examples cut to 257 tokens" out ||
    fail "classify plan: $(grep ^task out)"
# "a good film 0" .. "a bad film 23": BOS + 13..15 bytes + " yes"/" no"
grep -q '^data  *24 records, [0-9]* tokens -> 24 rows of up to 257 tokens (one example per row' out ||
    fail "classify plan rows: $(grep ^data out)"
grep -q '^padding ' out || fail "no padding line"

printf '%s\n' '{"prompt": "say hi", "response": "hi"}' | enc >sft.mp
run train --task sft --template alpaca --dry-run sft.mp
[ "$rc" -eq 0 ] || fail "sft dry run: $(cat err)"
grep -q '^task  *sft, template alpaca' out || fail "sft plan: $(grep ^task out)"

# --max-len cuts: "a good film 10" (BOS + 14 + " yes" = 19 tokens) in 12
run train --task classify --max-len 12 -v --dry-run cls.mp
grep -q 'examples were cut to --max-len 12 tokens' err || fail "cut count: $(cat err)"

# --- Metadata of every method; accuracy by label scoring ----------------------
for m in full freeze lora ptuning; do
    ml=257
    case $m in
    lora) extra="--lora-r 4" f=out-$m/adapter_model.safetensors ;;
    ptuning) extra="--prefix-len 4 --max-len 100" ml=100 f=out-$m/adapter_model.safetensors ;;
    freeze) extra="--trainable-layers 1" f=out-$m/model.safetensors ;;
    *) extra="" f=out-$m/model.safetensors ;;
    esac
    run train --method $m $extra --task classify --labels positive,negative \
        --verbalizer negative=no,positive=yes --template 'Review: {text} =>' -b 4 \
        --max-steps 2 --lr 1e-3 --eval cls.mp -v -o out-$m cls.mp
    [ "$rc" -eq 0 ] || { fail "$m: exit $rc: $(cat err)"; continue; }
    grep -q '^ft-train: labels (given): positive, negative$' err || fail "$m: labels line"
    grep -q '^ft-train: cls.mp: accuracy [01]\.[0-9]*, macro-F1 [01]\.[0-9]* by label scoring$' err ||
        fail "$m: accuracy line: $(cat err)"
    [ "$(meta $f ft_task)" = classify ] || fail "$m: ft_task $(meta $f ft_task)"
    [ "$(meta $f ft_template)" = 'Review: {text} =>' ] || fail "$m: ft_template"
    [ "$(meta $f ft_labels)" = '["positive","negative"]' ] || fail "$m: ft_labels $(meta $f ft_labels)"
    [ "$(meta $f ft_verbalizer)" = '{"positive":"yes","negative":"no"}' ] ||
        fail "$m: ft_verbalizer $(meta $f ft_verbalizer)"
    [ "$(meta $f ft_max_len)" = $ml ] || fail "$m: ft_max_len"
done

# Accuracy by label scoring at every evaluation, in the log; the last one is
# the model that was written, so it equals the accuracy reported at the end.
run train --task classify -b 4 --max-steps 3 --lr 1e-3 --eval cls.mp --eval-every 1 \
    --log log.mp -v -o out-log cls.mp
[ "$rc" -eq 0 ] || fail "eval log: $(cat err)"
$PY "$MP" dec <log.mp >log.jsonl
[ "$(grep -c '"eval_accuracy"' log.jsonl)" -eq 3 ] || fail "eval_accuracy in the log: $(cat log.jsonl)"
last=$($PY -c '
import json, sys
print("%.4f" % [json.loads(l) for l in open("log.jsonl")][-1]["eval_accuracy"])')
grep -q "^ft-train: cls.mp: accuracy $last, " err || fail "final accuracy $last: $(cat err)"

# --- ft-merge carries a LoRA classifier's task into the merged model ----------
# The merged model's metadata is the adapter's, so ft-eval scores it without
# being told the task: the same predicted label for every record as base +
# adapter. Two adapters trained for different label sets: a warning, and
# the merged model carries no task.
run train --max-steps 1 -o base cls.mp
[ "$rc" -eq 0 ] || fail "base: $(cat err)"
mk_lora() { # OUT LABELS VERBALIZER
    "$FT_BIN/ft-train" -j 1 -q -m base --method lora --lora-r 4 --task classify --labels "$2" \
        --verbalizer "$3" --template 'Review: {text} =>' -b 4 --max-steps 3 --lr 5e-2 \
        -o "$1" cls.mp 2>err || fail "$1: $(cat err)"
}
mk_lora cls.lora positive,negative negative=no,positive=yes
"$FT_BIN/ft-merge" -j 1 -q -m base -a cls.lora -o merged 2>err || fail "ft-merge: $(cat err)"
for k in ft_task ft_template ft_labels ft_verbalizer ft_max_len; do
    a=$(meta cls.lora/adapter_model.safetensors $k) b=$(meta merged/model.safetensors $k)
    [ "$a" != - ] && [ "$a" = "$b" ] || fail "merged $k: '$b', the adapter's '$a'"
done
"$FT_BIN/ft-eval" -j 1 -q -m base -a cls.lora --predictions p-ad.mp cls.mp >e-ad.json &&
    "$FT_BIN/ft-eval" -j 1 -q -m merged --predictions p-mg.mp cls.mp >e-mg.json ||
    fail "ft-eval of the adapter or the merged model"
"$FT_BIN/ft-export" p-ad.mp >p-ad.jsonl && "$FT_BIN/ft-export" p-mg.mp >p-mg.jsonl ||
    fail "ft-export of the predictions"
$PY - p-ad.jsonl p-mg.jsonl <<'EOF' || fail "merged and adapter predictions differ"
import json, sys
a, m = ([json.loads(l) for l in open(p)] for p in sys.argv[1:])
assert len(a) == len(m) == 24, (len(a), len(m))
for x, y in zip(a, m):
    assert x["id"] == y["id"] and x["prediction"] == y["prediction"], (x, y)
    for k, p in x["probs"].items():
        assert abs(p - y["probs"][k]) < 1e-5, (x, y)
# the adapter moved the scores apart: not one constant answer
assert len({round(x["probs"]["positive"], 6) for x in a}) > 5
EOF
mk_lora other.lora negative,positive negative=bad,positive=good
"$FT_BIN/ft-merge" -j 1 -m base -a cls.lora -a other.lora -o merged2 2>err ||
    fail "ft-merge of two tasks: $(cat err)"
grep -q "^ft-merge: warning: cls.lora and other.lora were trained for different tasks: merged2 carries none" err ||
    fail "two tasks: no warning: $(cat err)"
[ "$(meta merged2/model.safetensors ft_task)" = - ] || fail "merged2 carries a task"

# --- Bad records: one line naming the record, exit 1, no output ---------------
bad() { # NAME TASK JSONL MESSAGE [OPTIONS]
    name=$1 task=$2 json=$3 msg=$4
    shift 4
    printf '%s\n' '{"prompt": "p", "response": "r", "text": "t", "label": "a", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}' "$json" | enc >bad.mp
    run train --task "$task" "$@" -o m bad.mp
    expect "$name" 1 "ft-train: bad.mp: record 2: $msg"
    nothing_at m "$name"
}
bad "no prompt" sft '{"response": "r"}' 'no "prompt" field'
bad "no response" sft '{"prompt": "p"}' 'no "response" field'
bad "empty response" sft '{"prompt": "p", "response": ""}' \
    'field response: empty (there is nothing to learn)'
bad "no messages" chat '{"text": "x"}' 'no "messages" field'
bad "bad role" chat '{"messages": [{"role": "user", "content": "q"}, {"role": "tool", "content": "x"}]}' \
    'messages[1]: unknown role "tool" (system, user or assistant)'
bad "role order" chat '{"messages": [{"role": "assistant", "content": "q"}]}' \
    'turn 1: expected role "user", found "assistant"'
bad "no text" classify '{"label": "a"}' 'no "text" field'
bad "no label" classify '{"text": "t"}' 'no "label" field'
bad "unknown label" classify '{"text": "t", "label": "b"}' \
    'label "b" is not in the label set (a)' --labels a
bad "too long" sft '{"prompt": "0123456789", "response": "r"}' \
    '13 tokens, more than --max-len 12 (truncation is off)' --max-len 12 --no-truncate
bad "response too long" sft '{"prompt": "p", "response": "0123456789abc"}' \
    'does not fit --max-len 12 tokens even with an empty prompt' --max-len 12
bad "weight" classify '{"text": "t", "label": "a", "weight": -2}' \
    'field weight: -2 is not a finite number >= 0'

# --- Bad options: exit 2 -------------------------------------------------------
run train --task sft --template 'no hole' -o m sft.mp
expect "template without a placeholder" 2 "ft-train: template 'no hole' is neither a built-in (plain, alpaca, chatml, llama2, llama3) nor a string with {prompt} or {text}"
run train --task sft --labels a,b -o m sft.mp
expect "--labels with sft" 2 "ft-train: --labels and --verbalizer need --task classify"
run train --template chatml -o m sft.mp
expect "--template with lm" 2 "ft-train: --template, --labels, --verbalizer, --max-len, --no-truncate and --group-by-length need --task sft, chat or classify"
run train --task classify --labels a,a -o m cls.mp
expect "duplicate label" 2 "ft-train: --labels: label 'a' is named twice"
run train --task classify --labels positive,negative --verbalizer neutral=x -o m cls.mp
expect "verbalizer outside" 2 "ft-train: --verbalizer: 'neutral' is not in the label set"
run train --task chat --template 'Q: {prompt}' -o m sft.mp
[ "$rc" -ne 0 ] || fail "chat with a custom template succeeded"
nothing_at m "bad options"
exit $status
