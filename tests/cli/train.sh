#!/bin/sh
# ft-train as a program: help and man page, the plan of --dry-run, its
# memory estimate against the measured peak (getrusage, within 20%), the
# engine's count of blocks the backward pass ran in (full: every block;
# freeze: only the trainable ones), archives and provenance, and every kind
# of bad input: exit status 1 (2 for usage), one line on stderr, nothing
# left at the output path.
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
# expect NAME STATUS STDERR-LINE: the last command's status and only line.
expect() {
    [ "$rc" -eq "$2" ] || fail "$1: exit status $rc, expected $2 ($(cat err))"
    [ "$(wc -l <err)" -eq 1 ] || fail "$1: stderr is not one line: $(cat err)"
    [ "$(cat err)" = "$3" ] || fail "$1: stderr: $(cat err)"
}
nothing_at() { [ ! -e "$1" ] || fail "$2: $1 was left behind"; }
train() { "$FT_BIN/ft-train" -j 1 "$@"; }

# A tiny Llama (4 blocks) and token records: 60 rows of 17 tokens.
cat >cfg.json <<'EOF'
{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
 "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "vocab_size": 50}
EOF
$PY -c '
import json
for r in range(60):
    print(json.dumps({"id": r, "tokens": [(r + 3 * i) % 50 for i in range(17)]}))
' | $PY "$MP" enc >data.mp
T16="--seq-len 16 -b 4 --grad-accum 2"

# --- Help and man page ---------------------------------------------------------
run "$FT_BIN/ft-train" --help
[ "$rc" -eq 0 ] && grep -q '^usage: ft-train' out || fail "--help"
for opt in $(grep -o -- '--[a-z][a-z0-9-]*' out | sort -u); do
    pat=$(printf '%s' "$opt" | sed 's/-/\\-/g')
    grep -qF -- "$pat" "$FT_ROOT/man/ft-train.1" || fail "man page lacks $opt"
done

# --- The plan, the memory estimate, the backward counter ----------------------
# 1020 tokens packed into windows of 17 with a stride of 16: 64 rows (the
# last of 12 tokens); 8 rows an update: 8 updates an epoch; 2 epochs = 16.
run train --init cfg.json $T16 --epochs 2 --dry-run data.mp
[ "$rc" -eq 0 ] || fail "dry run: exit $rc ($(cat err))"
grep -q '^data  *60 records, 1020 tokens -> 64 rows of up to 17 tokens' out ||
    fail "dry run data line: $(grep ^data out)"
grep -q '^batches .*8 rows per update, 8 updates per epoch' out || fail "dry run batches"
grep -q '^run  *16 updates (2 epochs)' out || fail "dry run updates: $(grep ^run out)"
grep -q '^parameters  *[0-9]* in all, [0-9]* trained (100.00%)' out || fail "dry run params"
nothing_at model "dry run"

# Memory: a model big enough that training buffers dominate; the estimate of
# --dry-run within 20% of the peak resident memory the run reports.
cat >big.json <<'EOF'
{"model_type": "llama", "hidden_size": 192, "intermediate_size": 512,
 "num_hidden_layers": 4, "num_attention_heads": 6, "num_key_value_heads": 3,
 "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "vocab_size": 4096}
EOF
$PY -c '
import json
for r in range(64):
    print(json.dumps({"tokens": [(r * 7 + 11 * i) % 4096 for i in range(129)]}))
' | $PY "$MP" enc >big.mp
for m in "--method full" "--method freeze --trainable-layers 1"; do
    train --init big.json $m --seq-len 128 -b 8 --max-steps 2 --dry-run big.mp >plan 2>&1
    est=$(awk '/^memory/ { print $4 }' plan)
    train --init big.json $m --seq-len 128 -b 8 --max-steps 2 -v -o "big$$" big.mp 2>log
    kib=$(sed -n 's/.*peak resident memory: \([0-9]*\) KiB.*/\1/p' log)
    rm -rf "big$$"
    # AddressSanitizer's shadow memory and quarantine inflate the peak: the
    # comparison means something only in a plain build.
    [ -n "${FT_SANITIZE:-}" ] ||
        $PY -c "import sys; e, m = $est * 1024, $kib; sys.exit(abs(e - m) > 0.2 * m)" ||
        fail "$m: estimate $est MiB, measured $kib KiB"
done

# Backward counter: 2 updates x 2 micro-batches; full runs all 4 blocks,
# freeze with the top block trainable runs 1.
train --init cfg.json $T16 --max-steps 2 -v -o full data.mp 2>log
grep -q 'blocks run backward: 16;' log || fail "full backward count: $(cat log)"
train --init cfg.json --method freeze --trainable-layers 1 $T16 --max-steps 2 -v \
    -o frz data.mp 2>log
grep -q 'blocks run backward: 4;' log || fail "freeze backward count: $(cat log)"
[ -f full/config.json ] && [ -f full/model.safetensors ] || fail "model directory"

# Provenance in __metadata__, read from the file's own header.
$PY - full/model.safetensors <<'EOF' || fail "provenance"
import json, struct, sys
f = open(sys.argv[1], "rb")
n = struct.unpack("<Q", f.read(8))[0]
meta = json.loads(f.read(n))["__metadata__"]
assert meta["ft_seed"] == "0" and meta["ft_method"] == "full", meta
assert meta["ft_command"].startswith("ft-train -j 1 --init cfg.json") or \
    "/ft-train -j 1 --init cfg.json" in meta["ft_command"], meta["ft_command"]
assert len(meta["ft_stream_hash"]) == 16 and meta["ft_version"], meta
EOF

# Archives: the same files in one .tar.zst / .zip.
train --init cfg.json $T16 --max-steps 1 -o m.tar.zst data.mp || fail "tar.zst"
[ "$(tar --zstd -tf m.tar.zst | sort | tr '\n' ' ')" = "config.json model.safetensors " ] ||
    fail "tar.zst members: $(tar --zstd -tf m.tar.zst)"
train --init cfg.json $T16 --max-steps 1 -o m.zip data.mp || fail "zip"
unzip -l m.zip | grep -q model.safetensors || fail "zip members"

# --- Bad input -----------------------------------------------------------------
: >empty.mp
run train --init cfg.json -o o1 empty.mp
expect "empty stream" 1 "ft-train: empty.mp: empty stream (no records)"
nothing_at o1 "empty stream"

echo '{"id": 1, "label": "x"}' | $PY "$MP" enc >notext.mp
run train --init cfg.json -o o2 notext.mp
expect "no text" 1 "ft-train: notext.mp: record 1: no \"text\" or \"tokens\" field"
nothing_at o2 "no text"

run train --init cfg.json --method freeze --trainable 'nothing\.here' -o o3 data.mp
expect "regex" 1 "ft-train: --trainable 'nothing\\.here' matches no tensor of the model"
nothing_at o3 "regex"

# A different stream cannot continue a checkpoint.
train --init cfg.json $T16 --max-steps 4 --save-every 2 -o o4 data.mp 2>/dev/null ||
    fail "checkpointed run"
$PY -c 'import json; print(json.dumps({"tokens": list(range(40))}))' | $PY "$MP" enc >other.mp
run train --init cfg.json $T16 --max-steps 4 --resume o4.ckpt -o o5 other.mp
[ "$rc" -eq 1 ] && grep -q '^ft-train: --resume: o4.ckpt/step-00000004: the training stream differs' err ||
    fail "resume with another stream: $rc $(cat err)"
[ "$(wc -l <err)" -eq 1 ] || fail "resume with another stream: not one line"
nothing_at o5 "resume"

# A loss that blows up: lr 1e30 makes the second update's loss non-finite;
# the run stops naming the checkpoint of update 1, which stays.
run train --init cfg.json $T16 --lr 1e30 --clip 0 --max-steps 4 --save-every 1 -o o6 data.mp
expect "nan" 1 "ft-train: update 2: the loss is nan; nothing was updated; the last good checkpoint is o6.ckpt/step-00000001"
[ -f o6.ckpt/step-00000001/state.safetensors ] || fail "nan: the checkpoint is gone"
nothing_at o6 "nan"

run train --init cfg.json -o no/such/dir/out data.mp
expect "unwritable" 1 "ft-train: cannot write no/such/dir/out: no/such/dir: No such file or directory"
run train --init cfg.json -o full data.mp
expect "existing" 1 "ft-train: full: already exists (use --force to replace it)"

# Usage errors: exit 2.
run train --init cfg.json --method sgd -o o7 data.mp
expect "unknown method" 2 "ft-train: --method: unknown method 'sgd'"
run train --init cfg.json --trainable-layers 2 -o o7 data.mp
expect "freeze option" 2 "ft-train: --trainable-layers, --trainable and --train-embeddings need --method freeze"
run train --init cfg.json data.mp
expect "no output" 2 "ft-train: no output: give -o OUT"
run train --init cfg.json -m x -o o7 data.mp
expect "two models" 2 "ft-train: -m and --init exclude each other"
run train --init cfg.json --method freeze --trainable-layers 9 -o o7 data.mp
expect "layers" 2 "ft-train: --trainable-layers 9: the model has 4 layers"
nothing_at o7 "usage errors"

exit $status
