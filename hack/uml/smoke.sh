#!/usr/bin/env bash
# A job for the cgroup v2 node (hack/uml/boot.sh) that proves its set-up
# works: a private containerd (hack/containerd-up.sh, runc off its PATH),
# one container with --runtime io.containerd.rust.v2 (its /proc/self/cgroup
# must be cgroup v2's `0::` line; its memory.max with a 32 MiB limit and
# its cgroup2 mount are shown), and in systemd mode a transient scope with
# MemoryMax=20M whose memory.max must read 20971520 (systemd's driver, over
# dbus). Then hack/containerd-down.sh.
#
# Usage: hack/uml/boot.sh plain|systemd hack/uml/smoke.sh
#   (host first: hack/uml/prepare.sh; SHIM_RELEASE_DIR set)
# Env: SMOKE_CONTAINERD  containerd version (default 2.3; pass it with
#      UML_PASS=SMOKE_CONTAINERD), already fetched on the host.
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ -n "${UML_MODE:-}" ]] || { echo "smoke: run me with hack/uml/boot.sh MODE $0" >&2; exit 2; }
fail() { echo "smoke: FAILED: $*" >&2; exit 1; }

bin=$(hack/fetch-containerd.sh "${SMOKE_CONTAINERD:-2.3}") ||
  fail "containerd ${SMOKE_CONTAINERD:-2.3} is not in the cache: run hack/uml/prepare.sh on the host"
DIR=$(mktemp -d /run/shim-smoke.XXXXXX)
trap 'hack/containerd-down.sh "$DIR"' EXIT
CONTAINERD_BIN=$bin/containerd CTR_BIN=$bin/ctr CONTAINERD_PATH=$SHIM_RELEASE_DIR \
  hack/containerd-up.sh "$DIR"
# shellcheck disable=SC1091
source "$DIR/env"

id=smoke-$UML_MODE
# shellcheck disable=SC2016 # expanded in the container
out=$("$bin/ctr" -a "$CONTAINERD_ADDRESS" -n "$CONTAINERD_NAMESPACE" run --rm \
  --runtime io.containerd.rust.v2 --memory-limit 33554432 "$TEST_IMAGE" "$id" \
  sh -c 'echo "cgroup: $(cat /proc/self/cgroup)"; echo "memory.max: $(cat /sys/fs/cgroup/memory.max 2>&1)"; grep -w cgroup2 /proc/self/mountinfo | sed "s/^/mountinfo: /"; echo hello') ||
  fail "ctr run: $out"
printf '%s\n' "$out" | sed 's/^/smoke: container: /'
grep -qx hello <<<"$out" || fail "the container did not say hello"
grep -q '^cgroup: 0::/' <<<"$out" || fail "the container's /proc/self/cgroup is not cgroup v2's"

if [[ "$UML_MODE" == systemd ]]; then
  # shellcheck disable=SC2016 # expanded in the scope
  max=$(systemd-run --quiet --scope -p MemoryMax=20M sh -c 'cat "/sys/fs/cgroup$(sed -n "s/^0:://p" /proc/self/cgroup)/memory.max"') ||
    fail "systemd-run --scope failed"
  echo "smoke: systemd-run --scope -p MemoryMax=20M: memory.max $max"
  [[ "$max" == 20971520 ]] || fail "the scope's memory.max is $max, not 20971520"
fi
echo "smoke: ok ($UML_MODE)"
