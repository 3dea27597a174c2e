#!/usr/bin/env bash
# Shared by bench/run.sh and bench/soak.sh (sourced): installs dnsperf, dnsmasq, Unbound, dnsdist,
# dig and the moto venv if missing (root only for the packages), builds the release binary and
# sets BIN to it.
need=()
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
command -v unbound >/dev/null || [ -x /usr/sbin/unbound ] || need+=(unbound)
command -v dnsdist >/dev/null || need+=(dnsdist)
command -v dig >/dev/null || need+=(dnsutils)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "missing ${need[*]}: run as root once, or install them" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  # The packages start system services on port 53; the benchmark does not need them.
  systemctl stop unbound dnsdist 2>/dev/null || true
fi
export PATH="$PATH:/usr/sbin"
# moto's server plays the EC2 API, so bedrock-link runs with a discovery table as in production
# (the same venv as the tests'; --discovery-endpoints 0 skips it).
VENV="${BEDROCK_LINK_VENV:-$HOME/.cache/bedrock-link/venv}"
if [ ! -x "$VENV/bin/moto_server" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
fi
export BEDROCK_LINK_VENV="$VENV"
cargo build --release --locked --quiet
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
BIN="$TARGET_DIR/release/bedrock-link"
