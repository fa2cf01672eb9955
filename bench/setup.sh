#!/usr/bin/env bash
# Installs what the side-by-side benchmarks need beyond the build: Debian's ejabberd with its
# SQLite driver, the sqlite3 CLI (schema creation) and python3 (the driver). Idempotent.
set -euo pipefail
packages=(ejabberd erlang-p1-sqlite3 sqlite3 python3 util-linux)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The package may start a system-wide ejabberd on 5222 where systemd runs; ours use other ports.
