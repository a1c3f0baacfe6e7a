#!/usr/bin/env bash
# Fuzzes the shim's decoders of untrusted input for a bounded time:
# runtime options (every type the shim reads, TOML bodies included), OCI
# specs, exec process specs, Update resources, stdio URIs and ids
# (hack/fuzz/fuzz_targets). cargo fuzz with libFuzzer and AddressSanitizer
# on the nightly toolchain; installs cargo-fuzz if it is missing.
#
# Usage: hack/fuzz.sh [SECONDS per target, default 60] [TARGET...]
# A crash leaves its input in hack/fuzz/artifacts/TARGET/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=(options specs strings)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
rustup run nightly rustc --version >/dev/null ||
  { echo "fuzz: the nightly toolchain is needed (rustup toolchain install nightly)" >&2; exit 1; }

for t in "${TARGETS[@]}"; do
  corpus=hack/fuzz/corpus/$t
  mkdir -p "$corpus"
  # The seeds (hack/fuzz/seeds/TARGET) start it off with real inputs; the
  # corpus it grows stays out of git.
  [[ -d hack/fuzz/seeds/$t ]] && cp -n hack/fuzz/seeds/"$t"/* "$corpus"/ 2>/dev/null || true
  echo "== fuzz $t for ${SECONDS_PER_TARGET}s"
  cargo +nightly fuzz run --fuzz-dir hack/fuzz "$t" "$corpus" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
echo "== fuzz: no crash in ${TARGETS[*]} (${SECONDS_PER_TARGET}s each)"
