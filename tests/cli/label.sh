#!/bin/sh
# ft-label against PyTorch: a tiny random Llama with a byte-level tokenizer
# (tests/ref/score_ref.py) and, from tests/ref/label_ref.py, the label
# probabilities of 40 texts, a temperature fitted by SciPy on a labelled dev
# stream, and greedy continuations. The selection rules are worked out in
# Python from the reference probabilities; order, batching, --relabel,
# --abstain, generation with stop strings, in batches (the same bytes for
# every batch size and thread count), and bad input (one line, exit 1;
# usage errors exit 2). Skips without PyTorch.
: "${FT_BIN:?}" "${FT_ROOT:?}"
PY=/usr/bin/python3
MP=$FT_ROOT/tests/cli/mpjson.py
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
status=0
fail() { echo "FAIL: $*"; status=1; }
"$PY" -c 'import torch, scipy' 2>/dev/null || { echo "skip: /usr/bin/python3 lacks torch or scipy"; exit 77; }
"$PY" "$FT_ROOT/tests/ref/score_ref.py" --out ref >/dev/null || { echo "score_ref.py failed"; exit 1; }
"$PY" "$FT_ROOT/tests/ref/label_ref.py" --model ref --out want.json || { echo "label_ref.py failed"; exit 1; }
dec() { "$PY" "$MP" dec; }
bad() {  # bad NAME STATUS TEXT: one line on stderr holding TEXT, that status
    [ "$rc" -eq "$2" ] || fail "$1: exit $rc, not $2: $(cat err)"
    [ "$(wc -l <err)" -eq 1 ] || fail "$1: stderr is not one line: $(cat err)"
    grep -qF -- "$3" err || fail "$1: stderr lacks '$3': $(cat err)"
}
L="-m ref --labels negative,positive,neutral --verbalizer negative=x,positive=y,neutral=z"

"$PY" - <<'PY'
import json
w = json.load(open("want.json"))
with open("pool.jsonl", "w") as f:
    for i, t in enumerate(w["pool"]["texts"]):
        f.write(json.dumps({"id": "p%d" % i, "text": t, "n": i}) + "\n")
with open("dev.jsonl", "w") as f:
    for i, (t, g) in enumerate(zip(w["dev"]["texts"], w["dev"]["gold"])):
        f.write(json.dumps({"id": "d%d" % i, "label": g, "text": t}) + "\n")
with open("gen.jsonl", "w") as f:
    for i, g in enumerate(w["gen"]):
        f.write(json.dumps({"id": i, "prompt": g["prompt"]}) + "\n")
PY
"$PY" "$MP" enc <pool.jsonl >pool.mp
"$PY" "$MP" enc <dev.jsonl >dev.mp
"$PY" "$MP" enc <gen.jsonl >gen.mp

# Every record labelled, probabilities as PyTorch's whatever the batch size
# and thread count (f32 sums in another order: equal within rounding); the
# same bytes on every run with the same options.
"$FT_BIN/ft-label" $L --soft --keep-all pool.mp >all.mp 2>err || fail "keep-all: $(cat err)"
grep -qx 'ft-label: 40 records: 40 labelled, 0 abstained, 0 dropped, 0 passed with their own label' err ||
    fail "summary: $(cat err)"
dec <all.mp >all.jsonl
"$FT_BIN/ft-label" $L --soft --keep-all -q pool.mp | cmp -s - all.mp || fail "not repeatable"
"$FT_BIN/ft-label" $L --soft -b 1 -q pool.mp | dec >b1.jsonl
"$FT_BIN/ft-label" $L --soft -b 7 -j 1 -q pool.mp | dec >b7.jsonl
"$PY" - <<'PY' || fail "labels and probabilities differ from PyTorch"
import json
w = json.load(open("want.json"))
for f in ("all.jsonl", "b1.jsonl", "b7.jsonl"):
  out = [json.loads(l) for l in open(f)]
  assert [r["id"] for r in out] == ["p%d" % i for i in range(40)], "order"
  for r, p in zip(out, w["pool"]["probs"]):
      assert list(r) == ["id", "text", "n", "label", "confidence", "probs", "source"], list(r)
      best = max(range(3), key=lambda c: p[c])
      assert r["label"] == w["labels"][best], (r, p)
      assert abs(r["confidence"] - p[best]) < 1e-5
      for c, name in enumerate(w["labels"]):
          assert abs(r["probs"][name] - p[c]) < 1e-5, (r, p)
      assert r["source"] == "pseudo"
PY

# --threshold: exactly the records whose top probability reaches it;
# --top-per-class: the K most confident of each class, in input order.
"$FT_BIN/ft-label" $L -q --threshold 0.5 pool.mp | dec >thr.jsonl
"$FT_BIN/ft-label" $L -q --top-per-class 5 pool.mp | dec >top5.jsonl
"$FT_BIN/ft-label" $L --top-per-class 12 pool.mp 2>top12.err | dec >top12.jsonl
"$FT_BIN/ft-label" $L -q --threshold 0.6 --abstain pool.mp | dec >abst.jsonl
"$PY" - <<'PY' || fail "selection rules"
import json
w = json.load(open("want.json"))
P = w["pool"]["probs"]
conf = [max(p) for p in P]
cls = [max(range(3), key=lambda c: p[c]) for p in P]
assert all(abs(c - 0.5) > 1e-4 and abs(c - 0.6) > 1e-4 for c in conf), "a value on a bound"
ids = lambda f: [json.loads(l)["id"] for l in open(f)]
assert ids("thr.jsonl") == ["p%d" % i for i in range(40) if conf[i] >= 0.5], "threshold"
def top(k):
    keep = set()
    for c in range(3):
        mine = sorted((i for i in range(40) if cls[i] == c), key=lambda i: (-conf[i], i))
        keep |= set(mine[:k])
    return ["p%d" % i for i in range(40) if i in keep]
per = [sum(1 for c in cls if c == k) for k in range(3)]
assert min(per) >= 5, per
assert ids("top5.jsonl") == top(5), "top 5"
got = [json.loads(l)["label"] for l in open("top5.jsonl")]
assert all(got.count(n) == 5 for n in w["labels"]), "not 5 per class"
assert ids("top12.jsonl") == top(12), "top 12"
warn = open("top12.err").read()
for c, n in enumerate(w["labels"]):
    if per[c] < 12:
        assert "ft-label: warning: class '%s': %d records kept, fewer than --top-per-class 12" % (n, per[c]) in warn, warn
ab = [json.loads(l) for l in open("abst.jsonl")]
assert [r["id"] for r in ab] == ["p%d" % i for i in range(40)], "abstain lost records"
for r, c in zip(ab, conf):
    if c >= 0.6:
        assert r["label"] and r["source"] == "pseudo" and "abstained" not in r
    else:
        assert r["abstained"] is True and "label" not in r and "source" not in r
        assert abs(r["confidence"] - c) < 1e-5
PY

# --calibrate: the temperature SciPy finds on the dev stream, and the pool's
# probabilities at it.
"$FT_BIN/ft-label" $L --soft --calibrate dev.mp pool.mp 2>cal.err | dec >cal.jsonl
"$PY" - <<'PY' || fail "calibration: $(cat cal.err)"
import json, re
w = json.load(open("want.json"))
m = re.search(r"temperature (\S+) from 20 records of dev.mp \(NLL (\S+) -> (\S+)\)",
              open("cal.err").read())
assert m, "no temperature line"
T = float(m.group(1))
assert abs(T - w["dev"]["T"]) < 1e-3 * w["dev"]["T"], (T, w["dev"]["T"])
assert abs(float(m.group(2)) - w["dev"]["nll_1"]) < 1e-3
assert abs(float(m.group(3)) - w["dev"]["nll_T"]) < 1e-3
for l, p in zip(open("cal.jsonl"), w["dev"]["pool_probs_T"]):
    r = json.loads(l)
    for c, name in enumerate(w["labels"]):
        assert abs(r["probs"][name] - p[c]) < 1e-5, (r, p)
PY

# Records with a label pass unchanged; --relabel moves it to gold_label.
"$FT_BIN/ft-label" $L -q dev.mp | cmp -s - dev.mp || fail "gold records changed"
"$FT_BIN/ft-label" $L -q --relabel dev.mp | dec >rel.jsonl
"$PY" - <<'PY' || fail "relabel"
import json
w = json.load(open("want.json"))
for l, g, ll in zip(open("rel.jsonl"), w["dev"]["gold"], w["dev"]["loglik"]):
    r = json.loads(l)
    assert list(r) == ["id", "gold_label", "text", "label", "confidence", "source"], list(r)
    assert r["gold_label"] == g
    assert r["label"] == w["labels"][max(range(3), key=lambda c: ll[c])]
PY

# --generate: greedy continuations as PyTorch's, one record at a time and
# in batches (all three prompts in one, or two and one), on 1 and 2
# threads; a stop string cuts one.
for bj in "-b 1 -j 1" "-b 2 -j 2" ""; do
    "$FT_BIN/ft-label" -m ref --generate --max-tokens 12 $bj -q gen.mp | dec >gen.out
    "$FT_BIN/ft-label" -m ref --generate --max-tokens 12 --stop 'C,' --stop zzz $bj -q \
        gen.mp | dec >stop.out
    "$PY" - <<'PY' || fail "generation $bj"
import json
w = json.load(open("want.json"))
out = [json.loads(l) for l in open("gen.out")]
stop = [json.loads(l) for l in open("stop.out")]
assert len(out) == len(stop) == len(w["gen"]) == 3
for r, s, g in zip(out, stop, w["gen"]):
    assert r["response"] == g["greedy"], (r, g)
    assert r["source"] == "pseudo"
    assert s["response"] == g["greedy"].split("C,")[0], (s, g)
assert "C," in w["gen"][0]["greedy"], "the stop case tests nothing"
PY
done

# Sampled generation in batches is the same bytes for every batch size and
# thread count: each record's draws come from --seed and its position, and
# each row is computed on its own. Prompts of 1 to 78 bytes, rows leaving
# their batch at different steps (stop strings, --max-tokens), a record
# with a response passing unchanged between the others, output in input
# order; another --seed changes the bytes.
"$PY" - <<'PY'
import json
ps = ["once upon a time", "a", "the cat sat on the warm mat and looked at the slow dark "
      "river for a long time", "hello", "x y", "fun story", "good film bad plot", "z", "the",
      "sad actor"]
with open("batch.jsonl", "w") as f:
    for i, p in enumerate(ps):
        r = {"id": "g%d" % i, "prompt": p, "n": i}
        if i == 4:
            r["response"] = "kept"
        f.write(json.dumps(r) + "\n")
PY
"$PY" "$MP" enc <batch.jsonl >batch.mp
G="-m ref --generate --temperature 1 --top-k 40 --max-tokens 24 -q"
G="$G --stop a --stop e --stop o --stop t"
"$FT_BIN/ft-label" $G --seed 5 -b 1 -j 1 batch.mp >b1j1.mp || fail "batched generation"
for b in 1 3 8; do
    for j in 1 2; do
        "$FT_BIN/ft-label" $G --seed 5 -b $b -j $j batch.mp | cmp -s - b1j1.mp ||
            fail "--generate -b $b -j $j: not the bytes of -b 1 -j 1"
    done
done
"$FT_BIN/ft-label" $G --seed 6 -b 3 batch.mp | cmp -s - b1j1.mp && fail "--seed ignored"
dec <b1j1.mp >b1j1.jsonl
"$PY" - <<'PY' || fail "batched generation: $(cat b1j1.jsonl)"
import json
out = [json.loads(l) for l in open("b1j1.jsonl")]
assert [r["id"] for r in out] == ["g%d" % i for i in range(10)], "order"
assert out[4] == {"id": "g4", "prompt": "x y", "n": 4, "response": "kept"}, out[4]
lens = [len(r["response"]) for i, r in enumerate(out) if i != 4]
assert all(out[i]["source"] == "pseudo" for i in range(10) if i != 4)
# 24 byte tokens make at least 6 characters: a shorter response stopped early
assert len(set(lens)) >= 3 and min(lens) < 6 <= max(lens), lens
PY

# A trivially separable task: a tiny model trained (ft-train --task lm) on
# "<letters from abc> yes" and "<letters from xyz> no" labels 40 held-out
# words all right, each with confidence above 0.99.
cat >sep.json <<'EOF2'
{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "vocab_size": 260,
 "bos_token_id": 256, "eos_token_id": 257}
EOF2
"$PY" -c '
import json, random
r = random.Random(5)
for i in range(440):
    pos = i % 2
    w = "".join(r.choice("abc" if pos else "xyz") for _ in range(r.randint(3, 8)))
    lab = "positive" if pos else "negative"
    print(json.dumps({"id": i, "text": w + (" yes" if pos else " no") if i < 400 else w,
                      "label": lab}))
' >sep.jsonl
head -n 400 sep.jsonl | "$PY" "$MP" enc >sep-train.mp
tail -n 40 sep.jsonl | "$PY" "$MP" enc >sep-test.mp
"$FT_BIN/ft-train" -q --init sep.json --tokenizer ref/tokenizer.json --seq-len 16 --no-pack \
    -b 16 --max-steps 300 --lr 5e-3 -o sep sep-train.mp || fail "train the separable model"
"$FT_BIN/ft-label" -m sep --labels negative,positive --verbalizer negative=no,positive=yes \
    --relabel -q sep-test.mp | dec >sep.out
"$PY" - <<'PY' || fail "separable task"
import json
out = [json.loads(l) for l in open("sep.out")]
assert len(out) == 40
for r in out:
    assert r["label"] == r["gold_label"] and r["confidence"] > 0.99, r
PY

# --- ft-eval running the model ---------------------------------------------------
# Classification: the probabilities ft-label gives (the same numbers, bit
# for bit), scored as scikit-learn would from the reference's choices.
"$FT_BIN/ft-eval" $L -q --predictions preds.mp dev.mp >dev.json || fail "ft-eval -m classify"
dec <preds.mp >preds.jsonl
"$FT_BIN/ft-label" $L -q --soft --relabel dev.mp | dec >lab.jsonl
"$PY" - <<'PY' || fail "ft-eval -m classify"
import json
w = json.load(open("want.json"))
rep = json.load(open("dev.json"))
ev = [json.loads(l) for l in open("preds.jsonl")]
lab = [json.loads(l) for l in open("lab.jsonl")]
assert [r["id"] for r in ev] == ["d%d" % i for i in range(20)]
for e, l in zip(ev, lab):
    assert e["prediction"] == l["label"] and e["probs"] == l["probs"], (e, l)
    assert e["confidence"] == l["confidence"] and e["label"] == l["gold_label"]
pred = [w["labels"][max(range(3), key=lambda c: ll[c])] for ll in w["dev"]["loglik"]]
gold = w["dev"]["gold"]
acc = sum(a == b for a, b in zip(pred, gold)) / 20
assert abs(rep["accuracy"] - acc) < 1e-12 and rep["n"] == 20, (rep, acc)
assert rep["labels"] == w["labels"]
assert rep["confusion"] == [[sum(1 for g, p in zip(gold, pred) if g == a and p == b)
                             for b in w["labels"]] for a in w["labels"]]
PY
# Language modelling: Hugging Face's strided NLL over 16-token windows.
"$PY" -c '
import json
for r in json.load(open("want.json"))["lm"]:
    print(json.dumps({"id": r["text"][:5], "text": r["text"]}))
' | "$PY" "$MP" enc >lm.mp
"$FT_BIN/ft-eval" -m ref --task lm --seq-len 16 -q --predictions lmp.mp lm.mp >lm.json ||
    fail "ft-eval lm"
dec <lmp.mp >lmp.jsonl
"$PY" - <<'PY' || fail "perplexity: $(cat lm.json)"
import json, math
w = json.load(open("want.json"))["lm"]
rep = json.load(open("lm.json"))
for r, l in zip(w, open("lmp.jsonl")):
    got = json.loads(l)
    assert abs(got["nll"] - r["nll"]) < 1e-4 * r["nll"] and got["n_predicted"] == r["n_predicted"]
nll = sum(r["nll"] for r in w)
tok = sum(r["n_predicted"] for r in w)
nb = sum(r["bytes"] for r in w)
assert rep["n"] == 3 and rep["tokens"] == tok and rep["bytes"] == nb
assert abs(rep["perplexity"] - math.exp(nll / tok)) < 1e-4 * math.exp(nll / tok)
assert abs(rep["bits_per_byte"] - nll / (math.log(2) * nb)) < 1e-4
PY
# Generation: the greedy continuations, scored against references that
# match the first exactly and the second not at all.
"$PY" - <<'PY'
import json
g = json.load(open("want.json"))["gen"]
with open("sft.jsonl", "w") as f:
    f.write(json.dumps({"id": 0, "prompt": g[0]["prompt"], "response": g[0]["greedy"]}) + "\n")
    f.write(json.dumps({"id": 1, "prompt": g[1]["prompt"], "response": "qqq"}) + "\n")
PY
"$PY" "$MP" enc <sft.jsonl >sft.mp
"$FT_BIN/ft-eval" -m ref --task sft --max-tokens 12 -q --predictions sftp.mp sft.mp >sft.json ||
    fail "ft-eval sft"
dec <sftp.mp >sftp.jsonl
"$PY" - <<'PY' || fail "sft: $(cat sft.json)"
import json
g = json.load(open("want.json"))["gen"]
rep = json.load(open("sft.json"))
out = [json.loads(l) for l in open("sftp.jsonl")]
assert out[0]["prediction"] == g[0]["greedy"] and out[1]["prediction"] == g[1]["greedy"]
assert rep["n"] == 2 and rep["exact_match"] == 0.5, rep
PY
"$FT_BIN/ft-eval" -m ref pool.mp >out 2>err; rc=$?
bad "ft-eval without labels" 1 'no label set stored'
"$FT_BIN/ft-eval" $L pool.mp >out 2>err; rc=$?
bad "ft-eval without true labels" 1 'ft-eval: pool.mp: record 1: no "label" field (the true value)'
echo '{"id": 1, "text": "x", "label": "happy"}' | "$PY" "$MP" enc >unk.mp
"$FT_BIN/ft-eval" $L unk.mp >out 2>err; rc=$?
bad "ft-eval unknown label" 1 "ft-eval: unk.mp: record 1: label 'happy' is not in the label set"
"$FT_BIN/ft-eval" -m ref --task lm -q </dev/null >out 2>err || fail "ft-eval lm empty"
grep -q '"n": 0' out && grep -q '"perplexity": null' out || fail "empty lm report: $(cat out)"

# --- Bad input -----------------------------------------------------------------
echo '{"id": 1, "txt": "x"}' | "$PY" "$MP" enc >notext.mp
"$FT_BIN/ft-label" $L notext.mp >out 2>err; rc=$?
bad "no text" 1 'ft-label: notext.mp: record 1: no "text" field'
echo '{"id": 1, "text": "x", "label": "happy"}' | "$PY" "$MP" enc >unk.mp
"$FT_BIN/ft-label" $L unk.mp >out 2>err; rc=$?
bad "unknown label" 1 "ft-label: unk.mp: record 1: label 'happy' is not in the label set"
head -c 50 pool.mp | "$FT_BIN/ft-label" $L >out 2>err; rc=$?
bad "malformed" 1 'ft-label: standard input: record 2 (byte'
"$FT_BIN/ft-label" -m ref pool.mp >out 2>err; rc=$?
bad "no label set" 1 'no label set stored'
"$FT_BIN/ft-label" -m ref --labels only pool.mp >out 2>err; rc=$?
bad "one label" 1 'a label set of 1 label'
"$FT_BIN/ft-label" $L </dev/null >out 2>err || fail "empty stream: $(cat err)"
[ ! -s out ] || fail "empty stream wrote records"
echo '{"id": 1, "text": "x"}' | "$PY" "$MP" enc >noprompt.mp
"$FT_BIN/ft-label" -m ref --generate noprompt.mp >out 2>err; rc=$?
bad "no prompt" 1 'ft-label: noprompt.mp: record 1: no "prompt" field'
# An adapter trained on another base (hidden size 32, not 64).
cat >small.json <<'EOF2'
{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "vocab_size": 260}
EOF2
"$PY" -c '
import json
for r in range(8):
    print(json.dumps({"id": r, "tokens": [(r + 3 * i) % 250 for i in range(17)]}))
' | "$PY" "$MP" enc >rows.mp
"$FT_BIN/ft-train" -j 1 -q --init small.json --max-steps 1 --seq-len 16 -o small rows.mp &&
    "$FT_BIN/ft-train" -j 1 -q -m small --method lora --max-steps 1 --seq-len 16 -o small.lora rows.mp ||
    fail "could not make another base's adapter"
"$FT_BIN/ft-label" $L -a small.lora pool.mp >out 2>err; rc=$?
bad "another base" 1 'q_proj'
# Usage errors.
for args in "--keep-all --threshold 0.5" "--abstain" "--generate --soft" "--max-tokens 3" \
    "--threshold 2" "--top-per-class 0"; do
    "$FT_BIN/ft-label" $L $args pool.mp >out 2>err; rc=$?
    bad "usage $args" 2 'ft-label: '
done
"$FT_BIN/ft-label" --help | grep -q -- '--top-per-class' || fail "--help"
exit $status
