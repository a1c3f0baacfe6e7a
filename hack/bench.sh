#!/usr/bin/env bash
# Side-by-side benchmark of containerd-shim-runc-v2 (+ runc) and
# containerd-shim-rust-v2 against ONE private containerd, in one run: every
# metric is measured in alternating pairs and reported as median/min/max of
# each shim and the median of the per-pair ratios (rust / go).
#
# Usage: hack/bench.sh [--pairs N] [--only METRIC,...]
# Env: CONTAINERD_VERSION_BENCH (1.6, 1.7 or 2.1; default 1.6)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
version=${CONTAINERD_VERSION_BENCH:-1.6}

hack/install-deps.sh >/dev/null
cargo build --release --locked --features e2e
cargo build --release --locked --features e2e --example bench
bin=$(hack/fetch-containerd.sh "$version")
DIR=$(mktemp -d "/tmp/bench-$version.XXXXXX")
trap 'hack/containerd-down.sh "$DIR" >/dev/null' EXIT
# runc and containerd-shim-runc-v2 (Debian's, in /usr/sbin and /usr/bin) stay
# on containerd's PATH for side A.
CONTAINERD_BIN="$bin/containerd" CTR_BIN="$bin/ctr" \
  CONTAINERD_PATH="$REPO/target/release:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  hack/containerd-up.sh "$DIR" >/dev/null
# shellcheck disable=SC1091
source "$DIR/env"
export CONTAINERD_ADDRESS SHIM_TEST_DIR TEST_IMAGE
echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)," \
  "containerd $CONTAINERD_VERSION, $(runc --version | head -1), cgroup $( [[ -e /sys/fs/cgroup/cgroup.controllers ]] && echo v2 || echo v1)"
CTR_BIN="$bin/ctr" target/release/examples/bench "$@"
