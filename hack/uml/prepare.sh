#!/usr/bin/env bash
# Prepares, on the HOST, what the cgroup v2 node's jobs read from the
# read-only /var/cache/containerd-shim-rust-v2 (the guest cannot write
# there): the containerd releases (hack/fetch-containerd.sh), and the busybox
# test image and the CRI pause image tarballs, built by this checkout's
# hack/build-image.sh (in the guest, hack/containerd-up.sh only finds them up
# to date if they are newer than that script). Builds no shim:
# SHIM_RELEASE_DIR's binaries are the caller's.
#
# Usage: hack/uml/prepare.sh [VERSION...]   (default: 2.3)
# Prints the bin dir of each version, one a line.
set -euo pipefail
cd "$(dirname "$0")/../.."
(($#)) || set -- 2.3
for v in "$@"; do
  hack/fetch-containerd.sh "$v"
done
cache=${XDG_CACHE_HOME:-/var/cache}/containerd-shim-rust-v2
bash hack/build-image.sh "$cache/busybox.tar" >&2
bash hack/build-image.sh "$cache/pause.tar" localhost/containerd-shim-rust-v2/pause:latest >&2
