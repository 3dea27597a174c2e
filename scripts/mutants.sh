#!/usr/bin/env bash
# Mutation testing of the Rust code with cargo-mutants: each mutant (a small change to one
# function: a return value replaced, an operator swapped, a condition forced) must make a test
# fail. Not in CI: slow on 2 cores (each mutant rebuilds the crate: about 15 s with unit tests
# only, more with the integration harness, which every mutant also relinks and runs).
#
# Usage: scripts/mutants.sh [--lib | --it | --harness] FILE... [-- CARGO_TEST_ARGS...]
#   --lib      unit tests only (the default; fast)
#   --it       unit tests and the integration harness (tests/it; needs tests/run-all.sh's moto
#              venv for the discovery tests)
#   --harness  the integration harness only: for code the unit tests hardly touch (each mutant
#              then builds the crate once, not twice)
#   FILE    source files or globs to mutate, e.g. src/zone/scope.rs 'src/dns/*.rs'
# Results: bench/mutants/<label>/mutants.out/ (caught.txt, missed.txt, timeout.txt,
# unviable.txt, outcomes.json), label from MUTANTS_LABEL or the first file; a summary line
# with the four counts at the end. MUTANTS_JOBS (default 1) runs mutants in parallel;
# MUTANTS_ARGS passes more options to cargo-mutants (e.g. --re 'config_source|check', or
# --cargo-arg=--no-default-features for code that does not need the AWS SDK: faster builds);
# MUTANTS_TIMEOUT is the least time a mutant's tests get (default 20 s, 90 s with --it: a
# mutant that hangs costs that much).
# Nothing here reaches the network: fake AWS credentials, no metadata service.
set -euo pipefail
cd "$(dirname "$0")/.."

# Given to every cargo invocation (the builds too, so that a mutant builds only these targets).
tests=(--cargo-arg=--lib) timeout=20
case "${1:-}" in
  --lib) shift ;;
  --it) tests=(--cargo-arg=--lib --cargo-arg=--test=it) timeout=90; shift ;;
  --harness) tests=(--cargo-arg=--test=it) timeout=90; shift ;;
esac
files=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do files+=(--file "$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#files[@]} -gt 0 ] || { sed -n '2,21p' "$0" >&2; exit 2; }

command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked --quiet
export AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=ap-southeast-2
# A target directory of its own: mutants rebuild this crate over and over.
export CARGO_TARGET_DIR="${MUTANTS_TARGET_DIR:-$HOME/.cache/bedrock-link/target-mutants}"
# No debug info: each mutant links faster, and nothing here is debugged.
export CARGO_PROFILE_DEV_DEBUG=0
# The harness's tests mostly wait on timers: more threads than cores halve its time.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-8}"

label=${MUTANTS_LABEL:-$(basename "${files[1]}" .rs)}
out="bench/mutants/$label"
mkdir -p "$out"
status=0
# shellcheck disable=SC2086 # MUTANTS_ARGS is a list of options
cargo mutants --no-shuffle --jobs "${MUTANTS_JOBS:-1}" --minimum-test-timeout "${MUTANTS_TIMEOUT:-$timeout}" ${MUTANTS_ARGS:-} \
  "${tests[@]}" "${files[@]}" --output "$out" -- "$@" || status=$?
# 0: all caught; 2: some missed; 3: some timed out. Anything else is a failure of the run.
case $status in 0|2|3) ;; *) echo "mutants: cargo mutants exited $status" >&2; exit "$status" ;; esac

count() { # lines of one outcome's file (grep -c prints 0 and fails on an empty one)
  if [ -f "$out/mutants.out/$1.txt" ]; then grep -c . "$out/mutants.out/$1.txt" || true; else echo 0; fi
}
caught=$(count caught) missed=$(count missed) timeout=$(count timeout) unviable=$(count unviable)
viable=$(( caught + missed + timeout ))
echo "mutants: $label: caught $caught, missed $missed, timeout $timeout, unviable $unviable" \
  "($(( viable ? 100 * (caught + timeout) / viable : 0 ))% of viable caught or timed out)"
# With --iterate, the runs before are summed up in one list (caught and unviable together).
before=$(count previously_caught)
[ "$before" = 0 ] || echo "mutants: $label: and $before caught or unviable in the runs before (--iterate)"
[ "$missed" = 0 ] || { echo "missed:"; cat "$out/mutants.out/missed.txt"; }
