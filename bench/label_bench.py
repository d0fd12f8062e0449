#!/usr/bin/python3
"""Label scoring in PyTorch, the reference of bench/run-label.sh.

  label_bench.py make DIR            a Llama of the stories15M shape (dim 288,
                                     hidden 768, 6 layers, 6 heads) with random
                                     weights and a byte-level tokenizer (ids =
                                     UTF-8 bytes, as tests/ref/score_ref.py)
  label_bench.py run DIR TEXTS N T   score the first N lines of TEXTS (a
                                     LABEL<TAB>TEXT file) against the words
                                     "bad" and "good" with T threads

Scoring is what ft-label does with the plain template: row = BOS + bytes of
the text + bytes of " " + word; the score is the sum of the word tokens'
log-probabilities. As ft does, texts go in chunks of 64, each chunk's rows
sorted by length and cut into batches of 8 padded on the right; under
torch.no_grad, float32, the classifier only on the positions that predict a
label token (what a careful PyTorch implementation does). Prints
"records<TAB>tokens<TAB>cpu_s<TAB>wall_s" of the timed pass (CPU time of
the process, all threads; the machine is shared, so CPU time is the figure
that means something).
"""

import math
import os
import sys
import time

sys.dont_write_bytecode = True
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))

import torch  # noqa: E402

import hfref  # noqa: E402
import score_ref  # noqa: E402

WORDS = ["bad", "good"]


def make(out):
    cfg = hfref.make_config("llama", hidden=288, heads=6, kv_heads=6, inter=768, layers=6,
                            vocab=260, n_pos=512)
    gen = torch.Generator().manual_seed(1)
    params = hfref.init_params(cfg, gen, std=0.02)
    hfref.write_model_dir(out, cfg, params)
    score_ref.write_tokenizer(out)


def load(path):
    cfg, p = hfref.load_model_dir(path)
    return cfg, {k: v.float() for k, v in p.items()}


def forward_hidden(cfg, p, tokens):
    """Final hidden states [B, T, C] of a Llama (MHA, half-rotation RoPE)."""
    B, T = tokens.shape
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]
    D = C // H
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
    ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None]
    cos, sin = torch.cat((ang, ang), -1).cos(), torch.cat((ang, ang), -1).sin()
    mask = torch.full((T, T), float("-inf")).triu(1)
    eps = cfg["rms_norm_eps"]

    def norm(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    def rot(x):
        x1, x2 = x[..., : D // 2], x[..., D // 2:]
        return x * cos + torch.cat((-x2, x1), -1) * sin

    x = p["model.embed_tokens.weight"][tokens]
    for l in range(cfg["num_hidden_layers"]):
        pre = "model.layers.%d." % l
        h = norm(x, p[pre + "input_layernorm.weight"])
        q = (h @ p[pre + "self_attn.q_proj.weight"].t()).view(B, T, H, D).transpose(1, 2)
        k = (h @ p[pre + "self_attn.k_proj.weight"].t()).view(B, T, H, D).transpose(1, 2)
        v = (h @ p[pre + "self_attn.v_proj.weight"].t()).view(B, T, H, D).transpose(1, 2)
        s = rot(q) @ rot(k).transpose(-1, -2) / math.sqrt(D) + mask
        a = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, T, C)
        x = x + a @ p[pre + "self_attn.o_proj.weight"].t()
        h = norm(x, p[pre + "post_attention_layernorm.weight"])
        g = h @ p[pre + "mlp.gate_proj.weight"].t()
        u = h @ p[pre + "mlp.up_proj.weight"].t()
        x = x + (torch.nn.functional.silu(g) * u) @ p[pre + "mlp.down_proj.weight"].t()
    return norm(x, p["model.norm.weight"])


def score_chunk(cfg, p, texts):
    head = p["lm_head.weight"] if "lm_head.weight" in p else p["model.embed_tokens.weight"]
    rows = []
    for i, t in enumerate(texts):
        for c, w in enumerate(WORDS):
            ids, n = score_ref.rows("plain", t, w)
            rows.append((len(ids), i, c, ids, n))
    rows.sort(key=lambda r: r[0])
    out = [[0.0] * len(WORDS) for _ in texts]
    for b in range(0, len(rows), 8):
        batch = rows[b:b + 8]
        T = max(r[0] for r in batch) - 1
        tok = torch.zeros(len(batch), T, dtype=torch.long)
        for j, r in enumerate(batch):
            tok[j, : r[0] - 1] = torch.tensor(r[3][:-1])
        hid = forward_hidden(cfg, p, tok)
        for j, (L, i, c, ids, n) in enumerate(batch):
            pos = torch.arange(L - 1 - n, L - 1)
            logp = torch.log_softmax(hid[j, pos] @ head.t(), -1)
            out[i][c] = float(logp[torch.arange(n), torch.tensor(ids[L - n:])].sum())
    return out, sum(r[0] for r in rows)


def run(path, texts_path, n, threads):
    torch.set_num_threads(threads)
    cfg, p = load(path)
    texts = []
    with open(texts_path, encoding="utf-8") as f:
        for line in f:
            texts.append(line.rstrip("\n").split("\t", 1)[1])
            if len(texts) == n:
                break
    with torch.no_grad():
        score_chunk(cfg, p, texts[:64])          # warm-up, untimed
        t0, c0, tokens = time.perf_counter(), time.process_time(), 0
        for c in range(0, len(texts), 64):
            _, k = score_chunk(cfg, p, texts[c:c + 64])
            tokens += k
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    print("%d\t%d\t%.3f\t%.3f" % (len(texts), tokens, cpu, wall))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
