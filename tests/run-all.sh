#!/usr/bin/env bash
# Runs every test. On a fresh Debian machine (as root) it first installs what the tests need,
# idempotently: dnsmasq (the stand-in upstream), dig, a Python venv with moto[server] (the
# stand-in EC2 API), and venvs with pytest (+python-hcl2, pytest-xdist) and checkov. Terraform
# (on the PATH of this kind of machine) runs for real, with the AWS provider from the
# machine's filesystem mirror; tests/iac/test_terraform.py finds it.
# Nothing here sends a packet anywhere but loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
command -v dig >/dev/null || need+=(dnsutils)
command -v curl >/dev/null || need+=(curl)
command -v ip >/dev/null || need+=(iproute2)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "missing ${need[*]}: run as root, or install them" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# moto's server plays the EC2 API; it lives in a venv outside the clone so runs can share it.
VENV="${BEDROCK_LINK_VENV:-$HOME/.cache/bedrock-link/venv}"
if [ ! -x "$VENV/bin/moto_server" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
fi
export BEDROCK_LINK_VENV="$VENV"

# The deploy/ tests: pytest (in parallel: the Terraform applies mostly wait on the provider's
# polling), python-hcl2 for the README tables. Reinstalled when the requirements change.
IAC_VENV="${BEDROCK_LINK_IAC_VENV:-$HOME/.cache/bedrock-link/venv-iac}"
if ! cmp -s tests/iac/requirements.txt "$IAC_VENV/requirements.txt"; then
  [ -x "$IAC_VENV/bin/pip" ] || python3 -m venv "$IAC_VENV"
  "$IAC_VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/iac/requirements.txt
  cp tests/iac/requirements.txt "$IAC_VENV/requirements.txt"
fi
CHECKOV_VENV="${BEDROCK_LINK_CHECKOV_VENV:-$HOME/.cache/bedrock-link/venv-checkov}"
if [ ! -x "$CHECKOV_VENV/bin/checkov" ]; then
  python3 -m venv "$CHECKOV_VENV"
  "$CHECKOV_VENV/bin/pip" install --quiet --disable-pip-version-check 'checkov>=3.2,<4'
fi

# No test may reach AWS or the instance metadata service, whatever the environment says.
export AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=ap-southeast-2

cargo build --locked --bins
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export BIN="$TARGET_DIR/debug/bedrock-link"
bash tests/smoke-dig.sh
command -v terraform >/dev/null || { echo "terraform is not on the PATH (this kind of machine carries it)" >&2; exit 1; }
BEDROCK_LINK_BIN="$BIN" CHECKOV="$CHECKOV_VENV/bin/checkov" \
  "$IAC_VENV/bin/pytest" -q -p no:cacheprovider -n 4 tests/iac
# The two-region network in namespaces (root only; skipped with a notice otherwise, unless
# BEDROCK_LINK_E2E_REQUIRED=1, which CI sets).
bash tests/e2e/two-regions.sh
cargo test --locked --all-targets
