#!/bin/sh
# ft-train's loop as people see it: every field of the --log records against
# values worked out by hand (update count, epoch, tokens, the schedule's
# rate), the progress line, --keep, SIGINT (130, a checkpoint, --resume
# finishes), and early stopping: the log's evaluation losses, run through
# the stopping rule written out again here, say where the run had to stop,
# and the model written is the best one evaluated (its loss measured again
# by a separate run that does not change it).
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
train() { "$FT_BIN/ft-train" -j 1 "$@"; }

cat >cfg.json <<'EOF'
{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "vocab_size": 50}
EOF
# 60 records of 17 tokens counting up by 3 (mod 50): 1020 tokens, packed
# into windows of 17 with stride 16: 63 rows of 16 inputs and a last one of
# 11 (12 tokens). 8 rows an update: 8 updates an epoch, the last of 7 x 16
# + 11 = 123 input tokens, the others 128.
$PY -c '
import json
for r in range(60):
    print(json.dumps({"tokens": [(r + 3 * i) % 50 for i in range(17)]}))
' | $PY "$MP" enc >up.mp
# The same pattern backwards (counting down by 3): what "up" teaches is
# wrong here.
$PY -c '
import json
for r in range(8):
    print(json.dumps({"tokens": [(r - 3 * i) % 50 for i in range(17)]}))
' | $PY "$MP" enc >down.mp
B="--seq-len 16 -b 4 --grad-accum 2"

# --- The log, field by field -----------------------------------------------------
# 10 updates (one epoch and 2 of the next), lr 1e-3, linear, warm-up 2:
# update s (from 0) runs at 1e-3 x (s/2 for s < 2, else (10 - s)/8).
train --init cfg.json $B --no-shuffle --max-steps 10 --lr 1e-3 --warmup 2 \
    --schedule linear --eval down.mp --eval-every 5 --log log.mp --progress \
    -o m1 up.mp 2>prog || fail "logged run: $(cat prog)"
$PY "$MP" dec <log.mp >log.json
$PY - log.json <<'EOF' || fail "log records"
import json, math, sys
log = [json.loads(l) for l in open(sys.argv[1])]
assert [r["step"] for r in log] == list(range(1, 11)), log
tokens = 0
for r in log:
    s = r["step"] - 1
    lr = 1e-3 * (s / 2 if s < 2 else (10 - s) / 8)
    assert abs(r["lr"] - lr) <= 1e-15, (r, lr)
    assert abs(r["epoch"] - r["step"] / 8) < 1e-12, r
    tokens += 123 if r["step"] == 8 else 128
    assert r["tokens"] == tokens, (r, tokens)
    assert r["loss"] > 0 and math.isfinite(r["loss"]), r
    assert r["grad_norm"] > 0 and math.isfinite(r["grad_norm"]), r
    assert r["elapsed_s"] > 0 and r["tokens_per_s"] > 0, r
    # the rate from this run's own clock: tokens so far / elapsed
    assert abs(r["tokens_per_s"] - tokens / r["elapsed_s"]) <= 0.02 * r["tokens_per_s"], r
    assert ("eval_loss" in r) == (r["step"] in (5, 10)), r
# The first update runs at rate 0 (warm-up from 0, as Hugging Face).
assert log[0]["lr"] == 0.0
# The random start predicts about uniformly: loss near ln 50 = 3.91.
assert abs(log[0]["loss"] - math.log(50)) < 0.1, log[0]
EOF
# The progress line (not a terminal: one line per drawing), the last one
# forced: step/total, loss, eval loss, rate, gradient norm, tokens/s, ETA.
last=$(grep '^step' prog | tail -n 1)
echo "$last" | grep -Eq '^step 10/10 loss [0-9.]+ eval [0-9.]+ lr [0-9.e-]+ gnorm [0-9.e-]+ [0-9]+ tok/s ETA 0:00:00$' ||
    fail "progress line: $last"

# --- --keep ------------------------------------------------------------------------
train --init cfg.json $B --max-steps 10 --save-every 2 --keep 2 -o m2 up.mp ||
    fail "keep 2"
[ "$(ls m2.ckpt | tr '\n' ' ')" = "step-00000008 step-00000010 " ] ||
    fail "--keep 2 left: $(ls m2.ckpt)"
train --init cfg.json $B --max-steps 6 --save-every 2 --keep 0 -o m3 up.mp ||
    fail "keep 0"
[ "$(ls m3.ckpt | tr '\n' ' ')" = "step-00000002 step-00000004 step-00000006 " ] ||
    fail "--keep 0 left: $(ls m3.ckpt)"

# --- SIGINT: a checkpoint, exit 130, no model; --resume finishes ---------------------
# (ft-train itself in the background: a backgrounded shell function would be
# a subshell, which ignores SIGINT.)
"$FT_BIN/ft-train" -j 1 --init cfg.json $B --max-steps 100000 --save-every 100000 \
    --log int.mp -o m4 up.mp 2>int.err &
pid=$!
i=0
while [ $i -lt 600 ] && ! [ -s int.mp ]; do sleep 0.1; i=$((i + 1)); done
kill -INT $pid
wait $pid
rc=$?
[ "$rc" -eq 130 ] || fail "SIGINT: exit status $rc ($(cat int.err))"
[ ! -e m4 ] || fail "SIGINT: a model was written"
ck=$(ls m4.ckpt)
[ "$(echo "$ck" | wc -l)" -eq 1 ] && [ -f "m4.ckpt/$ck/state.safetensors" ] ||
    fail "SIGINT: checkpoints: $ck"
grep -q "stopped by a signal; resume with --resume m4.ckpt/$ck" int.err ||
    fail "SIGINT message: $(cat int.err)"
n=$(echo "$ck" | sed 's/step-0*//')
[ "$n" -ge 1 ] || fail "SIGINT: checkpoint of update $n"

# --- Early stopping --------------------------------------------------------------------
# Training on "up" at a high rate makes the "down" loss worse. Evaluated
# every update with patience 2 and min-delta 0.001, the run must stop at the
# first evaluation that is the second in a row not improving on the best so
# far by more than 0.001 -- worked out here from the logged losses.
train --init cfg.json $B --max-steps 40 --lr 3e-2 --eval down.mp --eval-every 1 \
    --patience 2 --min-delta 0.001 --log es.mp -o m5 up.mp || fail "early stopping run"
$PY "$MP" dec <es.mp >es.json
cat >rule.py <<'EOF'
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
ev = [(r["step"], r["eval_loss"]) for r in log]
best, bad, stop = None, 0, None
for step, loss in ev:
    if best is None or loss < best[1] - 0.001:
        best, bad = (step, loss), 0
    else:
        bad += 1
    if bad == 2:
        stop = step
        break
assert stop is not None and stop < 40, ev
assert log[-1]["step"] == stop, (log[-1], stop)
assert best[0] < stop, (best, stop)
print("%.17g" % best[1])
EOF
best=$($PY rule.py es.json) || fail "early stopping rule"
# The written model is the best one: its loss on "down", measured by a run
# at rate 0 (warm-up 1: the only update has rate 0, and decay lr x wd = 0).
train -m m5 $B --max-steps 1 --warmup 1 --eval down.mp --log es2.mp -o m6 up.mp ||
    fail "re-evaluation"
again=$($PY "$MP" dec <es2.mp | $PY -c 'import json, sys; print([json.loads(l) for l in sys.stdin][-1]["eval_loss"])')
$PY -c "import sys; a, b = $best, $again; sys.exit(abs(a - b) > 1e-5 * abs(a))" ||
    fail "early stopping: the model written has eval loss $again, the best was $best"

exit $status
