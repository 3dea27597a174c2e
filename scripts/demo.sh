#!/usr/bin/env bash
# Runs the demo on a fresh Debian machine: a stand-in VPC resolver (dnsmasq on 127.0.0.1:5300,
# answering *.example.test with 192.0.2.80 and nothing else) and bedrock-link on
# 127.0.0.1:5353 / [::1]:5353 with its built-in demo configuration. Ctrl-C stops both.
#
#   dig @127.0.0.1 -p 5353 bedrock-runtime.ap-southeast-2.amazonaws.com   # private IPs
#   dig @127.0.0.1 -p 5353 www.example.test                                # forwarded
#   curl -s 127.0.0.1:9153/metrics
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dnsmasq >/dev/null && [ ! -x /usr/sbin/dnsmasq ]; then
  [ "$(id -u)" = 0 ] || { echo "dnsmasq is missing: run as root, or: sudo apt-get install dnsmasq-base" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsmasq-base dnsutils >/dev/null
fi
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)

cargo build --release --locked
BIN="${CARGO_TARGET_DIR:-target}/release/bedrock-link"

"$DNSMASQ" --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
  --listen-address=127.0.0.1 --port=5300 --address=/example.test/192.0.2.80 \
  --pid-file= --conf-file=/dev/null &
DNSMASQ_PID=$!
trap 'kill $DNSMASQ_PID 2>/dev/null || true' EXIT

echo "bedrock-link demo on 127.0.0.1:5353; try: dig @127.0.0.1 -p 5353 bedrock-runtime.ap-southeast-2.amazonaws.com" >&2
"$BIN" dns serve --demo "$@"
