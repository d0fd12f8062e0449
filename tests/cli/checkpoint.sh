#!/bin/sh
# Model checkpoints as programs meet them (issue 3), through ft-gen: the
# stories260K Hugging Face directory split into two shards with a
# model.safetensors.index.json gives reference.tsv's greedy ids; and each
# kind of bad checkpoint is one line on stderr naming the file and the
# problem, exit 1: a truncated safetensors file, a header cut short, a shape
# that needs more bytes than data_offsets give, offsets past the end, two
# tensors that overlap, an unknown dtype, a config without a required key,
# an unsupported model_type or rope_scaling kind, a shard index naming a
# missing file. The bad files are made here from the good one by a few lines
# of Python that know only the safetensors layout (8-byte length, JSON
# header, data).
: "${FT_BIN:?}" "${FT_ROOT:?}"
data=${FT_DATA_DIR:-$FT_ROOT/../shared/data}
PY=/usr/bin/python3
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
status=0
fail() { echo "FAIL: $*"; status=1; }
run() { "$@" >out 2>err; rc=$?; }
expect() {
    [ "$rc" -eq "$2" ] || fail "$1: exit status $rc, expected $2 ($(cat err))"
    [ "$(wc -l <err)" -eq 1 ] || fail "$1: stderr is not one line: $(cat err)"
    grep -qF -- "$3" err || fail "$1: stderr lacks '$3': $(cat err)"
    [ ! -s out ] || fail "$1: wrote to stdout: $(cat out)"
}

if ! [ -f "$data/llama2c/hf/model.safetensors" ]; then
    echo "skipped: no shared data at $data"
    exit 77
fi
HF=$data/llama2c/hf
want=$(awk -F'\t' '$1 == "greedy_from_bos" { print $3 }' "$data/llama2c/reference.tsv")

$PY - "$HF" <<'EOF' || fail "making the test checkpoints"
import copy, json, os, shutil, struct, sys
src = sys.argv[1]
raw = open(os.path.join(src, "model.safetensors"), "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr, body = json.loads(raw[8:8 + n]), raw[8 + n:]
names = [k for k in hdr if k != "__metadata__"]
config = json.load(open(os.path.join(src, "config.json")))

def st(header, data):
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data

def model(name, header=hdr, data=body, cut=None, cfg=None):
    os.makedirs(name)
    blob = st(header, data)
    open(os.path.join(name, "model.safetensors"), "wb").write(blob[:cut])
    c = copy.deepcopy(config)
    if cfg:
        cfg(c)
    json.dump(c, open(os.path.join(name, "config.json"), "w"))

def edit(fn):
    h = copy.deepcopy(hdr)
    fn(h)
    return h

# two good shards: even-numbered tensors in the first, the rest in the second
os.makedirs("shards")
parts = [names[0::2], names[1::2]]
files = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
weight_map = {}
for part, fname in zip(parts, files):
    h, data = {"__metadata__": {"format": "pt"}}, b""
    for k in part:
        a, b = hdr[k]["data_offsets"]
        h[k] = dict(hdr[k], data_offsets=[len(data), len(data) + b - a])
        data += body[a:b]
        weight_map[k] = fname
    open(os.path.join("shards", fname), "wb").write(st(h, data))
json.dump({"metadata": {}, "weight_map": weight_map},
          open("shards/model.safetensors.index.json", "w"))
shutil.copy(os.path.join(src, "config.json"), "shards/config.json")
shutil.copytree("shards", "noshard")
os.remove("noshard/" + files[1])

first = names[0]
model("truncated", cut=len(raw) - 100)
model("headercut", cut=8 + n // 2)
model("size", header=edit(lambda h: h[first].update(
    shape=[2 * h[first]["shape"][0]] + h[first]["shape"][1:])))
model("offsets", header=edit(lambda h: h[first].update(
    data_offsets=[x + len(body) for x in h[first]["data_offsets"]])))
def overlap(h):
    a, b = h[names[1]]["data_offsets"]
    start = h[names[0]]["data_offsets"][0]
    h[names[1]]["data_offsets"] = [start, start + b - a]
model("overlap", header=edit(overlap))
model("dtype", header=edit(lambda h: h[first].update(dtype="X9")))
model("nokey", cfg=lambda c: c.pop("hidden_size"))
model("mtype", cfg=lambda c: c.update(model_type="bert"))
model("rope", cfg=lambda c: c.update(rope_scaling={"rope_type": "yarn", "factor": 4.0}))
print(first, file=open("first.txt", "w"))
EOF
first=$(cat first.txt)

got=$("$FT_BIN/ft-gen" -m shards --ids 1 -n 40 --temp 0 --print-ids)
[ "$got" = "$want" ] || fail "shards: got '$got'"

gen() { run "$FT_BIN/ft-gen" -m "$1" --ids 1 --print-ids -n 3; }
gen truncated
expect "truncated file" 1 "truncated/model.safetensors: tensor"
grep -q "truncated" err || fail "truncated file: the message does not say so"
gen headercut
expect "header cut short" 1 "headercut/model.safetensors: header length"
gen size
expect "shape larger than its bytes" 1 \
    "size/model.safetensors: tensor \"$first\": shape needs 262144 bytes of F32 but data_offsets give 131072"
gen offsets
expect "offsets past the end" 1 "offsets/model.safetensors: tensor \"$first\": data ends at byte"
gen overlap
expect "overlapping tensors" 1 "overlap/model.safetensors: tensors"
grep -q "overlap$" err || fail "overlap: the message does not say so: $(cat err)"
gen dtype
expect "unknown dtype" 1 "dtype/model.safetensors: tensor \"$first\": unknown dtype \"X9\""
gen nokey
expect "missing config key" 1 "nokey/config.json: missing required key \"hidden_size\""
gen mtype
expect "model_type" 1 "mtype/config.json: model_type \"bert\" is not supported"
gen rope
expect "rope_scaling" 1 "rope/config.json: rope_scaling type \"yarn\" is not supported"
gen noshard
expect "missing shard" 1 \
    "noshard/model.safetensors.index.json: names \"model-00002-of-00002.safetensors\", which is missing"
exit $status
