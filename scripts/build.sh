#!/usr/bin/env bash
# Installs the Debian packages, configures and builds Parley into ./build (ccache-backed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# Relative paths in the ccache key, so fresh clones elsewhere (CI) reuse the cache.
export CCACHE_BASEDIR="$PWD"
export CCACHE_NOHASHDIR=1
build_dir="${PARLEY_BUILD_DIR:-build}"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${PARLEY_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build "$build_dir" -j "${PARLEY_JOBS:-2}"
