"""Self-test of train_ref.py (called from selftest.py): the trajectory
against a hand-written loop (AdamW, clipping and the schedule from their
formulas, no torch.optim), grad accumulation against one big batch, frozen
tensors untouched, the record stream's bytes against hand-encoded msgpack.
"""

import json
import math
import os
import subprocess
import sys

import torch

import hfref

HERE = os.path.dirname(os.path.abspath(__file__))


def hand_loop(init, logits_of, batches, hp):
    """The same training written out by hand in float64: AdamW, clipping and
    the warm-up + cosine schedule from their formulas, no torch.optim.
    init: {name: tensor} trainable; logits_of(current {name: leaf}) returns a
    function tokens -> logits. Returns [(params after update, loss, lr)]."""
    p = {n: t.clone() for n, t in init.items()}
    m = {n: torch.zeros_like(t) for n, t in p.items()}
    v = {n: torch.zeros_like(t) for n, t in p.items()}
    total, out = len(batches), []
    for k, micro in enumerate(batches):
        # the loss: all micro-batches over one denominator
        leaves = {n: t.clone().requires_grad_(True) for n, t in p.items()}
        fn = logits_of(leaves)
        den = sum(float((w[:, None] * (tg >= 0)).sum()) for _, tg, w in micro)
        num = sum(hfref.loss_terms(fn(tk), tg, w)[0] for tk, tg, w in micro)
        (num / den).backward()
        g = {n: leaves[n].grad for n in p}
        norm = math.sqrt(sum(float((g[n] ** 2).sum()) for n in p))
        coef = min(1.0, hp["clip"] / (norm + 1e-6)) if hp["clip"] > 0 else 1.0
        # Hugging Face's warm-up + cosine factor, first update numbered 0
        if k < hp["warmup"]:
            f = k / max(1, hp["warmup"])
        else:
            prog = (k - hp["warmup"]) / max(1, total - hp["warmup"])
            f = max(0.0, 0.5 * (1 + math.cos(math.pi * prog)))
        lr, t = hp["lr"] * f, k + 1
        for n in p:
            gn = g[n] * coef
            if p[n].dim() >= 2:
                p[n] = p[n] * (1 - lr * hp["weight_decay"])
            m[n] = hp["beta1"] * m[n] + (1 - hp["beta1"]) * gn
            v[n] = hp["beta2"] * v[n] + (1 - hp["beta2"]) * gn * gn
            denom = (v[n] / (1 - hp["beta2"] ** t)).sqrt() + hp["eps"]
            p[n] = p[n] - lr / (1 - hp["beta1"] ** t) * m[n] / denom
        out.append(({n: t.clone() for n, t in p.items()}, float(num / den), lr))
    return out


def load_batches(out):
    bt, _ = hfref.st_read(os.path.join(out, "batches.safetensors"))
    return [[(bt["tokens"][s, a].long(), bt["targets"][s, a].long(),
              bt["weights"][s, a].double()) for a in range(bt["tokens"].shape[1])]
            for s in range(bt["tokens"].shape[0])]


def compare_steps(out, plan, hand, names):
    """Worst relative difference of the step files and the log against hand."""
    worst = 0.0
    for k, (want, loss, lr) in enumerate(hand, start=1):
        got, _ = hfref.st_read(os.path.join(out, "step-%d.safetensors" % k))
        for n in names:
            scale = float(want[n].abs().max()) or 1.0
            worst = max(worst, float((got[n].double() - want[n]).abs().max()) / scale)
        log = plan["log"][k - 1]
        worst = max(worst, abs(log["loss"] - loss) / loss, abs(log["lr"] - lr))
    return worst


HP_KEYS = ("lr", "weight_decay", "beta1", "beta2", "eps", "warmup", "clip")


def run(check, tmp):
    script = os.path.join(HERE, "train_ref.py")
    for fam, method in (("llama", "full"), ("gpt2", "freeze"), ("qwen2", "full")):
        out = os.path.join(tmp, "train-%s-%s" % (fam, method))
        subprocess.run([sys.executable, script, "--family", fam, "--method", method,
                        "--out", out, "--steps", "6", "--seed", "3"], check=True)
        plan = json.load(open(os.path.join(out, "trajectory.json")))
        cfg, base = hfref.load_model_dir(os.path.join(out, "model"))
        batches = load_batches(out)
        hp = {k: plan[k] for k in HP_KEYS}
        names = plan["trainable"]
        hand = hand_loop({n: base[n] for n in names},
                         lambda leaves: lambda tk: hfref.forward(cfg, dict(base, **leaves), tk),
                         batches, hp)
        worst = compare_steps(out, plan, hand, names)
        frozen_ok = True
        for k in range(1, len(hand) + 1):
            got, _ = hfref.st_read(os.path.join(out, "step-%d.safetensors" % k))
            for n in base:
                if n not in names and not torch.equal(got[n].double(), base[n]):
                    frozen_ok = False
        clipped = [s["clipped"] for s in plan["log"]]
        check("train_ref %s %s: trajectory equals a hand-written AdamW/clip/cosine loop"
              % (fam, method), worst < 1e-6, "worst relative difference %.1e" % worst)
        check("train_ref %s %s: frozen tensors untouched, some steps clipped, some not"
              % (fam, method), frozen_ok and any(clipped) and not all(clipped)
              and plan["log"][0]["lr"] == 0.0)
        drift = sorted(d for s in plan["log"] for d in s["f32_drift_by_tensor"].values())
        check("train_ref %s %s: float32 rounding moves the trajectory little (median %.1e)"
              % (fam, method, drift[len(drift) // 2]), drift[len(drift) // 2] < 1e-5)

    # Grad accumulation 2 x batch 2 equals one micro-batch of 4 rows in order:
    # the loss is normalised over the whole step either way.
    cfg = hfref.make_config("llama")
    gen = torch.Generator().manual_seed(4)
    p = hfref.init_params(cfg, gen)
    recs = hfref.make_lm_records(97, 2, 8, 8, gen)
    two = hfref.records_to_batches(recs, 2, 2, 2, 8)
    one = hfref.records_to_batches(recs, 2, 1, 4, 8)
    res = []
    for batches in (two, one):
        tr = {n: t.clone().requires_grad_(True) for n, t in p.items()}
        hp = {"lr": 1e-2, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
              "warmup": 1, "schedule": "cosine", "clip": 1.0}
        hfref.train_adamw(tr, lambda tk: hfref.forward(cfg, tr, tk), batches, hp,
                          lambda k, info, opt: None)
        res.append(tr)
    d = max(float((res[0][n] - res[1][n]).abs().max()) for n in p)
    check("grad accumulation 2 x 2 rows equals 1 x 4 rows", d < 1e-12, "max difference %.1e" % d)

    # The record stream, bytes by hand: fixmap/map32 with str keys, ints, a double.
    got = hfref.msgpack_records([{"id": "r0", "tokens": [4, 300], "weight": 1.5}])
    want = (bytes.fromhex("df00000003") + b"\xa2id" + b"\xa2r0" + b"\xa6tokens"
            + bytes.fromhex("dd00000002" "04" "ce0000012c") + b"\xa6weight"
            + bytes.fromhex("cb3ff8000000000000"))
    check("msgpack records: bytes as hand-encoded", got == want)
