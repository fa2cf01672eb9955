#!/usr/bin/env bash
# Fails if a tracked C++ file differs from what clang-format (.clang-format) makes of it, and
# lists those files. Fix with: git ls-files '*.cpp' '*.hpp' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
unformatted=$(clang-format --dry-run "${files[@]}" 2>&1 | grep 'warning:' | cut -d: -f1 | sort -u || true)
if [ -n "$unformatted" ]; then
  echo "check-format: these files differ from clang-format's output:" >&2
  echo "$unformatted" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files formatted"
