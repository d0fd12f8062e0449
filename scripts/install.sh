#!/bin/sh
# Install every Debian package ft needs, the test oracles from the npm
# registry, and build. Run as root (or through sudo) on Debian 12.
set -e
cd "$(dirname "$0")/.."

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

# Build tools and the libraries ft links against.
PKGS="build-essential pkg-config
  libmsgpack-dev libarchive-dev libpcre2-dev libjansson-dev libutf8proc-dev
  libopenblas0-openmp libopenblas-openmp-dev libxxhash-dev zlib1g-dev
  wordnet-base wordnet-dev libopenmpi-dev openmpi-bin"
# Oracles and tools the tests and pipelines use.
PKGS="$PKGS python3 python3-torch python3-numpy python3-sklearn python3-jinja2
  zstd xz-utils zip unzip gnuplot-nox wordnet"
# Node.js runs the reference encoders; Debian's when the machine has none.
command -v npm >/dev/null || PKGS="$PKGS nodejs npm"

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends $PKGS

# Reference encoders and parsers from the npm registry, pinned by the
# lockfile, into a test-only folder. Skipped when npm is missing. No install
# scripts: node-llama-cpp's would try to fetch and build llama.cpp, while
# its prebuilt CPU library comes in an npm package of its own.
if [ -f tests/node/package-lock.json ] && command -v npm >/dev/null; then
    (cd tests/node && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

make -j"$(nproc)"
