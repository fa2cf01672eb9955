#!/usr/bin/env bash
# Installs every Debian package Parley needs to build, test and run.
# Idempotent and non-interactive: packages already present are skipped.
set -euo pipefail

packages=(
  build-essential cmake ccache pkg-config
  libcaf-dev capnproto libcapnp-dev librocksdb-dev libasio-dev
  libboost-test-dev libboost-dev libboost-system-dev
  libssl-dev libxxhash-dev libcli11-dev
  libcpp-httplib-dev nlohmann-json3-dev etcd-server
  clang libclang-rt-14-dev clang-format
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
