"""Self-test of lora_ref.py and prefix_ref.py (called from selftest.py).

LoRA: the adapter forward equals the base with merged weights (PEFT's merge:
W + s*B@A, transposed for GPT-2's Conv1D), the init matches
torch.nn.init.kaiming_uniform_'s bound, the files have PEFT's names, shapes
and config keys, the trajectory equals a hand-written loop, the round-trip
logits come back from the files through merged weights.
Prefix: the layout equals PEFT's get_prompt view/permute/split restated, the
MLP equals torch.nn modules loaded with its weights, the trajectory equals a
hand-written loop, the expected logits come back from the files.
"""

import json
import math
import os
import subprocess
import sys

import torch

import hfref
from selftest_train import HP_KEYS, compare_steps, hand_loop, load_batches

HERE = os.path.dirname(os.path.abspath(__file__))

PEFT_LORA_KEYS = {
    "alpha_pattern", "auto_mapping", "base_model_name_or_path", "bias", "fan_in_fan_out",
    "inference_mode", "init_lora_weights", "layer_replication", "layers_pattern",
    "layers_to_transform", "loftq_config", "lora_alpha", "lora_dropout", "megatron_config",
    "megatron_core", "modules_to_save", "peft_type", "r", "rank_pattern", "revision",
    "target_modules", "task_type", "use_dora", "use_rslora"}
PEFT_PREFIX_KEYS = {
    "auto_mapping", "base_model_name_or_path", "encoder_hidden_size", "inference_mode",
    "num_attention_heads", "num_layers", "num_transformer_submodules", "num_virtual_tokens",
    "peft_type", "prefix_projection", "revision", "task_type", "token_dim"}


def merged(cfg, base, ab, scale):
    """Base weights with every adapter folded in, as PEFT's merge does."""
    p = dict(base)
    for path, (a, b) in ab.items():
        delta = scale * (b @ a)                       # [out, in]
        if cfg["model_type"] == "gpt2":
            delta = delta.t()                         # Conv1D stores [in, out]
        p[path + ".weight"] = p[path + ".weight"] + delta
    return p


def load_adapter(dirname):
    t, _ = hfref.st_read(os.path.join(dirname, "adapter_model.safetensors"))
    ab = {}
    for k, v in t.items():
        path = k[len("base_model.model."):].rsplit(".lora_", 1)[0]
        a = t["base_model.model.%s.lora_A.weight" % path].double()
        b = t["base_model.model.%s.lora_B.weight" % path].double()
        ab[path] = (a, b)
    return ab, json.load(open(os.path.join(dirname, "adapter_config.json")))


def lora_checks(check, tmp):
    gain = torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5))
    gen = torch.Generator().manual_seed(1)
    a = hfref.kaiming_uniform_a_sqrt5(4, 64, gen)
    bound = gain * math.sqrt(3.0 / 64)
    check("lora: A's bound equals kaiming_uniform_(a=sqrt(5))'s (%.4f)" % bound,
          abs(bound - 1 / 8) < 1e-12 and float(a.abs().max()) <= bound
          and float(a.abs().max()) > 0.9 * bound)

    script = os.path.join(HERE, "lora_ref.py")
    runs = (("llama", ["--targets", "all-linear"]), ("gpt2", ["--targets", "all-linear"]),
            ("qwen2", ["--rslora", "--layers", "1"]))
    for fam, extra in runs:
        out = os.path.join(tmp, "lora-%s" % fam)
        subprocess.run([sys.executable, script, "--family", fam, "--out", out,
                        "--steps", "5", "--seed", "2", "--clip", "1.0"] + extra, check=True)
        plan = json.load(open(os.path.join(out, "trajectory.json")))
        cfg, base = hfref.load_model_dir(os.path.join(out, "model"))
        init, conf = load_adapter(os.path.join(out, "init_adapter"))
        scale = conf["lora_alpha"] / (math.sqrt(conf["r"]) if conf["use_rslora"] else conf["r"])
        tag = "lora %s %s" % (fam, " ".join(extra))

        # layout: PEFT's keys, names and shapes ([r, in] and [out, r], also Conv1D)
        shapes_ok = True
        for path, fin, fout, _ in hfref.linear_modules(cfg):
            if path in init:
                shapes_ok &= init[path][0].shape == (conf["r"], fin)
                shapes_ok &= init[path][1].shape == (fout, conf["r"])
                shapes_ok &= not bool(init[path][1].any())
        check("%s: PEFT config keys, tensor names and shapes, B zero" % tag,
              set(conf) == PEFT_LORA_KEYS and shapes_ok and len(init) == len(plan["modules"])
              and conf["fan_in_fan_out"] == (fam == "gpt2")
              and abs(plan["scale"] - scale) < 1e-15)

        # the round-trip adapter: LoRA forward, merged weights, stored logits
        rt, _ = load_adapter(os.path.join(out, "roundtrip"))
        exp, _ = hfref.st_read(os.path.join(out, "roundtrip", "expected.safetensors"))
        tok = exp["tokens"].long()
        with torch.no_grad():
            via_lora = hfref.forward(cfg, base, tok, lora=hfref.Lora(rt, scale))
            via_merge = hfref.forward(cfg, merged(cfg, base, rt, scale), tok)
            plain = hfref.forward(cfg, base, tok)
        r1 = float((via_lora - via_merge).abs().max() / via_merge.abs().max())
        r2 = float((exp["logits"].double() - via_merge).abs().max() / via_merge.abs().max())
        check("%s: adapter forward equals merged weights; round-trip logits" % tag,
              r1 < 1e-12 and r2 < 1e-6 and float((plain - via_merge).abs().max()) > 1e-3,
              "%.1e %.1e" % (r1, r2))

        # the trajectory against a hand-written loop
        names = sorted(init)
        start = {}
        for path in names:
            start[hfref.lora_key(path, "A")], start[hfref.lora_key(path, "B")] = init[path]

        def logits_of(leaves):
            ab = {p: (leaves[hfref.lora_key(p, "A")], leaves[hfref.lora_key(p, "B")])
                  for p in names}
            return lambda tk: hfref.forward(cfg, base, tk, lora=hfref.Lora(ab, scale))

        hand = hand_loop(start, logits_of, load_batches(out), {k: plan[k] for k in HP_KEYS})
        worst = compare_steps(out, plan, hand, list(start))
        check("%s: trajectory equals a hand-written loop" % tag, worst < 1e-6,
              "worst relative difference %.1e" % worst)


def prefix_checks(check, tmp):
    script = os.path.join(HERE, "prefix_ref.py")
    for fam, H in (("llama", 0), ("llama", 16), ("gpt2", 8)):
        out = os.path.join(tmp, "prefix-%s-%d" % (fam, H))
        subprocess.run([sys.executable, script, "--family", fam, "--out", out,
                        "--steps", "5", "--clip", "0.5", "--projection", str(H)], check=True)
        plan = json.load(open(os.path.join(out, "trajectory.json")))
        cfg, base = hfref.load_model_dir(os.path.join(out, "model"))
        d = hfref.Dims(cfg)
        ad = os.path.join(out, "init_adapter")
        conf = json.load(open(os.path.join(ad, "adapter_config.json")))
        pe = hfref.st_read(os.path.join(ad, "adapter_model.safetensors"))[0]["prompt_embeddings"]
        N, td = conf["num_virtual_tokens"], conf["token_dim"]
        tag = "prefix %s projection %d" % (fam, H)
        check("%s: PEFT config keys; prompt_embeddings [N, layers*2*token_dim]" % tag,
              set(conf) == PEFT_PREFIX_KEYS and tuple(pe.shape) == (N, d.layers * 2 * td)
              and conf["num_attention_heads"] == d.kv_heads and td == d.kv_heads * d.head_dim)

        # PEFT's get_prompt, restated: view(B, N, L*2, H, D).permute(2,0,3,1,4).split(2)
        B = 2
        pkv = pe.double()[None].expand(B, -1, -1).reshape(
            B, N, d.layers * 2, conf["num_attention_heads"], td // conf["num_attention_heads"])
        pkv = pkv.permute([2, 0, 3, 1, 4]).split(2)
        mine = hfref.prefix_from_embeddings(cfg, pe.double())
        same = all(torch.equal(pkv[l][0][b], mine[l][0]) and torch.equal(pkv[l][1][b], mine[l][1])
                   for l in range(d.layers) for b in range(B))
        check("%s: layer/key-value/head/dim order equals PEFT's get_prompt" % tag, same)

        exp, _ = hfref.st_read(os.path.join(out, "expected.safetensors"))
        with torch.no_grad():
            lg = hfref.forward(cfg, base, exp["tokens"].long(), prefix=mine)
        r = float((lg - exp["logits"].double()).abs().max() / lg.abs().max())
        check("%s: expected logits come back from the files" % tag, r < 1e-6, "%.1e" % r)

        if H:
            enc = hfref.st_read(os.path.join(ad, "prefix_encoder.safetensors"))[0]
            emb = torch.nn.Embedding(N, td).double()
            mlp = torch.nn.Sequential(torch.nn.Linear(td, H), torch.nn.Tanh(),
                                      torch.nn.Linear(H, d.layers * 2 * td)).double()
            with torch.no_grad():
                emb.weight.copy_(enc["prompt_encoder.embedding.weight"])
                for i in (0, 2):
                    mlp[i].weight.copy_(enc["prompt_encoder.transform.%d.weight" % i])
                    mlp[i].bias.copy_(enc["prompt_encoder.transform.%d.bias" % i])
                want = mlp(emb(torch.arange(N)))
            r = float((want - pe.double()).abs().max() / want.abs().max())
            check("%s: stored prompt_embeddings = torch.nn MLP output" % tag, r < 1e-6)
            start = {k: v.double() for k, v in enc.items()}
        else:
            start = {"prompt_embeddings": pe.double()}

        def logits_of(leaves):
            def fn(tk):
                if "prompt_embeddings" in leaves:
                    e = leaves["prompt_embeddings"]
                else:
                    h = torch.tanh(leaves["prompt_encoder.embedding.weight"]
                                   @ leaves["prompt_encoder.transform.0.weight"].t()
                                   + leaves["prompt_encoder.transform.0.bias"])
                    e = (h @ leaves["prompt_encoder.transform.2.weight"].t()
                         + leaves["prompt_encoder.transform.2.bias"])
                return hfref.forward(cfg, base, tk, prefix=hfref.prefix_from_embeddings(cfg, e))
            return fn

        hand = hand_loop(start, logits_of, load_batches(out), {k: plan[k] for k in HP_KEYS})
        worst = compare_steps(out, plan, hand, list(start))
        check("%s: trajectory equals a hand-written loop" % tag, worst < 1e-6,
              "worst relative difference %.1e" % worst)


def run(check, tmp):
    lora_checks(check, tmp)
    prefix_checks(check, tmp)
