#!/bin/sh
# The PyTorch reference programs (tests/ref/*.py) checked against themselves:
# gradients against finite differences, the prefix path against a real run's
# cache, GQA against repeated heads, rotary against complex rotation, layers
# against torch.nn.functional, the safetensors writer against hand-decoded
# bytes, the Llama model against the independent stories260K reference.tsv.
# Skips when Debian's python3 has no torch.
PY=/usr/bin/python3
if ! "$PY" -c 'import torch' 2>/dev/null; then
    echo "skip: $PY cannot import torch (apt install python3-torch)"
    exit 77
fi
: "${FT_ROOT:=$(pwd)}"
exec "$PY" "$FT_ROOT/tests/ref/selftest.py"
