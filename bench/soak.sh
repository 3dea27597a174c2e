#!/usr/bin/env bash
# The soak: a fixed mixed load (overrides, cache hits, pass-through, NXDOMAIN) on the release
# build for 10 minutes, on loopback; reports RSS at start and end, p99 per minute and errors,
# and fails on 5% RSS growth or any lost query. Extra arguments go to bench/soak.py
# (--minutes, --rate, --json).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/setup.sh
exec python3 bench/soak.py "$BIN" "$@"
