#!/usr/bin/env bash
# README command 2: install, build, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cd "${PARLEY_BUILD_DIR:-build}"
ctest -j "${PARLEY_JOBS:-2}" --output-on-failure --timeout 600
