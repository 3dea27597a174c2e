#!/usr/bin/env bash
# Forwarding under the VPC resolver's 1024 packets/s per interface, side by side (see
# bench/budget.py): installs the peers if missing and builds the release binary (bench/setup.sh),
# makes two network namespaces joined by a veth pair, runs the job in them and removes them.
# Root only (namespaces, nftables). Extra arguments go to budget.py, e.g. --seconds 30; the
# table is printed, and the figures saved to bench/results-budget-DATE.json.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "budget.sh: run as root (network namespaces and nftables)" >&2; exit 1; }
source bench/setup.sh
command -v unbound-control >/dev/null || [ -x /usr/sbin/unbound-control ] || {
  echo "budget.sh: unbound-control is missing (Debian's unbound package has it)" >&2; exit 1; }

cleanup() {
  ip netns del blb-app 2>/dev/null || true
  ip netns del blb-dns 2>/dev/null || true
}
trap cleanup EXIT
cleanup
ip netns add blb-app
ip netns add blb-dns
ip link add blb-app0 netns blb-app type veth peer name blb-dns0 netns blb-dns
ip -n blb-app addr add 10.53.0.1/30 dev blb-app0
ip -n blb-dns addr add 10.53.0.2/30 dev blb-dns0
for ns in blb-app blb-dns; do ip -n "$ns" link set lo up; done
ip -n blb-app link set blb-app0 up
ip -n blb-dns link set blb-dns0 up

out="bench/results-budget-$(date -u +%F).json"
ip netns exec blb-app python3 bench/budget.py "$BIN" --json "$out" "$@"
echo "figures: $out"
