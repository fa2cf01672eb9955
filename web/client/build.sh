#!/usr/bin/env bash
# Builds parley-client into OUT (default ../../build/web/client): generates the client schema's
# TypeScript with capnp-es, then compiles the library and its tests with tsc --strict. Needs
# node and this directory's node_modules (scripts/install-deps.sh runs `npm ci` here).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../../build/web/client}"
if [ ! -x "$here/node_modules/.bin/tsc" ] || [ ! -x "$here/node_modules/.bin/capnp-es" ]; then
  echo "parley-client: $here/node_modules is missing; run scripts/install-deps.sh" >&2
  exit 1
fi
rm -rf "$out/src" "$out/test"
mkdir -p "$out/src/schema" "$out/test"
cp "$here"/src/*.ts "$out/src/"
cp "$here"/test/*.ts "$out/test/"
cp "$here/tsconfig.json" "$out/"
ln -sfn "$here/node_modules" "$out/node_modules"
echo '{"type": "module"}' > "$out/package.json"
(cd "$here/../../schema" && "$here/node_modules/.bin/capnp-es" -ots:"$out/src/schema" \
  client.capnp >/dev/null)
(cd "$out" && "$here/node_modules/.bin/tsc" -p tsconfig.json --outDir dist --rootDir .)
