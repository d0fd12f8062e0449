#!/usr/bin/python3
"""Independent expectations for tests/cli/gen.sh (ft-gen), computed with the
float64 PyTorch models of tests/ref/hfref.py from the model files alone:

  greedy MODEL IDS N [--lora DIR] [--prefix DIR]
        the greedy continuation (N ids, no cache: the whole sequence is run
        again for each token; ties to the lower id), one line
  probs MODEL IDS TEMP TOPK TOPP
        the candidates of the next token after IDS once temperature, top-k
        and top-p are applied as Hugging Face's generate() orders them:
        "id probability" per line, likeliest first, renormalised
  nucleus MODEL IDS TEMP K
        a top-p value halfway between the mass of the K and K+1 likeliest
        tokens (so that top-p keeps exactly K), one line
  merge MODEL ADAPTER OUT
        MODEL with the LoRA adapter folded into its weights (W + s B A; GPT-2's
        Conv1D weights [in, out] get the transpose), written as a model dir
  gpt2 OUT
        a tiny random GPT-2 with the full 50257-token vocabulary
  decode ENCODER_JSON IDS
        GPT-2 byte-level decoding of IDS (the bytes, written raw)

IDS are comma-separated. Reads nothing ft wrote except where a test says so.
"""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))

import torch  # noqa: E402

import hfref  # noqa: E402


def ids_of(text):
    return [int(t) for t in text.split(",") if t]


def load_lora(path, cfg):
    with open(os.path.join(path, "adapter_config.json")) as f:
        conf = json.load(f)
    raw, _ = hfref.st_read(os.path.join(path, "adapter_model.safetensors"))
    ab = {}
    for name, t in raw.items():
        mod = name[len("base_model.model."):name.index(".lora_")]
        if cfg["model_type"] == "gpt2" and not mod.startswith("transformer."):
            mod = "transformer." + mod
        slot = 0 if ".lora_A." in name else 1
        ab.setdefault(mod, [None, None])[slot] = t.to(torch.float64)
    r, alpha = conf["r"], conf["lora_alpha"]
    scale = alpha / (r ** 0.5 if conf.get("use_rslora") else r)
    return {k: tuple(v) for k, v in ab.items()}, scale


def load_prefix(path, cfg):
    raw, _ = hfref.st_read(os.path.join(path, "adapter_model.safetensors"))
    return hfref.prefix_from_embeddings(cfg, raw["prompt_embeddings"].to(torch.float64))


def last_logits(cfg, p, ids, lora=None, prefix=None):
    with torch.no_grad():
        return hfref.forward(cfg, p, torch.tensor([ids]), prefix=prefix, lora=lora)[0, -1]


def greedy(argv):
    model, ids, n = argv[0], ids_of(argv[1]), int(argv[2])
    cfg, p = hfref.load_model_dir(model)
    lora = prefix = None
    rest = argv[3:]
    while rest:
        if rest[0] == "--lora":
            lora = hfref.Lora(*load_lora(rest[1], cfg))
        elif rest[0] == "--prefix":
            prefix = load_prefix(rest[1], cfg)
        rest = rest[2:]
    out = []
    for _ in range(n):
        nxt = int(torch.argmax(last_logits(cfg, p, ids + out, lora, prefix)))
        out.append(nxt)
    print(" ".join(map(str, out)))


def ranked(model, ids, temp):
    cfg, p = hfref.load_model_dir(model)
    logits = last_logits(cfg, p, ids)
    prob = torch.softmax(logits / temp, dim=-1)
    order = sorted(range(len(prob)), key=lambda v: (-float(logits[v]), v))
    return [(v, float(prob[v])) for v in order]


def probs(argv):
    cand = ranked(argv[0], ids_of(argv[1]), float(argv[2]))
    k, top_p = int(argv[3]), float(argv[4])
    if k > 0:
        cand = cand[:k]
    total = sum(q for _, q in cand)
    if top_p < 1:
        kept, cum = [], 0.0
        for v, q in cand:
            kept.append((v, q))
            cum += q
            if cum >= top_p * total:
                break
        cand = kept
    total = sum(q for _, q in cand)
    for v, q in cand:
        print(v, "%.12g" % (q / total))


def nucleus(argv):
    cand = ranked(argv[0], ids_of(argv[1]), float(argv[2]))
    k = int(argv[3])
    lo = sum(q for _, q in cand[:k - 1])
    hi = sum(q for _, q in cand[:k])
    print("%.9f" % ((lo + hi) / 2))


def merge(argv):
    cfg, p = hfref.load_model_dir(argv[0])
    ab, scale = load_lora(argv[1], cfg)
    gpt2 = cfg["model_type"] == "gpt2"
    for mod, (a, b) in ab.items():
        delta = scale * (b @ a)            # [out, in]
        p[mod + ".weight"] = p[mod + ".weight"] + (delta.t() if gpt2 else delta)
    hfref.write_model_dir(argv[2], cfg, p)


def gpt2(argv):
    cfg = hfref.make_config("gpt2", hidden=32, heads=4, layers=2, vocab=50257, n_pos=64)
    cfg["bos_token_id"] = cfg["eos_token_id"] = 50256
    gen = torch.Generator().manual_seed(7)
    hfref.write_model_dir(argv[0], cfg, hfref.init_params(cfg, gen, std=0.5))


def bytes_to_unicode():
    """GPT-2's table from bytes to the printable characters in its vocabulary."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1))
          + list(range(ord("\xae"), ord("\xff") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def decode_text(encoder_json, ids):
    with open(encoder_json, encoding="utf-8") as f:
        enc = json.load(f)
    inv = {v: k for k, v in enc.items()}
    back = {c: b for b, c in bytes_to_unicode().items()}
    return bytes(back[c] for i in ids for c in inv[i]).decode("utf-8", errors="replace")


def decode(argv):
    sys.stdout.buffer.write(decode_text(argv[0], ids_of(argv[1])).encode("utf-8"))


if __name__ == "__main__":
    {"greedy": greedy, "probs": probs, "nucleus": nucleus, "merge": merge, "gpt2": gpt2,
     "decode": decode}[sys.argv[1]](sys.argv[2:])
