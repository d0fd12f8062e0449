#!/usr/bin/python3
"""P-tuning v2 reference (issue 8): a tiny random base, an initial prefix in
PEFT's prefix-tuning layout, token-id records, and the float64 trajectory of
10 AdamW updates of the prefix (base frozen), with or without PEFT's
reparameterising MLP (PrefixEncoder: Embedding(N, token_dim) -> Linear(token_dim,
H) -> Tanh -> Linear(H, layers*2*token_dim)).

The prefix enters every layer as PEFT passes past_key_values: keys and values
already computed, never rotated; real tokens at positions N..N+T-1 (GPT-2's
learned positions too). prompt_embeddings [N, layers*2*token_dim] is ordered
layer, key/value, kv head, dimension; token_dim = head_dim x kv heads.

Interface and files: /work/notes/ref-contract.md ("prefix_ref.py").
"""

import argparse
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import hfref  # noqa: E402
import train_ref  # noqa: E402

ENCODER = ("prompt_encoder.embedding.weight", "prompt_encoder.transform.0.weight",
           "prompt_encoder.transform.0.bias", "prompt_encoder.transform.2.weight",
           "prompt_encoder.transform.2.bias")


def uniform(shape, bound, gen):
    return (torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound


def init_encoder(N, td, H, width, gen):
    """PEFT's PrefixEncoder parameters as torch initialises them: Embedding
    normal(0, 1); Linear weight and bias U(+-1/sqrt(fan_in)). Rounded to f32."""
    if not H:
        t = {"prompt_embeddings": torch.randn(N, width, generator=gen, dtype=torch.float64)}
    else:
        t = {ENCODER[0]: torch.randn(N, td, generator=gen, dtype=torch.float64),
             ENCODER[1]: uniform((H, td), td ** -0.5, gen),
             ENCODER[2]: uniform((H,), td ** -0.5, gen),
             ENCODER[3]: uniform((width, H), H ** -0.5, gen),
             ENCODER[4]: uniform((width,), H ** -0.5, gen)}
    return {k: hfref.round_to(v, "f32") for k, v in t.items()}


def load_encoder(path, N, H, width):
    """The trainable tensors of an existing adapter, read with this file's own
    parsers; its config must agree with --prefix-len and --projection."""
    with open(os.path.join(path, "adapter_config.json")) as f:
        conf = json.load(f)
    if conf["num_virtual_tokens"] != N or bool(conf["prefix_projection"]) != bool(H) or \
            (H and conf["encoder_hidden_size"] != H):
        raise SystemExit("prefix_ref.py: --start %s does not fit --prefix-len %d "
                         "--projection %d" % (path, N, H))
    if H:
        t, _ = hfref.st_read(os.path.join(path, "prefix_encoder.safetensors"))
        enc = {n: t[n].to(torch.float64) for n in ENCODER}
    else:
        t, _ = hfref.st_read(os.path.join(path, "adapter_model.safetensors"))
        enc = {"prompt_embeddings": t["prompt_embeddings"].to(torch.float64)}
    if prompt_embeddings(enc).shape != (N, width):
        raise SystemExit("prefix_ref.py: --start %s: prompt_embeddings is not [%d, %d]"
                         % (path, N, width))
    return enc


def prompt_embeddings(enc):
    """[N, layers*2*token_dim]: the embedding itself, or the MLP's output."""
    if "prompt_embeddings" in enc:
        return enc["prompt_embeddings"]
    h = torch.tanh(enc[ENCODER[0]] @ enc[ENCODER[1]].t() + enc[ENCODER[2]])
    return h @ enc[ENCODER[3]].t() + enc[ENCODER[4]]


def main():
    ap = argparse.ArgumentParser(
        description="Write a tiny random base, an initial PEFT prefix-tuning adapter, "
        "token-id records, the logits before training, and the float64 PyTorch "
        "trajectory of the prefix (or its MLP) under AdamW with the base frozen.")
    train_ref.add_common(ap)
    ap.add_argument("--prefix-len", type=int, default=4, metavar="N",
                    help="num_virtual_tokens")
    ap.add_argument("--projection", type=int, default=0, metavar="H",
                    help="hidden size of PEFT's prefix MLP (0: no projection)")
    ap.add_argument("--start", metavar="DIR",
                    help="start from this prefix adapter (trained elsewhere, e.g. for "
                    "another task) instead of a random one: prompt_embeddings, or with "
                    "a projection the MLP in DIR/prefix_encoder.safetensors")
    a = ap.parse_args()
    train_ref.check_common(ap, a)
    if a.prefix_len < 1 or a.projection < 0:
        ap.error("--prefix-len must be >= 1, --projection >= 0")
    if a.prefix_len + a.seq_len > 64:
        ap.error("--prefix-len + --seq-len must not exceed the context (64)")
    os.makedirs(a.out, exist_ok=True)

    cfg, base, records, batches, gen = train_ref.setup(a, os.path.join(a.out, "model"))
    d = hfref.Dims(cfg)
    td = d.head_dim * d.kv_heads
    width = d.layers * 2 * td
    conf = hfref.prefix_config_json(cfg, a.prefix_len, a.projection)
    enc = (load_encoder(a.start, a.prefix_len, a.projection, width) if a.start
           else init_encoder(a.prefix_len, td, a.projection, width, gen))

    # the initial adapter: PEFT keeps only prompt_embeddings (the MLP output
    # when projecting); the MLP itself goes to prefix_encoder.safetensors
    init_dir = os.path.join(a.out, "init_adapter")
    os.makedirs(init_dir, exist_ok=True)
    hfref.write_json(os.path.join(init_dir, "adapter_config.json"), conf)
    pe0 = prompt_embeddings(enc)
    hfref.st_write(os.path.join(init_dir, "adapter_model.safetensors"),
                   [("prompt_embeddings", pe0, "F32")], {"format": "pt"})
    if a.projection:
        hfref.st_write(os.path.join(init_dir, "prefix_encoder.safetensors"),
                       [(n, enc[n], "F32") for n in ENCODER], {"format": "pt"})
    hfref.write_records(a.out, records)
    hfref.write_batches(os.path.join(a.out, "batches.safetensors"), batches)

    # logits before training: base + the stored prompt_embeddings (rounded
    # to F32 as stored, so a loader of the file sees exactly these)
    tokens = batches[0][0][0]
    pre = hfref.prefix_from_embeddings(cfg, hfref.round_to(pe0, "f32"))
    with torch.no_grad():
        logits = hfref.forward(cfg, base, tokens, prefix=pre)
    hfref.st_write(os.path.join(a.out, "expected.safetensors"),
                   [("tokens", tokens, "I32"), ("logits", logits, "F32")], {"format": "pt"})

    def build(dtype):
        p = {n: t.to(dtype) for n, t in base.items()}
        trainable = {n: t.to(dtype).clone().requires_grad_(True) for n, t in enc.items()}

        def logits_fn(tk):
            pr = hfref.prefix_from_embeddings(cfg, prompt_embeddings(trainable))
            return hfref.forward(cfg, p, tk, prefix=pr)
        return trainable, logits_fn

    def dump(k, cur, opt, trainable):
        tensors = [(n, cur[n], "F32") for n in cur]
        if a.projection:
            with torch.no_grad():
                tensors.append(("prompt_embeddings", prompt_embeddings(cur), "F32"))
        if a.moments:
            tensors += train_ref.moment_tensors(opt, trainable)
        hfref.st_write(os.path.join(a.out, "step-%d.safetensors" % k), tensors,
                       {"format": "pt", "step": k})

    hp = train_ref.hparams(a)
    log = train_ref.run_trajectory(build, batches, hp, dump, {})
    a.clip = hp["clip"]
    train_ref.write_plan(os.path.join(a.out, "trajectory.json"), a,
                         {"method": "ptuning", "num_virtual_tokens": a.prefix_len,
                          "prefix_projection": bool(a.projection),
                          "encoder_hidden_size": conf["encoder_hidden_size"],
                          "token_dim": td, "trainable": sorted(enc), "log": log})


if __name__ == "__main__":
    main()
