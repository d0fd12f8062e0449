#!/usr/bin/python3
"""LoRA reference (issue 7): a tiny random base, an initial LoRA adapter in
PEFT's layout (A Kaiming-uniform as PEFT draws it, B zero), token-id
records, and the float64 trajectory of 10 AdamW updates of A and B with the
base frozen, using LoRA layers of its own with PEFT's semantics:
y = base(x) + scale * (x A^T) B^T, scale = alpha / r (alpha / sqrt(r) with
--rslora), dropout 0; GPT-2's Conv1D keeps A [r, in] and B [out, r]
(fan_in_fan_out only transposes the base weight). Also a round-trip
adapter with non-zero B and the logits it gives.

Interface and files: /work/notes/ref-contract.md ("lora_ref.py").
"""

import argparse
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import hfref  # noqa: E402
import train_ref  # noqa: E402

ALL_LINEAR = {"llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                        "down_proj"],
              "gpt2": ["c_attn", "c_proj", "c_fc"]}


def parse_layers(text, n):
    """"0,2-3" -> sorted block indices (None for all)."""
    if text is None:
        return None
    out = set()
    for part in text.split(","):
        a, _, b = part.partition("-")
        lo, hi = int(a), int(b) if b else int(a)
        if not 0 <= lo <= hi < n:
            raise SystemExit("lora_ref.py: --layers %s: blocks are 0..%d" % (text, n - 1))
        out.update(range(lo, hi + 1))
    return sorted(out)


def make_adapter(mods, r, gen, b_std=0.0):
    """{path: (A [r, in], B [out, r])}, A as PEFT's default init, B zero or
    normal(0, b_std); values rounded to f32 (they are stored as F32)."""
    ab = {}
    for path, fin, fout, _ in mods:
        a = hfref.kaiming_uniform_a_sqrt5(r, fin, gen)
        b = torch.randn(fout, r, generator=gen, dtype=torch.float64) * b_std
        ab[path] = (hfref.round_to(a, "f32"), hfref.round_to(b, "f32"))
    return ab


def adapter_tensors(ab):
    out = []
    for path, (a, b) in ab.items():
        out += [(hfref.lora_key(path, "A"), a, "F32"), (hfref.lora_key(path, "B"), b, "F32")]
    return out


def write_adapter(dirname, conf, ab):
    os.makedirs(dirname, exist_ok=True)
    hfref.write_json(os.path.join(dirname, "adapter_config.json"), conf)
    hfref.st_write(os.path.join(dirname, "adapter_model.safetensors"), adapter_tensors(ab),
                   {"format": "pt"})


def main():
    ap = argparse.ArgumentParser(
        description="Write a tiny random base, an initial PEFT LoRA adapter, token-id "
        "records, and the float64 PyTorch trajectory of the adapter's A and B "
        "under AdamW (base frozen); plus a round-trip adapter and its logits.")
    train_ref.add_common(ap)
    ap.add_argument("--r", type=int, default=4, help="LoRA rank")
    ap.add_argument("--alpha", type=float, default=8.0, help="lora_alpha")
    ap.add_argument("--rslora", action="store_true", help="scale alpha/sqrt(r)")
    ap.add_argument("--targets", default=None,
                    help="comma list of module names, or all-linear "
                    "(default: PEFT's per family: q_proj,v_proj; GPT-2 c_attn)")
    ap.add_argument("--layers", default=None, help="blocks to adapt, e.g. 0 or 0-1")
    a = ap.parse_args()
    train_ref.check_common(ap, a)
    if a.r < 1:
        ap.error("--r must be >= 1")
    os.makedirs(a.out, exist_ok=True)

    cfg, base, records, batches, gen = train_ref.setup(a, os.path.join(a.out, "model"))
    fam = "gpt2" if a.family == "gpt2" else "llama"
    if a.targets is None:
        targets = hfref.LORA_DEFAULT_TARGETS[a.family]
    elif a.targets == "all-linear":
        targets = ALL_LINEAR[fam]
    else:
        targets = a.targets.split(",")
    layers = parse_layers(a.layers, hfref.Dims(cfg).layers)
    mods = hfref.lora_modules(cfg, targets, layers)
    if not mods:
        ap.error("--targets %s matches no module" % ",".join(targets))
    scale = a.alpha / (a.r ** 0.5 if a.rslora else a.r)
    alpha = int(a.alpha) if a.alpha == int(a.alpha) else a.alpha
    conf = hfref.lora_config_json(cfg, a.r, alpha, targets, a.rslora, layers)

    # the initial adapter ft starts from (--init-adapter), and the data
    init = make_adapter(mods, a.r, gen)
    write_adapter(os.path.join(a.out, "init_adapter"), conf, init)
    hfref.write_records(a.out, records)
    hfref.write_batches(os.path.join(a.out, "batches.safetensors"), batches)

    # a round-trip adapter with non-zero B, and the logits base + adapter give
    rt = make_adapter(mods, a.r, gen, b_std=0.1)
    write_adapter(os.path.join(a.out, "roundtrip"), conf, rt)
    tokens = batches[0][0][0]
    with torch.no_grad():
        logits = hfref.forward(cfg, base, tokens, lora=hfref.Lora(rt, scale))
    hfref.st_write(os.path.join(a.out, "roundtrip", "expected.safetensors"),
                   [("tokens", tokens, "I32"), ("logits", logits, "F32")], {"format": "pt"})

    def build(dtype):
        p = {n: t.to(dtype) for n, t in base.items()}
        trainable, ab = {}, {}
        for path, (wa, wb) in init.items():
            ka, kb = hfref.lora_key(path, "A"), hfref.lora_key(path, "B")
            trainable[ka] = wa.to(dtype).clone().requires_grad_(True)
            trainable[kb] = wb.to(dtype).clone().requires_grad_(True)
            ab[path] = (trainable[ka], trainable[kb])
        lora = hfref.Lora(ab, scale)
        return trainable, lambda tk: hfref.forward(cfg, p, tk, lora=lora)

    def dump(k, cur, opt, trainable):
        tensors = [(n, cur[n], "F32") for n in cur]
        if a.moments:
            tensors += train_ref.moment_tensors(opt, trainable)
        hfref.st_write(os.path.join(a.out, "step-%d.safetensors" % k), tensors,
                       {"format": "pt", "step": k})

    hp = train_ref.hparams(a)
    log = train_ref.run_trajectory(build, batches, hp, dump, {})
    a.clip = hp["clip"]
    train_ref.write_plan(os.path.join(a.out, "trajectory.json"), a,
                         {"method": "lora", "r": a.r, "lora_alpha": alpha,
                          "use_rslora": a.rslora, "scale": scale,
                          "target_modules": sorted(targets), "layers_to_transform": layers,
                          "modules": [m[0] for m in mods],
                          "trainable": [n for n in sorted(adapter_name
                                                          for adapter_name, _, _ in
                                                          adapter_tensors(init))],
                          "log": log})


if __name__ == "__main__":
    main()
