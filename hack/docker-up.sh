#!/usr/bin/env bash
# Starts a PRIVATE Docker Engine (dockerd) on top of the private containerd of
# DIR (started by hack/containerd-up.sh DIR): its data root, exec root, pid
# file, socket, CLI config and log all live under DIR/docker, it talks to
# DIR/containerd.sock in a containerd namespace of its own, and it sets up no
# network (no bridge, no iptables, no forwarding): the tests run containers
# with `--network none`. Then loads the busybox test image with `docker load`
# (hack/build-image.sh writes a docker manifest.json into its OCI tarball).
#
# Usage: hack/docker-up.sh DIR
# Env:
#   DOCKER_BIN_DIR    dir holding dockerd and docker (default: the output of
#                     hack/fetch-docker.sh, Debian sid's Docker 28.5.2)
#   DOCKER_NAMESPACE  containerd namespace for dockerd (default moby)
#   DOCKER_PATH       dockerd's PATH (default DOCKER_BIN_DIR plus the system
#                     dirs). dockerd refuses to start without a `runc` on it
#                     (its buildkit worker checks), although containerd, not
#                     dockerd, starts the shims: containerd's own PATH
#                     (containerd-up.sh's CONTAINERD_PATH) is what decides
#                     whether runc is reachable by the containers.
#   TEST_IMAGE_TAR    as for containerd-up.sh
# Writes: DIR/docker/{daemon.json,dockerd.log,dockerd.pid,docker.sock,data,
#   exec,cli} and DIR/docker/env (sourceable: DOCKER_HOST, DOCKER_CONFIG,
#   DOCKER_BIN, DOCKER_NAMESPACE, DOCKER_DIR).
# daemon.json registers the shim under the name `rust` too, so both
# `docker run --runtime io.containerd.rust.v2` and `--runtime rust` work.
# Stop it with hack/docker-down.sh DIR (before hack/containerd-down.sh DIR).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
HACK=$(cd "$(dirname "$0")" && pwd)
DIR=$(cd "$1" && pwd)
D=$DIR/docker
SOCK=$DIR/containerd.sock
[[ -S "$SOCK" ]] || { echo "docker-up: no containerd socket $SOCK (run hack/containerd-up.sh $DIR first)" >&2; exit 1; }
DOCKER_BIN_DIR=${DOCKER_BIN_DIR:-$("$HACK/fetch-docker.sh")}
DOCKERD=$DOCKER_BIN_DIR/dockerd
DOCKER=$DOCKER_BIN_DIR/docker
[[ -x "$DOCKERD" && -x "$DOCKER" ]] || { echo "docker-up: no dockerd and docker in $DOCKER_BIN_DIR" >&2; exit 1; }
DOCKER_NAMESPACE=${DOCKER_NAMESPACE:-moby}
DOCKER_PATH=${DOCKER_PATH:-$DOCKER_BIN_DIR:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}
TEST_IMAGE=docker.io/library/busybox:latest
TEST_IMAGE_TAR=${TEST_IMAGE_TAR:-${XDG_CACHE_HOME:-/var/cache}/containerd-shim-rust-v2/busybox.tar}
PATH="$DOCKER_PATH" command -v runc >/dev/null ||
  { echo "docker-up: dockerd needs a runc on its PATH ($DOCKER_PATH) to start, even unused (run hack/install-deps.sh)" >&2; exit 1; }
PIDFILE=$D/dockerd.pid
LOG=$D/dockerd.log
# A unix socket path must fit in sun_path (108 bytes).
((${#D} + 12 < 108)) || { echo "docker-up: $D is too long for a socket path" >&2; exit 2; }

if [[ -s "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "docker-up: a dockerd (pid $(cat "$PIDFILE")) is already running for $DIR; run hack/docker-down.sh $DIR first" >&2
  exit 1
fi
mkdir -p "$D/data" "$D/exec" "$D/cli"
rm -f "$PIDFILE"
cat >"$D/daemon.json" <<EOF2
{
  "runtimes": {
    "rust": { "runtimeType": "io.containerd.rust.v2" }
  }
}
EOF2
echo '{}' >"$D/cli/config.json"

# setsid: own session, so the daemon outlives the shell/job that started it.
setsid env PATH="$DOCKER_PATH" "$DOCKERD" \
  --config-file "$D/daemon.json" \
  --containerd "$SOCK" --containerd-namespace "$DOCKER_NAMESPACE" \
  --containerd-plugins-namespace "$DOCKER_NAMESPACE-plugins" \
  --data-root "$D/data" --exec-root "$D/exec" --pidfile "$PIDFILE" \
  -H "unix://$D/docker.sock" \
  --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
  --bridge=none --userland-proxy=false \
  --exec-opt native.cgroupdriver=cgroupfs --log-level debug \
  </dev/null >>"$LOG" 2>&1 &
pid=$!

fail() {
  echo "docker-up: $*" >&2
  echo "---- last lines of $LOG ----" >&2
  tail -n 30 "$LOG" >&2 || true
  kill "$pid" 2>/dev/null || true
  exit 1
}
docker() { DOCKER_HOST="unix://$D/docker.sock" DOCKER_CONFIG="$D/cli" "$DOCKER" "$@"; }

for ((i = 0; ; i++)); do
  kill -0 "$pid" 2>/dev/null || fail "dockerd (pid $pid) exited during startup"
  docker version >/dev/null 2>&1 && break
  ((i < 150)) || fail "dockerd did not answer on $D/docker.sock within 30 s"
  sleep 0.2
done
# dockerd writes its pid file itself; keep ours in case it has not yet.
[[ -s "$PIDFILE" ]] || echo "$pid" >"$PIDFILE"
echo "docker-up: dockerd $(docker version -f '{{.Server.Version}}') pid $pid listening on $D/docker.sock"

bash "$HACK/build-image.sh" "$TEST_IMAGE_TAR" "$TEST_IMAGE"
docker load -i "$TEST_IMAGE_TAR" || fail "docker load of $TEST_IMAGE_TAR failed"
docker image inspect "$TEST_IMAGE" >/dev/null || fail "$TEST_IMAGE missing after docker load"

printf 'export %s=%q\n' DOCKER_HOST "unix://$D/docker.sock" DOCKER_CONFIG "$D/cli" DOCKER_BIN "$DOCKER" \
  DOCKER_NAMESPACE "$DOCKER_NAMESPACE" DOCKER_DIR "$D" >"$D/env"
echo "docker-up: ready; source $D/env"
