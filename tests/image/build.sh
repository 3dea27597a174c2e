#!/usr/bin/env bash
# Builds the image from deploy/docker/Dockerfile with podman, every stage a user's build runs,
# without a container registry: the base images the recipe names are made locally first where
# missing (tests/image/stand-ins.sh), and nothing is pulled (--pull=never). The build's own
# steps fetch from the package registries (Debian's, crates.io), over the host's network.
# `--format docker` keeps HEALTHCHECK (OCI images drop it). --layers=false: buildah 1.28 reuses a
# cached COPY layer after the copied files change (seen here with src/), so no layer is trusted;
# the recipe's cache mounts still keep cargo's registry and target directory between builds.
#
# Usage: build.sh [TAG]   (as root; default localhost/bedrock-link:test)
set -euo pipefail
cd "$(dirname "$0")/../.."
TAG=${1:-localhost/bedrock-link:test}

bash tests/image/stand-ins.sh
started=$(date +%s)
log=$(mktemp)
podman build --format docker --pull=never --layers=false --network host -f deploy/docker/Dockerfile -t "$TAG" . > "$log" 2>&1 ||
  { tail -n 60 "$log" >&2; rm -f "$log"; exit 1; }
rm -f "$log"
size=$(podman image inspect --format '{{.Size}}' "$TAG")
echo "image: $TAG built in $(( $(date +%s) - started )) s, $(( size / 1000000 )) MB"
