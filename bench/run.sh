#!/usr/bin/env bash
# The side-by-side benchmark, one command: installs dnsperf, dnsmasq, Unbound and dnsdist if
# missing (needs root only for that), builds bedrock-link in release mode, and runs
# bench/compare.py on loopback. Extra arguments go to compare.py, e.g. --runs 3 --seconds 5.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
command -v unbound >/dev/null || [ -x /usr/sbin/unbound ] || need+=(unbound)
command -v dnsdist >/dev/null || need+=(dnsdist)
command -v dig >/dev/null || need+=(dnsutils)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "missing ${need[*]}: run as root once, or install them" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  # The packages start system services on port 53; the benchmark does not need them.
  systemctl stop unbound dnsdist 2>/dev/null || true
fi
export PATH="$PATH:/usr/sbin"
cargo build --release --locked --quiet
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
exec python3 bench/compare.py "$TARGET_DIR/release/bedrock-link" "$@"
