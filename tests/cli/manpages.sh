#!/bin/sh
# Every program has --help (exit 0, a usage line on stdout), a man page that
# names every option --help lists, a --help that lists every option its man
# page's OPTIONS section describes, and a line in README.md's table.
: "${FT_BIN:?}" "${FT_ROOT:?}"
status=0
fail() { echo "FAIL: $*"; status=1; }
n=0
for p in "$FT_BIN"/ft-*; do
    name=$(basename "$p")
    n=$((n + 1))
    man=$FT_ROOT/man/$name.1
    help=$("$p" --help) || { fail "$name --help: exit status $?"; continue; }
    echo "$help" | head -n 1 | grep -q "^usage: $name" || fail "$name --help: no usage line"
    [ -f "$man" ] || { fail "$name: no man page"; continue; }
    for opt in $(echo "$help" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
        grep -qF -- "$(echo "$opt" | sed 's/-/\\-/g')" "$man" || grep -qF -- "$opt" "$man" ||
            fail "$name: the man page lacks $opt"
    done
    for opt in $(sed -n '/^\.SH OPTIONS/,/^\.SH [^O]/p' "$man" |
        grep -o -- '\\-\\-[a-z][a-z0-9\\-]*' | sed 's/\\-/-/g; s/\\f$//' | sort -u); do
        echo "$help" | grep -qF -- "$opt" || fail "$name: --help lacks $opt (in the man page)"
    done
    grep -q "^| \`$name\` |" "$FT_ROOT/README.md" || fail "$name: no line in README.md"
    man -l "$man" >/dev/null 2>"$name.manerr" || fail "$name: man cannot format its page"
    rm -f "$name.manerr"
done
[ "$n" -ge 12 ] || fail "only $n programs in $FT_BIN"
exit $status
