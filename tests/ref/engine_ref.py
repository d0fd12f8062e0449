#!/usr/bin/python3
"""Engine reference: a tiny random Hugging Face checkpoint and its expected
logits, loss and gradients, computed in float64 by PyTorch code of its own.

Writes config.json, model.safetensors and expected.safetensors into --out.
The interface is fixed by /work/notes/ref-contract.md ("engine_ref.py").
Nothing here reads a file ft wrote.
"""

import argparse
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import hfref  # noqa: E402

LOSS_WEIGHTS = (1.0, 0.5, 2.0, 0.25)


def make_batch(vocab, B, T, gen):
    """tokens [B, T], next-token targets [B, T] (-1: no loss), weights [B].

    Odd rows mask their first two targets (a prompt), the last row masks its
    last target, so every run has some -1 targets.
    """
    seq = torch.randint(0, vocab, (B, T + 1), generator=gen)
    tokens, targets = seq[:, :T].clone(), seq[:, 1:].clone()
    for b in range(1, B, 2):
        targets[b, :min(2, T - 1)] = -1
    targets[B - 1, T - 1] = -1
    weights = torch.tensor([LOSS_WEIGHTS[b % len(LOSS_WEIGHTS)] for b in range(B)],
                           dtype=torch.float64)
    return tokens, targets, weights


def make_prefix(d, P, gen):
    """Per layer a key and a value [Hkv, P, D], normal(0, 1), rounded to f32."""
    out = []
    for _ in range(d.layers):
        k = torch.randn(d.kv_heads, P, d.head_dim, generator=gen, dtype=torch.float64)
        v = torch.randn(d.kv_heads, P, d.head_dim, generator=gen, dtype=torch.float64)
        out.append((hfref.round_to(k, "f32"), hfref.round_to(v, "f32")))
    return out


def build(family, seed, prefix_len, storage, B, T, rope_scaling=None, head_dim=None):
    """(cfg, params, tokens, targets, weights, prefix): everything the
    reference computes from, parameters already rounded to their storage."""
    cfg = hfref.make_config(family, rope_scaling=rope_scaling, head_dim=head_dim)
    gen = torch.Generator().manual_seed(seed)
    params = hfref.init_params(cfg, gen)
    params = {k: hfref.round_to(v, storage) for k, v in params.items()}
    tokens, targets, weights = make_batch(cfg["vocab_size"], B, T, gen)
    prefix = make_prefix(hfref.Dims(cfg), prefix_len, gen) if prefix_len > 0 else None
    return cfg, params, tokens, targets, weights, prefix


def expected(cfg, params, tokens, targets, weights, prefix):
    """Logits, loss and gradients in float64: (logits, loss, {grad name: grad})."""
    p = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    pre = None
    if prefix is not None:
        pre = [(k.clone().requires_grad_(True), v.clone().requires_grad_(True))
               for k, v in prefix]
    logits = hfref.forward(cfg, p, tokens, prefix=pre)
    num, den = hfref.loss_terms(logits, targets, weights)
    loss = num / den
    loss.backward()
    grads = {"grad." + k: v.grad for k, v in p.items()}
    if pre is not None:
        for l, (k, v) in enumerate(pre):
            grads["grad.prefix.%d.key" % l] = k.grad
            grads["grad.prefix.%d.value" % l] = v.grad
    return logits.detach(), loss.detach(), grads


def main():
    ap = argparse.ArgumentParser(
        description="Write a tiny random Hugging Face checkpoint (config.json, "
        "model.safetensors) and its expected logits, loss and gradients "
        "(expected.safetensors), computed in float64 with PyTorch.")
    ap.add_argument("--family", required=True, choices=hfref.FAMILIES)
    ap.add_argument("--out", required=True, help="output directory (created)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--prefix", type=int, default=0, metavar="P",
                    help="attend to a hand-made prefix of P keys/values per layer")
    ap.add_argument("--dtype", choices=("f32", "f16", "bf16"), default="f32",
                    help="storage type of model.safetensors")
    ap.add_argument("--rope-scaling", choices=("llama3",), default=None,
                    help="llama only: add a Llama 3 rope_scaling to config.json")
    ap.add_argument("--head-dim", type=int, default=None, metavar="D",
                    help="llama, mistral, qwen2: a head size other than hidden / heads")
    ap.add_argument("--batch", type=int, default=2, metavar="B")
    ap.add_argument("--seq", type=int, default=7, metavar="T")
    a = ap.parse_args()
    if a.prefix < 0 or a.batch < 1 or a.seq < 2:
        ap.error("--prefix must be >= 0, --batch >= 1, --seq >= 2")
    if a.prefix + a.seq > 64:
        ap.error("--prefix + --seq must not exceed the context (64)")
    if a.rope_scaling and a.family != "llama":
        ap.error("--rope-scaling is for --family llama")
    if a.head_dim is not None and (a.family == "gpt2" or a.head_dim < 2 or a.head_dim % 2):
        ap.error("--head-dim is an even size for llama, mistral and qwen2")

    cfg, params, tokens, targets, weights, prefix = build(
        a.family, a.seed, a.prefix, a.dtype, a.batch, a.seq, a.rope_scaling, a.head_dim)
    logits, loss, grads = expected(cfg, params, tokens, targets, weights, prefix)

    hfref.write_model_dir(a.out, cfg, params, a.dtype)
    out = [("tokens", tokens, "I32"), ("targets", targets, "I32"),
           ("weights", weights, "F32"), ("logits", logits, "F32"),
           ("loss", loss.reshape(1), "F32")]
    out += [(k, v, "F32") for k, v in grads.items() if not k.startswith("grad.prefix.")]
    if prefix is not None:
        for l, (k, v) in enumerate(prefix):
            out += [("prefix.%d.key" % l, k, "F32"), ("prefix.%d.value" % l, v, "F32")]
        out += [(k, v, "F32") for k, v in grads.items() if k.startswith("grad.prefix.")]
    meta = {"format": "pt", "family": a.family, "seed": a.seed, "prefix": a.prefix,
            "dtype": a.dtype, "generator": "ft tests/ref/engine_ref.py"}
    hfref.st_write(os.path.join(a.out, "expected.safetensors"), out, meta)


if __name__ == "__main__":
    main()
