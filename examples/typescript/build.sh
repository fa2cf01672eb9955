#!/usr/bin/env bash
# Builds the TypeScript example into OUT (default ../../build/examples/typescript): generates
# the schema's TypeScript with capnp-es, then compiles with tsc --strict. Needs node and this
# directory's node_modules (scripts/install-deps.sh runs `npm ci` here). Called by CMake.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../../build/examples/typescript}"
if [ ! -x "$here/node_modules/.bin/tsc" ] || [ ! -x "$here/node_modules/.bin/capnp-es" ]; then
  echo "typescript example: $here/node_modules is missing; run scripts/install-deps.sh" >&2
  exit 1
fi
rm -rf "$out/src"
mkdir -p "$out/src/schema"
cp "$here"/src/*.ts "$out/src/"
cp "$here/tsconfig.json" "$out/"
ln -sfn "$here/node_modules" "$out/node_modules"
# ESM: the compiled files and what they import resolve as modules.
echo '{"type": "module"}' > "$out/package.json"
(cd "$here/../../schema" && "$here/node_modules/.bin/capnp-es" -ots:"$out/src/schema" \
  app.capnp client.capnp >/dev/null)
(cd "$out" && "$here/node_modules/.bin/tsc" -p tsconfig.json --outDir dist --rootDir src)
