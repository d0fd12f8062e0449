"""Shared code of ft's PyTorch reference programs (tests/ref/*.py).

Everything here is written from the Hugging Face formulas, independently of
ft: a small safetensors writer and reader, a msgpack record writer, tiny
random checkpoints in Hugging Face names and conventions, and functional
float64 models of the llama/mistral/qwen2 and gpt2 families with optional
PEFT-style prefixes (past_key_values) and LoRA adapters.

It deliberately reads no file ft wrote and imports nothing from ft. Models
are functions of a dict {Hugging Face tensor name: tensor}, so the same code
serves full training, freeze, LoRA and prefix tuning.
"""

import json
import math
import os
import struct
import sys

import torch

# --- safetensors: 8-byte little-endian header length, JSON header, raw data --

_ST_DTYPES = {
    "F64": (torch.float64, 8), "F32": (torch.float32, 4),
    "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2),
    "I64": (torch.int64, 8), "I32": (torch.int32, 4),
    "I16": (torch.int16, 2), "I8": (torch.int8, 1), "U8": (torch.uint8, 1),
}
_TORCH_TO_ST = {v[0]: k for k, v in _ST_DTYPES.items()}
STORAGE = {"f32": "F32", "f16": "F16", "bf16": "BF16"}


def _tensor_bytes(t):
    """Raw little-endian bytes of a contiguous CPU tensor (bf16 via int16)."""
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    if sys.byteorder != "little":
        raise RuntimeError("the references assume a little-endian machine")
    return t.numpy().tobytes()


def st_write(path, tensors, metadata=None):
    """Write tensors (a list of (name, tensor, dtype name)) as safetensors.

    Tensors are written in the order given; the JSON header is padded with
    spaces to a multiple of 8 bytes, as the safetensors library does. The
    file is written to a temporary name and renamed into place.
    """
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t, dt in tensors:
        if name in header:
            raise ValueError("duplicate tensor name %s" % name)
        data = _tensor_bytes(t.to(_ST_DTYPES[dt][0]))
        header[name] = {"dtype": dt, "shape": list(t.shape),
                        "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def st_read(path):
    """Read a safetensors file: ({name: tensor in its stored dtype}, metadata)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode())
    meta = header.pop("__metadata__", {})
    base, out = 8 + n, {}
    for name, h in header.items():
        dtype, size = _ST_DTYPES[h["dtype"]]
        a, b = h["data_offsets"]
        count = 1
        for d in h["shape"]:
            count *= d
        if b - a != count * size or base + b > len(raw):
            raise ValueError("%s: tensor %s: bad data_offsets" % (path, name))
        buf = bytearray(raw[base + a:base + b])
        if dtype == torch.bfloat16:
            t = torch.frombuffer(buf, dtype=torch.int16).view(torch.bfloat16)
        elif count == 0:
            t = torch.zeros(0, dtype=dtype)
        else:
            t = torch.frombuffer(buf, dtype=dtype)
        out[name] = t.reshape(h["shape"]).clone()
    return out, meta


# --- msgpack records (only what the references write) -------------------------

def _mp(obj, out):
    if obj is None:
        out.append(0xC0)
    elif obj is True or obj is False:
        out.append(0xC3 if obj else 0xC2)
    elif isinstance(obj, int):
        if 0 <= obj < 128:
            out.append(obj)
        elif -32 <= obj < 0:
            out.append(obj & 0xFF)
        elif 0 <= obj < 2**32:
            out += b"\xce" + struct.pack(">I", obj)
        else:
            out += b"\xd3" + struct.pack(">q", obj)
    elif isinstance(obj, float):
        out += b"\xcb" + struct.pack(">d", obj)
    elif isinstance(obj, str):
        s = obj.encode()
        if len(s) < 32:
            out.append(0xA0 | len(s))
        else:
            out += b"\xdb" + struct.pack(">I", len(s))
        out += s
    elif isinstance(obj, (list, tuple)):
        out += b"\xdd" + struct.pack(">I", len(obj))
        for x in obj:
            _mp(x, out)
    elif isinstance(obj, dict):
        out += b"\xdf" + struct.pack(">I", len(obj))
        for k, v in obj.items():
            _mp(str(k), out)
            _mp(v, out)
    else:
        raise TypeError("cannot encode %r" % (obj,))


def msgpack_records(records):
    """Encode a list of dicts as a msgpack record stream (maps back to back)."""
    out = bytearray()
    for r in records:
        _mp(r, out)
    return bytes(out)


# --- configs -------------------------------------------------------------------

FAMILIES = ("llama", "mistral", "qwen2", "gpt2")


def make_config(family, rope_scaling=None, **sizes):
    """A Hugging Face config.json dict of a tiny model of the family.

    Default sizes are the ones of ref-contract.md; keyword arguments
    (hidden, heads, kv_heads, inter, layers, vocab, n_pos, head_dim) override
    them (the benchmarks use this for the stories shapes). head_dim defaults
    to hidden / heads; another value makes q_proj [heads*head_dim, hidden].
    """
    s = dict(hidden=64, heads=4, kv_heads=2, inter=96, layers=2, vocab=97, n_pos=64)
    s.update(sizes)
    if family == "gpt2":
        return {
            "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
            "n_embd": s["hidden"], "n_head": s["heads"], "n_layer": s["layers"],
            "n_inner": None, "vocab_size": s["vocab"], "n_positions": s["n_pos"],
            "n_ctx": s["n_pos"], "layer_norm_epsilon": 1e-5,
            "activation_function": "gelu_new", "resid_pdrop": 0.0,
            "embd_pdrop": 0.0, "attn_pdrop": 0.0, "scale_attn_weights": True,
            "tie_word_embeddings": True, "bos_token_id": 1, "eos_token_id": 2,
            "torch_dtype": "float32",
        }
    if family not in ("llama", "mistral", "qwen2"):
        raise ValueError("unknown family %s" % family)
    arch = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM",
            "qwen2": "Qwen2ForCausalLM"}[family]
    cfg = {
        "architectures": [arch], "model_type": family,
        "hidden_size": s["hidden"], "intermediate_size": s["inter"],
        "num_hidden_layers": s["layers"], "num_attention_heads": s["heads"],
        "num_key_value_heads": s["kv_heads"],
        "head_dim": s.get("head_dim") or s["hidden"] // s["heads"], "hidden_act": "silu",
        "vocab_size": s["vocab"], "max_position_embeddings": s["n_pos"],
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": None,
        "tie_word_embeddings": False, "attention_bias": False,
        "attention_dropout": 0.0, "mlp_bias": False, "bos_token_id": 1,
        "eos_token_id": 2, "torch_dtype": "float32",
    }
    if family == "qwen2":
        cfg.update({"rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
                    "tie_word_embeddings": True, "use_sliding_window": False,
                    "sliding_window": None, "max_window_layers": s["layers"]})
        del cfg["attention_bias"], cfg["mlp_bias"]
    if family == "mistral":
        cfg["sliding_window"] = None
        del cfg["attention_bias"], cfg["mlp_bias"]
    if rope_scaling == "llama3":
        if family != "llama":
            raise ValueError("llama3 rope_scaling is for the llama family")
        cfg["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0,
                               "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                               "original_max_position_embeddings": 64}
    elif rope_scaling is not None:
        raise ValueError("unknown rope_scaling %s" % rope_scaling)
    return cfg


class Dims:
    """The sizes a forward pass needs, read from a Hugging Face config dict."""

    def __init__(self, cfg):
        self.family = cfg["model_type"]
        self.gpt2 = self.family == "gpt2"
        if self.gpt2:
            self.hidden, self.heads = cfg["n_embd"], cfg["n_head"]
            self.kv_heads, self.layers = self.heads, cfg["n_layer"]
            self.inter = cfg.get("n_inner") or 4 * self.hidden
            self.n_pos = cfg["n_positions"]
            self.eps = cfg["layer_norm_epsilon"]
            self.head_dim = self.hidden // self.heads
            self.tied = True
        else:
            self.hidden, self.heads = cfg["hidden_size"], cfg["num_attention_heads"]
            self.kv_heads = cfg.get("num_key_value_heads") or self.heads
            self.layers, self.inter = cfg["num_hidden_layers"], cfg["intermediate_size"]
            self.n_pos = cfg["max_position_embeddings"]
            self.eps = cfg["rms_norm_eps"]
            self.head_dim = cfg.get("head_dim") or self.hidden // self.heads
            self.tied = bool(cfg.get("tie_word_embeddings", False))
            self.theta = float(cfg.get("rope_theta", 10000.0))
            self.rope_scaling = cfg.get("rope_scaling")
        self.vocab = cfg["vocab_size"]
        self.qkv_bias = self.family == "qwen2" or bool(cfg.get("attention_bias"))


def param_shapes(cfg):
    """[(Hugging Face name, shape)] in checkpoint order; buffers excluded."""
    d = Dims(cfg)
    E, V, I, D = d.hidden, d.vocab, d.inter, d.head_dim
    out = []
    if d.gpt2:
        out += [("transformer.wte.weight", (V, E)), ("transformer.wpe.weight", (d.n_pos, E))]
        for l in range(d.layers):
            p = "transformer.h.%d." % l
            out += [(p + "ln_1.weight", (E,)), (p + "ln_1.bias", (E,)),
                    (p + "attn.c_attn.weight", (E, 3 * E)), (p + "attn.c_attn.bias", (3 * E,)),
                    (p + "attn.c_proj.weight", (E, E)), (p + "attn.c_proj.bias", (E,)),
                    (p + "ln_2.weight", (E,)), (p + "ln_2.bias", (E,)),
                    (p + "mlp.c_fc.weight", (E, I)), (p + "mlp.c_fc.bias", (I,)),
                    (p + "mlp.c_proj.weight", (I, E)), (p + "mlp.c_proj.bias", (E,))]
        out += [("transformer.ln_f.weight", (E,)), ("transformer.ln_f.bias", (E,))]
        return out
    out.append(("model.embed_tokens.weight", (V, E)))
    for l in range(d.layers):
        p = "model.layers.%d." % l
        out.append((p + "input_layernorm.weight", (E,)))
        for m, rows in (("q", d.heads * D), ("k", d.kv_heads * D), ("v", d.kv_heads * D)):
            out.append((p + "self_attn.%s_proj.weight" % m, (rows, E)))
            if d.qkv_bias:
                out.append((p + "self_attn.%s_proj.bias" % m, (rows,)))
        out += [(p + "self_attn.o_proj.weight", (E, d.heads * D)),
                (p + "post_attention_layernorm.weight", (E,)),
                (p + "mlp.gate_proj.weight", (I, E)), (p + "mlp.up_proj.weight", (I, E)),
                (p + "mlp.down_proj.weight", (E, I))]
    out.append(("model.norm.weight", (E,)))
    if not d.tied:
        out.append(("lm_head.weight", (V, E)))
    return out


def is_norm_or_bias(name):
    """True for biases and norm weights (Hugging Face trainers do not decay them)."""
    return (name.endswith(".bias") or "norm" in name or ".ln_" in name
            or name.startswith("transformer.ln_f"))


def init_params(cfg, gen, std=0.2):
    """Random float64 parameters: weights normal(0, std), norm weights
    1 + normal(0, 0.1), biases normal(0, 0.1), drawn in checkpoint order."""
    params = {}
    for name, shape in param_shapes(cfg):
        z = torch.randn(shape, generator=gen, dtype=torch.float64)
        if name.endswith(".bias"):
            params[name] = 0.1 * z
        elif is_norm_or_bias(name):
            params[name] = 1.0 + 0.1 * z
        else:
            params[name] = std * z
    return params


def round_to(t, storage):
    """Round float64 values to a storage type (f32/f16/bf16), back in float64."""
    dt = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[storage]
    return t.to(dt).to(torch.float64)


def write_model_dir(out, cfg, params, storage="f32", metadata=None):
    """config.json + model.safetensors (with GPT-2's attn.bias buffers)."""
    os.makedirs(out, exist_ok=True)
    cfg = dict(cfg)
    cfg["torch_dtype"] = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[storage]
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    dt, d = STORAGE[storage], Dims(cfg)
    tensors = []
    for name, _ in param_shapes(cfg):
        tensors.append((name, params[name], dt))
        if d.gpt2 and name.endswith("attn.c_proj.bias"):
            mask = torch.tril(torch.ones(d.n_pos, d.n_pos)).view(1, 1, d.n_pos, d.n_pos)
            tensors.append((name.replace("c_proj.bias", "bias"), mask, dt))
    st_write(os.path.join(out, "model.safetensors"), tensors,
             metadata if metadata is not None else {"format": "pt"})


def load_model_dir(path):
    """(config dict, {name: float64 tensor}) of a model directory; buffers and
    a missing "transformer." prefix are handled, lm_head kept only if untied."""
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    raw, _ = st_read(os.path.join(path, "model.safetensors"))
    params = {}
    want = dict(param_shapes(cfg))
    for name, t in raw.items():
        if cfg["model_type"] == "gpt2" and not name.startswith("transformer."):
            name = "transformer." + name
        if name in want:
            params[name] = t.to(torch.float64)
    missing = set(want) - set(params)
    if missing:
        raise ValueError("%s: missing tensors %s" % (path, sorted(missing)))
    return cfg, params


# --- the models ------------------------------------------------------------------

def rope_inv_freq(d):
    """Inverse frequencies [head_dim/2], with Llama 3 scaling when configured."""
    D = d.head_dim
    inv = 1.0 / (d.theta ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    rs = d.rope_scaling
    if not rs:
        return inv
    kind = rs.get("rope_type", rs.get("type"))
    if kind != "llama3":
        raise ValueError("unsupported rope_scaling %s" % kind)
    factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old = rs["original_max_position_embeddings"]
    lo_wavelen, hi_wavelen = old / lo, old / hi
    out = inv.clone()
    for i, f in enumerate(inv.tolist()):
        wavelen = 2 * math.pi / f
        if wavelen < hi_wavelen:
            out[i] = f
        elif wavelen > lo_wavelen:
            out[i] = f / factor
        else:
            smooth = (old / wavelen - lo) / (hi - lo)
            out[i] = (1 - smooth) * f / factor + smooth * f
    return out


def rotate_half(x):
    """Hugging Face's rotation: the first half pairs with the second half."""
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope(x, positions, inv_freq):
    """x [B, H, T, D] rotated at positions [T] (HF half layout)."""
    freqs = positions.to(torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return x * emb.cos().to(x.dtype) + rotate_half(x) * emb.sin().to(x.dtype)


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = (x - mu).pow(2).mean(-1, keepdim=True)
    return (x - mu) * torch.rsqrt(var + eps) * w + b


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


class Lora:
    """LoRA adapters as PEFT applies them: y = base(x) + scale * B(A(x)).

    ab maps a module path (e.g. "model.layers.0.self_attn.q_proj") to a pair
    (A [r, in], B [out, r]) in PEFT's orientation, also for GPT-2's Conv1D
    (PEFT's fan_in_fan_out transposes the base weight, never A or B).
    """

    def __init__(self, ab, scale):
        self.ab, self.scale = ab, scale


def _linear(p, name, x, lora, conv1d=False):
    """x @ W^T + b for nn.Linear ([out, in]); x @ W + b for Conv1D ([in, out])."""
    w = p[name + ".weight"]
    y = x @ w if conv1d else x @ w.t()
    b = p.get(name + ".bias")
    if b is not None:
        y = y + b
    if lora is not None and name in lora.ab:
        a, bm = lora.ab[name]
        y = y + lora.scale * ((x @ a.t()) @ bm.t())
    return y


def _attend(q, k, v, n_prefix, n_rep):
    """Causal attention; q [B,H,T,D], k/v [B,Hkv,P+T,D], first P keys visible to all."""
    B, H, T, D = q.shape
    if n_rep > 1:
        k = k[:, :, None].expand(B, k.shape[1], n_rep, k.shape[2], D).reshape(B, H, -1, D)
        v = v[:, :, None].expand(B, v.shape[1], n_rep, v.shape[2], D).reshape(B, H, -1, D)
    s = (q @ k.transpose(-1, -2)) / math.sqrt(D)
    i = torch.arange(T)[:, None]
    j = torch.arange(n_prefix + T)[None, :]
    allowed = j <= i + n_prefix
    s = s.masked_fill(~allowed, float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def forward(cfg, p, tokens, prefix=None, lora=None, cache=None):
    """Logits [B, T, V] of the model with parameters p on tokens [B, T].

    prefix: None or a list per layer of (key, value), each [Hkv, P, D] (or
    [B, Hkv, P, D]): PEFT's past_key_values. Prefix keys are not rotated;
    real tokens take positions P..P+T-1 (GPT-2's learned positions too).
    cache: None or a list that receives per layer the (key, value) attended
    to, [B, Hkv, P+T, D], keys rotated: what Hugging Face keeps as its cache.
    """
    d = Dims(cfg)
    B, T = tokens.shape
    P = 0 if prefix is None else prefix[0][0].shape[-2]
    pos = torch.arange(P, P + T)
    H, Hkv, D = d.heads, d.kv_heads, d.head_dim

    def heads(y, n):
        return y.view(B, T, n, D).transpose(1, 2)

    def with_prefix(l, k, v):
        if prefix is not None:
            pk, pv = prefix[l]
            if pk.dim() == 3:
                pk, pv = pk[None].expand(B, *pk.shape), pv[None].expand(B, *pv.shape)
            k, v = torch.cat((pk, k), dim=2), torch.cat((pv, v), dim=2)
        if cache is not None:
            cache.append((k, v))
        return k, v

    if d.gpt2:
        x = p["transformer.wte.weight"][tokens] + p["transformer.wpe.weight"][pos][None]
        for l in range(d.layers):
            pre = "transformer.h.%d." % l
            h = layer_norm(x, p[pre + "ln_1.weight"], p[pre + "ln_1.bias"], d.eps)
            qkv = _linear(p, pre + "attn.c_attn", h, lora, conv1d=True)
            q, k, v = qkv.split(d.hidden, dim=-1)
            k, v = with_prefix(l, heads(k, H), heads(v, H))
            a = _attend(heads(q, H), k, v, P, 1).transpose(1, 2).reshape(B, T, H * D)
            x = x + _linear(p, pre + "attn.c_proj", a, lora, conv1d=True)
            h = layer_norm(x, p[pre + "ln_2.weight"], p[pre + "ln_2.bias"], d.eps)
            h = gelu_new(_linear(p, pre + "mlp.c_fc", h, lora, conv1d=True))
            x = x + _linear(p, pre + "mlp.c_proj", h, lora, conv1d=True)
        x = layer_norm(x, p["transformer.ln_f.weight"], p["transformer.ln_f.bias"], d.eps)
        return x @ p["transformer.wte.weight"].t()

    inv_freq = rope_inv_freq(d)
    x = p["model.embed_tokens.weight"][tokens]
    for l in range(d.layers):
        pre = "model.layers.%d." % l
        h = rms_norm(x, p[pre + "input_layernorm.weight"], d.eps)
        q = rope(heads(_linear(p, pre + "self_attn.q_proj", h, lora), H), pos, inv_freq)
        k = rope(heads(_linear(p, pre + "self_attn.k_proj", h, lora), Hkv), pos, inv_freq)
        v = heads(_linear(p, pre + "self_attn.v_proj", h, lora), Hkv)
        k, v = with_prefix(l, k, v)
        a = _attend(q, k, v, P, H // Hkv).transpose(1, 2).reshape(B, T, H * D)
        x = x + _linear(p, pre + "self_attn.o_proj", a, lora)
        h = rms_norm(x, p[pre + "post_attention_layernorm.weight"], d.eps)
        g = _linear(p, pre + "mlp.gate_proj", h, lora)
        u = _linear(p, pre + "mlp.up_proj", h, lora)
        x = x + _linear(p, pre + "mlp.down_proj", torch.nn.functional.silu(g) * u, lora)
    x = rms_norm(x, p["model.norm.weight"], d.eps)
    head = p["model.embed_tokens.weight"] if d.tied else p["lm_head.weight"]
    return x @ head.t()


def loss_terms(logits, targets, weights):
    """(sum of weight x token cross-entropy, sum of weight x target tokens).

    targets [B, T] with -1 where there is no loss; weights [B]. The loss of
    a global batch is the first summed over all its micro-batches divided by
    the second summed likewise (DESIGN.md's normalisation).
    """
    mask = targets >= 0
    logp = torch.log_softmax(logits, dim=-1)
    tok = -logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    w = weights.to(logits.dtype)[:, None].expand_as(tok)
    num = (tok * w * mask).sum()
    den = (w * mask).sum()
    return num, den


# --- training: data and the AdamW loop ------------------------------------------

def make_lm_records(vocab, eos, seq_len, n_rows, gen, weights=(1.0, 0.5, 2.0, 1.5)):
    """n_rows token-id records, each of which is exactly one training row.

    Each record is 3..seq_len+1 tokens drawn from [3, vocab) and ending with
    eos (so no EOS is appended), and its weight differs from its neighbours'
    (so a packer that keeps one weight per row never joins two records).
    Under --task lm packing (windows of seq_len+1 tokens; a window ends where
    the weight changes) record i is row i: input tokens[:-1], targets
    tokens[1:]. Returns [{"id", "tokens", "weight"}].
    """
    recs, prev = [], None
    for i in range(n_rows):
        n = int(torch.randint(3, seq_len + 2, (1,), generator=gen))
        if i % 3 == 0:
            n = seq_len + 1
        toks = torch.randint(3, vocab, (n - 1,), generator=gen).tolist() + [eos]
        choices = [w for w in weights if w != prev]
        w = choices[int(torch.randint(0, len(choices), (1,), generator=gen))]
        prev = w
        recs.append({"id": "r%d" % i, "tokens": toks, "weight": w})
    return recs


def records_to_batches(records, steps, accum, batch, seq_len):
    """Rows in stream order, batch rows per micro-batch, accum micro-batches
    per step: [[(tokens [B, T], targets [B, T], weights [B]) x accum] x steps].
    Short rows are padded with token 0 and target -1."""
    out, r = [], 0
    for _ in range(steps):
        micro = []
        for _ in range(accum):
            tk = torch.zeros(batch, seq_len, dtype=torch.long)
            tg = torch.full((batch, seq_len), -1, dtype=torch.long)
            w = torch.zeros(batch, dtype=torch.float64)
            for b in range(batch):
                toks = records[r]["tokens"]
                tk[b, :len(toks) - 1] = torch.tensor(toks[:-1])
                tg[b, :len(toks) - 1] = torch.tensor(toks[1:])
                w[b] = records[r]["weight"]
                r += 1
            micro.append((tk, tg, w))
        out.append(micro)
    return out


def write_records(out_dir, records):
    """data.mp (msgpack records) and data.jsonl (the same, as JSON lines)."""
    with open(os.path.join(out_dir, "data.mp"), "wb") as f:
        f.write(msgpack_records(records))
    with open(os.path.join(out_dir, "data.jsonl"), "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


def write_batches(path, batches):
    """The rows the reference trained on: tokens/targets I32 [S, A, B, T], weights F32 [S, A, B]."""
    tk = torch.stack([torch.stack([m[0] for m in s]) for s in batches])
    tg = torch.stack([torch.stack([m[1] for m in s]) for s in batches])
    w = torch.stack([torch.stack([m[2] for m in s]) for s in batches])
    st_write(path, [("tokens", tk, "I32"), ("targets", tg, "I32"), ("weights", w, "F32")],
             {"format": "pt"})


def lr_lambda(schedule, warmup, total):
    """Hugging Face's get_{constant,linear,cosine}_schedule_with_warmup factor
    for the update numbered step (0-based): the first update has rate 0
    whenever warmup > 0."""
    def f(step):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        if schedule == "constant":
            return 1.0
        if schedule == "linear":
            return max(0.0, float(total - step) / float(max(1, total - warmup)))
        progress = float(step - warmup) / float(max(1, total - warmup))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))
    return f


def train_adamw(trainable, logits_fn, batches, hp, on_step):
    """The reference loop: torch.optim.AdamW + LambdaLR + clip_grad_norm_.

    trainable: {name: leaf tensor requiring grad}; tensors with 2+ dims decay,
    1-dim ones (biases, norm weights) do not. logits_fn(tokens) -> logits.
    Per step, every micro-batch's sum of weight x token loss is divided by
    the sum of weight x targets over the whole step (all micro-batches), and
    gradients accumulate; then clipping, the update, the schedule. on_step
    (k, info) is called after update k (1-based) with loss, lr, grad_norm.
    """
    decay = [t for t in trainable.values() if t.dim() >= 2]
    nodecay = [t for t in trainable.values() if t.dim() < 2]
    groups = [g for g in ({"params": decay, "weight_decay": hp["weight_decay"]},
                          {"params": nodecay, "weight_decay": 0.0}) if g["params"]]
    opt = torch.optim.AdamW(groups, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]),
                            eps=hp["eps"])
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lr_lambda(hp["schedule"], hp["warmup"], len(batches)))
    params = list(trainable.values())
    for k, micro in enumerate(batches, start=1):
        den = sum(float((w[:, None] * (tg >= 0)).sum()) for _, tg, w in micro)
        total = 0.0
        for tk, tg, w in micro:
            num, _ = loss_terms(logits_fn(tk), tg, w)
            (num / den).backward()
            total += float(num)
        if hp["clip"] > 0:
            norm = float(torch.nn.utils.clip_grad_norm_(params, hp["clip"]))
        else:
            norm = float(torch.norm(torch.stack([p.grad.norm() for p in params])))
        lr = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        on_step(k, {"step": k, "loss": total / den, "lr": lr, "grad_norm": norm,
                    "clipped": bool(hp["clip"] > 0 and norm > hp["clip"])},
                opt)


# --- PEFT layouts (pinned release: see ref-contract.md) -------------------------

LORA_DEFAULT_TARGETS = {"llama": ["q_proj", "v_proj"], "mistral": ["q_proj", "v_proj"],
                        "qwen2": ["q_proj", "v_proj"], "gpt2": ["c_attn"]}


def linear_modules(cfg):
    """[(module path, in, out, conv1d)] of every linear layer but the classifier."""
    d, out = Dims(cfg), []
    E, I, D = d.hidden, d.inter, d.head_dim
    for l in range(d.layers):
        if d.gpt2:
            p = "transformer.h.%d." % l
            out += [(p + "attn.c_attn", E, 3 * E, True), (p + "attn.c_proj", E, E, True),
                    (p + "mlp.c_fc", E, I, True), (p + "mlp.c_proj", I, E, True)]
        else:
            p = "model.layers.%d." % l
            out += [(p + "self_attn.q_proj", E, d.heads * D, False),
                    (p + "self_attn.k_proj", E, d.kv_heads * D, False),
                    (p + "self_attn.v_proj", E, d.kv_heads * D, False),
                    (p + "self_attn.o_proj", d.heads * D, E, False),
                    (p + "mlp.gate_proj", E, I, False), (p + "mlp.up_proj", E, I, False),
                    (p + "mlp.down_proj", I, E, False)]
    return out


def lora_modules(cfg, targets, layers=None):
    """The modules PEFT wraps for target_modules names (suffix match on the
    last path segment) restricted to the blocks in layers (None: all)."""
    out = []
    for path, fin, fout, conv in linear_modules(cfg):
        block = int(path.split(".")[2])  # model.layers.N... or transformer.h.N...
        if path.split(".")[-1] in targets and (layers is None or block in layers):
            out.append((path, fin, fout, conv))
    return out


def lora_key(path, which):
    """PEFT's saved tensor name: base_model.model.<path>.lora_A.weight."""
    return "base_model.model.%s.lora_%s.weight" % (path, which)


def kaiming_uniform_a_sqrt5(rows, cols, gen):
    """nn.init.kaiming_uniform_(w, a=sqrt(5)) for w [rows, cols]: U(-b, b),
    b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + 5)): b = 1 / sqrt(cols)."""
    b = 1.0 / math.sqrt(cols)
    return (torch.rand(rows, cols, generator=gen, dtype=torch.float64) * 2 - 1) * b


def lora_config_json(cfg, r, alpha, targets, rslora, layers, base_name="model"):
    """adapter_config.json as PEFT (>= 0.10, pinned 0.12.0) writes it for LoRA."""
    return {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": base_name,
        "bias": "none", "fan_in_fan_out": cfg["model_type"] == "gpt2",
        "inference_mode": True, "init_lora_weights": True, "layer_replication": None,
        "layers_pattern": None, "layers_to_transform": layers, "loftq_config": {},
        "lora_alpha": alpha, "lora_dropout": 0.0, "megatron_config": None,
        "megatron_core": "megatron.core", "modules_to_save": None, "peft_type": "LORA",
        "r": r, "rank_pattern": {}, "revision": None, "target_modules": sorted(targets),
        "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": rslora,
    }


def prefix_config_json(cfg, n_virtual, projection_hidden, base_name="model"):
    """adapter_config.json as PEFT (pinned 0.12.0, GQA-aware) writes it for
    prefix tuning: token_dim = head_dim x kv heads, num_attention_heads = kv heads."""
    d = Dims(cfg)
    token_dim = d.head_dim * d.kv_heads
    return {
        "auto_mapping": None, "base_model_name_or_path": base_name,
        "encoder_hidden_size": projection_hidden or token_dim, "inference_mode": True,
        "num_attention_heads": d.kv_heads, "num_layers": d.layers,
        "num_transformer_submodules": 1, "num_virtual_tokens": n_virtual,
        "peft_type": "PREFIX_TUNING", "prefix_projection": bool(projection_hidden),
        "revision": None, "task_type": "CAUSAL_LM", "token_dim": token_dim,
    }


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def prefix_from_embeddings(cfg, pe):
    """PEFT's past_key_values from prompt_embeddings [N, layers*2*token_dim]:
    view [N, layers*2, kv heads, head_dim], so layer l's key is slot 2l and
    its value slot 2l+1; returns [(key, value)] each [Hkv, N, D]."""
    d = Dims(cfg)
    e = pe.view(pe.shape[0], d.layers * 2, d.kv_heads, d.head_dim).permute(1, 2, 0, 3)
    return [(e[2 * l], e[2 * l + 1]) for l in range(d.layers)]
