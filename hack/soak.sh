#!/usr/bin/env bash
# The long soak: one pod shim through CYCLES create/start/exec/kill/delete
# cycles (default 1000; the suite runs 200 as part of tests/e2e.rs), against
# a private containerd (CONTAINERD_BIN as for hack/containerd-up.sh), then
# the suite's host-wide leftover check.
#
# Usage: hack/soak.sh [CYCLES]
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
# shellcheck source=lib/paths.sh
source hack/lib/paths.sh
CYCLES=${1:-1000}
[[ "$CYCLES" =~ ^[0-9]+$ ]] || { echo "usage: $0 [CYCLES]" >&2; exit 2; }

hack/install-deps.sh
cargo build --release --locked
cargo test --release --locked --test e2e --no-run

DIR=$(mktemp -d /tmp/shim-soak.XXXXXX)
trap 'hack/containerd-down.sh "$DIR"' EXIT
CONTAINERD_PATH="$SHIM_RELEASE_DIR" hack/containerd-up.sh "$DIR"
# shellcheck disable=SC1091
source "$DIR/env"
export CONTAINERD_ADDRESS SHIM_TEST_DIR TEST_IMAGE CONTAINERD_VERSION
SOAK_CYCLES=$CYCLES cargo test --release --locked --test e2e -- \
  --exact soak::a_pod_shim_lives_through_many_cycles_and_keeps_nothing --nocapture
hack/check-leftovers.sh "$DIR"
