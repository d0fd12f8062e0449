#!/bin/sh
# The pages of ft-import, ft-export, ft-split, ft-eval, ft-label and ft-records(5): each
# renders without warnings, and every long option of a program's --help is
# in its page; --help goes to standard output with status 0.
: "${FT_BIN:?}" "${FT_ROOT:?}"
status=0
fail() { echo "FAIL: $*"; status=1; }
for p in ft-import ft-export ft-split ft-eval ft-label; do
    page=$FT_ROOT/man/$p.1
    [ -f "$page" ] || { fail "$p: no man page"; continue; }
    "$FT_BIN/$p" --help >help.$$ 2>/dev/null || fail "$p --help: exit status $?"
    for opt in $(grep -o -- '--[a-z][a-z0-9-]*' help.$$ | sort -u); do
        esc=$(printf '%s' "$opt" | sed 's/-/\\-/g')
        grep -qF -- "$esc" "$page" || fail "$p: $opt is not in $page"
    done
    rm -f help.$$
done
if command -v man >/dev/null; then
    for page in "$FT_ROOT"/man/ft-import.1 "$FT_ROOT"/man/ft-export.1 \
        "$FT_ROOT"/man/ft-split.1 "$FT_ROOT"/man/ft-records.5 "$FT_ROOT"/man/ft-eval.1 "$FT_ROOT"/man/ft-label.1; do
        w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
        [ -z "$w" ] || fail "$page: $w"
    done
fi
exit $status
