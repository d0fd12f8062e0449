#!/usr/bin/python3
"""Merge reference (issue 12): what folding LoRA adapters into a base must
give, computed in float64 from the files themselves, independently of ft.

  merge_ref.py make --family F --out DIR [--dtype T] [--head]
      DIR/model: a tiny random base (hfref's sizes); DIR/a1: a PEFT LoRA
      adapter on every linear layer (r 4, alpha 8; with --head lm_head too);
      (with --embed PEFT's LoRA on the embedding too: lora_embedding_A/B);
      DIR/a2: an rsLoRA adapter on PEFT's default targets (r 8, alpha 4,
      scale 4/sqrt(8)); both with non-zero B.

  merge_ref.py check --base M --adapter A [--adapter A ...] [--weights W,..]
                     --merged OUT [--dtype f32|f16|bf16] [--logits]
      Reads the base and adapters (adapter_config.json's r, lora_alpha,
      use_rslora), computes W' = W + sum w_i s_i B_i A_i in float64 (GPT-2's
      Conv1D: the transpose, as PEFT's fan_in_fan_out merge does; lm_head of
      a tied base: a new untied lm_head = E + delta, E unchanged), and
      compares every tensor of the merged model directory OUT: f32 within
      1e-6 of max |W'|, f16/bf16 within half a unit in the last place of
      the stored type (plus 1e-6 of |W| + |update| for the f32 arithmetic).
      --logits: also the float64 logits of OUT's weights against the
      unmerged base + adapters (the adapters applied beside the base, ranks
      stacked), within 1e-5 of max |logit|.

  merge_ref.py gguf --base M --adapter A [...] [--weights W,..]
                    --lora FILE.gguf [--base-gguf B.gguf --merged-gguf M.gguf]
      The llama.cpp adapter file ft wrote, read through @huggingface/gguf
      (tests/node/gguf-dump.mjs --extract): every A must be the stacked A_i,
      every B the stacked w_i s_i B_i with llama's q/k row permutation
      (LlamaModel.permute, written here from its definition: reshape to
      [heads, 2, rows/heads/2, in], swap axes 1 and 2), alpha 0; with the
      GGUF base and merged model, base + B A must equal the merged tensor.

  merge_ref.py survival --out DIR
      The hand-worked rounding case of ft-merge(1): a Llama base in bf16
      whose layer-0 q_proj is all 1.0, and an adapter (r 1, alpha 1) on it
      alone with B = 1 on rows 0-31 (0 below) and A = 2^-9 on columns
      0-15, 2^-7 on 16-31, 3 * 2^-9 on 32-63.

Prints "ok ..." and exits 0, or prints what differs and exits 1.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import hfref  # noqa: E402

NODE_DUMP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "node",
                         "gguf-dump.mjs")


# --- make -------------------------------------------------------------------------

def lora_pair(fin, fout, r, gen):
    a = hfref.kaiming_uniform_a_sqrt5(r, fin, gen)
    b = torch.randn(fout, r, generator=gen, dtype=torch.float64) * 0.1
    return hfref.round_to(a, "f32"), hfref.round_to(b, "f32")


def write_adapter(out, cfg, mods, r, alpha, rslora, gen, targets, embed=None):
    """embed: None, or (module path, V, C): PEFT's LoRA on the embedding too,
    lora_embedding_A [r, V] and lora_embedding_B [C, r] (no ".weight")."""
    ab = {path: lora_pair(fin, fout, r, gen) for path, fin, fout in mods}
    os.makedirs(out, exist_ok=True)
    hfref.write_json(os.path.join(out, "adapter_config.json"),
                     hfref.lora_config_json(cfg, r, alpha, targets, rslora, None))
    tensors = []
    for path, (a, b) in ab.items():
        tensors += [(hfref.lora_key(path, "A"), a, "F32"), (hfref.lora_key(path, "B"), b, "F32")]
    if embed:
        path, V, C = embed
        ea = hfref.round_to(torch.randn(r, V, generator=gen, dtype=torch.float64) * 0.1, "f32")
        eb = hfref.round_to(torch.randn(C, r, generator=gen, dtype=torch.float64) * 0.1, "f32")
        tensors += [("base_model.model.%s.lora_embedding_A" % path, ea, "F32"),
                    ("base_model.model.%s.lora_embedding_B" % path, eb, "F32")]
    hfref.st_write(os.path.join(out, "adapter_model.safetensors"), tensors, {"format": "pt"})


def cmd_make(a):
    cfg = hfref.make_config(a.family)
    gen = torch.Generator().manual_seed(a.seed)
    params = {k: hfref.round_to(v, a.dtype) for k, v in hfref.init_params(cfg, gen).items()}
    hfref.write_model_dir(os.path.join(a.out, "model"), cfg, params, a.dtype)
    d = hfref.Dims(cfg)
    every = [(p, fi, fo) for p, fi, fo, _ in hfref.linear_modules(cfg)]
    names1 = sorted({p.split(".")[-1] for p, _, _ in every})
    if a.head:
        every.append(("lm_head", d.hidden, d.vocab))
        names1.append("lm_head")
    embed = None
    if a.embed:
        embed = ("transformer.wte" if d.gpt2 else "model.embed_tokens", d.vocab, d.hidden)
        names1.append(embed[0].split(".")[-1])
    write_adapter(os.path.join(a.out, "a1"), cfg, every, 4, 8, False, gen, names1, embed)
    default = hfref.LORA_DEFAULT_TARGETS[a.family]
    mods2 = [(p, fi, fo) for p, fi, fo, _ in hfref.lora_modules(cfg, default)]
    write_adapter(os.path.join(a.out, "a2"), cfg, mods2, 8, 4, True, gen, default)
    print("ok made %s" % a.out)


def cmd_survival(a):
    cfg = hfref.make_config("llama")
    gen = torch.Generator().manual_seed(1)
    params = {k: hfref.round_to(v, "bf16") for k, v in hfref.init_params(cfg, gen).items()}
    q = "model.layers.0.self_attn.q_proj"
    params[q + ".weight"] = torch.ones(64, 64, dtype=torch.float64)
    hfref.write_model_dir(os.path.join(a.out, "model"), cfg, params, "bf16")
    A = torch.tensor([2.0 ** -9] * 16 + [2.0 ** -7] * 16 + [3 * 2.0 ** -9] * 32,
                     dtype=torch.float64)[None]
    B = torch.tensor([1.0] * 32 + [0.0] * 32, dtype=torch.float64)[:, None]
    out = os.path.join(a.out, "adapter")
    os.makedirs(out, exist_ok=True)
    hfref.write_json(os.path.join(out, "adapter_config.json"),
                     hfref.lora_config_json(cfg, 1, 1, ["q_proj"], False, [0]))
    hfref.st_write(os.path.join(out, "adapter_model.safetensors"),
                   [(hfref.lora_key(q, "A"), A, "F32"), (hfref.lora_key(q, "B"), B, "F32")],
                   {"format": "pt"})
    print("ok made %s" % a.out)


# --- reading adapters -----------------------------------------------------------------

def read_adapter(path):
    """(scale, {module path: (A, B)}, {embedding path: (A [r, V], B [C, r])})
    in float64."""
    with open(os.path.join(path, "adapter_config.json")) as f:
        c = json.load(f)
    r, alpha = c["r"], c["lora_alpha"]
    scale = alpha / (math.sqrt(r) if c.get("use_rslora") else r)
    raw, _ = hfref.st_read(os.path.join(path, "adapter_model.safetensors"))
    ab, emb = {}, {}
    for name, t in raw.items():
        path_, which = name[len("base_model.model."):].rsplit(".lora_", 1)
        into = emb if which.startswith("embedding_") else ab
        into.setdefault(path_, [None, None])["AB".index(which[-1] if into is emb else which[0])] \
            = t.to(torch.float64)
    return scale, {k: tuple(v) for k, v in ab.items()}, {k: tuple(v) for k, v in emb.items()}


def read_all(a):
    weights = [float(x) for x in a.weights.split(",")] if a.weights else [1.0] * len(a.adapter)
    if len(weights) != len(a.adapter):
        raise SystemExit("merge_ref.py: --weights: one per adapter")
    return [(w,) + read_adapter(p) for w, p in zip(weights, a.adapter)]


def conv1d(cfg, path):
    return cfg["model_type"] == "gpt2" and path != "lm_head"


def reference_merge(cfg, base, adapters):
    """(config, params) of the merged model in float64, lm_head untied (a
    copy of the base's embedding) when an adapter changes either half of a
    tied pair; the embedding's update is w s (B A)^T (PEFT's Embedding)."""
    cfg, p = dict(cfg), dict(base)
    d = hfref.Dims(cfg)
    E = "transformer.wte.weight" if d.gpt2 else "model.embed_tokens.weight"
    if d.tied and any("lm_head" in ab or emb for _, _, ab, emb in adapters):
        p["lm_head.weight"] = p[E]
        cfg["tie_word_embeddings"] = False
    for w, s, ab, emb in adapters:
        for path, (A, B) in ab.items():
            name = path + ".weight"
            delta = w * s * (B @ A)
            p[name] = p[name] + (delta.t() if conv1d(cfg, path) else delta)
        for path, (A, B) in emb.items():
            p[E] = p[E] + w * s * (B @ A).t()
    return cfg, p


def stacked_lora(adapters):
    """One hfref.Lora with every adapter beside the base: ranks stacked,
    B scaled by w s (scale 1)."""
    out = {}
    for w, s, ab, _ in adapters:
        for path, (A, B) in ab.items():
            a0, b0 = out.get(path, (None, None))
            A2, B2 = A, w * s * B
            out[path] = (A2 if a0 is None else torch.cat((a0, A2), 0),
                         B2 if b0 is None else torch.cat((b0, B2), 1))
    return hfref.Lora(out, 1.0)


def ulp(x, dtype):
    """The spacing of the stored type at |x| (normal numbers)."""
    mant = {"f16": 10, "bf16": 7}[dtype]
    e = torch.floor(torch.log2(x.abs().clamp_min(2.0 ** -14)))
    return torch.pow(2.0, e - mant)


# --- check ----------------------------------------------------------------------------

def load_merged(path):
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    raw, _ = hfref.st_read(os.path.join(path, "model.safetensors"))
    out = {}
    for name, t in raw.items():
        if cfg["model_type"] == "gpt2" and not name.startswith(("transformer.", "lm_head")):
            name = "transformer." + name
        out[name] = t.to(torch.float64)
    return cfg, out


def cmd_check(a):
    cfg, base = hfref.load_model_dir(a.base)
    adapters = read_all(a)
    rcfg, ref = reference_merge(cfg, base, adapters)
    mcfg, got = load_merged(a.merged)
    bad = []
    if bool(mcfg.get("tie_word_embeddings", cfg["model_type"] == "gpt2")) != \
            bool(rcfg.get("tie_word_embeddings", cfg["model_type"] == "gpt2")):
        bad.append("config.json: tie_word_embeddings is %s" % mcfg.get("tie_word_embeddings"))
    for name, want in ref.items():
        if name not in got:
            bad.append("%s: missing from the merged model" % name)
            continue
        g = got[name]
        if tuple(g.shape) != tuple(want.shape):
            bad.append("%s: shape %s, want %s" % (name, list(g.shape), list(want.shape)))
            continue
        if a.dtype == "f32":
            tol = 1e-6 * max(want.abs().max().item(), 1e-30)
            ok = (g - want).abs().max().item() <= tol
        else:
            # f32 arithmetic on W and the update first: its error scales
            # with their sizes, not with W' (they may cancel)
            b0 = base.get(name, torch.zeros_like(want))
            tol = 0.5 * ulp(want, a.dtype) + 1e-6 * (b0.abs() + (want - b0).abs())
            ok = bool(((g - want).abs() <= tol).all())
        if not ok:
            bad.append("%s: max |got - want| = %.3g" % (name, (g - want).abs().max().item()))
    logit_diff = None
    if a.logits and not bad:
        gen = torch.Generator().manual_seed(7)
        d = hfref.Dims(cfg)
        tokens = torch.randint(0, d.vocab, (2, 8), generator=gen)
        with torch.no_grad():
            # base + adapters unmerged (lm_head of a tied base: the untied sum)
            # (the head and the embedding lookup are linear in their weight:
            # those two are merged here too)
            head_only = [(w, s, {k: v for k, v in ab.items() if k == "lm_head"}, emb)
                         for w, s, ab, emb in adapters]
            ucfg, up = reference_merge(cfg, base, head_only)
            want = hfref.forward(ucfg, up, tokens, lora=stacked_lora(
                [(w, s, {k: v for k, v in ab.items() if k != "lm_head"}, {})
                 for w, s, ab, _ in adapters]))
            mp = {k: v for k, v in got.items() if k in dict(hfref.param_shapes(mcfg))}
            have = hfref.forward(mcfg, mp, tokens)
        logit_diff = ((have - want).abs().max() / want.abs().max()).item()
        if logit_diff > 1e-5:
            bad.append("logits: max |merged - unmerged| / max |unmerged| = %.3g" % logit_diff)
    for b in bad:
        print("FAIL " + b)
    if bad:
        return 1
    print("ok %d tensors%s" % (len(ref), "" if logit_diff is None
                                else ", logits rel diff %.2g" % logit_diff))
    return 0


# --- gguf -------------------------------------------------------------------------------

GGUF_NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
              "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
              "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
              "mlp.down_proj": "ffn_down", "attn.c_attn": "attn_qkv",
              "attn.c_proj": "attn_output", "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}


def gguf_name(path):
    """llama.cpp's name of an HF module path (gguf-py tensor_mapping.py)."""
    if path == "lm_head":
        return "output.weight"
    parts = path.split(".")
    block = parts[2] if parts[0] == "model" else parts[2]
    return "blk.%s.%s.weight" % (block, GGUF_NAMES[".".join(parts[3:])])


_EXTRACTED = {}


def extract(path, name, shape):
    """A tensor's f32 values through @huggingface/gguf, as [rows, cols]
    (every tensor of a file is extracted once, into a temporary folder)."""
    if path not in _EXTRACTED:
        _EXTRACTED[path] = tempfile.mkdtemp()
        subprocess.run(["node", NODE_DUMP, path, "--extract-all", _EXTRACTED[path]],
                       check=True)
    with open(os.path.join(_EXTRACTED[path], name), "rb") as f:
        raw = f.read()
    t = torch.frombuffer(bytearray(raw), dtype=torch.float32).to(torch.float64)
    return t.reshape(shape)


def permute(w, heads):
    """convert_hf_to_gguf.py LlamaModel.permute: rows to adjacent pairs."""
    return (w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def cmd_gguf(a):
    cfg, base = hfref.load_model_dir(a.base)
    d = hfref.Dims(cfg)
    adapters = read_all(a)
    bad, n = [], 0
    paths = []
    for _, _, ab, _ in adapters:
        paths += [p for p in ab if p not in paths]
    for path in paths:
        gname = gguf_name(path)
        A = torch.cat([ab[path][0] for _, _, ab, _ in adapters if path in ab], 0)
        B = torch.cat([w * s * ab[path][1] for w, s, ab, _ in adapters if path in ab], 1)
        if d.family == "llama" and path.endswith("self_attn.q_proj"):
            B = permute(B, d.heads)
        elif d.family == "llama" and path.endswith("self_attn.k_proj"):
            B = permute(B, d.kv_heads)
        ga = extract(a.lora, gname + ".lora_a", A.shape)
        gb = extract(a.lora, gname + ".lora_b", B.shape)
        if not torch.equal(ga, A):
            bad.append("%s.lora_a: not the stacked A" % gname)
        if (gb - B).abs().max() > 2 * 2.0 ** -24 * B.abs().max():
            bad.append("%s.lora_b: max |got - w s B (permuted)| = %.3g"
                       % (gname, (gb - B).abs().max()))
        if a.base_gguf:
            rows, cols = B.shape[0], A.shape[1]
            w0 = extract(a.base_gguf, gname, (rows, cols))
            w1 = extract(a.merged_gguf, gname, (rows, cols))
            by_hand = w0 + gb @ ga
            err = (w1 - by_hand).abs().max() / w1.abs().max()
            if err > 1e-6:
                bad.append("%s: base + B A differs from the merged GGUF by %.3g" % (gname, err))
        n += 1
    for d_ in _EXTRACTED.values():
        shutil.rmtree(d_, ignore_errors=True)
    for b in bad:
        print("FAIL " + b)
    if bad:
        return 1
    print("ok %d adapted tensors" % n)
    return 0


def main():
    ap = argparse.ArgumentParser(description="float64 reference of ft-merge")
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--family", required=True, choices=hfref.FAMILIES)
    m.add_argument("--out", required=True)
    m.add_argument("--dtype", choices=("f32", "f16", "bf16"), default="f32")
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--head", action="store_true", help="a1 adapts lm_head too")
    m.add_argument("--embed", action="store_true", help="a1 adapts the embedding too")
    s = sub.add_parser("survival")
    s.add_argument("--out", required=True)
    for name in ("check", "gguf"):
        c = sub.add_parser(name)
        c.add_argument("--base", required=True)
        c.add_argument("--adapter", action="append", required=True)
        c.add_argument("--weights")
        if name == "check":
            c.add_argument("--merged", required=True)
            c.add_argument("--dtype", choices=("f32", "f16", "bf16"), default="f32")
            c.add_argument("--logits", action="store_true")
        else:
            c.add_argument("--lora", required=True)
            c.add_argument("--base-gguf")
            c.add_argument("--merged-gguf")
    a = ap.parse_args()
    if a.cmd == "make":
        return cmd_make(a)
    if a.cmd == "survival":
        return cmd_survival(a)
    return cmd_check(a) if a.cmd == "check" else cmd_gguf(a)


if __name__ == "__main__":
    sys.exit(main() or 0)
