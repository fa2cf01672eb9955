#!/usr/bin/env bash
# README command 2: install, build, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh  # installs what is missing, clang-format included
bash scripts/check-format.sh
(cd "${PARLEY_BUILD_DIR:-build}" && ctest -j "${PARLEY_JOBS:-2}" --output-on-failure --timeout 600)
# A short fuzz run of the client edge (frames, tokens) with ASan + UBSan: ~1 minute.
bash scripts/fuzz.sh 200000
# The whole suite again under ASan + UBSan: in CI, or when asked (a cold build takes ~20 min).
if [ "${CI:-}" = "true" ] || [ "${PARLEY_SANITIZERS:-0}" = "1" ]; then
  bash scripts/sanitize.sh
fi
