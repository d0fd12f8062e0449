#!/usr/bin/python3
"""Self-test of the PyTorch references: checks that would catch a bug in the
references themselves, each against something computed another way.

- autograd gradients against float64 central finite differences
- the prefix path: P = 0 equals no prefix; a prefix made of a real run's
  cached keys/values continues that run exactly (positions P..P+T-1, no
  rotation of the prefix keys)
- grouped-query attention equals multi-head attention with repeated k/v rows
- the rotary half layout equals a complex-number rotation of (x_i, x_{i+D/2})
- layers against torch.nn.functional (layer_norm, gelu tanh, cross_entropy)
- attention against a loop over positions; causality
- the safetensors writer against hand-decoded bytes; engine_ref.py's files
  reproduce its expected values and are deterministic
- the real stories260K checkpoint (Hugging Face layout) against the
  independent reference.tsv, when $FT_DATA_DIR holds it
- the training, LoRA and prefix references (when present) against their own
  hand-written variants (see the checks below)

Prints one line per check; exits 1 when any fails.
"""

import os
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import engine_ref  # noqa: E402
import hfref  # noqa: E402

FAILED = []


def check(name, ok, detail=""):
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, (": " + detail) if detail else ""))
    if not ok:
        FAILED.append(name)


def rel(a, b):
    a, b = a.double(), b.double()
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-30)).item()


# --- gradients -------------------------------------------------------------------

def fd_gradients(family, rope_scaling=None, P=3):
    cfg, params, tokens, targets, weights, prefix = engine_ref.build(
        family, 5, P, "f32", 2, 6, rope_scaling)
    _, _, grads = engine_ref.expected(cfg, params, tokens, targets, weights, prefix)
    pre = [list(kv) for kv in prefix] if prefix else None

    def loss():
        with torch.no_grad():
            lg = hfref.forward(cfg, params, tokens, prefix=pre)
            num, den = hfref.loss_terms(lg, targets, weights)
            return (num / den).item()

    gen = torch.Generator().manual_seed(9)
    names = sorted(params)
    picks = [n for n in names if "embed" in n or "wte" in n or "wpe" in n]
    picks += [names[int(i)] for i in torch.randint(0, len(names), (6,), generator=gen)]
    worst, h = 0.0, 1e-5
    for name in picks:
        t, g = params[name], grads["grad." + name]
        flat, gflat = t.view(-1), g.view(-1)
        idx = [int(gflat.abs().argmax())] + \
            [int(i) for i in torch.randint(0, flat.numel(), (2,), generator=gen)]
        for i in idx:
            old = flat[i].item()
            flat[i] = old + h
            up = loss()
            flat[i] = old - h
            down = loss()
            flat[i] = old
            fd = (up - down) / (2 * h)
            worst = max(worst, abs(fd - gflat[i].item()) / (1e-6 + abs(fd)))
    if pre is not None:
        for l in range(len(pre)):
            for j, kind in ((0, "key"), (1, "value")):
                t, g = pre[l][j], grads["grad.prefix.%d.%s" % (l, kind)]
                i = int(g.view(-1).abs().argmax())
                flat = t.view(-1)
                old = flat[i].item()
                flat[i] = old + h
                up = loss()
                flat[i] = old - h
                down = loss()
                flat[i] = old
                fd = (up - down) / (2 * h)
                worst = max(worst, abs(fd - g.view(-1)[i].item()) / (1e-6 + abs(fd)))
    tag = family + (" rope_scaling=" + rope_scaling if rope_scaling else "")
    check("gradient vs finite differences, %s, prefix %d" % (tag, P), worst < 1e-5,
          "worst relative error %.2e" % worst)


# --- prefix ----------------------------------------------------------------------

def prefix_checks(family):
    cfg, params, tokens, targets, weights, _ = engine_ref.build(family, 3, 0, "f32", 2, 9)
    d = hfref.Dims(cfg)
    empty = [(torch.zeros(d.kv_heads, 0, d.head_dim, dtype=torch.float64),) * 2
             for _ in range(d.layers)]
    a = hfref.forward(cfg, params, tokens)
    b = hfref.forward(cfg, params, tokens, prefix=empty)
    check("%s: an empty prefix equals no prefix" % family, rel(a, b) < 1e-14)

    # A prefix made of the cached keys/values of the first P tokens must
    # continue the run: the tokens after it sit at positions P.., their keys
    # are rotated at those positions, the prefix keys are not rotated again.
    P = 4
    cache = []
    full = hfref.forward(cfg, params, tokens, cache=cache)
    pre = [(k[:, :, :P], v[:, :, :P]) for k, v in cache]
    cont = hfref.forward(cfg, params, tokens[:, P:], prefix=pre)
    r = rel(cont, full[:, P:])
    check("%s: cached keys/values as prefix continue the run" % family, r < 1e-12,
          "relative difference %.1e" % r)

    # Each real token sees every prefix entry: perturbing the last prefix
    # value changes the first real token's logits.
    pre2 = [(k.clone(), v.clone()) for k, v in pre]
    pre2[0][1][:, :, -1] += 1.0
    cont2 = hfref.forward(cfg, params, tokens[:, P:], prefix=pre2)
    check("%s: the first real token attends to the whole prefix" % family,
          rel(cont2[:, 0], cont[:, 0]) > 1e-6)

    # Causality: changing the last token changes no earlier logits.
    t2 = tokens.clone()
    t2[:, -1] = (t2[:, -1] + 1) % d.vocab
    c = hfref.forward(cfg, params, t2)
    check("%s: causal (a later token changes no earlier logits)" % family,
          torch.equal(c[:, :-1], a[:, :-1]) and not torch.equal(c[:, -1], a[:, -1]))


def gqa_check():
    cfg, params, tokens, _, _, _ = engine_ref.build("llama", 4, 0, "f32", 2, 7)
    d = hfref.Dims(cfg)
    mha_cfg = dict(cfg, num_key_value_heads=d.heads)
    rep = d.heads // d.kv_heads
    mha = dict(params)
    for l in range(d.layers):
        for m in ("k_proj", "v_proj"):
            name = "model.layers.%d.self_attn.%s.weight" % (l, m)
            w = params[name].view(d.kv_heads, d.head_dim, d.hidden)
            # query head h reads kv head h // rep
            mha[name] = torch.stack([w[h // rep] for h in range(d.heads)]).reshape(-1, d.hidden)
    r = rel(hfref.forward(cfg, params, tokens), hfref.forward(mha_cfg, mha, tokens))
    check("llama: GQA equals MHA with kv rows repeated per query head", r < 1e-13,
          "relative difference %.1e" % r)


def rope_checks():
    gen = torch.Generator().manual_seed(2)
    D, T = 16, 11
    x = torch.randn(1, 3, T, D, generator=gen, dtype=torch.float64)
    inv = 1.0 / (10000.0 ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    pos = torch.arange(5, 5 + T)
    got = hfref.rope(x, pos, inv)
    z = torch.complex(x[..., :D // 2], x[..., D // 2:])
    ang = pos.double()[:, None] * inv[None, :]
    w = z * torch.polar(torch.ones_like(ang), ang)
    want = torch.cat((w.real, w.imag), dim=-1)
    check("rotary: half layout equals complex rotation of (x_i, x_i+D/2)",
          rel(got, want) < 1e-14)

    d = hfref.Dims(hfref.make_config("llama", rope_scaling="llama3"))
    f, base = hfref.rope_inv_freq(d), inv
    kept = torch.isclose(f, base, rtol=1e-15)
    divided = torch.isclose(f, base / 8, rtol=1e-15)
    smooth = ~(kept | divided)
    # wavelengths 2*pi/base: 6.3 (< 16: kept), 19.9 and 62.8 (between 16
    # and 64: smoothed), the rest (> 64) divided by the factor 8
    check("rotary: llama3 scaling keeps/smooths/divides as HF's formula",
          kept.tolist() == [True] + [False] * 7 and smooth.tolist()[1:3] == [True, True]
          and divided[3:].all().item()
          and bool((f[1:3] < base[1:3]).all()) and bool((f[1:3] > base[1:3] / 8).all()))

    # rotation is relative: shifting every position leaves q.k unchanged
    cfg, params, tokens, _, _, _ = engine_ref.build("llama", 4, 0, "f32", 1, 5, "llama3")
    cache = []
    hfref.forward(cfg, params, tokens, cache=cache)
    q = torch.randn(1, 2, 5, 16, generator=gen, dtype=torch.float64)
    k = torch.randn(1, 2, 5, 16, generator=gen, dtype=torch.float64)
    inv3 = hfref.rope_inv_freq(hfref.Dims(cfg))
    s0 = hfref.rope(q, torch.arange(5), inv3) @ hfref.rope(k, torch.arange(5), inv3).transpose(-1, -2)
    s7 = hfref.rope(q, torch.arange(7, 12), inv3) @ \
        hfref.rope(k, torch.arange(7, 12), inv3).transpose(-1, -2)
    check("rotary: scores depend only on relative positions", rel(s0, s7) < 1e-12)


def layer_checks():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(4, 10, generator=gen, dtype=torch.float64) * 3
    w = torch.randn(10, generator=gen, dtype=torch.float64)
    b = torch.randn(10, generator=gen, dtype=torch.float64)
    check("layer_norm equals F.layer_norm",
          rel(hfref.layer_norm(x, w, b, 1e-5), F.layer_norm(x, (10,), w, b, 1e-5)) < 1e-13)
    want = x / torch.sqrt((x * x).sum(-1, keepdim=True) / 10 + 1e-5) * w
    check("rms_norm equals x / sqrt(mean(x^2) + eps) * w",
          rel(hfref.rms_norm(x, w, 1e-5), want) < 1e-13)
    check("gelu_new equals F.gelu(approximate='tanh')",
          rel(hfref.gelu_new(x), F.gelu(x, approximate="tanh")) < 1e-13)

    # attention against a loop over query positions (GQA, prefix 2)
    B, H, Hkv, T, P, D = 2, 4, 2, 5, 2, 8
    q = torch.randn(B, H, T, D, generator=gen, dtype=torch.float64)
    k = torch.randn(B, Hkv, P + T, D, generator=gen, dtype=torch.float64)
    v = torch.randn(B, Hkv, P + T, D, generator=gen, dtype=torch.float64)
    got = hfref._attend(q, k, v, P, H // Hkv)
    want = torch.zeros_like(got)
    for bb in range(B):
        for h in range(H):
            for i in range(T):
                kk, vv = k[bb, h // 2, :P + i + 1], v[bb, h // 2, :P + i + 1]
                s = torch.softmax(kk @ q[bb, h, i] / D ** 0.5, dim=0)
                want[bb, h, i] = s @ vv
    check("attention equals a loop over positions (GQA, prefix)", rel(got, want) < 1e-13)

    # loss normalisation against F.cross_entropy
    logits = torch.randn(3, 4, 7, generator=gen, dtype=torch.float64)
    targets = torch.tensor([[1, 2, -1, 3], [-1, -1, 0, 6], [5, 5, 5, -1]])
    weights = torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)
    ce = F.cross_entropy(logits.reshape(-1, 7), targets.reshape(-1), ignore_index=-1,
                         reduction="none").view(3, 4)
    wt = weights[:, None] * (targets >= 0)
    want = (ce * wt).sum() / wt.sum()
    num, den = hfref.loss_terms(logits, targets, weights)
    check("loss: sum w*CE / sum w over targets equals F.cross_entropy's",
          abs((num / den).item() - want.item()) < 1e-14 and den.item() == 1 * 3 + 0.5 * 2 + 2 * 3)


# --- files -----------------------------------------------------------------------

def safetensors_checks(tmp):
    path = os.path.join(tmp, "t.safetensors")
    one = torch.tensor([1.0, -2.0], dtype=torch.float64)
    hfref.st_write(path, [("b", one, "BF16"), ("h", one, "F16"), ("f", one, "F32"),
                          ("i", torch.tensor([[7, -1]]), "I32")], {"format": "pt"})
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    data = raw[8 + n:]
    # bf16 1.0 = 0x3f80, -2.0 = 0xc000; f16 1.0 = 0x3c00, -2.0 = 0xc000;
    # f32 1.0 = 0x3f800000, -2.0 = 0xc0000000; i32 7, -1; little-endian
    want = bytes.fromhex("803f00c0" "003c00c0" "0000803f000000c0" "07000000ffffffff")
    check("safetensors: header padded to 8, data bytes as hand-decoded",
          n % 8 == 0 and data == want and raw[8:8 + n].rstrip(b" ").endswith(b"}"))
    t, meta = hfref.st_read(path)
    check("safetensors: read back", t["b"].tolist() == [1.0, -2.0]
          and t["i"].tolist() == [[7, -1]] and meta == {"format": "pt"})


def engine_ref_files(tmp):
    script = os.path.join(HERE, "engine_ref.py")
    for fam, dtype, extra in (("llama", "f16", []), ("gpt2", "bf16", ["--prefix", "2"]),
                              ("qwen2", "f32", []), ("llama", "f32", ["--rope-scaling", "llama3"])):
        outs = []
        for run in ((1, 2) if fam == "gpt2" else (1,)):
            out = os.path.join(tmp, "%s-%s-%d" % (fam, dtype, run))
            subprocess.run([sys.executable, script, "--family", fam, "--out", out,
                            "--dtype", dtype, "--seed", "7"] + extra, check=True)
            outs.append(out)
        if len(outs) == 2:
            same = all(open(os.path.join(outs[0], f), "rb").read() ==
                       open(os.path.join(outs[1], f), "rb").read()
                       for f in ("config.json", "model.safetensors", "expected.safetensors"))
            check("engine_ref %s %s: two runs write identical files" % (fam, dtype), same)
        cfg, params = hfref.load_model_dir(outs[0])
        exp, _ = hfref.st_read(os.path.join(outs[0], "expected.safetensors"))
        raw, _ = hfref.st_read(os.path.join(outs[0], "model.safetensors"))
        stored = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[dtype]
        pre = None
        if "--prefix" in extra:
            pre = [(exp["prefix.%d.key" % l].double(), exp["prefix.%d.value" % l].double())
                   for l in range(hfref.Dims(cfg).layers)]
        lg = hfref.forward(cfg, params, exp["tokens"].long(), prefix=pre)
        num, den = hfref.loss_terms(lg, exp["targets"].long(), exp["weights"].double())
        check("engine_ref %s %s: files reproduce the expected logits and loss" % (fam, dtype),
              rel(lg, exp["logits"]) < 1e-6 and abs((num / den).item() - exp["loss"].item()) < 1e-5
              and all(v.dtype == stored for k, v in raw.items())
              and (exp["targets"] == -1).any().item()
              and set("grad." + k for k in params) <= set(exp))


def real_checkpoint():
    data = os.environ.get("FT_DATA_DIR", os.path.join(HERE, "..", "..", "..", "shared", "data"))
    hf = os.path.join(data, "llama2c", "hf")
    tsv = os.path.join(data, "llama2c", "reference.tsv")
    if not (os.path.exists(os.path.join(hf, "model.safetensors")) and os.path.exists(tsv)):
        print("skip real checkpoint: no llama2c data in %s" % data)
        return
    cfg, params = hfref.load_model_dir(hf)
    ref = {}
    for line in open(tsv):
        if line.startswith("#") or not line.strip():
            continue
        f = line.rstrip("\n").split("\t")
        ref[f[0]] = f[1:]
    ids = [int(x) for x in ref["input"][0].split()]
    tok = torch.tensor([ids])
    lg = hfref.forward(cfg, params, tok)[0]
    worst = 0.0
    for i in range(len(ids)):
        for pair in ref["logits_top5_at_%d" % i][0].split():
            t, v = pair.split(":")
            worst = max(worst, abs(lg[i, int(t)].item() - float(v)) / abs(float(v)))
    lse = torch.logsumexp(lg, dim=-1)
    want = torch.tensor([float(x) for x in ref["logsumexp_per_position"][0].split()])
    worst = max(worst, rel(lse, want))
    ce = F.cross_entropy(lg[:-1], tok[0, 1:]).item()
    ce_ref = float(ref["mean_next_token_cross_entropy"][0])
    check("stories260K (HF layout): logits and logsumexp match reference.tsv", worst < 1e-7,
          "worst relative error %.1e" % worst)
    check("stories260K: mean next-token cross-entropy matches", abs(ce - ce_ref) < 1e-8)
    n, want_ids = int(ref["greedy_from_bos"][0]), [int(x) for x in ref["greedy_from_bos"][1].split()]
    seq = [1]
    for _ in range(n):
        seq.append(int(hfref.forward(cfg, params, torch.tensor([seq]))[0, -1].argmax()))
    check("stories260K: greedy ids from BOS match", seq[1:] == want_ids)


def main():
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        layer_checks()
        rope_checks()
        gqa_check()
        for fam in ("llama", "qwen2", "gpt2"):
            prefix_checks(fam)
        fd_gradients("llama", P=0)
        fd_gradients("llama", "llama3")
        fd_gradients("qwen2")
        fd_gradients("gpt2")
        safetensors_checks(tmp)
        engine_ref_files(tmp)
        real_checkpoint()
        for extra in ("selftest_train", "selftest_adapters"):
            if os.path.exists(os.path.join(HERE, extra + ".py")):
                __import__(extra).run(check, tmp)
    print("%d check(s) failed" % len(FAILED) if FAILED else "all checks passed")
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
