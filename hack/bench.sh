#!/usr/bin/env bash
# Side-by-side benchmark of containerd-shim-runc-v2 (+ runc) and
# containerd-shim-rust-v2 against ONE private containerd, in one run: every
# metric is measured in alternating pairs and reported as median/min/max of
# each shim and the median of the per-pair ratios (rust / go).
#
# Metrics: exec (shim API, ctr), cold run, throughput (FIFO, file://, rootfs),
# exit-event latency, 20 containers with a shim each (parallel start/delete,
# Rss/Pss per container), an unrelated process's fork+exit rate while 20
# containers start (host cost), one pod shim at 1/10/50 containers (Rss/Pss,
# start latency). Default pairs per metric (15, 9 for the 20 containers, 5
# for the pod); the whole default run takes about 5 min on 2 cores plus the
# build.
# Results and method: docs/performance.md. The run fails if anything of it
# is left behind.
#
# Usage: hack/bench.sh [--pairs N] [--only WORD,...] [--sides primer|primer-off]
#   --sides: this shim on both sides, its cgroup migration primer off on A
#   and on (primer) or off (primer-off, the control) on B; adds the metric
#   "host cost of the primer alone".
# Env: CONTAINERD_VERSION_BENCH (1.6, 1.7 or 2.1; default 1.6)
#      BENCH_A_BINARY: a shim binary (an earlier build of this one) to put on
#      side A instead of the Go shim, as runtime io.containerd.rustbase.v2:
#      a change measured side by side with the build before it.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
# shellcheck source=lib/paths.sh
source hack/lib/paths.sh
version=${CONTAINERD_VERSION_BENCH:-1.6}

hack/install-deps.sh >/dev/null
cargo build --release --locked
cargo build --release --locked --example bench
bin=$(hack/fetch-containerd.sh "$version")
DIR=$(mktemp -d "/tmp/bench-$version.XXXXXX")
trap 'hack/containerd-down.sh "$DIR" >/dev/null' EXIT
# runc and containerd-shim-runc-v2 (Debian's, in /usr/sbin and /usr/bin) stay
# on containerd's PATH for side A.
a_path=
a_args=()
if [[ -n "${BENCH_A_BINARY:-}" ]]; then
  a_path="$DIR/side-a:"
  mkdir -p "$DIR/side-a"
  cp "$BENCH_A_BINARY" "$DIR/side-a/containerd-shim-rustbase-v2"
  a_args=(--a-runtime io.containerd.rustbase.v2)
fi
CONTAINERD_BIN="$bin/containerd" CTR_BIN="$bin/ctr" \
  CONTAINERD_PATH="$a_path$SHIM_RELEASE_DIR:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  hack/containerd-up.sh "$DIR" >/dev/null
# shellcheck disable=SC1091
source "$DIR/env"
export CONTAINERD_ADDRESS SHIM_TEST_DIR TEST_IMAGE
echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)," \
  "containerd $CONTAINERD_VERSION, $(runc --version | head -1), cgroup $( [[ -e /sys/fs/cgroup/cgroup.controllers ]] && echo v2 || echo v1)"
CTR_BIN="$bin/ctr" "$SHIM_RELEASE_DIR/examples/bench" "${a_args[@]}" "$@"
