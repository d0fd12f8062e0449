#!/usr/bin/python3
"""Training reference (issue 6): a trajectory of torch.optim.AdamW + LambdaLR
(Hugging Face warm-up then cosine or linear) + clip_grad_norm_ + weight decay
(none on biases and norm weights) + gradient accumulation, for full
fine-tuning and freeze, from a tiny random checkpoint and token-id records
it makes itself. Computed in float64; the same loop in float32 is run beside
it to measure how much float32 rounding alone moves the trajectory.

The interface (arguments and files) is fixed in /work/notes/ref-contract.md
("train_ref.py"). Nothing here reads a file ft wrote.
"""

import argparse
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import hfref  # noqa: E402


def add_common(ap):
    """Options shared by train_ref.py, lora_ref.py and prefix_ref.py."""
    ap.add_argument("--family", required=True, choices=hfref.FAMILIES)
    ap.add_argument("--out", required=True, help="output directory (created)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data-seed", type=int, default=None,
                    help="draw the records from this seed instead of --seed's stream "
                    "(the same base, other data)")
    ap.add_argument("--dtype", choices=("f32", "f16", "bf16"), default="f32",
                    help="storage type of the base model.safetensors")
    ap.add_argument("--steps", type=int, default=10, help="optimiser updates")
    ap.add_argument("--grad-accum", type=int, default=2, help="micro-batches per update")
    ap.add_argument("--batch-size", type=int, default=2, help="rows per micro-batch")
    ap.add_argument("--seq-len", type=int, default=8, help="tokens per row (inputs)")
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--warmup", type=int, default=3, help="warm-up updates")
    ap.add_argument("--schedule", choices=("cosine", "linear", "constant"), default="cosine")
    ap.add_argument("--clip", default="auto",
                    help="max global gradient norm (0: no clipping; auto, the "
                    "default: the median norm of an unclipped run, 2 digits)")
    ap.add_argument("--moments", action="store_true",
                    help="also dump AdamW's exp_avg/exp_avg_sq in each step file")


def check_common(ap, a):
    if min(a.steps, a.grad_accum, a.batch_size) < 1 or a.seq_len < 2 or a.warmup < 0:
        ap.error("--steps, --grad-accum, --batch-size must be >= 1, --seq-len >= 2")
    if a.seq_len + 1 > 64:
        ap.error("--seq-len must be below the context (64)")
    if a.clip != "auto":
        try:
            a.clip = float(a.clip)
        except ValueError:
            ap.error("--clip takes a number or auto")


def hparams(a):
    return {"lr": a.lr, "weight_decay": a.weight_decay, "beta1": a.beta1,
            "beta2": a.beta2, "eps": a.eps, "warmup": a.warmup,
            "schedule": a.schedule, "clip": a.clip}


def setup(a, out_model):
    """Base model (written to out_model), records and batches, all from --seed.
    Returns (cfg, params float64 rounded to storage, records, batches)."""
    cfg = hfref.make_config(a.family)
    gen = torch.Generator().manual_seed(a.seed)
    params = {k: hfref.round_to(v, a.dtype) for k, v in hfref.init_params(cfg, gen).items()}
    hfref.write_model_dir(out_model, cfg, params, a.dtype)
    n_rows = a.steps * a.grad_accum * a.batch_size
    if getattr(a, "data_seed", None) is not None:
        gen = torch.Generator().manual_seed(a.data_seed)
    records = hfref.make_lm_records(cfg["vocab_size"], cfg["eos_token_id"], a.seq_len,
                                    n_rows, gen)
    batches = hfref.records_to_batches(records, a.steps, a.grad_accum, a.batch_size,
                                       a.seq_len)
    return cfg, params, records, batches, gen


def key_bias_ranges(cfg, names):
    """{name: [[start, end], ...]}: the entries of trainable tensors whose
    gradient is identically zero -- the key biases: q.(k_j + b) shifts every
    score of a query by q.b, which softmax ignores. Adam turns the float32
    rounding of that zero into full-size steps, so they are not compared."""
    d, out = hfref.Dims(cfg), {}
    for n in names:
        if n.endswith("self_attn.k_proj.bias"):
            out[n] = [[0, d.kv_heads * d.head_dim]]
        elif n.endswith("attn.c_attn.bias"):
            out[n] = [[d.hidden, 2 * d.hidden]]
    return out


def rel_diff(a, b, skip=None):
    """max |a - b| / max |b| (0 when both are zero), over the flattened
    entries outside the [start, end) ranges of skip."""
    a, b = a.double().reshape(-1), b.double().reshape(-1)
    if skip:
        keep = torch.ones(b.numel(), dtype=torch.bool)
        for s, e in skip:
            keep[s:e] = False
        a, b = a[keep], b[keep]
    scale = float(b.abs().max()) if b.numel() else 0.0
    d = float((a - b).abs().max()) if b.numel() else 0.0
    return d / scale if scale > 0 else d


def run_trajectory(build, batches, hp, dump, zero_grad):
    """Run the loop in float64 and in float32. build(dtype) returns
    (trainable {name: leaf tensor}, logits_fn). The float64 run is dumped
    after each step through dump(k, {name: tensor}, opt, trainable); the
    log gets each step's f32_drift: the max over trainable tensors of
    rel_diff(float32 run, float64 run) outside the zero_grad ranges, and
    f32_drift_by_tensor the same per tensor. hp["clip"] "auto"
    is replaced by the median gradient norm of an unclipped float64 run."""
    if hp["clip"] == "auto":
        norms = []
        trainable, logits_fn = build(torch.float64)
        hfref.train_adamw(trainable, logits_fn, batches, dict(hp, clip=0.0),
                          lambda k, info, opt: norms.append(info["grad_norm"]))
        hp["clip"] = float("%.2g" % sorted(norms)[len(norms) // 2])
    log, snaps = [], {}
    for dtype in (torch.float64, torch.float32):
        trainable, logits_fn = build(dtype)

        def on_step(k, info, opt):
            cur = {n: t.detach().clone() for n, t in trainable.items()}
            if dtype == torch.float64:
                log.append(info)
                snaps[k] = cur
                dump(k, cur, opt, trainable)
            else:
                drift = {n: rel_diff(cur[n], snaps[k][n], zero_grad.get(n)) for n in cur}
                log[k - 1]["f32_drift"] = max(drift.values())
                log[k - 1]["f32_drift_by_tensor"] = drift

        hfref.train_adamw(trainable, logits_fn, batches, hp, on_step)
    return log


def moment_tensors(opt, trainable):
    out = []
    for n, t in trainable.items():
        st = opt.state.get(t, {})
        if "exp_avg" in st:
            out += [("exp_avg." + n, st["exp_avg"], "F32"),
                    ("exp_avg_sq." + n, st["exp_avg_sq"], "F32")]
    return out


def write_plan(path, a, extra):
    plan = {"family": a.family, "seed": a.seed, "dtype": a.dtype, "steps": a.steps,
            "grad_accum": a.grad_accum, "batch_size": a.batch_size,
            "seq_len": a.seq_len, "lr": a.lr, "weight_decay": a.weight_decay,
            "beta1": a.beta1, "beta2": a.beta2, "eps": a.eps, "warmup": a.warmup,
            "schedule": a.schedule, "clip": a.clip, "eos_token_id": 2,
            "shuffle": False, "first_lr_is_zero": a.warmup > 0}
    plan.update(extra)
    with open(path, "w") as f:
        json.dump(plan, f, indent=1)
        f.write("\n")


def trainable_names(a, cfg):
    """The tensors that train: all (full), or --trainable, or the top
    --freeze-top blocks plus the final norm (freeze)."""
    names = [n for n, _ in hfref.param_shapes(cfg)]
    if a.method == "full":
        return names
    if a.trainable:
        want = a.trainable.split(",")
        bad = [n for n in want if n not in names]
        if bad:
            raise SystemExit("train_ref.py: not a tensor of the model: %s" % bad[0])
        return [n for n in names if n in want]
    L = hfref.Dims(cfg).layers
    top = set(range(L - a.freeze_top, L))
    out = []
    for n in names:
        parts = n.split(".")
        for i, seg in enumerate(parts[:-1]):
            if seg in ("layers", "h") and parts[i + 1].isdigit():
                if int(parts[i + 1]) in top:
                    out.append(n)
                break
        else:
            if n in ("model.norm.weight", "transformer.ln_f.weight", "transformer.ln_f.bias"):
                out.append(n)
    return out


def main():
    ap = argparse.ArgumentParser(
        description="Write a tiny random checkpoint, token-id records, and the "
        "float64 PyTorch trajectory (weights after every step) of AdamW + "
        "LambdaLR + clip_grad_norm_ + grad accumulation, full or freeze.")
    add_common(ap)
    ap.add_argument("--method", choices=("full", "freeze"), default="full")
    ap.add_argument("--freeze-top", type=int, default=1, metavar="N",
                    help="freeze: the top N blocks and the final norm train")
    ap.add_argument("--trainable", default=None, metavar="NAMES",
                    help="freeze: exactly these tensors train (comma list of HF names)")
    a = ap.parse_args()
    check_common(ap, a)
    os.makedirs(a.out, exist_ok=True)

    cfg, base, records, batches, _ = setup(a, os.path.join(a.out, "model"))
    if a.method == "freeze" and not a.trainable and not 0 < a.freeze_top <= hfref.Dims(cfg).layers:
        ap.error("--freeze-top must be 1 .. layers")
    names = trainable_names(a, cfg)
    hfref.write_records(a.out, records)
    hfref.write_batches(os.path.join(a.out, "batches.safetensors"), batches)

    def build(dtype):
        trainable = {n: base[n].to(dtype).clone().requires_grad_(True) for n in names}
        p = {n: t.to(dtype) for n, t in base.items()}
        p.update(trainable)
        return trainable, lambda tokens: hfref.forward(cfg, p, tokens)

    def dump(k, cur, opt, trainable):
        tensors = [(n, cur[n] if n in cur else base[n], "F32") for n, _ in hfref.param_shapes(cfg)]
        if a.moments:
            tensors += moment_tensors(opt, trainable)
        hfref.st_write(os.path.join(a.out, "step-%d.safetensors" % k), tensors,
                       {"format": "pt", "step": k})

    hp, zero_grad = hparams(a), key_bias_ranges(cfg, names)
    log = run_trajectory(build, batches, hp, dump, zero_grad)
    a.clip = hp["clip"]
    write_plan(os.path.join(a.out, "trajectory.json"), a,
               {"method": a.method, "trainable": names,
                "decay": [n for n in names if len(dict(hfref.param_shapes(cfg))[n]) >= 2],
                "zero_gradient": zero_grad, "log": log})


if __name__ == "__main__":
    main()
