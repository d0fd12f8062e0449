#!/bin/sh
# ft-train --method ptuning as a program: the adapter directory it writes
# (PEFT's files, the MLP beside them with a projection), --force, the plan,
# and every kind of bad input: exit status 1 (2 for usage), one line on
# stderr, nothing left at the output path. A tiny random Llama (4 blocks,
# width 32, 4 heads, 2 kv heads of 8: token_dim 16; 64 positions).
set -u
: "${FT_ROOT:=$(pwd)}"
: "${FT_BIN:=$FT_ROOT/bin}"
PY=/usr/bin/python3
MP="$FT_ROOT/tests/cli/mpjson.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
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
train() { "$FT_BIN/ft-train" -j 1 -q --seq-len 16 -b 4 --max-steps 3 "$@"; }

cat >cfg.json <<'EOF'
{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
 "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "vocab_size": 50}
EOF
sed 's/"hidden_size": 32/"hidden_size": 64/' cfg.json >wide.json
$PY -c '
import json
for r in range(40):
    print(json.dumps({"id": r, "tokens": [(r + 3 * i) % 50 for i in range(17)]}))
' | $PY "$MP" enc >data.mp

# --- What it writes -------------------------------------------------------------
run train --init cfg.json --method ptuning --prefix-len 4 --prefix-projection 8 \
    --prefix-dropout 0.1 -o proj data.mp
[ "$rc" -eq 0 ] || fail "projected run: exit $rc ($(cat err))"
[ "$(ls proj | tr '\n' ' ')" = "adapter_config.json adapter_model.safetensors prefix_encoder.safetensors " ] ||
    fail "projected adapter files: $(ls proj)"
$PY - proj/adapter_config.json <<'EOF' || fail "adapter_config.json"
import json, sys
c = json.load(open(sys.argv[1]))
want = {"auto_mapping": None, "base_model_name_or_path": None, "encoder_hidden_size": 8,
        "inference_mode": True, "num_attention_heads": 2, "num_layers": 4,
        "num_transformer_submodules": 1, "num_virtual_tokens": 4,
        "peft_type": "PREFIX_TUNING", "prefix_projection": True, "revision": None,
        "task_type": "CAUSAL_LM", "token_dim": 16}
sys.exit(0 if c == want else print(c) or 1)
EOF
# prompt_embeddings [4, 4 layers x 2 x 16] = [4, 128], F32, and nothing else
$PY - proj/adapter_model.safetensors <<'EOF' || fail "adapter_model.safetensors header"
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
h.pop("__metadata__")
sys.exit(0 if h == {"prompt_embeddings": {"dtype": "F32", "shape": [4, 128],
                                          "data_offsets": [0, 2048]}} else print(h) or 1)
EOF
run train --init cfg.json --method ptuning --prefix-len 4 -o plain data.mp
[ "$rc" -eq 0 ] && [ "$(ls plain | wc -l)" -eq 2 ] || fail "plain adapter: $(ls plain)"
grep -q '"prefix_projection": false' plain/adapter_config.json &&
    grep -q '"encoder_hidden_size": 16' plain/adapter_config.json || fail "plain config"
run train --init cfg.json --method ptuning --prefix-len 4 -o plain data.mp
expect "existing output" 1 "ft-train: plain: already exists (use --force to replace it)"
run train --init cfg.json --method ptuning --prefix-len 4 --force -o plain data.mp
[ "$rc" -eq 0 ] || fail "--force: exit $rc"
run train --init cfg.json --method ptuning --prefix-len 4 --prefix-projection 8 --dry-run \
    data.mp
grep -q '^method  *ptuning: prefix 4, projection 8$' out || fail "plan: $(grep ^method out)"
grep -q '^parameters .* trained .* in 5 tensors' out || fail "plan: $(grep ^param out)"

# --- --prefix-init: a hard prompt to start from ------------------------------------
# A base with a tokenizer (ft-vocab on made-up sentences). Trained with
# --lr 0 the adapter is its start: greedy continuations of a row with it
# equal those of the plain model given the text's ids and the row.
$PY -c '
import json, random
r = random.Random(3)
w = "the a film was good bad very not plot actor story funny dull long".split()
for i in range(300):
    print(json.dumps({"text": " ".join(r.choice(w) for _ in range(12))}))
' | $PY "$MP" enc >text.mp
"$FT_BIN/ft-vocab" --size 300 -o tok.json text.mp 2>err || fail "ft-vocab: $(cat err)"
sed 's/"vocab_size": 50/"vocab_size": 300/' cfg.json >cfg300.json
run train --init cfg300.json --tokenizer tok.json -o base text.mp
[ "$rc" -eq 0 ] || fail "base: exit $rc ($(cat err))"
run train -m base --method ptuning --prefix-init "a film review:" --lr 0 --max-steps 1 \
    -o hard text.mp
[ "$rc" -eq 0 ] || fail "prefix-init: exit $rc ($(cat err))"
printf '{"text": "a film review:"}\n' | $PY "$MP" enc | "$FT_BIN/ft-tokenize" -m base |
    $PY "$MP" dec | $PY -c 'import json, sys; print(",".join(map(str, json.load(sys.stdin)["tokens"])))' >ids
n=$(tr , '\n' <ids | wc -l)
grep -q "\"num_virtual_tokens\": $n," hard/adapter_config.json ||
    fail "prefix-init: not $n virtual tokens: $(grep num_virtual hard/adapter_config.json)"
gen() { "$FT_BIN/ft-gen" -j 1 -m base -n 12 --temp 0 --print-ids --ignore-eos "$@"; }
with=$(gen -a hard --ids 70,71,72) && plain=$(gen --ids "$(cat ids),70,71,72") &&
    alone=$(gen --ids 70,71,72) || fail "ft-gen failed"
[ -n "$with" ] && [ "$with" = "$plain" ] ||
    fail "prefix-init: '$with' after the prefix, '$plain' after the text's ids"
[ "$with" != "$alone" ] || fail "prefix-init: the prefix changes nothing ('$alone')"
run train -m base --method ptuning --prefix-init "a film review:" --prefix-len 3 -o x text.mp
expect "prefix-init length" 2 \
    "ft-train: --prefix-init: the text is $n tokens, --prefix-len 3: give one, or make them agree"
run train -m base --method ptuning --prefix-init "a film review:" --prefix-projection 8 -o x text.mp
expect "prefix-init projection" 2 "ft-train: --prefix-init starts a prefix without --prefix-projection (a projected prefix comes out of its MLP)"
run train --init cfg.json --method ptuning --prefix-init "ab" -o x data.mp
expect "prefix-init tokenizer" 2 \
    "ft-train: --prefix-init needs a tokenizer (the model's, or --tokenizer)"
run train -m base --method ptuning --prefix-init "ab" --init-adapter hard -o x text.mp
expect "prefix-init adapter" 2 \
    "ft-train: --prefix-init starts a new prefix: it does not go with --init-adapter"
run train -m base --method ptuning --prefix-init "$(printf 'ab\377')" -o x text.mp
expect "prefix-init invalid UTF-8" 1 "ft-train: --prefix-init: invalid UTF-8 at byte 2"
nothing_at x "prefix-init"

# --- Bad input ---------------------------------------------------------------------
run train --init cfg.json --method ptuning -o x data.mp
expect "no length" 2 \
    "ft-train: --method ptuning needs --prefix-len N (or --init-adapter DIR, or --prefix-init TEXT)"
nothing_at x "no length"
run train --init cfg.json --prefix-len 4 -o x data.mp
expect "length without ptuning" 2 \
    "ft-train: --prefix-len, --prefix-projection, --prefix-dropout and --prefix-init need --method ptuning"
run train --init cfg.json --method ptuning --prefix-len 4 --prefix-dropout 1 -o x data.mp
[ "$rc" -eq 2 ] || fail "dropout 1: exit $rc"
run train --init cfg.json --method ptuning --prefix-len 64 -o x data.mp
expect "longer than the context" 1 \
    "ft-train: a prefix of 64 virtual tokens leaves no room in the model's context of 64 positions"
nothing_at x "longer than the context"
run train --init cfg.json --method ptuning --prefix-len 50 -o x data.mp
expect "prefix and rows" 1 \
    "ft-train: a prefix of 50 and rows of 16 tokens exceed the model's context of 64 positions"
run train --init cfg.json --method ptuning --init-adapter proj --prefix-len 6 -o x data.mp
expect "wrong length" 1 \
    "ft-train: proj/adapter_config.json: the prefix has 4 virtual tokens, 6 were asked for"
nothing_at x "wrong length"
run train --init cfg.json --method ptuning --init-adapter proj --prefix-projection 16 -o x data.mp
expect "wrong projection" 1 "ft-train: proj/adapter_config.json: the prefix has a projection of 8, a projection of 16 was asked for"
run train --init cfg.json --method ptuning --init-adapter plain --prefix-projection 8 -o x data.mp
expect "projection asked, none there" 1 "ft-train: plain/adapter_config.json: the prefix has no projection, a projection of 8 was asked for"
run train --init wide.json --method ptuning --init-adapter proj -o x data.mp
expect "another width" 1 "ft-train: proj/adapter_config.json: the prefix is 16 wide in 2 heads, the model's keys 32 in 2 kv heads"
nothing_at x "another width"
mkdir lora && echo '{"peft_type": "LORA", "r": 8}' >lora/adapter_config.json
run train --init cfg.json --method ptuning --init-adapter lora -o x data.mp
expect "a LoRA adapter" 1 \
    "ft-train: lora: a LoRA adapter cannot start P-tuning (it needs a PREFIX_TUNING adapter)"
run train --init cfg.json --method ptuning --init-adapter nowhere -o x data.mp
[ "$rc" -eq 1 ] && grep -q '^ft-train: nowhere/adapter_config.json: ' err || fail "no adapter"
# PEFT's own projected adapters keep only the MLP's output
cp -r proj peft && rm peft/prefix_encoder.safetensors
run train --init cfg.json --method ptuning --init-adapter peft -o x data.mp
expect "PEFT projected" 1 "ft-train: peft: the prefix holds only its projection's output (as PEFT saves it), not the MLP: it cannot be trained further"
nothing_at x "PEFT projected"

# Continuing from the saved adapter (length and projection from it).
run train --init cfg.json --method ptuning --init-adapter proj -o cont data.mp
[ "$rc" -eq 0 ] && cmp -s proj/adapter_config.json cont/adapter_config.json ||
    fail "continue: exit $rc ($(cat err))"
exit $status
