#!/usr/bin/python3
"""PyTorch side of ft's engine and training benchmarks.

Forward + backward + AdamW steps of a Llama-style model (random weights,
tied classifier, RMSNorm, rotary, GQA, SwiGLU) written with ordinary PyTorch
modules the way a PyTorch user would, in float32, for the stories260K and
stories15M shapes and the modes full, lora (r 8 on q,k,v,o), prefix (16 per
layer) and freeze (top 2 blocks and the final norm; tied embeddings frozen).
AdamW sees the trainable parameters only.

Each (shape, mode) runs once per threading setting, each run in its own
process (OMP_WAIT_POLICY only takes effect at start-up), and the best
setting is reported. Output is TSV on stdout, one line per run and one
"best" line per (shape, mode):

    # kind shape mode setting tokens_per_s peak_rss_mib steps cpu_tokens_per_s
    run   stories15M full passive-t2 1187.3 1412.5 5 640.2
    best  stories15M full passive-t2 1187.3 1412.5 5 640.2

peak_rss_mib is the process's peak resident set (getrusage), interpreter
included; cpu_tokens_per_s (last column) divides the tokens by the CPU time
of the timed steps (all threads of the process: time.process_time), the
figure that a busy machine disturbs least. Progress goes to stderr.
"""

import argparse
import math
import os
import resource
import subprocess
import sys
import time

sys.dont_write_bytecode = True

SHAPES = {
    # dim, hidden, layers, heads, kv heads, vocab
    "stories260K": dict(dim=64, hidden=172, layers=5, heads=8, kv_heads=4, vocab=512),
    "stories15M": dict(dim=288, hidden=768, layers=6, heads=6, kv_heads=6, vocab=32000),
}
MODES = ("full", "lora", "prefix", "freeze")
SETTINGS = {
    "default": {},
    "t1": {"OMP_NUM_THREADS": "1"},
    "t2": {"OMP_NUM_THREADS": "2"},
    "passive-t1": {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"},
    "passive-t2": {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"},
}


def build_model(shape, mode, seq, lora_r=8, prefix_len=16, freeze_top=2):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    s = SHAPES[shape]
    E, H, Hkv, D = s["dim"], s["heads"], s["kv_heads"], s["dim"] // s["heads"]

    class RMSNorm(nn.Module):
        def __init__(self, n, eps=1e-5):
            super().__init__()
            self.weight, self.eps = nn.Parameter(torch.ones(n)), eps

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight

    class LoraLinear(nn.Module):
        """PEFT-style: base(x) + alpha/r * B(A(x)), A Kaiming-uniform, B zero."""

        def __init__(self, base, r, alpha=16):
            super().__init__()
            self.base, self.scale = base, alpha / r
            self.lora_A = nn.Linear(base.in_features, r, bias=False)
            self.lora_B = nn.Linear(r, base.out_features, bias=False)
            nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
            nn.init.zeros_(self.lora_B.weight)

        def forward(self, x):
            return self.base(x) + self.scale * self.lora_B(self.lora_A(x))

    inv = 1.0 / (10000.0 ** (torch.arange(0, D, 2).float() / D))
    P = prefix_len if mode == "prefix" else 0
    freqs = torch.arange(P, P + seq).float()[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((seq, P + seq), float("-inf")).triu(P + 1)

    def rot(x):
        h = x.shape[-1] // 2
        return x * cos + torch.cat((-x[..., h:], x[..., :h]), dim=-1) * sin

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.input_layernorm = RMSNorm(E)
            self.q_proj = nn.Linear(E, H * D, bias=False)
            self.k_proj = nn.Linear(E, Hkv * D, bias=False)
            self.v_proj = nn.Linear(E, Hkv * D, bias=False)
            self.o_proj = nn.Linear(H * D, E, bias=False)
            self.post_attention_layernorm = RMSNorm(E)
            self.gate_proj = nn.Linear(E, s["hidden"], bias=False)
            self.up_proj = nn.Linear(E, s["hidden"], bias=False)
            self.down_proj = nn.Linear(s["hidden"], E, bias=False)
            self.prefix = None

        def forward(self, x):
            B, T, _ = x.shape
            h = self.input_layernorm(x)
            q = rot(self.q_proj(h).view(B, T, H, D).transpose(1, 2))
            k = rot(self.k_proj(h).view(B, T, Hkv, D).transpose(1, 2))
            v = self.v_proj(h).view(B, T, Hkv, D).transpose(1, 2)
            if self.prefix is not None:
                k = torch.cat((self.prefix[0].expand(B, -1, -1, -1), k), dim=2)
                v = torch.cat((self.prefix[1].expand(B, -1, -1, -1), v), dim=2)
            if Hkv != H:
                k = k.repeat_interleave(H // Hkv, dim=1)
                v = v.repeat_interleave(H // Hkv, dim=1)
            a = (q @ k.transpose(-1, -2)) / math.sqrt(D) + mask
            a = torch.softmax(a, dim=-1) @ v
            x = x + self.o_proj(a.transpose(1, 2).reshape(B, T, H * D))
            h = self.post_attention_layernorm(x)
            return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed_tokens = nn.Embedding(s["vocab"], E)
            self.layers = nn.ModuleList(Block() for _ in range(s["layers"]))
            self.norm = RMSNorm(E)
            for p in self.parameters():
                if p.dim() == 2:
                    nn.init.normal_(p, 0.0, 0.02)

        def forward(self, tokens, targets):
            x = self.embed_tokens(tokens)
            for blk in self.layers:
                x = blk(x)
            logits = self.norm(x) @ self.embed_tokens.weight.t()
            return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))

    torch.manual_seed(0)
    model = Model()
    if mode == "full":
        return model, list(model.parameters())
    for p in model.parameters():
        p.requires_grad_(False)
    if mode == "lora":
        train = []
        for blk in model.layers:
            for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
                m = LoraLinear(getattr(blk, name), lora_r)
                setattr(blk, name, m)
                train += [m.lora_A.weight, m.lora_B.weight]
        return model, train
    if mode == "prefix":
        train = []
        for blk in model.layers:
            blk.prefix = nn.Parameter(torch.randn(2, 1, Hkv, P, D))
            train.append(blk.prefix)
        return model, train
    if mode == "freeze":
        train = list(model.norm.parameters())
        for blk in model.layers[-freeze_top:]:
            train += list(blk.parameters())
        for p in train:
            p.requires_grad_(True)
        return model, train
    raise ValueError(mode)


def worker(a):
    """One run in this process: prints one TSV line."""
    import torch

    n = os.environ.get("OMP_NUM_THREADS")
    if n:
        torch.set_num_threads(int(n))
    model, train = build_model(a.shape, a.mode, a.seq)
    opt = torch.optim.AdamW(train, lr=1e-4, weight_decay=0.01)
    gen = torch.Generator().manual_seed(1)
    V = SHAPES[a.shape]["vocab"]
    data = torch.randint(0, V, (a.batch, a.seq + 1), generator=gen)
    tokens, targets = data[:, :-1].contiguous(), data[:, 1:].contiguous()

    def step():
        loss = model(tokens, targets)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    for _ in range(a.warmup):
        step()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(a.steps):
        step()
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    tps = a.steps * a.batch * a.seq / dt
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("run\t%s\t%s\t%s\t%.1f\t%.1f\t%d\t%.1f" % (a.shape, a.mode, a.setting, tps, rss,
                                                     a.steps, a.steps * a.batch * a.seq / dc))


def main():
    ap = argparse.ArgumentParser(
        description="PyTorch forward+backward+AdamW tokens/s and peak RSS for the "
        "stories260K and stories15M shapes, best of several threading settings.")
    ap.add_argument("--shapes", default="stories260K,stories15M",
                    help="comma list of " + ",".join(SHAPES))
    ap.add_argument("--modes", default=",".join(MODES), help="comma list of " + ",".join(MODES))
    ap.add_argument("--settings", default=",".join(SETTINGS),
                    help="comma list of " + ",".join(SETTINGS))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=0,
                    help="timed steps per run (default: 20 for stories260K, 5 for stories15M)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per setting (the machine is noisy; each is printed)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--shape", help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    ap.add_argument("--setting", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(a)
        return

    shapes, modes, settings = a.shapes.split(","), a.modes.split(","), a.settings.split(",")
    for name, allowed in ((shapes, SHAPES), (modes, MODES), (settings, SETTINGS)):
        for x in name:
            if x not in allowed:
                ap.error("unknown %s (choose from %s)" % (x, ",".join(allowed)))
    base_env = {k: v for k, v in os.environ.items()
                if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS")}
    print("# kind\tshape\tmode\tsetting\ttokens_per_s\tpeak_rss_mib\tsteps\tcpu_tokens_per_s")
    sys.stdout.flush()
    for shape in shapes:
        steps = a.steps or (20 if shape == "stories260K" else 5)
        for mode in modes:
            runs = []
            for setting in settings * max(1, a.repeat):
                print("torch_engine: %s %s %s ..." % (shape, mode, setting), file=sys.stderr)
                cmd = [sys.executable, os.path.abspath(__file__), "--worker",
                       "--shape", shape, "--mode", mode, "--setting", setting,
                       "--batch", str(a.batch), "--seq", str(a.seq),
                       "--steps", str(steps), "--warmup", str(a.warmup)]
                env = dict(base_env, **SETTINGS[setting])
                out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE,
                                     universal_newlines=True).stdout.strip()
                print(out)
                sys.stdout.flush()
                runs.append(out.split("\t"))
            best = max(runs, key=lambda r: float(r[4]))
            print("best\t" + "\t".join(best[1:]))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
