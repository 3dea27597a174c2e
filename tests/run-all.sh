#!/usr/bin/env bash
# Runs every test. On a fresh Debian machine (as root) it first installs what the tests need,
# idempotently: dnsmasq (the stand-in upstream), dig, promtool, podman (with runc, catatonit and
# debootstrap, for the image tests), a Python venv with moto[server] (the
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
# promtool (deploy/prometheus's rules and their unit tests) comes with Debian's prometheus.
command -v promtool >/dev/null || need+=(prometheus)
command -v ip >/dev/null || need+=(iproute2)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
# The image tests (root only): podman with runc, catatonit for --init, debootstrap for the
# stand-in builder image.
if [ "$(id -u)" = 0 ]; then
  command -v podman >/dev/null || need+=(podman)
  command -v runc >/dev/null || need+=(runc)
  command -v catatonit >/dev/null || need+=(catatonit)
  command -v debootstrap >/dev/null || need+=(debootstrap)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "missing ${need[*]}: run as root, or install them" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The venvs (outside the clone, so runs can share them) install in the background while
# cargo builds; each is (re)installed only when missing or when its requirements changed.
#   moto's server plays the EC2 API; the deploy/ tests run under pytest (with python-hcl2 for
#   the README tables, pytest-xdist to run in parallel); checkov has a venv of its own (it
#   ships a fork that also installs a module named hcl2).
VENV="${BEDROCK_LINK_VENV:-$HOME/.cache/bedrock-link/venv}"
IAC_VENV="${BEDROCK_LINK_IAC_VENV:-$HOME/.cache/bedrock-link/venv-iac}"
CHECKOV_VENV="${BEDROCK_LINK_CHECKOV_VENV:-$HOME/.cache/bedrock-link/venv-checkov}"
export BEDROCK_LINK_VENV="$VENV"
LOGS=$(mktemp -d)
# (errexit applies inside the trap too: a kill with no job left must not set the exit status.)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$LOGS"' EXIT
venv() { # dir, stamp text, pip arguments...
  local dir=$1 stamp=$2; shift 2
  if [ "$(cat "$dir/.stamp" 2>/dev/null)" != "$stamp" ]; then
    { [ -x "$dir/bin/pip" ] || python3 -m venv "$dir"; } &&
      "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" &&
      echo "$stamp" > "$dir/.stamp"
  fi
}
venv "$VENV" 'moto[server]>=5,<6' 'moto[server]>=5,<6' > "$LOGS/venv.log" 2>&1 & MOTO_PID=$!
venv "$IAC_VENV" "$(cat tests/iac/requirements.txt)" -r tests/iac/requirements.txt > "$LOGS/venv-iac.log" 2>&1 & IAC_PID=$!
venv "$CHECKOV_VENV" 'checkov>=3.2,<4' 'checkov>=3.2,<4' > "$LOGS/venv-checkov.log" 2>&1 & CHECKOV_PID=$!
wait_for() { # pid, log: fails loudly with the log
  wait "$1" || { echo "installing failed:" >&2; cat "$2" >&2; exit 1; }
}

# No test may reach AWS or the instance metadata service, whatever the environment says.
export AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=ap-southeast-2

cargo build --locked --bins
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export BIN="$TARGET_DIR/debug/bedrock-link"
bash tests/smoke-dig.sh
wait_for "$MOTO_PID" "$LOGS/venv.log"
wait_for "$IAC_PID" "$LOGS/venv-iac.log"
wait_for "$CHECKOV_PID" "$LOGS/venv-checkov.log"

# deploy/: Terraform for real and the contracts, in the background (they mostly wait on the
# provider's polling) while the rest runs; their output comes after.
command -v terraform >/dev/null || { echo "terraform is not on the PATH (this kind of machine carries it)" >&2; exit 1; }
BEDROCK_LINK_BIN="$BIN" CHECKOV="$CHECKOV_VENV/bin/checkov" \
  "$IAC_VENV/bin/pytest" -q -p no:cacheprovider -n 4 tests/iac > "$LOGS/iac.log" 2>&1 & IAC_TESTS=$!
# The two-region network in namespaces (root only; skipped with a notice otherwise, unless
# BEDROCK_LINK_E2E_REQUIRED=1, which CI sets).
bash tests/e2e/two-regions.sh
cargo test --locked --all-targets
# The DNS core alone, without the AWS SDK (what the fuzz targets and benchmarks build).
cargo test --locked --lib --no-default-features
# The container image: deploy/docker/Dockerfile built with podman (stand-in base images, no
# registry), then run as each ECS task definition runs it (root; skipped with a notice
# otherwise, unless BEDROCK_LINK_E2E_REQUIRED=1). Last, so that its release build does not
# compete with the tests above.
echo "--- tests/image (the container image)"
image=0
"$IAC_VENV/bin/pytest" -q -p no:cacheprovider -rs tests/image || image=$?
echo "--- tests/iac (Terraform and deploy/ contracts)"
iac=0; wait "$IAC_TESTS" || iac=$?
cat "$LOGS/iac.log"
[ "$iac" = 0 ] || exit "$iac"
exit "$image"
