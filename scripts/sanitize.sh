#!/usr/bin/env bash
# The sanitizer lane: builds the whole tree with AddressSanitizer + UBSan into ./build-asan
# (ccache-backed) and runs the unit and integration suites there. scripts/test.sh runs it in CI (CI=true) or
# when PARLEY_SANITIZERS=1; by hand: bash scripts/sanitize.sh.
# CAF and kj are not instrumented (Debian builds), so ASan sees Parley's own memory errors and
# heap misuse across the boundary, not races; ThreadSanitizer is unusable here (stack notes).
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="$PWD"
export CCACHE_NOHASHDIR=1
build=build-asan
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARLEY_SANITIZE=ON >/dev/null
cmake --build "$build" -j "${PARLEY_JOBS:-2}"
# detect_leaks=0: CAF's and kj's own static allocations at exit would drown real reports;
# halt_on_error: the first error fails the test that caused it.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
cd "$build"
# The cluster label is left out: under ASan (2-3x slower) two of its fault and routing cases
# missed their deadlines in 2 of 5 runs (a map not adopted within 10 s; a read refused just
# after a re-registered node served a write), which a CI lane must not gamble on. Run them by
# hand with `ctest -L cluster` here; the plain lane runs them every time.
ctest -j "${PARLEY_JOBS:-2}" --output-on-failure --timeout 900 -LE cluster
