#!/usr/bin/env bash
# The sanitizer lane: builds the whole tree with AddressSanitizer + UBSan into ./build-asan
# (ccache-backed) and runs the whole test suite there. scripts/test.sh runs it in CI (CI=true) or
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
# All suites, the cluster label included (it was left out for a while: two of its cases
# missed deadlines under ASan; a node resumed after a freeze served with a lapsed lease until
# its thread noticed, fixed in runtime/cluster.cpp).
ctest -j "${PARLEY_JOBS:-2}" --output-on-failure --timeout 900
