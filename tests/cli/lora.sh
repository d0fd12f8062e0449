#!/bin/sh
# ft-train --method lora as a program: help and man page, the plan, the
# adapter directory (atomic, refused when it exists unless --force, readable
# by --init-adapter to continue), the base untouched, and every kind of bad
# input: exit status 2 for usage errors and 1 for runtime ones, one line on
# stderr naming the option, key or tensor, nothing left at the output path.
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
    grep -qF -- "$3" err || fail "$1: stderr lacks '$3': $(cat err)"
}
nothing_at() { [ ! -e "$1" ] || fail "$2: $1 was left behind"; }
train() { "$FT_BIN/ft-train" -j 1 "$@"; }

# A tiny Llama base (4 blocks, GQA) saved as a model, a GPT-2 for "another
# base", and 40 token rows.
cat >llama.json <<'EOF'
{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
 "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "vocab_size": 50}
EOF
cat >gpt2.json <<'EOF'
{"model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64,
 "vocab_size": 50}
EOF
$PY -c '
import json
for r in range(40):
    print(json.dumps({"id": r, "tokens": [(r + 3 * i) % 50 for i in range(17)]}))
' | $PY "$MP" enc >data.mp
T16="--seq-len 16 -b 4 --max-steps 3 --lr 1e-2"
train --init llama.json --method full --max-steps 1 -q -o base data.mp || fail "make base"
train --init gpt2.json --method full --seq-len 16 --max-steps 1 -q -o gbase data.mp || fail "make gpt2"
cp base/model.safetensors base.orig

# --- Help and man page --------------------------------------------------------
run "$FT_BIN/ft-train" --help
for opt in --lora-r --lora-alpha --rslora --lora-dropout --lora-targets --lora-layers \
    --init-adapter; do
    grep -qF -- "$opt" out || fail "--help lacks $opt"
    pat=$(printf '%s' "$opt" | sed 's/-/\\-/g')
    grep -qF -- "$pat" "$FT_ROOT/man/ft-train.1" || fail "man page lacks $opt"
done

# --- The plan: 4 blocks x (q, v) = 8 modules of r (32 + 32) and r (32 + 16) --
run train -m base --method lora --lora-r 4 $T16 --dry-run data.mp
[ "$rc" -eq 0 ] || fail "dry run: $(cat err)"
# q: 4 x (32 + 32) = 256, v: 4 x (32 + 16) = 192; 4 blocks: 1792
grep -q '^parameters  *[0-9]* in all, 1792 trained .* in 16 tensors' out ||
    fail "dry run parameters: $(grep ^param out)"
grep -q '^method  *lora: r 4, alpha 16, scale 4, dropout 0, 8 modules (q_proj,v_proj)' out ||
    fail "dry run method: $(grep ^method out)"
run train -m base --method lora --lora-targets all-linear --lora-layers 1-2 --rslora \
    --lora-r 4 --lora-alpha 8 $T16 --dry-run data.mp
grep -q '^method .*scale 4 (rsLoRA), dropout 0, 14 modules (down_proj,gate_proj,k_proj,o_proj,q_proj,up_proj,v_proj) in layers 1,2' out ||
    fail "dry run all-linear: $(grep ^method out)"

# --- Train, refuse an existing output, --force, continue ------------------------
run train -m base --method lora --lora-dropout 0.1 $T16 -o ad data.mp
[ "$rc" -eq 0 ] || fail "train: $(cat err)"
[ -f ad/adapter_config.json ] && [ -f ad/adapter_model.safetensors ] || fail "adapter files"
[ "$(ls ad | wc -l)" -eq 2 ] || fail "adapter dir holds more: $(ls ad)"
grep -q '"lora_dropout": 0.1' ad/adapter_config.json || fail "dropout in config"
grep -q '"base_model_name_or_path": "base"' ad/adapter_config.json || fail "base name"
head -c 4000 ad/adapter_model.safetensors | grep -q '"ft_method":"lora"' ||
    fail "ft metadata in __metadata__"
cmp -s base/model.safetensors base.orig || fail "base model file changed"
run train -m base --method lora $T16 -o ad data.mp
expect "existing output" 1 "ad: already exists"
run train -m base --method lora $T16 -o ad -f data.mp
[ "$rc" -eq 0 ] || fail "--force: $(cat err)"
run train -m base --method lora --init-adapter ad $T16 -o ad2 data.mp
[ "$rc" -eq 0 ] || fail "--init-adapter: $(cat err)"
cmp -s ad/adapter_config.json ad2/adapter_config.json || fail "continued config differs"
cmp -s ad/adapter_model.safetensors ad2/adapter_model.safetensors &&
    fail "continued adapter did not train"

# --- Bad input -------------------------------------------------------------------
run train -m base --method lora --lora-r 0 $T16 -o x data.mp
expect "r = 0" 2 "ft-train: --lora-r: the rank must be at least 1"
run train -m base --method lora --lora-targets c_attn $T16 -o x data.mp
expect "no match" 2 "ft-train: --lora-targets c_attn matches no linear module of this llama model"
run train -m base --method lora --lora-targets 'model\.layers\.9\..*' $T16 -o x data.mp
expect "regex no match" 2 "matches no linear module"
run train -m base --method lora --lora-targets '(q_proj' $T16 -o x data.mp
expect "bad regex" 2 "ft-train: --lora-targets: (q_proj: at offset 7: missing closing parenthesis"
run train -m base --method lora --lora-targets embed_tokens $T16 -o x data.mp
expect "embeddings" 2 "LoRA on embeddings is not supported"
run train -m base --method lora --lora-layers 7 $T16 -o x data.mp
expect "layers" 2 "ft-train: --lora-layers"
run train -m base --lora-r 4 $T16 -o x data.mp
expect "without lora" 2 "ft-train: --lora-* options and --rslora need --method lora"
run train -m base --method lora --init-adapter ad --lora-r 4 $T16 -o x data.mp
expect "init + r" 2 "--init-adapter takes rank"
run train -m gbase --method lora --init-adapter ad $T16 -o x data.mp
expect "another base" 1 "tensor base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight: the model has no module"
cp -r ad dora && sed -i 's/"use_dora": false/"use_dora": true/' dora/adapter_config.json
run train -m base --method lora --init-adapter dora $T16 -o x data.mp
expect "use_dora" 1 "dora/adapter_config.json: \"use_dora\" is set: ft does not implement it"
cp -r ad rank && sed -i 's/"rank_pattern": {}/"rank_pattern": {"q_proj": 2}/' \
    rank/adapter_config.json
run train -m base --method lora --init-adapter rank $T16 -o x data.mp
expect "rank_pattern" 1 "\"rank_pattern\" is set"
run train -m base --method lora --init-adapter nowhere $T16 -o x data.mp
expect "missing adapter" 1 "nowhere/adapter_config.json"
nothing_at x "bad input"

exit $status
