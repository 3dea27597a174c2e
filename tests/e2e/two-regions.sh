#!/usr/bin/env bash
# End-to-end proof in a simulated two-region network, built from network namespaces that this
# script creates and always removes:
#
#   INET  "internet" host at the public addresses 203.0.113.10/.20; records every connection
#    |  198.18.0.0/30 (the app VPC's default route, "NAT")
#   APP   app VPC host 10.10.0.1: bedrock-link on 10.10.0.1:53, clients (dig, curl, doctor)
#    |  10.10.0.0/24                 \ 10.99.0.0/30 ("peering", routes both ways)
#   DNS   VPC resolver stand-in        EP  endpoint VPC side: the ENI addresses moto reports,
#         (dnsmasq, 10.10.0.2: every       a TCP listener on 443 that names itself, and moto
#         amazonaws.com name -> public)    (the EC2 API) on 10.20.0.5:5000
#
# Each scenario is asserted from APP with real clients and prints one line; the internet host
# must have seen no connection at the end of every scenario. Needs root; without it the script
# says so and skips, unless BEDROCK_LINK_E2E_REQUIRED=1 (CI), which makes that a failure.
# Packets go only to loopback and to addresses inside these namespaces.
set -uo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" != 0 ]; then
  if [ "${BEDROCK_LINK_E2E_REQUIRED:-0}" = 1 ]; then
    echo "FAIL e2e: root is needed for network namespaces"
    echo "e2e: 0 passed, 1 failed"
    exit 1
  fi
  echo "SKIP e2e: root is needed for network namespaces (set BEDROCK_LINK_E2E_REQUIRED=1 to make this a failure)"
  exit 0
fi

VENV="${BEDROCK_LINK_VENV:-$HOME/.cache/bedrock-link/venv}"
BIN="${BIN:-$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/debug/bedrock-link}"
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
for need in "$BIN" "$VENV/bin/moto_server" "$DNSMASQ"; do
  [ -x "$need" ] || { echo "FAIL e2e: $need is missing (run tests/run-all.sh)"; echo "e2e: 0 passed, 1 failed"; exit 1; }
done

ID=$(( $$ % 100000 ))
APP="bl${ID}app"; EP="bl${ID}ep"; DNS="bl${ID}dns"; INET="bl${ID}inet"
WORK=$(mktemp -d)
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  sleep 0.2
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
  for ns in "$APP" "$EP" "$DNS" "$INET"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  rm -rf "/etc/netns/$APP" "$WORK"
}
trap cleanup EXIT INT TERM

in_app() { ip netns exec "$APP" "$@"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# --- Topology -------------------------------------------------------------------------------
for ns in "$APP" "$EP" "$DNS" "$INET"; do ip netns add "$ns" && ip netns exec "$ns" ip link set lo up; done
link() { # ns1 ns2 addr1/len addr2/len
  local a="v${ID}${RANDOM}" b="v${ID}${RANDOM}"
  ip link add "$a" netns "$1" type veth peer name "$b" netns "$2"
  ip -n "$1" addr add "$3" dev "$a"; ip -n "$1" link set "$a" up
  ip -n "$2" addr add "$4" dev "$b"; ip -n "$2" link set "$b" up
}
link "$APP" "$DNS" 10.10.0.1/24 10.10.0.2/24
link "$APP" "$EP" 10.99.0.1/30 10.99.0.2/30
link "$APP" "$INET" 198.18.0.1/30 198.18.0.2/30
ip -n "$APP" route add default via 198.18.0.2
ip -n "$APP" route add 10.20.0.0/16 via 10.99.0.2
ip -n "$EP" route add 10.10.0.0/24 via 10.99.0.1
ip -n "$EP" addr add 10.20.0.5/32 dev lo
ip -n "$INET" route add 10.10.0.0/24 via 198.18.0.1
for ip in 203.0.113.10 203.0.113.20; do ip -n "$INET" addr add "$ip/32" dev lo; done
mkdir -p "/etc/netns/$APP"
echo "nameserver 10.10.0.1" > "/etc/netns/$APP/resolv.conf"

# A TCP listener on 443 that logs each connection and answers with who it is.
cat > "$WORK/listener.py" <<'PY'
import socket, sys, threading
name, log = sys.argv[1], sys.argv[2]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 443)); s.listen(64)
def serve(c, peer):
    with c:
        local = c.getsockname()[0]
        with open(log, "a") as f: f.write(f"{peer[0]} -> {local}\n")
        c.settimeout(2)
        try: c.recv(4096)
        except OSError: pass
        c.sendall(f"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n{name} {local}\n".encode())
while True:
    c, peer = s.accept()
    threading.Thread(target=serve, args=(c, peer), daemon=True).start()
PY
touch "$WORK/inet.log" "$WORK/ep.log"
ip netns exec "$INET" python3 "$WORK/listener.py" internet "$WORK/inet.log" & PIDS+=($!)
ip netns exec "$EP" python3 "$WORK/listener.py" endpoint "$WORK/ep.log" & PIDS+=($!)
(cd "$WORK" && exec ip netns exec "$EP" "$VENV/bin/moto_server" -H 10.20.0.5 -p 5000 >"$WORK/moto.log" 2>&1) & MOTO=$!; PIDS+=($MOTO)
ip netns exec "$DNS" "$DNSMASQ" --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
  --listen-address=10.10.0.2 --address=/amazonaws.com/203.0.113.10 --address=/example.com/203.0.113.20 \
  --address=/ec2-api.e2e.internal/10.20.0.5 \
  --host-record=bedrock-runtime.ap-southeast-2.amazonaws.com,203.0.113.10 \
  --cname=llm.corp.test,bedrock-runtime.ap-southeast-2.amazonaws.com \
  --pid-file= --conf-file=/dev/null >"$WORK/dnsmasq.log" 2>&1 & DNSMASQ_PID=$!; PIDS+=($DNSMASQ_PID)

export AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=ap-southeast-2
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_WEB_IDENTITY_TOKEN_FILE AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI

for _ in $(seq 100); do in_app curl -sf -o /dev/null http://10.20.0.5:5000/moto-api/ && break; sleep 0.1; done

# The EC2 side, built through the peering like any client in the app VPC would reach it.
ec2() { in_app "$VENV/bin/python" -c "
import boto3, json, sys
ec2 = boto3.client('ec2', endpoint_url='http://10.20.0.5:5000', region_name='ap-southeast-2')
$1"; }
TOPO=$(ec2 '
vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"ap-southeast-2{z}")["Subnet"]["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
eps = {s: ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.ap-southeast-2.{s}", VpcEndpointType="Interface", SubnetIds=subnets)["VpcEndpoint"]["VpcEndpointId"] for s in ("bedrock-runtime", "bedrock-agent-runtime")}
print(json.dumps({"vpc": vpc, "eps": eps}))')
VPC=$(echo "$TOPO" | python3 -c 'import json,sys; print(json.load(sys.stdin)["vpc"])')
RUNTIME_EP=$(echo "$TOPO" | python3 -c 'import json,sys; print(json.load(sys.stdin)["eps"]["bedrock-runtime"])')
eni_ips() { # endpoint id -> its ENI addresses, sorted, one per line
  ec2 "
ids = ec2.describe_vpc_endpoints(VpcEndpointIds=['$1'])['VpcEndpoints'][0]['NetworkInterfaceIds']
enis = ec2.describe_network_interfaces(Filters=[{'Name': 'network-interface-id', 'Values': ids}])['NetworkInterfaces']
print('\n'.join(sorted(a['PrivateIpAddress'] for e in enis for a in e['PrivateIpAddresses'])))"
}
place_ip() { # put an ENI address on the endpoint side, routed across the peering
  case "$1" in 10.10.0.*|10.99.0.*) echo "FAIL e2e: moto gave $1, which collides with the test network"; exit 1;; esac
  ip -n "$EP" addr add "$1/32" dev lo 2>/dev/null
  ip -n "$APP" route replace "$1/32" via 10.99.0.2
}
RUNTIME_IPS=$(eni_ips "$RUNTIME_EP")
AGENT_IPS=$(eni_ips "$(echo "$TOPO" | python3 -c 'import json,sys; print(json.load(sys.stdin)["eps"]["bedrock-agent-runtime"])')")
for ip in $RUNTIME_IPS $AGENT_IPS; do place_ip "$ip"; done

write_config() { # ttl
  cat > "$WORK/bedrock-link.toml" <<TOML
[dns]
listen = ["10.10.0.1:53"]
ttl = $1
[upstream]
servers = ["10.10.0.2:53"]
timeout_ms = 700
[admin]
listen = "127.0.0.1:9153"
[[source]]
region = "ap-southeast-2"
vpc_id = "$VPC"
endpoint_url = "http://10.20.0.5:5000"
refresh = "1s"
max_stale = "1h"
[health]
interval = "1s"
timeout = "300ms"
down_after = 2
up_after = 1
TOML
}
write_config 1
# Started directly (not through a shell function) so that $! is bedrock-link itself: `ip netns
# exec` execs it, and the signals below must reach it.
ip netns exec "$APP" "$BIN" dns serve --config "$WORK/bedrock-link.toml" 2>"$WORK/bedrock-link.log" & BL=$!; PIDS+=($BL)

RUNTIME=bedrock-runtime.ap-southeast-2.amazonaws.com
AGENT=bedrock-agent-runtime.ap-southeast-2.amazonaws.com
q() { in_app dig @10.10.0.1 +time=2 +tries=1 "$@"; }
answer() { q +short "$1" A | sort | xargs; }
rcode() { q "$1" A | grep -oE 'status: [A-Z]+' | cut -d' ' -f2; }
expect() { echo "$1" | sort | xargs; }
has_answer() { [ -n "$(answer "$1")" ]; }
# Polls (every 100 ms, at most 20 s) until "$@" succeeds; prints the time it took in ms.
until_ok() { local start; start=$(now_ms); for _ in $(seq 200); do "$@" && { echo $(( $(now_ms) - start )); return 0; }; sleep 0.1; done; return 1; }

passed=0; failed=0
scenario() { # name, then the checks' verdict (0 = ok) and a detail
  local name=$1 verdict=$2 detail=$3
  local inet; inet=$(wc -l < "$WORK/inet.log")
  if [ "$verdict" = 0 ] && [ "$inet" = 0 ]; then
    echo "ok   $name${detail:+ ($detail)}"; passed=$((passed + 1))
  else
    echo "FAIL $name: ${detail:-failed}; internet host connections: $inet"; failed=$((failed + 1))
  fi
}

# 1. Resolution gives the endpoint IPs, and the connection lands on the endpoint side.
t=$(until_ok has_answer $RUNTIME)
got=$(answer $RUNTIME); want=$(expect "$RUNTIME_IPS")
body=$(in_app curl -s --max-time 3 "http://$RUNTIME:443/")
[ "$got" = "$want" ] && [[ "$body" == endpoint* ]]
scenario "bedrock-runtime resolves to the ENI IPs and connects across the peering" $? "first answer after ${t:-?} ms: $got; $body"

# 2. Other names resolve through the VPC resolver.
got=$(answer www.example.com)
[ "$got" = "203.0.113.20" ]
scenario "other names are forwarded to the VPC resolver" $? "www.example.com -> $got"

# 2a. A company name that CNAMEs into a Bedrock name: the VPC resolver (dnsmasq) answers
# the CNAME and the public address; bedrock-link completes the chain from its table.
got=$(in_app dig @10.10.0.1 +time=2 +tries=1 +short llm.corp.test A | grep -v '\.$' | sort | xargs)
cname=$(in_app dig @10.10.0.1 +time=2 +tries=1 +short llm.corp.test A | grep -c 'bedrock-runtime.ap-southeast-2.amazonaws.com.$')
body=$(in_app curl -s --max-time 3 "http://llm.corp.test:443/")
[ "$got" = "$(expect "$RUNTIME_IPS")" ] && [ "$cname" = 1 ] && [[ "$body" == endpoint* ]]
scenario "a CNAME into a Bedrock name gets the ENI IPs, never the public one" $? "llm.corp.test -> $got; $body"

# 2b. A DHCP-mode cold start: the resolver's own system resolver answers nothing (as when the
# VPC's DHCP option set names a load balancer with no healthy resolver behind it yet), and the
# EC2 API is named by a host name that only the VPC resolver knows (in production, the
# discovery endpoint's vpce-....vpce.amazonaws.com name; moto answers 500 to that Host header,
# so a neutral name stands in). Discovery resolves it through upstream.servers, so this second
# resolver still turns ready and answers.
EC2_NAME=ec2-api.e2e.internal
sed -e "s|http://10.20.0.5:5000|http://$EC2_NAME:5000|" -e 's|10.10.0.1:53|10.10.0.1:5353|' \
  -e 's|127.0.0.1:9153|127.0.0.1:9154|' "$WORK/bedrock-link.toml" > "$WORK/cold.toml"
# `ip netns exec` mounts this file over /etc/resolv.conf when it starts a process; a new file
# (mv, not an overwrite) leaves processes already started with the one they saw.
echo "nameserver 10.10.0.99" > "$WORK/dead-resolv.conf"   # no host has this address
mv "$WORK/dead-resolv.conf" "/etc/netns/$APP/resolv.conf"
ip netns exec "$APP" "$BIN" dns serve --config "$WORK/cold.toml" 2>"$WORK/cold.log" & COLD=$!; PIDS+=($COLD)
in_app timeout 5 getent hosts "$EC2_NAME" >/dev/null
system_code=$?
t=$(until_ok in_app curl -sf -o /dev/null http://127.0.0.1:9154/readyz)
got=$(in_app dig @10.10.0.1 -p 5353 +time=2 +tries=1 +short $RUNTIME A | sort | xargs)
echo "nameserver 10.10.0.1" > "$WORK/resolv.conf" && mv "$WORK/resolv.conf" "/etc/netns/$APP/resolv.conf"
kill -TERM "$COLD"; wait "$COLD"
cold_exit=$?
[ $system_code != 0 ] && [ -n "$t" ] && [ "$got" = "$(expect "$RUNTIME_IPS")" ] && [ $cold_exit = 0 ]
scenario "the resolver's own lookups go to its upstream, not the (dead) system resolver" $? "system resolver: getent exit $system_code; ready after ${t:-never} ms; $got"

# 3. doctor on the healthy setup.
in_app "$BIN" doctor --config "$WORK/bedrock-link.toml" --resolver 10.10.0.1:53 > "$WORK/doctor-ok.txt" 2>&1
code=$?
[ $code = 0 ] && grep -q "PASS  connect" "$WORK/doctor-ok.txt" && ! grep -q FAIL "$WORK/doctor-ok.txt"
scenario "doctor passes every check on the healthy setup" $? "exit $code, $(grep -c PASS "$WORK/doctor-ok.txt") checks"

# 3b. One "AZ" of the endpoint side is cut off: its ENI address stops accepting (SYNs to it
# are dropped, as when a zone fails or its subnet loses the route back). The health probes
# take it out of the answer; a client connects on its first try; discover --probe shows it.
CUT=$(echo "$RUNTIME_IPS" | tail -1)   # one ENI per subnet ("AZ"): the second zone's
KEPT=$(echo "$RUNTIME_IPS" | grep -vx "$CUT" | sort | xargs)
ip -n "$EP" addr del "$CUT/32" dev lo
t=$(until_ok bash -c "[ \"\$(ip netns exec $APP dig @10.10.0.1 +short $RUNTIME | sort | xargs)\" = \"$KEPT\" ]")
body=$(in_app curl -s --connect-timeout 2 --max-time 3 "http://$RUNTIME:443/")
curl_code=$?
up=$(in_app curl -s http://127.0.0.1:9153/metrics | grep "endpoint_up{address=\"$CUT\",port=\"443\"}" | awk '{print $2}')
probed=$(in_app "$BIN" discover --config "$WORK/bedrock-link.toml" --probe -o json 2>/dev/null \
  | python3 -c "import json,sys; print(next(r['health']['$CUT:443'] for r in json.load(sys.stdin) if '$CUT' in r['ipv4']))" 2>/dev/null)
in_app "$BIN" doctor --config "$WORK/bedrock-link.toml" --resolver 10.10.0.1:53 > "$WORK/doctor-cut.txt" 2>&1
doctor_code=$?
grep -q "FAIL  connect $CUT:443" "$WORK/doctor-cut.txt" && grep "PASS  resolve $RUNTIME" "$WORK/doctor-cut.txt" | grep -q "$CUT left out as down"
doctor_sees=$?
ip -n "$EP" addr add "$CUT/32" dev lo
back=$(until_ok bash -c "[ \"\$(ip netns exec $APP dig @10.10.0.1 +short $RUNTIME | sort | xargs)\" = \"$(expect "$RUNTIME_IPS")\" ]")
[ -n "$CUT" ] && [ -n "$t" ] && [ $curl_code = 0 ] && [[ "$body" == endpoint* ]] && [ "$up" = 0 ] && [[ "$probed" == down* ]] && [ -n "$back" ] \
  && [ $doctor_code = 1 ] && [ $doctor_sees = 0 ]
scenario "a cut-off zone's address leaves the answer; clients connect on the first try" $? "$CUT dropped after ${t:-never} ms, back ${back:-never} ms after repair; curl exit $curl_code; endpoint_up=$up; discover --probe: ${probed:-?}; doctor exit $doctor_code, sees the address left out: $([ $doctor_sees = 0 ] && echo yes || echo no)"

# 4. The endpoint gains an address: the answer follows within refresh + TTL.
ec2 "ec2.assign_private_ip_addresses(NetworkInterfaceId=ec2.describe_vpc_endpoints(VpcEndpointIds=['$RUNTIME_EP'])['VpcEndpoints'][0]['NetworkInterfaceIds'][0], PrivateIpAddresses=['10.20.1.200'])"
place_ip 10.20.1.200
t=$(until_ok bash -c "[ \"\$(ip netns exec $APP dig @10.10.0.1 +short $RUNTIME | grep -c 10.20.1.200)\" = 1 ]")
[ -n "$t" ] && [[ "$(in_app curl -s --max-time 3 http://10.20.1.200:443/)" == endpoint* ]]
scenario "an ENI gains an address and the answer follows" $? "after ${t:-never} ms"

# 5. The endpoint is deleted: the name fails closed, nothing reaches the internet.
ec2 "ec2.delete_vpc_endpoints(VpcEndpointIds=['$RUNTIME_EP'])"
t=$(until_ok bash -c "[ \"\$(ip netns exec $APP dig @10.10.0.1 $RUNTIME | grep -oE 'status: [A-Z]+')\" = 'status: SERVFAIL' ]")
in_app curl -s --max-time 3 "http://$RUNTIME:443/" >/dev/null
curl_code=$?
[ -n "$t" ] && [ $curl_code != 0 ] && [ "$(answer $AGENT)" = "$(expect "$AGENT_IPS")" ]
scenario "a deleted endpoint fails closed (SERVFAIL), never the public address" $? "SERVFAIL after ${t:-never} ms; curl exit $curl_code"

# 6. doctor on the broken setup says so.
in_app "$BIN" doctor --config "$WORK/bedrock-link.toml" --resolver 10.10.0.1:53 > "$WORK/doctor-broken.txt" 2>&1
code=$?
[ $code = 1 ] && grep -q "FAIL  endpoints" "$WORK/doctor-broken.txt" && grep -q "PASS  resolve $AGENT" "$WORK/doctor-broken.txt"
scenario "doctor fails the deleted endpoint and passes the rest" $? "exit $code: $(grep FAIL "$WORK/doctor-broken.txt" | head -1 | cut -c1-90)"

# 6b. The endpoint is recreated: served again (recovery).
NEW_EP=$(ec2 "print(ec2.create_vpc_endpoint(VpcId='$VPC', ServiceName='com.amazonaws.ap-southeast-2.bedrock-runtime', VpcEndpointType='Interface', SubnetIds=[s['SubnetId'] for s in ec2.describe_subnets(Filters=[{'Name': 'vpc-id', 'Values': ['$VPC']}])['Subnets']])['VpcEndpoint']['VpcEndpointId'])")
NEW_IPS=$(eni_ips "$NEW_EP")
for ip in $NEW_IPS; do place_ip "$ip"; done
t=$(until_ok bash -c "[ \"\$(ip netns exec $APP dig @10.10.0.1 +short $RUNTIME | sort | xargs)\" = \"$(expect "$NEW_IPS")\" ]")
[ -n "$t" ] && [[ "$(in_app curl -s --max-time 3 "http://$RUNTIME:443/")" == endpoint* ]]
scenario "a recreated endpoint is served again (recovery)" $? "after ${t:-never} ms"

# 7. The VPC resolver stops: forwarded names SERVFAIL quickly, Bedrock names keep working.
kill "$DNSMASQ_PID"; wait "$DNSMASQ_PID" 2>/dev/null
start=$(now_ms); code=$(rcode nothing-cached.example.com); took=$(( $(now_ms) - start ))
[ "$code" = SERVFAIL ] && [ $took -lt 2000 ] && [ "$(answer $AGENT)" = "$(expect "$AGENT_IPS")" ]
scenario "VPC resolver down: forwarded names SERVFAIL, Bedrock names still answer" $? "SERVFAIL in ${took} ms"

# 8. The EC2 API becomes unreachable: answers continue from the stale table.
kill "$MOTO"; wait "$MOTO" 2>/dev/null
sleep 3
errors=$(in_app curl -s http://127.0.0.1:9153/metrics | grep 'discovery_errors_total{.*unreachable' | awk '{print $2}')
[ "$(answer $AGENT)" = "$(expect "$AGENT_IPS")" ] && [ "${errors:-0}" != 0 ]
scenario "EC2 API unreachable: stale answers keep flowing" $? "unreachable errors counted: ${errors:-0}"

# 9. SIGHUP with a changed configuration takes effect.
write_config 7
kill -HUP "$BL"
t=$(until_ok bash -c "ip netns exec $APP dig @10.10.0.1 +noall +answer $AGENT | awk '{print \$2}' | grep -qx 7")
scenario "SIGHUP reload takes effect (TTL 1 -> 7)" $? "after ${t:-never} ms"

# 10. SIGTERM exits cleanly.
kill -TERM "$BL"
wait "$BL"
code=$?
[ $code = 0 ] && grep -q "stopped" "$WORK/bedrock-link.log"
scenario "SIGTERM drains and exits 0" $? "exit $code"

if [ "$failed" -gt 0 ]; then
  echo "--- bedrock-link log (last 30 lines)"; tail -30 "$WORK/bedrock-link.log"
  echo "--- cold-start resolver log (last 15 lines)"; tail -15 "$WORK/cold.log"
  echo "--- doctor (healthy)"; cat "$WORK/doctor-ok.txt"
  echo "--- internet host"; cat "$WORK/inet.log"
fi
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
