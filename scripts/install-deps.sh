#!/usr/bin/env bash
# Installs every Debian package Parley needs to build, test and run.
# Idempotent and non-interactive: packages already present are skipped.
set -euo pipefail

packages=(
  build-essential cmake ccache pkg-config
  libcaf-dev capnproto libcapnp-dev librocksdb-dev libasio-dev
  libboost-test-dev libboost-dev libboost-system-dev
  libssl-dev libxxhash-dev libcli11-dev
  libcpp-httplib-dev nlohmann-json3-dev libspdlog-dev etcd-server libwebsocketpp-dev
  chromium
  clang libclang-rt-14-dev clang-format
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node.js and npm for the TypeScript example (examples/typescript): Debian's unless a node >= 18
# with its npm is already on the PATH (a machine may have one from elsewhere).
node_major() { node -e 'console.log(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }
if ! command -v npm >/dev/null || [ "$(node_major)" -lt 18 ]; then
  missing+=(nodejs npm)
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The npm packages of the TypeScript example, the TypeScript client library and the browser
# tests (Playwright, which downloads no browser: chromium is the Debian package above), exactly as
# their package-lock.json files pin them; again only when a lock file changed since the last
# install.
root="$(cd "$(dirname "$0")/.." && pwd)"
for ts_dir in "$root/examples/typescript" "$root/web/client" "$root/web/e2e"; do
  if [ ! -f "$ts_dir/node_modules/.package-lock.json" ] ||
     [ "$ts_dir/package-lock.json" -nt "$ts_dir/node_modules/.package-lock.json" ]; then
    echo "install-deps: npm ci in ${ts_dir#"$root"/}"
    (cd "$ts_dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
