#!/bin/sh
# Bad input: exit status 1, one line on stderr naming the input, the record
# or line and byte offset, and what is wrong; every whole record before the
# fault already written. Offsets are counted by hand in the comments.
# Also: a closed downstream pipe is a quiet exit 0, and binary records are
# not written to a terminal without -f.
: "${FT_BIN:?}"
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
status=0
fail() { echo "FAIL: $*"; status=1; }
# expect NAME STATUS STDERR-LINE STDOUT-FILE: compare the last command's
# results (in rc, out, err).
expect() {
    [ "$rc" -eq "$2" ] || fail "$1: exit status $rc, expected $2"
    [ "$(wc -l <err)" -eq 1 ] || fail "$1: stderr is not one line: $(cat err)"
    [ "$(cat err)" = "$3" ] || fail "$1: stderr: $(cat err)"
    if [ -n "$4" ]; then cmp -s out "$4" || fail "$1: stdout: $(cat out)"; fi
}
run() { "$@" >out 2>err; rc=$?; }

# Record 1 is {"id":1}: 5 bytes (81 a2 'i' 'd' 01), so record 2 is at byte 5.
printf '\201\242id\001' >one.mp
printf '{"id":1}\n' >one.jsonl

# Truncated msgpack: a map of two entries that stops inside a string.
{ cat one.mp; printf '\202\242id\002\244te'; } >trunc.mp
run "$FT_BIN/ft-export" trunc.mp
expect truncated 1 "ft-export: trunc.mp: record 2 (byte 5): truncated record at end of input" one.jsonl

# A record that is not a map: [1, 2].
{ cat one.mp; printf '\222\001\002'; } >array.mp
run "$FT_BIN/ft-export" array.mp
expect not-a-map 1 "ft-export: array.mp: record 2 (byte 5): not a map but an array" one.jsonl

# A string length prefix of 0xfffffff0 bytes (4 GiB), nothing behind it.
{ cat one.mp; printf '\201\244text\333\377\377\377\360abc'; } >huge.mp
run "$FT_BIN/ft-export" huge.mp
expect huge-length 1 "ft-export: huge.mp: record 2 (byte 5): larger than the cap of 67108864 bytes (see --max-record-bytes)" one.jsonl
run "$FT_BIN/ft-split" --test 0.5 huge.mp
expect huge-length-split 1 "ft-split: huge.mp: record 2 (byte 5): larger than the cap of 67108864 bytes (see --max-record-bytes)"

# Invalid UTF-8: "a<TAB>ok<LF>" is 5 bytes, "b<TAB>bad" 5 more: 0xFF at 10.
printf 'a\tok\nb\tbad\377\n' >u.tsv
printf '{"id":"u.tsv:1","label":"a","text":"ok"}\n' >u.want
"$FT_BIN/ft-import" u.tsv >u.mp 2>err; rc=$?
"$FT_BIN/ft-export" u.mp >out
expect utf8-tsv 1 "ft-import: u.tsv: line 2 (byte 10): invalid UTF-8 (byte 0xFF; --fix-utf8 replaces it)" u.want
# In JSON: line 1 is 14 bytes with its LF, then {"text":"b is 10: 0xFF at 24.
printf '{"text":"ok"}\n{"text":"b\377"}\n' >u.jsonl
"$FT_BIN/ft-import" u.jsonl >u.mp 2>err; rc=$?
"$FT_BIN/ft-export" u.mp >out
printf '{"id":"u.jsonl:1","text":"ok"}\n' >u.want
expect utf8-json 1 "ft-import: u.jsonl: line 2 (byte 24): invalid JSON: invalid UTF-8 in a string (--fix-utf8 replaces it)" u.want

# A ragged CSV row: "label,text<LF>" 11 bytes, "a,b<LF>" 4: line 3 at 15.
printf 'label,text\na,b\nc,d,e\n' >r.csv
"$FT_BIN/ft-import" r.csv >r.mp 2>err; rc=$?
"$FT_BIN/ft-export" r.mp >out
printf '{"id":"r.csv:2","label":"a","text":"b"}\n' >r.want
expect ragged-csv 1 "ft-import: r.csv: line 3 (byte 15): ragged CSV row: 3 cells, expected 2 (as in the header)" r.want
printf 'x,y\n"unterminated,z\n' >q.csv
run "$FT_BIN/ft-import" --no-header q.csv
expect open-quote 1 "ft-import: q.csv: line 2 (byte 4): unterminated quoted field"

# A JSON syntax error: line 1 is 13 bytes; '{"text"' then a space: the '"'
# where ':' belongs is byte 13 + 8 = 21.
printf '{"text":"a"}\n{"text" "b"}\n' >s.jsonl
"$FT_BIN/ft-import" s.jsonl >s.mp 2>err; rc=$?
"$FT_BIN/ft-export" s.mp >out
printf '{"id":"s.jsonl:1","text":"a"}\n' >s.want
expect json-syntax 1 "ft-import: s.jsonl: line 2 (byte 21): invalid JSON: expected ':' after a key, found '\"'" s.want
printf '[{"text":"a"},]' >t.json
run "$FT_BIN/ft-import" t.json
expect json-trailing-comma 1 "ft-import: t.json: line 1 (byte 14): invalid JSON: ']' after ','"
printf '[{"text":"a"}' >v.json
run "$FT_BIN/ft-import" v.json
expect json-unclosed 1 "ft-import: v.json: line 1 (byte 13): invalid JSON: unexpected end of input in the top-level array"

# Corrupt gzip members: a flipped bit in the CRC-32 of the trailer (every
# line was read; the check fails at the end), and a cut-off stream (the
# lines before the cut are all there).
seq 1 5 | sed 's/^/line /' >five.txt
gzip -c five.txt >crc.txt.gz
size=$(wc -c <crc.txt.gz)
printf '\377' | dd of=crc.txt.gz bs=1 seek=$((size - 8)) conv=notrunc 2>/dev/null
"$FT_BIN/ft-import" crc.txt.gz >crc.mp 2>err; rc=$?
"$FT_BIN/ft-export" --format text crc.mp >out
# ("line N<LF>" is 7 bytes: the check fails after byte 35.)
expect gzip-crc 1 "ft-import: crc.txt.gz: byte 35: damaged gzip data (incorrect data check)" five.txt
seq 1 100000 | sed 's/^/line /' >many.txt
gzip -c many.txt | head -c 100000 >cut.txt.gz
"$FT_BIN/ft-import" cut.txt.gz >cut.mp 2>err; rc=$?
"$FT_BIN/ft-export" --format text cut.mp >out
[ "$rc" -eq 1 ] || fail "gzip-cut: exit status $rc"
grep -Eqx 'ft-import: cut\.txt\.gz: byte [0-9]+: truncated gzip input' err ||
    fail "gzip-cut: stderr: $(cat err)"
n=$(wc -l <out)
[ "$n" -gt 1000 ] && head -n "$n" many.txt | cmp -s - out || fail "gzip-cut: lines lost"

# Unreadable inputs.
run "$FT_BIN/ft-import" missing.tsv
expect missing 1 "ft-import: missing.tsv: No such file or directory"
mkdir adir
run "$FT_BIN/ft-import" adir
expect directory 1 "ft-import: adir: is a directory"
if [ "$(id -u)" -ne 0 ]; then
    cp u.tsv locked.tsv && chmod 000 locked.tsv
    run "$FT_BIN/ft-import" locked.tsv
    expect unreadable 1 "ft-import: locked.tsv: Permission denied"
fi
run "$FT_BIN/ft-export" missing.mp
expect missing-records 1 "ft-export: missing.mp: No such file or directory"

# A --glob that matches nothing is an error (an empty data set is almost
# always a typo in the pattern).
tar cf g.tar u.tsv
run "$FT_BIN/ft-import" --glob 'data/*.json' g.tar
expect glob-none 1 "ft-import: g.tar: no member matches --glob 'data/*.json'" /dev/null

# --max-record-bytes: a 40-byte line against a cap of 16 bytes.
printf '%040d\n' 0 >long.txt
run "$FT_BIN/ft-import" --max-record-bytes 16 long.txt
expect record-cap 1 "ft-import: long.txt: line 1 (byte 0): a record of 61 bytes is over the cap of 16 bytes (--max-record-bytes)"

# Labels outside --label-map, either way.
run "$FT_BIN/ft-import" --label-map 0=neg,1=pos u.tsv
expect label-map-import 1 "ft-import: u.tsv: line 1 (byte 0): label \"a\" is not in --label-map"
printf '\202\242id\001\245label\241z' >z.mp
run "$FT_BIN/ft-export" --label-map 0=neg,1=pos z.mp
expect label-map-export 1 "ft-export: z.mp: record 1 (byte 0): label \"z\" is not in --label-map" /dev/null
# TSV cannot carry a tab inside a cell.
printf '\202\242id\001\244text\243a\tb' >tab.mp
run "$FT_BIN/ft-export" --format tsv tab.mp
expect tsv-tab 1 "ft-export: tab.mp: record 1 (byte 0): field \"text\" holds a tab, which TSV cannot carry (use --format csv or jsonl)" /dev/null

# A closed pipe downstream: exit 0, nothing on stderr.
for prog in import export split; do
    case $prog in
    import) set -- "$FT_BIN/ft-import" many.txt;;
    export) "$FT_BIN/ft-import" many.txt >many.mp; set -- "$FT_BIN/ft-export" many.mp;;
    split) set -- "$FT_BIN/ft-split" --shuffle --buffer 10 many.mp;;
    esac
    { "$@" 2>err; echo $? >rc; } | head -c 10 >/dev/null
    [ "$(cat rc)" -eq 0 ] && [ ! -s err ] || fail "ft-$prog | head: exit $(cat rc), $(cat err)"
done

# Binary records to a terminal: refused (exit 2) unless -f.
if command -v script >/dev/null; then
    script -qec "'$FT_BIN/ft-import' u.tsv" /dev/null >tty.out 2>&1 </dev/null
    rc=$?
    [ "$rc" -eq 2 ] || fail "terminal: exit status $rc"
    grep -q 'ft-import: standard output: refusing to write binary records to a terminal (pipe them on, or use -f)' tty.out ||
        fail "terminal: $(cat tty.out)"
    script -qec "'$FT_BIN/ft-import' -f five.txt" /dev/null >tty.out 2>&1 </dev/null ||
        fail "terminal with -f: exit status $?"
fi
exit $status
