#!/usr/bin/env bash
# Discovery pass time at scale, against moto's server on loopback: N interface endpoints
# (distinct services) x 3 subnets each (3N ENIs), then `bedrock-link discover` RUNS times.
# Usage: bash bench/discovery-scale.sh [N=50] [RUNS=5]   (after tests/run-all.sh installed moto)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-50}"; RUNS="${2:-5}"
VENV="${BEDROCK_LINK_VENV:-$HOME/.cache/bedrock-link/venv}"
export AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_WEB_IDENTITY_TOKEN_FILE AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI
cargo build --release --locked --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/bedrock-link"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WORK=$(mktemp -d)
(cd "$WORK" && exec "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1) &
MOTO=$!
trap 'kill $MOTO 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/moto-api/" >/dev/null && break; sleep 0.1; done

VPC=$("$VENV/bin/python" - "$PORT" "$N" <<'PY'
import sys, boto3
port, n = sys.argv[1], int(sys.argv[2])
ec2 = boto3.client("ec2", endpoint_url=f"http://127.0.0.1:{port}", region_name="ap-southeast-2")
vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{i}.0/24", AvailabilityZone=f"ap-southeast-2{'abc'[i]}")["Subnet"]["SubnetId"] for i in range(3)]
details = ec2.describe_vpc_endpoint_services()["ServiceDetails"]
services = sorted({d["ServiceName"] for d in details if any(t["ServiceType"] == "Interface" for t in d["ServiceType"])})
assert len(services) >= n, f"moto knows only {len(services)} interface services"
for name in services[:n]:
    ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=name, VpcEndpointType="Interface", SubnetIds=subnets)
print(vpc)
PY
)
cat > "$WORK/c.toml" <<TOML
[[source]]
region = "ap-southeast-2"
vpc_id = "$VPC"
services = ["*"]
endpoint_url = "http://127.0.0.1:$PORT"
# No probes: moto's ENI addresses are not hosts of this machine.
health_check = false
TOML
pass=(); total=()
for _ in $(seq "$RUNS"); do
  start=$(date +%s%N)
  rows=$("$BIN" --log-format json discover --config "$WORK/c.toml" --output json 2>"$WORK/log" \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); print(len(r), sum(len(x["ipv4"]) for x in r))')
  end=$(date +%s%N)
  total+=($(( (end - start) / 1000000 )))
  pass+=($(python3 -c 'import json,sys; print(next(json.loads(l)["duration_ms"] for l in open(sys.argv[1]) if "duration_ms" in l))' "$WORK/log"))
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
echo "endpoints=$N enis=$((3 * N)) names,ipv4=$rows"
echo "pass_ms (the three API calls, as logged)  runs=[${pass[*]}] median=$(median "${pass[@]}")"
echo "total_ms (process start to JSON printed) runs=[${total[*]}] median=$(median "${total[@]}")"
