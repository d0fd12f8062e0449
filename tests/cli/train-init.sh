#!/bin/sh
# --init: the random start as Hugging Face makes it, read back from the
# written model (one update at rate 0 -- warm-up 1 -- leaves every weight as
# drawn; AdamW's decay is then lr x decay = 0 too). Worked out by hand:
#   GPT-2 (4 blocks, no initializer_range: 0.02): wte, wpe, c_attn, c_fc
#   normal(0, 0.02); attn.c_proj and mlp.c_proj normal(0, 0.02 / sqrt(2 x 4)
#   = 0.00707); LayerNorm weights 1, every bias 0;
#   Llama with initializer_range 0.05: every matrix and the embedding
#   normal(0, 0.05), RMSNorm weights 1.
# "normal": sample mean within 4 standard errors of 0, sample standard
# deviation within 4% of the target, and the share of values within one
# standard deviation within 0.02 of 0.6827. The draw follows --seed.
# Then the storage type: a bf16 and an f16 base (written here by Python from
# the f32 model, rounding to nearest even) train into models stored in bf16
# and f16; a tokenizer whose ids do not fit the model is refused up front.
set -u
: "${FT_ROOT:=$(pwd)}"
: "${FT_BIN:=$FT_ROOT/bin}"
PY=/usr/bin/python3
MP="$FT_ROOT/tests/cli/mpjson.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
status=0
fail() { echo "FAIL: $*"; status=1; }
train() { "$FT_BIN/ft-train" -j 1 -q --seq-len 16 -b 4 --max-steps 1 --warmup 1 "$@"; }

$PY -c '
import json
for r in range(8):
    print(json.dumps({"tokens": [(r + 3 * i) % 50 for i in range(17)]}))
' | $PY "$MP" enc >data.mp

cat >gpt2.json <<'EOF'
{"model_type": "gpt2", "n_embd": 128, "n_layer": 4, "n_head": 4, "n_positions": 64,
 "vocab_size": 512, "layer_norm_epsilon": 1e-5}
EOF
cat >llama.json <<'EOF'
{"model_type": "llama", "hidden_size": 128, "intermediate_size": 256,
 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "vocab_size": 512,
 "tie_word_embeddings": false, "initializer_range": 0.05}
EOF
train --init gpt2.json -o g data.mp || fail "gpt2 run"
train --init gpt2.json --seed 7 -o g7 data.mp || fail "gpt2 run, seed 7"
train --init llama.json -o l data.mp || fail "llama run"

cat >st.py <<'EOF'
# A safetensors file as {name: (dtype, shape, list of floats)}.
import json, math, struct
def read(path):
    f = open(path, "rb")
    n = struct.unpack("<Q", f.read(8))[0]
    head = json.loads(f.read(n))
    data = f.read()
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        raw = data[a:b]
        if v["dtype"] == "F32":
            vals = list(struct.unpack("<%df" % (len(raw) // 4), raw))
        elif v["dtype"] == "BF16":
            vals = [struct.unpack("<f", struct.pack("<I", h << 16))[0]
                    for h in struct.unpack("<%dH" % (len(raw) // 2), raw)]
        elif v["dtype"] == "F16":
            vals = list(struct.unpack("<%de" % (len(raw) // 2), raw))
        out[k] = (v["dtype"], v["shape"], vals)
    return out
def write(path, tensors, dtype):
    head, blobs, off = {}, [], 0
    for k, (shape, vals) in tensors.items():
        if dtype == "BF16":
            b = b"".join(struct.pack("<H", bf16(x)) for x in vals)
        else:
            b = struct.pack("<%de" % len(vals), *vals)
        head[k] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(head).encode()
    h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
def bf16(x):
    u = struct.unpack("<I", struct.pack("<f", x))[0]
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF
EOF

$PY - <<'EOF' || fail "GPT-2 and Llama initialisation"
import math, sys
sys.path.insert(0, ".")
from st import read
bad = []
def normal(name, v, std):
    n = len(v)
    mean = sum(v) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1))
    inside = sum(abs(x) <= std for x in v) / n
    if abs(mean) > 4 * std / math.sqrt(n) or abs(sd / std - 1) > 0.04 or abs(inside - 0.6827) > 0.02:
        bad.append("%s: mean %g sd %g (want %g), within 1 sd %.4f" % (name, mean, sd, std, inside))
def const(name, v, c):
    if any(x != c for x in v):
        bad.append("%s: not all %g" % (name, c))
g = read("g/model.safetensors")
g7 = read("g7/model.safetensors")
seen = set()
for k, (dt, shape, v) in g.items():
    if dt != "F32":
        bad.append("%s stored as %s (from scratch: F32)" % (k, dt))
    if k.endswith(".bias"):
        const(k, v, 0.0)
    elif ".ln_" in k or k.startswith("ln_f") or ".ln_f." in k:
        const(k, v, 1.0)
    elif "c_proj.weight" in k:
        normal(k, v, 0.02 / math.sqrt(8)); seen.add("c_proj")
    else:
        normal(k, v, 0.02); seen.add(k.split(".")[-2])
    if k in g7 and len(v) > 1000 and g7[k][2] == v:
        bad.append("%s: the same values with another seed" % k)
if not {"c_proj", "wte", "wpe", "c_attn", "c_fc"} <= seen:
    bad.append("tensors seen: %s" % sorted(seen))
l = read("l/model.safetensors")
for k, (dt, shape, v) in l.items():
    if k.endswith("norm.weight"):
        const(k, v, 1.0)
    else:
        normal(k, v, 0.05)
if len(l) != 1 + 2 * 9 + 1 + 1:
    bad.append("llama tensors: %d" % len(l))
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
train --init gpt2.json -o g0 data.mp || fail "gpt2 run again"
$PY -c '
import sys
sys.path.insert(0, ".")
from st import read
a, b = read("g/model.safetensors"), read("g0/model.safetensors")
sys.exit(0 if a == b else 1)' || fail "the same seed drew other weights"

# Storage types: bf16 and f16 bases give bf16 and f16 models.
for dt in BF16 F16; do
    mkdir "base-$dt"
    cp l/config.json "base-$dt/"
    $PY - "$dt" <<'EOF' || fail "writing the $dt base"
import sys
sys.path.insert(0, ".")
from st import read, write
t = read("l/model.safetensors")
write("base-%s/model.safetensors" % sys.argv[1], {k: (s, v) for k, (d, s, v) in t.items()}, sys.argv[1])
EOF
    train -m "base-$dt" --lr 1e-3 --warmup 0 -o "out-$dt" data.mp || fail "training the $dt base"
    $PY - "$dt" <<'EOF' || fail "$dt: output storage type"
import sys
sys.path.insert(0, ".")
from st import read
base, out = read("base-%s/model.safetensors" % sys.argv[1]), read("out-%s/model.safetensors" % sys.argv[1])
assert set(base) == set(out)
for k in out:
    assert out[k][0] == sys.argv[1], (k, out[k][0])
    assert out[k][1] == base[k][1], k
# it trained: a matrix moved
assert any(out[k][2] != base[k][2] for k in out if "proj" in k)
EOF
done

# A tokenizer with more ids than the model has rows: refused before reading.
$PY - <<'EOF'
import json
vocab = {chr(c): i for i, c in enumerate(range(0x21, 0x21 + 94))}
json.dump({"model": {"type": "BPE", "vocab": vocab, "merges": []},
           "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
           "added_tokens": []}, open("tok94.json", "w"))
EOF
cat >small.json <<'EOF'
{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2,
 "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "vocab_size": 50}
EOF
"$FT_BIN/ft-train" -j 1 --init small.json --tokenizer tok94.json -o o2 data.mp 2>err
rc=$?
[ "$rc" -eq 1 ] && [ "$(cat err)" = "ft-train: tok94.json: the tokenizer has 94 tokens, more than the model's vocabulary of 50" ] ||
    fail "tokenizer larger than the model: $rc $(cat err)"
[ ! -e o2 ] || fail "tokenizer larger than the model: output written"

exit $status
