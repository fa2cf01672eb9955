#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang, ASan and UBSan, and runs each one.
#   bash scripts/fuzz.sh [RUNS]     default 200000 executions per target (~1 min); CI runs this
#   bash scripts/fuzz.sh 10000000   the long run recorded in docs/SECURITY.md
# Needs a configured build (for the generated client.capnp.c++): run scripts/build.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200000}
build=${PARLEY_BUILD_DIR:-build}
out="$build/fuzz"
mkdir -p "$out"
flags=(-std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Ischema/include -Iruntime/include -Istore/include -I"$build/schema")
libs=(-lcapnp -lkj -lcrypto)
clang++ "${flags[@]}" fuzz/frame_fuzzer.cpp schema/framing.cpp "$build/schema/client.capnp.c++" \
  "${libs[@]}" -o "$out/frame_fuzzer"
clang++ "${flags[@]}" fuzz/token_fuzzer.cpp runtime/token.cpp runtime/entity_id.cpp schema/ids.cpp \
  "${libs[@]}" -lxxhash -o "$out/token_fuzzer"
# The WebSocket layer (websocketpp's core, header-only, without Boost).
clang++ "${flags[@]}" -Iserver -D_WEBSOCKETPP_CPP11_STL_ fuzz/ws_fuzzer.cpp server/ws_engine.cpp \
  schema/framing.cpp "${libs[@]}" -o "$out/ws_fuzzer"
for target in frame tokens websocket; do
  binary="$out/${target%s}_fuzzer"
  if [ "$target" = websocket ]; then binary="$out/ws_fuzzer"; fi
  work="$out/corpus-$target"
  mkdir -p "$work"
  cp -n fuzz/corpus/"$target"/* "$work"/ 2>/dev/null || true
  echo "fuzz: $target, $runs runs"
  "$binary" -runs="$runs" -max_len=65536 -timeout=10 "$work" 2>&1 | tail -3
done
