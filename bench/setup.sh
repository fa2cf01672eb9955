#!/usr/bin/env bash
# Installs what the side-by-side benchmarks need beyond the build: Debian's ejabberd with its
# SQLite and PostgreSQL drivers, the sqlite3 CLI (schema creation), PostgreSQL 15 (the durable
# peer's archive: bench/ejabberd/ctl.sh runs a private instance of it per repetition) and
# python3 (the driver). Idempotent.
set -euo pipefail
packages=(ejabberd erlang-p1-sqlite3 erlang-p1-pgsql sqlite3 postgresql python3 util-linux)
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
# Likewise the package's own PostgreSQL cluster (port 5432): ours run on their own port and
# socket dir. Stop it so that it does not take the server CPU's time during a run.
if command -v pg_ctlcluster >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q online; then
  pg_lsclusters -h | awk '$4 == "online" {print $1, $2}' | while read -r v c; do
    pg_ctlcluster "$v" "$c" stop || true
  done
fi
