#!/usr/bin/env bash
# Smoke test with dig: the built binary on the demo configuration, dnsmasq as its upstream,
# both on loopback ports chosen here. Prints one line per check and "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/debug/bedrock-link}"
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

UP=$(free_port); PORT=$(free_port)
WORK=$(mktemp -d)
cleanup() { kill "${BL_PID:-}" "${DM_PID:-}" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

"$DNSMASQ" --keep-in-foreground --no-resolv --no-hosts --bind-interfaces --listen-address=127.0.0.1 \
  --port="$UP" --address=/example.test/192.0.2.80 --pid-file= --conf-file=/dev/null 2>"$WORK/dnsmasq.log" &
DM_PID=$!
"$BIN" dns serve --demo --listen "127.0.0.1:$PORT" --upstream "127.0.0.1:$UP" --admin 127.0.0.1:0 2>"$WORK/bl.log" &
BL_PID=$!

q() { dig @127.0.0.1 -p "$PORT" +time=2 +tries=1 "$@"; }
for _ in $(seq 50); do q +short bedrock.ap-southeast-2.amazonaws.com >/dev/null 2>&1 && break; sleep 0.1; done

passed=0; failed=0
check() { # name, expected, actual
  if [ "$2" = "$3" ]; then echo "ok   $1"; passed=$((passed+1)); else echo "FAIL $1: expected [$2], got [$3]"; failed=$((failed+1)); fi
}
check "override A over UDP" "10.1.0.10 10.1.1.10" "$(q +short bedrock-runtime.ap-southeast-2.amazonaws.com A | sort | xargs)"
check "override A over TCP" "10.1.0.10 10.1.1.10" "$(q +tcp +short bedrock-runtime.ap-southeast-2.amazonaws.com A | sort | xargs)"
check "override AAAA (dual-stack)" "fd00:10:1::12" "$(q +short bedrock-agent-runtime.ap-southeast-2.amazonaws.com AAAA | xargs)"
check "override AAAA (IPv4-only) is NODATA" "NOERROR 0" "$(q bedrock.ap-southeast-2.amazonaws.com AAAA | grep -oE 'status: [A-Z]+|ANSWER: [0-9]+' | cut -d' ' -f2 | xargs)"
check "name below an override is NXDOMAIN" "NXDOMAIN" "$(q x.bedrock.ap-southeast-2.amazonaws.com | grep -oE 'status: [A-Z]+' | cut -d' ' -f2)"
check "other names are forwarded" "192.0.2.80" "$(q +short www.example.test | xargs)"
check "question case is kept" "BeDrOcK.ap-southeast-2.amazonaws.com." "$(q +noall +answer BeDrOcK.ap-southeast-2.amazonaws.com | awk 'NR==1{print $1}')"

if [ "$failed" -gt 0 ]; then echo "--- bedrock-link log"; cat "$WORK/bl.log"; fi
echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
