#!/usr/bin/env bash
# Makes local stand-ins for the base images that deploy/docker/Dockerfile names, so that the
# real recipe builds here, where no container registry is reachable (podman uses a local image
# of the name a FROM line gives instead of pulling it). Each is made once and kept, and made
# again when this script or the toolchain changes (a label records both).
#
#   the builder (ARG RUST_IMAGE, rust:<version>-slim-bookworm): Debian bookworm from
#     debootstrap with what that image adds (gcc, libc6-dev, ca-certificates), and this
#     machine's Rust toolchain laid out as the official image lays it out (/usr/local/cargo,
#     CARGO_HOME, PATH). It also carries this machine's CA bundle for cargo
#     (CARGO_HTTP_CAINFO): HTTPS to the package registries here passes a CA that a fresh
#     Debian root lacks. Only the stand-in has it; the recipe users build with does not.
#   the runtime (ARG RUNTIME_IMAGE, gcr.io/distroless/cc-debian12:nonroot): the Debian
#     packages distroless builds cc-debian12 from, unpacked (no maintainer scripts, no shell,
#     no package manager), the CA bundle made from the ca-certificates package, and the
#     nonroot user 65532 as USER.
#
# Usage: stand-ins.sh   (as root; needs podman, debootstrap, apt-get download; Debian's mirror)
set -euo pipefail
cd "$(dirname "$0")/../.."

RECIPE=deploy/docker/Dockerfile
arg_default() { sed -n "s/^ARG $1=//p" "$RECIPE" | head -n1; }
RUST_IMAGE=$(arg_default RUST_IMAGE)
RUNTIME_IMAGE=$(arg_default RUNTIME_IMAGE)
[ -n "$RUST_IMAGE" ] && [ -n "$RUNTIME_IMAGE" ] || { echo "stand-ins: $RECIPE has no ARG RUST_IMAGE=/RUNTIME_IMAGE= defaults" >&2; exit 1; }

SYSROOT=$(rustc --print sysroot)
STAMP=$( { cat "$0"; rustc --version; } | sha256sum | cut -c1-16)
# The Debian mirror this machine uses (plain HTTP works here as it is).
MIRROR=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
MIRROR=${MIRROR:-http://deb.debian.org/debian}

current() { # image: is there one, made by this version of the script?
  [ "$(podman image inspect --format '{{index .Labels "bedrock-link.stand-in"}}' "$1" 2>/dev/null)" = "$STAMP" ]
}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if current "$RUST_IMAGE"; then
  echo "stand-ins: $RUST_IMAGE is current"
else
  echo "stand-ins: making $RUST_IMAGE (debootstrap bookworm + $(rustc --version))"
  root="$WORK/rust"
  debootstrap --variant=minbase --include=ca-certificates,gcc,libc6-dev bookworm "$root" "$MIRROR" \
    > "$WORK/debootstrap.log" 2>&1 || { tail -n 30 "$WORK/debootstrap.log" >&2; exit 1; }
  mkdir -p "$root/usr/local/rust" "$root/usr/local/cargo/bin"
  # The toolchain without its documentation (bin, lib, libexec, etc).
  for dir in bin lib libexec etc; do
    [ -d "$SYSROOT/$dir" ] && cp -a "$SYSROOT/$dir" "$root/usr/local/rust/"
  done
  for tool in cargo rustc rustdoc; do ln -s "../../rust/bin/$tool" "$root/usr/local/cargo/bin/$tool"; done
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/stand-in-ca-certificates.crt"
  rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/*
  tar -C "$root" -c . | podman import \
    --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV CARGO_HTTP_CAINFO=/etc/ssl/certs/stand-in-ca-certificates.crt' \
    --change "LABEL bedrock-link.stand-in=$STAMP" \
    --change 'CMD ["bash"]' \
    - "$RUST_IMAGE" > /dev/null
fi

if current "$RUNTIME_IMAGE"; then
  echo "stand-ins: $RUNTIME_IMAGE is current"
else
  echo "stand-ins: making $RUNTIME_IMAGE (Debian packages of distroless cc-debian12)"
  root="$WORK/runtime"
  mkdir -p "$WORK/debs" "$root"
  [ -n "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v -e lock -e partial)" ] || apt-get update -qq
  # distroless base-debian12 (base-files, netbase, tzdata, ca-certificates, libc6, libssl3)
  # and what cc adds (libgcc-s1, libgomp1, libstdc++6).
  (cd "$WORK/debs" && apt-get download -qq base-files netbase tzdata ca-certificates libc6 libssl3 \
    libgcc-s1 libgomp1 libstdc++6 > /dev/null)
  for deb in "$WORK/debs"/*.deb; do dpkg-deb -x "$deb" "$root"; done
  rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/lintian"
  # What ca-certificates' maintainer script would make: the bundle of its certificates.
  mkdir -p "$root/etc/ssl/certs"
  cat "$root"/usr/share/ca-certificates/mozilla/*.crt > "$root/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' > "$root/etc/group"
  mkdir -p "$root/tmp" "$root/root" "$root/home/nonroot"
  chmod 1777 "$root/tmp"; chmod 700 "$root/root" "$root/home/nonroot"
  chown 65532:65532 "$root/home/nonroot"
  tar -C "$root" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'USER 65532:65532' \
    --change 'WORKDIR /home/nonroot' \
    --change "LABEL bedrock-link.stand-in=$STAMP" \
    - "$RUNTIME_IMAGE" > /dev/null
fi
