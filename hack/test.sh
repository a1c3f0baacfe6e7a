#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run): installs what the tests need,
# builds the shim, runs the unit tests, then the end-to-end tests against a
# private containerd (its own root, state dir and sockets; runc left off its
# PATH so the embedded runtime must do all the work), and finally checks that
# nothing was left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

hack/install-deps.sh
# One feature set for every build, so the shim binary is built once.
FEATURES=(--release --locked --features e2e)
cargo build "${FEATURES[@]}"
echo "== unit tests"
cargo test "${FEATURES[@]}" --bins

DIR=$(mktemp -d /tmp/shim-e2e.XXXXXX)
trap 'hack/containerd-down.sh "$DIR"' EXIT
CONTAINERD_PATH="$REPO/target/release" hack/containerd-up.sh "$DIR"
# shellcheck disable=SC1091
source "$DIR/env"
ls /run/containerd/s >"$DIR/sockets.before" 2>/dev/null || true

echo "== end-to-end tests (containerd $(containerd --version | awk '{print $3}'))"
cargo test "${FEATURES[@]}" --test e2e -- --test-threads=4

echo "== leftovers"
hack/check-leftovers.sh "$DIR"
echo "== all tests passed"
