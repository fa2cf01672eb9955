#!/usr/bin/env bash
# README command 1: install, build, and start a single node in the foreground.
# Data lives in ./parley-data (RocksDB + token secret); no etcd. Extra args go to
# `imctl cluster start` (e.g. --port 7500). Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
exec ./build/cli/imctl cluster start --data-dir ./parley-data "$@"
