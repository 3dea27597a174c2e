#!/usr/bin/env bash
# Builds and runs the fuzz targets (cargo-fuzz, libFuzzer, AddressSanitizer).
# Usage: bash fuzz/run.sh [SECONDS_PER_TARGET=60] [TARGET...]   (targets: request upstream_reply config)
# cargo-fuzz passes nightly-only rustc flags (sanitizer, coverage instrumentation). This script,
# and nothing else in the project, sets RUSTC_BOOTSTRAP=1 so the stable toolchain accepts them.
# New inputs go to fuzz/corpus/<target> (not checked in); the checked-in seeds are fuzz/seeds.
# A crash is written to fuzz/artifacts/<target>/ and fails the run: keep it as a regression
# test in tests/it/hostile.rs (or a unit test) once fixed.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request upstream_reply config)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  echo "fuzz: $t for ${seconds}s" >&2
  cargo fuzz run "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65535 -print_final_stats=1
done
