#!/bin/sh
# ft-convert: the GGUF files it writes as the independent reader
# @huggingface/gguf sees them, against tables written from llama.cpp's
# conventions (gguf-py/gguf/constants.py Keys and TENSOR_NAMES;
# convert_hf_to_gguf.py: Model.set_gguf_parameters writes block_count,
# context_length, embedding_length, feed_forward_length, head_count,
# head_count_kv, rope.freq_base, layer_norm_rms_epsilon / layer_norm_epsilon
# and file_type, LlamaModel adds vocab_size and rope.dimension_count, a tied
# llama has no output.weight, GPT2Model copies token_embd into output.weight,
# 1-D tensors and position_embd stay F32, "none" marks a missing vocabulary);
# the byte oracle of stories260K (llama2.c's wq/wk rows are already in the
# adjacent-pair order llama.cpp's LlamaModel.permute makes); round trips;
# and each kind of bad input and usage error.
: "${FT_BIN:?}" "${FT_ROOT:?}"
data=${FT_DATA_DIR:-$FT_ROOT/../shared/data}
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
status=0
fail() { echo "FAIL: $*"; status=1; }
conv() { "$FT_BIN/ft-convert" -q "$@"; }

if ! [ -f "$FT_ROOT/tests/node/node_modules/@huggingface/gguf/package.json" ] ||
    ! node --version >/dev/null 2>&1; then
    echo "skipped: no node or tests/node/node_modules (@huggingface/gguf)"
    exit 77
fi
if ! [ -f "$data/llama2c/stories260K.bin" ]; then
    echo "skipped: no shared data at $data"
    exit 77
fi
dump() { node "$FT_ROOT/tests/node/gguf-dump.mjs" "$@"; }

# table NAME GGUF: compare what @huggingface/gguf reports (tensor offsets
# left out) with NAME.want, both sorted: every key, value, type, tensor
# name, dimension list (fastest first) and tensor type.
table() {
    if ! dump "$2" >"$1.dump"; then
        fail "$1: @huggingface/gguf could not parse $2"
        return
    fi
    sed 's/^\(tensor .*\) [0-9]*$/\1/; /^data_offset /d' "$1.dump" | sort >"$1.got"
    sort "$1.want" >"$1.want.sorted"
    cmp -s "$1.got" "$1.want.sorted" || {
        fail "$1: the GGUF file is not what llama.cpp's conventions say"
        diff "$1.want.sorted" "$1.got"
    }
}

# ---------------------------------------------------------------- llama
# stories260K: dim 64, hidden 172, 5 layers, 8 heads, 4 kv heads (head size
# 8), vocab 512, context 512, RMS eps 1e-5, rope base 10000, tied.
llama_want() { # TYPE FILE_TYPE
    cat <<EOF
version 3
kv general.architecture string "llama"
kv general.file_type uint32 $2
kv llama.vocab_size uint32 512
kv llama.context_length uint32 512
kv llama.embedding_length uint32 64
kv llama.block_count uint32 5
kv llama.feed_forward_length uint32 172
kv llama.attention.head_count uint32 8
kv llama.attention.head_count_kv uint32 4
kv llama.rope.freq_base float32 10000
kv llama.attention.layer_norm_rms_epsilon float32 0.00001
kv llama.rope.dimension_count uint32 8
kv tokenizer.ggml.model string "none"
tensor token_embd.weight $1 64,512
tensor output_norm.weight F32 64
EOF
    for n in 0 1 2 3 4; do
        cat <<EOF
tensor blk.$n.attn_norm.weight F32 64
tensor blk.$n.attn_q.weight $1 64,64
tensor blk.$n.attn_k.weight $1 64,32
tensor blk.$n.attn_v.weight $1 64,32
tensor blk.$n.attn_output.weight $1 64,64
tensor blk.$n.ffn_norm.weight F32 64
tensor blk.$n.ffn_gate.weight $1 64,172
tensor blk.$n.ffn_up.weight $1 64,172
tensor blk.$n.ffn_down.weight $1 172,64
EOF
    done
}

conv -m "$data/llama2c/stories260K.bin" -o stories.gguf || fail "stories260K.bin -> GGUF"
llama_want F32 0 >llama-f32.want
table llama-f32 stories.gguf
conv -m "$data/llama2c/stories260K.bin" -o stories16.gguf --dtype f16 || fail "-> f16"
llama_want F16 1 >llama-f16.want
table llama-f16 stories16.gguf
conv -m stories.gguf -o storiesbf.gguf --dtype bf16 || fail "GGUF -> bf16 GGUF"
llama_want BF16 32 >llama-bf16.want
table llama-bf16 storiesbf.gguf

# The byte oracle: wq of layer l starts after the 28-byte header, the
# embedding (512 x 64) and the 5 attention norms (64 each); wk after the
# 5 wq (64 x 64 each); f32 throughout.
slice() { tail -c +$(($1 + 1)) "$data/llama2c/stories260K.bin" | head -c "$2"; }
wq=$((28 + 4 * (512 * 64 + 5 * 64)))
wk=$((wq + 5 * 64 * 64 * 4))
for l in 0 1 2 3 4; do
    dump stories.gguf --extract "blk.$l.attn_q.weight" >q.got
    slice $((wq + l * 64 * 64 * 4)) $((64 * 64 * 4)) >q.want
    cmp -s q.got q.want || fail "blk.$l.attn_q.weight differs from llama2.c's wq rows"
    dump stories.gguf --extract "blk.$l.attn_k.weight" >k.got
    slice $((wk + l * 32 * 64 * 4)) $((32 * 64 * 4)) >k.want
    cmp -s k.got k.want || fail "blk.$l.attn_k.weight differs from llama2.c's wk rows"
done
[ "$(wc -c <q.want)" -eq 16384 ] || fail "the oracle slice is $(wc -c <q.want) bytes"

# The same model in the Hugging Face layout gives the same bytes, and so
# does a trip through a Hugging Face directory.
conv -m "$data/llama2c/hf" -o from-hf.gguf || fail "hf -> GGUF"
cmp -s stories.gguf from-hf.gguf || fail "GGUF from hf/ differs from GGUF from the .bin"
conv -m stories.gguf -o stories-hf || fail "GGUF -> hf"
[ -f stories-hf/config.json ] && [ -f stories-hf/model.safetensors ] ||
    fail "GGUF -> hf: no config.json or model.safetensors"
conv -m stories-hf -o again.gguf || fail "hf -> GGUF again"
cmp -s stories.gguf again.gguf || fail "GGUF -> hf -> GGUF changed the bytes"

# Archives of the Hugging Face directory in (a tar compressed with zstd, a
# zip): the same bytes. The output's format from --format, whatever its name.
tar -C "$data/llama2c" -cf - hf | zstd -q -o hf.tar.zst && conv -m hf.tar.zst -o from-tar.gguf ||
    fail "hf.tar.zst -> GGUF"
cmp -s stories.gguf from-tar.gguf || fail "GGUF from hf.tar.zst differs from GGUF from hf/"
(cd "$data/llama2c" && zip -q -r "$tmp/hf.zip" hf) && conv -m hf.zip -o from-zip.gguf ||
    fail "hf.zip -> GGUF"
cmp -s stories.gguf from-zip.gguf || fail "GGUF from hf.zip differs from GGUF from hf/"
conv -m stories-hf -o named-model --format gguf || fail "--format gguf"
cmp -s stories.gguf named-model || fail "--format gguf without .gguf: not the same GGUF"
conv -m stories.gguf -o dir.gguf --format hf || fail "--format hf"
[ -f dir.gguf/config.json ] && [ -f dir.gguf/model.safetensors ] ||
    fail "--format hf with a .gguf name did not write a directory"
# Hugging Face archives out: a tar with zstd and a zip, read by tar and
# unzip (not by ft), hold the files of the directory output byte for byte.
conv -m stories.gguf -o out-dir || fail "GGUF -> HF directory"
for a in out.tar.zst out.zip; do
    conv -m stories.gguf -o $a || { fail "GGUF -> $a"; continue; }
    [ -f $a ] || { fail "$a is not a file"; continue; }
    mkdir x-$a
    case $a in
    *.zip) (cd x-$a && unzip -q ../$a) ;;
    *) tar -C x-$a --zstd -xf $a ;;
    esac || fail "$a does not unpack"
    for f in config.json model.safetensors; do
        cmp -s out-dir/$f "$(find x-$a -name $f | head -n 1)" || fail "$a: $f differs from the directory's"
    done
done

# ------------------------------------------------------- qwen2 and gpt2
if /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
    /usr/bin/python3 "$FT_ROOT/tests/ref/engine_ref.py" --family qwen2 --out qwen2 >/dev/null ||
        fail "engine_ref.py qwen2"
    /usr/bin/python3 "$FT_ROOT/tests/ref/engine_ref.py" --family gpt2 --out gpt2 >/dev/null ||
        fail "engine_ref.py gpt2"

    # Qwen2: hidden 64, 4 heads, 2 kv heads (head size 16), intermediate 96,
    # 2 layers, vocab 97, context 64, eps 1e-6, rope base 1e6, q/k/v
    # biases, tied (no output.weight); not permuted.
    conv -m qwen2 -o qwen2.gguf --name tiny-qwen2 || fail "qwen2 -> GGUF"
    {
        cat <<EOF
version 3
kv general.architecture string "qwen2"
kv general.name string "tiny-qwen2"
kv general.file_type uint32 0
kv qwen2.vocab_size uint32 97
kv qwen2.context_length uint32 64
kv qwen2.embedding_length uint32 64
kv qwen2.block_count uint32 2
kv qwen2.feed_forward_length uint32 96
kv qwen2.attention.head_count uint32 4
kv qwen2.attention.head_count_kv uint32 2
kv qwen2.rope.freq_base float32 1000000
kv qwen2.attention.layer_norm_rms_epsilon float32 0.000001
kv qwen2.rope.dimension_count uint32 16
kv tokenizer.ggml.model string "none"
tensor token_embd.weight F32 64,97
tensor output_norm.weight F32 64
EOF
        for n in 0 1; do
            cat <<EOF
tensor blk.$n.attn_norm.weight F32 64
tensor blk.$n.attn_q.weight F32 64,64
tensor blk.$n.attn_q.bias F32 64
tensor blk.$n.attn_k.weight F32 64,32
tensor blk.$n.attn_k.bias F32 32
tensor blk.$n.attn_v.weight F32 64,32
tensor blk.$n.attn_v.bias F32 32
tensor blk.$n.attn_output.weight F32 64,64
tensor blk.$n.ffn_norm.weight F32 64
tensor blk.$n.ffn_gate.weight F32 64,96
tensor blk.$n.ffn_up.weight F32 64,96
tensor blk.$n.ffn_down.weight F32 96,64
EOF
        done
    } >qwen2.want
    table qwen2 qwen2.gguf

    # GPT-2: n_embd 64, 4 heads, 2 layers, vocab 97, 64 positions, eps
    # 1e-5, feed-forward 4 x 64; fused attn_qkv [64 -> 192]; LayerNorm
    # weights and biases; output.weight a copy of the tied embedding;
    # position_embd and 1-D tensors F32, matrices F16.
    conv -m gpt2 -o gpt2.gguf --dtype f16 || fail "gpt2 -> GGUF"
    {
        cat <<EOF
version 3
kv general.architecture string "gpt2"
kv general.file_type uint32 1
kv gpt2.vocab_size uint32 97
kv gpt2.context_length uint32 64
kv gpt2.embedding_length uint32 64
kv gpt2.block_count uint32 2
kv gpt2.feed_forward_length uint32 256
kv gpt2.attention.head_count uint32 4
kv gpt2.attention.layer_norm_epsilon float32 0.00001
kv tokenizer.ggml.model string "none"
tensor token_embd.weight F16 64,97
tensor position_embd.weight F32 64,64
tensor output_norm.weight F32 64
tensor output_norm.bias F32 64
tensor output.weight F16 64,97
EOF
        for n in 0 1; do
            cat <<EOF
tensor blk.$n.attn_norm.weight F32 64
tensor blk.$n.attn_norm.bias F32 64
tensor blk.$n.attn_qkv.weight F16 64,192
tensor blk.$n.attn_qkv.bias F32 192
tensor blk.$n.attn_output.weight F16 64,64
tensor blk.$n.attn_output.bias F32 64
tensor blk.$n.ffn_norm.weight F32 64
tensor blk.$n.ffn_norm.bias F32 64
tensor blk.$n.ffn_up.weight F16 64,256
tensor blk.$n.ffn_up.bias F32 256
tensor blk.$n.ffn_down.weight F16 256,64
tensor blk.$n.ffn_down.bias F32 64
EOF
        done
    } >gpt2.want
    table gpt2 gpt2.gguf

    # Back to Hugging Face and to GGUF again: the same bytes.
    conv -m gpt2.gguf -o gpt2-back || fail "gpt2 GGUF -> hf"
    conv -m gpt2-back -o gpt2-again.gguf --dtype f16 || fail "gpt2 hf -> GGUF again"
    cmp -s gpt2.gguf gpt2-again.gguf || fail "gpt2: GGUF -> hf -> GGUF changed the bytes"

    # --tokenizer: a small byte-level tokenizer.json (GPT-2's pre-tokenizer)
    # embedded in the GGUF, and written back as tokenizer.json; GPT-2's own
    # 50257 tokens do not fit a 97-token model.
    cat >tok.json <<'EOF'
{"version":"1.0","added_tokens":[],"normalizer":null,
 "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,
  "use_regex":true},
 "post_processor":null,"decoder":{"type":"ByteLevel"},
 "model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2,"\u0120":3,"\u0120ab":4},
  "merges":["a b","\u0120 ab"]}}
EOF
    conv -m qwen2 -o qwen2-tok.gguf --tokenizer tok.json || fail "--tokenizer"
    dump qwen2-tok.gguf >qwen2-tok.dump
    for want in 'kv tokenizer.ggml.model string "gpt2"' 'kv tokenizer.ggml.pre string "gpt-2"' \
        'kv tokenizer.ggml.tokens array<string> 97 ["a","b","ab","Ġ","Ġab","[PAD5]"' \
        'kv tokenizer.ggml.merges array<string> 2 ["a b","Ġ ab"]'; do
        grep -qF "$want" qwen2-tok.dump || fail "--tokenizer: no line $want"
    done
    conv -m qwen2-tok.gguf -o qwen2-tok || fail "GGUF with a tokenizer -> hf"
    [ -f qwen2-tok/tokenizer.json ] || fail "GGUF -> hf wrote no tokenizer.json"
    "$FT_BIN/ft-convert" -m gpt2 -o big.gguf --tokenizer "$data/gpt2" 2>big.err
    [ $? -eq 1 ] && grep -q "the tokenizer has 50257 tokens, the model only 97" big.err ||
        fail "a tokenizer larger than the model: $(cat big.err)"
else
    echo "(qwen2 and gpt2 tables skipped: /usr/bin/python3 has no torch)"
fi

# ------------------------------------------------------------- bad input
# patch FILE OFFSET BYTES: overwrite bytes (printf escapes) in place.
patch() { printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null; }
at() { grep -obUa "$2" "$1" | head -n 1 | cut -d: -f1; }
# bad NAME PHRASE: ft-convert refuses NAME.gguf with exit 1 and one line
# "ft-convert: NAME.gguf: ..." containing PHRASE, and writes nothing.
bad() {
    "$FT_BIN/ft-convert" -m "$1.gguf" -o "$1.out.gguf" 2>"$1.err"
    rc=$?
    [ "$rc" -eq 1 ] || fail "$1: exit status $rc, not 1"
    [ "$(wc -l <"$1.err")" -eq 1 ] || fail "$1: not one line of stderr: $(cat "$1.err")"
    grep -q "^ft-convert: $1.gguf: .*$2" "$1.err" || fail "$1: \"$(cat "$1.err")\" lacks \"$2\""
    [ ! -e "$1.out.gguf" ] || fail "$1: an output was written"
}
# The first tensor info: u64 name length, "token_embd.weight" (17 bytes),
# u32 n_dims, u64 ne0, u64 ne1, u32 type, u64 offset.
info=$(at stories.gguf token_embd.weight)
cp stories.gguf magic.gguf && patch magic.gguf 0 'GGML'
bad magic "not a GGUF file"
cp stories.gguf version.gguf && patch version.gguf 4 '\004'
bad version "GGUF version 4 is not supported"
cp stories.gguf strlen.gguf && patch strlen.gguf 24 '\377\377\377\377\377\377\000\000'
bad strlen "string length 281474976710655 at offset 24 runs past the end of the file"
cp stories.gguf offset.gguf && patch offset.gguf $((info + 41)) '\000\000\000\000\001'
bad offset "tensor \"token_embd.weight\": its data (offset 4294967296, 131072 bytes) runs past"
cp stories.gguf aligned.gguf && patch aligned.gguf $((info + 41)) '\004'
bad aligned "tensor \"token_embd.weight\": data offset 4 is not a multiple of the alignment 32"
cp stories.gguf overflow.gguf
patch overflow.gguf $((info + 21)) '\000\000\000\000\000\000\000\100'
bad overflow "tensor \"token_embd.weight\": the product of its dimensions overflows"
cp stories.gguf noarch.gguf
patch noarch.gguf "$(at noarch.gguf general.architecture)" 'general.architecturX'
bad noarch "no general.architecture key"
cp stories.gguf quant.gguf && patch quant.gguf $((info + 37)) '\010'
bad quant "tensor token_embd.weight has type Q8_0; ft reads F32, F16 and BF16 tensors"
head -c 400 stories.gguf >short.gguf
bad short "runs past the end of the file"

# ----------------------------------------------------------------- usage
"$FT_BIN/ft-convert" -m stories.gguf -o stories-hf 2>exists.err
[ $? -eq 1 ] && grep -q "^ft-convert: stories-hf: already exists" exists.err ||
    fail "an existing output: $(cat exists.err)"
conv -m stories.gguf -o stories-hf --force || fail "--force"
"$FT_BIN/ft-convert" -o x.gguf 2>usage.err
[ $? -eq 2 ] && [ "$(wc -l <usage.err)" -eq 1 ] || fail "no -m: $(cat usage.err)"
"$FT_BIN/ft-convert" -m stories.gguf -o x.gguf --dtype q4 2>usage.err
[ $? -eq 2 ] && grep -q "^ft-convert: --dtype" usage.err || fail "--dtype q4: $(cat usage.err)"
"$FT_BIN/ft-convert" -m stories.gguf -o x --format onnx 2>usage.err
[ $? -eq 2 ] && grep -q "^ft-convert: --format" usage.err || fail "--format onnx"
"$FT_BIN/ft-convert" -m nowhere -o x.gguf 2>missing.err
[ $? -eq 1 ] && grep -q "^ft-convert: nowhere" missing.err || fail "missing model"
"$FT_BIN/ft-convert" --help >help.out || fail "--help exit status"
grep -q "^usage: ft-convert" help.out || fail "--help"
sed 's/\\//g' "$FT_ROOT/man/ft-convert.1" >man.txt
for opt in $(grep -o -- '--[a-z][a-z-]*' help.out | sort -u); do
    grep -qF -- "$opt" man.txt || fail "the man page lacks $opt"
done
exit $status
