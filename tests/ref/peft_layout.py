#!/usr/bin/python3
"""Check a LoRA adapter directory against PEFT 0.12.0's layout, independently
of ft: the config with Python's json, the safetensors header with a
hand-written parser (8-byte little-endian length, JSON, raw data).

    peft_layout.py ADAPTER_DIR --model MODEL_DIR --modules a,b,...
        [--r R] [--alpha A] [--rslora] [--targets NAME,...] [--layers 0,1]

--modules lists the expected module paths (Hugging Face names) in any order;
their shapes come from MODEL_DIR/config.json. Exit 0 when everything fits,
1 with one line per problem.

The table below is PEFT 0.12.0's LoraConfig as LoraConfig.to_dict() saves it
(docs: huggingface.co/docs/peft/v0.12.0/en/package_reference/lora, the
LoraConfig fields; PeftConfigMixin adds peft_type, task_type,
base_model_name_or_path, revision, auto_mapping, inference_mode), restricted
to the keys PEFT 0.10.0-0.12.0 write (use_dora since 0.9, layer_replication
since 0.10).
"""
import json
import struct
import sys
import argparse

sys.dont_write_bytecode = True

# key -> predicate on the value (what ft must write for a plain LoRA)
PEFT_0_12_LORA_KEYS = {
    "alpha_pattern": lambda v: v == {},
    "auto_mapping": lambda v: v is None,
    "base_model_name_or_path": lambda v: v is None or isinstance(v, str),
    "bias": lambda v: v == "none",
    "fan_in_fan_out": lambda v: isinstance(v, bool),
    "inference_mode": lambda v: v is True,
    "init_lora_weights": lambda v: v is True,
    "layer_replication": lambda v: v is None,
    "layers_pattern": lambda v: v is None,
    "layers_to_transform": lambda v: v is None or (isinstance(v, list) and
                                                   all(isinstance(x, int) for x in v)),
    "loftq_config": lambda v: v == {},
    "lora_alpha": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "lora_dropout": lambda v: isinstance(v, float),
    "megatron_config": lambda v: v is None,
    "megatron_core": lambda v: v == "megatron.core",
    "modules_to_save": lambda v: v is None,
    "peft_type": lambda v: v == "LORA",
    "r": lambda v: isinstance(v, int) and v > 0,
    "rank_pattern": lambda v: v == {},
    "revision": lambda v: v is None,
    "target_modules": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "task_type": lambda v: v == "CAUSAL_LM",
    "use_dora": lambda v: v is False,
    "use_rslora": lambda v: isinstance(v, bool),
}

DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8}


def read_header(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    return header, len(data) - 8 - n


def module_shape(cfg, path):
    """(out, in) of a module from the config: Hugging Face names and sizes."""
    name = path.split(".")[-1]
    if cfg["model_type"] == "gpt2":
        e = cfg["n_embd"]
        inner = cfg.get("n_inner") or 4 * e
        parent = path.split(".")[-2]
        return {"c_attn": (3 * e, e), "c_fc": (inner, e),
                "c_proj": (e, inner) if parent == "mlp" else (e, e)}[name]
    h = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = cfg.get("head_dim") or h // nh
    inter = cfg["intermediate_size"]
    return {"q_proj": (nh * hd, h), "k_proj": (nkv * hd, h), "v_proj": (nkv * hd, h),
            "o_proj": (h, nh * hd), "gate_proj": (inter, h), "up_proj": (inter, h),
            "down_proj": (h, inter), "lm_head": (cfg["vocab_size"], h)}[name]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("adapter")
    ap.add_argument("--model", required=True)
    ap.add_argument("--modules", required=True)
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16)
    ap.add_argument("--rslora", action="store_true")
    ap.add_argument("--targets")
    ap.add_argument("--layers")
    a = ap.parse_args()
    bad = []

    with open(a.model + "/config.json") as f:
        mcfg = json.load(f)
    with open(a.adapter + "/adapter_config.json") as f:
        cfg = json.load(f)

    # config: exactly the table's keys, each value of the expected kind
    for k in sorted(set(cfg) - set(PEFT_0_12_LORA_KEYS)):
        bad.append("adapter_config.json: key %r is not one PEFT 0.12.0 writes" % k)
    for k, ok in PEFT_0_12_LORA_KEYS.items():
        if k not in cfg:
            bad.append("adapter_config.json: key %r missing" % k)
        elif not ok(cfg[k]):
            bad.append("adapter_config.json: %r has value %r" % (k, cfg[k]))
    if cfg.get("r") != a.r:
        bad.append("r is %r, expected %d" % (cfg.get("r"), a.r))
    if cfg.get("lora_alpha") != a.alpha:
        bad.append("lora_alpha is %r, expected %g" % (cfg.get("lora_alpha"), a.alpha))
    if cfg.get("use_rslora") != a.rslora:
        bad.append("use_rslora is %r" % cfg.get("use_rslora"))
    if cfg.get("fan_in_fan_out") != (mcfg["model_type"] == "gpt2"):
        bad.append("fan_in_fan_out is %r for %s" % (cfg.get("fan_in_fan_out"),
                                                    mcfg["model_type"]))
    if a.targets is not None and sorted(cfg.get("target_modules", [])) != \
            sorted(a.targets.split(",")):
        bad.append("target_modules is %r, expected %s" % (cfg.get("target_modules"),
                                                           a.targets))
    want_layers = [int(x) for x in a.layers.split(",")] if a.layers else None
    if cfg.get("layers_to_transform") != want_layers:
        bad.append("layers_to_transform is %r" % (cfg.get("layers_to_transform"),))

    # tensors: names, shapes, dtypes, and offsets that tile the data
    header, data_len = read_header(a.adapter + "/adapter_model.safetensors")
    meta = header.pop("__metadata__", {})
    if meta.get("format") != "pt":
        bad.append("__metadata__ format is %r" % meta.get("format"))
    want = {}
    for path in a.modules.split(","):
        out_f, in_f = module_shape(mcfg, path)
        want["base_model.model.%s.lora_A.weight" % path] = [a.r, in_f]
        want["base_model.model.%s.lora_B.weight" % path] = [out_f, a.r]
    for name in sorted(set(header) - set(want)):
        bad.append("unexpected tensor %s" % name)
    for name in sorted(set(want) - set(header)):
        bad.append("missing tensor %s" % name)
    spans = []
    for name, t in header.items():
        if name in want and t["shape"] != want[name]:
            bad.append("%s: shape %r, expected %r" % (name, t["shape"], want[name]))
        if t["dtype"] != "F32":
            bad.append("%s: dtype %s" % (name, t["dtype"]))
        b, e = t["data_offsets"]
        n = 1
        for d in t["shape"]:
            n *= d
        if e - b != n * DTYPE_BYTES.get(t["dtype"], 0):
            bad.append("%s: %d bytes for %d elements" % (name, e - b, n))
        spans.append((b, e))
    spans.sort()
    pos = 0
    for b, e in spans:
        if b != pos:
            bad.append("data offsets leave a gap or overlap at %d" % b)
        pos = e
    if pos != data_len:
        bad.append("data area is %d bytes, tensors cover %d" % (data_len, pos))

    for line in bad:
        print(line)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
