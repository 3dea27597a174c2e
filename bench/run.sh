#!/usr/bin/env bash
# The side-by-side benchmark, one command: installs dnsperf, dnsmasq, Unbound and dnsdist if
# missing (needs root only for that), builds bedrock-link in release mode, and runs
# bench/compare.py on loopback. Extra arguments go to compare.py, e.g. --runs 3 --seconds 5.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/setup.sh
exec python3 bench/compare.py "$BIN" "$@"
