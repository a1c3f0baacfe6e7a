#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run): installs what the tests need,
# builds the shim, runs the unit tests, then, for each containerd version
# (default: 1.6 1.7 2.1 2.2 2.3; override with CONTAINERD_VERSIONS="2.3", or "" for none), the
# end-to-end tests against a private containerd of that version (its own
# root, state dir and sockets; runc left off its PATH so the embedded
# runtime must do all the work; a 200-cycle soak of one pod shim among them),
# then alone the tests that restart that containerd (down 2 s and 60 s while
# a container exits), and a check that nothing was left behind;
# then Docker Engine (tests/docker.rs: the docker CLI and a private dockerd
# on that containerd, hack/docker-up.sh, Debian sid's Docker 28.5.2 from
# hack/fetch-docker.sh) and the same check;
# then install/uninstall/check (tests/install.rs, its own containerd);
# then the Kubernetes path (tests/api/tests/cri.rs: a CRI client, containerd's
# CRI plugin, runtime handler `rust`) against a second private containerd of
# that version started with CRI=1 (CRI plugin, pause image, CNI bridge), the
# same leftover check (sandboxes, netns, veths, IPs too) and, after it is
# down, a check that its bridge is gone;
# then all of that but Docker again on a cgroup v2 kernel, without and with
# systemd as init (hack/uml/, below).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
# shellcheck source=lib/paths.sh
source hack/lib/paths.sh
VERSIONS=${CONTAINERD_VERSIONS-1.6 1.7 2.1 2.2 2.3}

hack/install-deps.sh
# One feature set for every build, so the shim binary is built once.
FEATURES=(--release --locked)
cargo build "${FEATURES[@]}"
hack/layout.sh --check
echo "== unit tests"
# On a cgroup v1 host, as root (CI's machine), the tests on real cgroups
# must run: a skip fails them (src/cgroup/mod.rs, fixture::skip).
if [[ $EUID -eq 0 && -e /sys/fs/cgroup/memory/cgroup.procs ]]; then
  export SHIM_REAL_CGROUP_TESTS=1
fi
cargo test "${FEATURES[@]}" --lib --bins
# Build the e2e test binaries once, before any containerd runs: tests/e2e.rs
# (ctr and the shim's own socket) and tests/api (containerd's gRPC API, a
# package of its own so the gRPC stack stays out of the shim's build).
cargo test "${FEATURES[@]}" --test e2e --test docker --no-run
cargo test "${FEATURES[@]}" --test install --no-run
cargo test --release --locked -p shim-api-tests --no-run

# containerd 2.2+ runs `<shim> -info` before every create and asks exited
# containers for their stats (2.3's OOM check): neither may fail.
check_containerd_log() {
  if grep -E "failed to load runtime info|no stats for container" "$DIR/containerd.log"; then
    echo "== FAILED on containerd $CONTAINERD_VERSION: containerd logged the errors above" >&2
    return 1
  fi
}

DIR=
# docker-down first (dockerd, its mounts); containerd-down unmounts the rest.
cleanup() { [[ -n "$DIR" ]] && { hack/docker-down.sh "$DIR" || true; hack/containerd-down.sh "$DIR"; }; DIR=; }
trap cleanup EXIT

for version in $VERSIONS; do
  bin=$(hack/fetch-containerd.sh "$version")
  DIR=$(mktemp -d "/tmp/shim-e2e-$version.XXXXXX")
  CONTAINERD_BIN="$bin/containerd" CTR_BIN="$bin/ctr" CONTAINERD_PATH="$SHIM_RELEASE_DIR" \
    hack/containerd-up.sh "$DIR"
  # shellcheck disable=SC1091
  source "$DIR/env"
  ls "$SHIM_SOCKET_DIR" >"$DIR/sockets.before" 2>/dev/null || true
  echo "== end-to-end tests on containerd $CONTAINERD_VERSION"
  # Then, alone, the tests that stop and start this containerd (--ignored).
  if ! CTR_BIN="$bin/ctr" cargo test "${FEATURES[@]}" --test e2e -- --test-threads=4 ||
    ! CTR_BIN="$bin/ctr" cargo test --release --locked -p shim-api-tests ||
    ! CTR_BIN="$bin/ctr" cargo test "${FEATURES[@]}" --test e2e -- --ignored --test-threads=1 ||
    ! hack/check-leftovers.sh "$DIR" || ! check_containerd_log; then
    echo "== FAILED on containerd $CONTAINERD_VERSION" >&2
    exit 1
  fi
  # Docker Engine (tests/docker.rs) on the same containerd: a private dockerd
  # runs containers with --runtime io.containerd.rust.v2.
  echo "== Docker Engine tests on containerd $CONTAINERD_VERSION"
  if ! hack/docker-up.sh "$DIR" ||
    ! (source "$DIR/docker/env" && cargo test "${FEATURES[@]}" --test docker -- --test-threads=2) ||
    ! hack/check-leftovers.sh "$DIR" || ! check_containerd_log || ! hack/docker-down.sh "$DIR"; then
    echo "== Docker FAILED on containerd $CONTAINERD_VERSION" >&2
    exit 1
  fi
  cleanup
  # install/uninstall/check (tests/install.rs): starts and stops a
  # containerd of this version of its own, from the config `install` wrote.
  echo "== install/uninstall/check on containerd $CONTAINERD_VERSION"
  if ! CONTAINERD_BIN="$bin/containerd" CTR_BIN="$bin/ctr" cargo test "${FEATURES[@]}" --test install -- --test-threads=1; then
    echo "== install FAILED on containerd $CONTAINERD_VERSION" >&2
    exit 1
  fi

  DIR=$(mktemp -d "/tmp/shim-cri-$version.XXXXXX")
  CRI=1 CONTAINERD_BIN="$bin/containerd" CTR_BIN="$bin/ctr" CONTAINERD_PATH="$SHIM_RELEASE_DIR" \
    hack/containerd-up.sh "$DIR"
  # shellcheck disable=SC1091
  source "$DIR/env"
  ls "$SHIM_SOCKET_DIR" >"$DIR/sockets.before" 2>/dev/null || true
  echo "== CRI end-to-end test on containerd $CONTAINERD_VERSION"
  if ! cargo test --release --locked -p shim-api-tests --test cri -- --ignored --nocapture ||
    ! CTR_BIN="$bin/ctr" hack/check-leftovers.sh "$DIR" || ! check_containerd_log; then
    echo "== CRI FAILED on containerd $CONTAINERD_VERSION" >&2
    exit 1
  fi
  cleanup
  if ip link show "$CRI_BRIDGE" >/dev/null 2>&1; then
    echo "== CRI FAILED on containerd $CONTAINERD_VERSION: bridge $CRI_BRIDGE left after containerd-down" >&2
    exit 1
  fi
  unset CRI_ADDRESS CRI_PAUSE_IMAGE CRI_BRIDGE
done
# The cgroup v2 node (hack/uml/): user-mode-linux, a real cgroup v2 kernel
# over the host's files, once without systemd (the cgroupfs driver) and once
# with systemd as init (the systemd driver, kubelet-style slices); there
# hack/uml/suite.sh runs the end-to-end, Tasks API and CRI tests against a
# containerd of UML_CONTAINERD (default 2.3). V2_NODE_MODES picks the
# set-ups (default "plain systemd"). The guest has no cargo: the test
# binaries built above are handed to it by path.
test_binary() { # NAME CARGO-ARGS...: the executable of test target NAME
  local name=$1
  shift
  cargo test "$@" --no-run --message-format=json 2>/dev/null |
    grep -F "\"name\":\"$name\"" | grep -o '"executable":"[^"]*"' | cut -d'"' -f4 | tail -n 1
}
UML_CONTAINERD=${UML_CONTAINERD:-2.3}
# Debian has user-mode-linux for amd64 only: on another architecture
# (arm64) the default is no v2 node, and the summary says so.
arch=$(dpkg --print-architecture)
if [[ -z "${V2_NODE_MODES+set}" ]]; then
  V2_NODE_MODES="plain systemd"
  [[ "$arch" == amd64 ]] || V2_NODE_MODES=""
fi
for mode in $V2_NODE_MODES; do
  echo "== cgroup v2 node ($mode) on containerd $UML_CONTAINERD"
  hack/uml/prepare.sh "$UML_CONTAINERD" >/dev/null
  env_file=$(mktemp /tmp/shim-uml-env.XXXXXX)
  {
    echo "UNIT_BIN=$(test_binary containerd_shim_rust_v2 "${FEATURES[@]}" --lib)"
    echo "E2E_BIN=$(test_binary e2e "${FEATURES[@]}" --test e2e)"
    echo "API_TASKS_BIN=$(test_binary tasks --release --locked -p shim-api-tests --test tasks)"
    echo "API_HOST_BINARY_BIN=$(test_binary host_binary --release --locked -p shim-api-tests --test host_binary)"
    echo "API_CRI_BIN=$(test_binary cri --release --locked -p shim-api-tests --test cri)"
    echo "UML_CONTAINERD=$UML_CONTAINERD"
  } >"$env_file"
  if ! UML_ENV=$env_file SHIM_RELEASE_DIR=$SHIM_RELEASE_DIR hack/uml/boot.sh "$mode" hack/uml/suite.sh; then
    echo "== FAILED on the cgroup v2 node ($mode)" >&2
    exit 1
  fi
  rm -f "$env_file"
done
echo "== all tests passed on containerd: $VERSIONS; cgroup v2 node: ${V2_NODE_MODES:-none (user-mode-linux is amd64-only; this is $arch)}"
