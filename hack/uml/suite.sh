#!/usr/bin/env bash
# The test suite on the cgroup v2 node: the job hack/test.sh gives
# hack/uml/boot.sh, once in each set-up (plain: cgroupfs, no systemd;
# systemd: systemd as init, the systemd cgroup driver). First the unit
# tests (their tests on real cgroups must run: SHIM_REAL_CGROUP_TESTS=1);
# then, against a private
# containerd of this node (runc off its PATH), as hack/test.sh runs them on
# the host: the end-to-end tests (tests/e2e.rs; the soak test with
# SOAK_CYCLES cycles), containerd's Tasks API tests (tests/api tasks and
# host_binary), then alone the tests that restart containerd (--ignored),
# the leftover check and containerd's log check; then the
# Kubernetes path (tests/api cri) against a CRI=1 containerd whose pods get
# cgroup parents as the kubelet's driver names them (CRI_CGROUP_DRIVER:
# /<pod> for cgroupfs, kubepods-burstable-pod<uid>.slice for systemd), its
# leftover and log checks, and after it is down, that its bridge is gone.
#
# Usage: hack/uml/boot.sh plain|systemd hack/uml/suite.sh
# Env (UML_ENV or UML_PASS): the test binaries, prebuilt on the host (the
#   guest has no cargo): UNIT_BIN, E2E_BIN, API_TASKS_BIN, API_HOST_BINARY_BIN,
#   API_CRI_BIN; UML_CONTAINERD (default 2.3), fetched on the host by
#   hack/uml/prepare.sh; SOAK_CYCLES (default 60, fewer than on the host:
#   the node is slow).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
[[ -n "${UML_MODE:-}" ]] || { echo "suite: run me with hack/uml/boot.sh MODE $0" >&2; exit 2; }
fail() { echo "== FAILED on the cgroup v2 node ($UML_MODE): $*" >&2; exit 1; }
stage() { echo "== [$UML_MODE, $SECONDS s] $*"; }

for b in UNIT_BIN E2E_BIN API_TASKS_BIN API_HOST_BINARY_BIN API_CRI_BIN; do
  [[ -n "${!b:-}" && -x "${!b}" ]] || fail "$b (${!b:-unset}) is no test binary: hack/test.sh builds them on the host"
done
version=${UML_CONTAINERD:-2.3}
bin=$(hack/fetch-containerd.sh "$version") ||
  fail "containerd $version is not in the cache: run hack/uml/prepare.sh $version on the host"
export CTR_BIN=$bin/ctr SOAK_CYCLES=${SOAK_CYCLES:-60}
if [[ "$UML_MODE" == systemd ]]; then
  export SHIM_NODE_SYSTEMD=1 CRI_CGROUP_DRIVER=systemd
else
  export SHIM_NODE_SYSTEMD=0 CRI_CGROUP_DRIVER=cgroupfs
fi

DIR=
cleanup() { [[ -n "$DIR" ]] && hack/containerd-down.sh "$DIR"; DIR=; }
trap cleanup EXIT
# containerd up for DIR (CRI=1 or 0), its env sourced, the sockets listed.
up() {
  DIR=$(mktemp -d "/run/shim-$1.XXXXXX")
  CRI=$2 CONTAINERD_BIN=$bin/containerd CONTAINERD_PATH=$SHIM_RELEASE_DIR hack/containerd-up.sh "$DIR"
  # shellcheck disable=SC1091
  source "$DIR/env"
  ls "$SHIM_SOCKET_DIR" >"$DIR/sockets.before" 2>/dev/null || true
}
# As hack/test.sh: containerd 2.2+ runs `-info` before every create and asks
# exited containers for their stats; neither may fail.
check_log() {
  ! grep -E "failed to load runtime info|no stats for container" "$DIR/containerd.log"
}
# The tests/api binaries run from their package's directory, as cargo runs them.
api() { (cd "$REPO/tests/api" && "$@"); }

stage "unit tests, those on real cgroups included"
SHIM_REAL_CGROUP_TESTS=1 "$UNIT_BIN" --test-threads=2 || fail "unit tests"

up e2e 0
stage "end-to-end tests on containerd $CONTAINERD_VERSION"
"$E2E_BIN" --test-threads=2 || fail "end-to-end tests"
stage "containerd's Tasks API"
api "$API_TASKS_BIN" || fail "Tasks API tests"
api "$API_HOST_BINARY_BIN" || fail "host binary tests"
# Of the tests that run alone, those that restart containerd: stdin under
# load (a busy loop per core) tests the shim's io, not cgroups, and on this
# one slow CPU it would take longer than the rest of the suite.
stage "alone: containerd restarts"
"$E2E_BIN" --ignored --test-threads=1 robust::containerd_restarted || fail "the restart tests"
hack/check-leftovers.sh "$DIR" || fail "leftovers"
check_log || fail "containerd logged the errors above"
cleanup

up cri 1
stage "CRI pod test ($CRI_CGROUP_DRIVER cgroup parents)"
api "$API_CRI_BIN" --ignored --nocapture || fail "CRI test"
CTR_BIN=$bin/ctr hack/check-leftovers.sh "$DIR" || fail "CRI leftovers"
check_log || fail "containerd logged the errors above (CRI)"
cleanup
if ip link show "$CRI_BRIDGE" >/dev/null 2>&1; then
  fail "bridge $CRI_BRIDGE left after containerd-down"
fi
stage "all passed"
