#!/usr/bin/env bash
# Tears down the private dockerd started by hack/docker-up.sh DIR:
#   1. removes its containers (`docker rm -f`, so their tasks go through the
#      shim's Kill/Delete as in normal use) while dockerd still answers;
#   2. stops dockerd (its pid file, or `--config-file DIR/docker/daemon.json`
#      on its command line): SIGTERM, wait up to 15 s, then SIGKILL;
#   3. unmounts every mount at or under DIR/docker (overlay2 layers, netns
#      bind mounts), deepest first (`umount -l` fallback), and removes
#      DIR/docker (refuses if a mount is still there).
# The containerd of DIR keeps running: stop it with hack/containerd-down.sh
# DIR, which also kills any shim still serving it. Idempotent.
#
# Usage: hack/docker-down.sh DIR
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
DIR=$(realpath -m "$1")
D=$DIR/docker
[[ "$DIR" != / ]] || { echo "docker-down: refusing DIR=/" >&2; exit 2; }

# shellcheck source=lib/daemons.sh
source "$(dirname "$0")/lib/daemons.sh"

# ---- 1. containers ----
if [[ -s "$D/env" && -S "$D/docker.sock" ]]; then
  # shellcheck disable=SC1091
  source "$D/env"
  if ids=$(timeout 10 "$DOCKER_BIN" ps -aq 2>/dev/null) && [[ -n "$ids" ]]; then
    echo "docker-down: removing containers" $ids
    # shellcheck disable=SC2086
    timeout 30 "$DOCKER_BIN" rm -f $ids >/dev/null || echo "docker-down: warning: docker rm -f failed" >&2
  fi
fi

# ---- 2. dockerd ----
mapfile -t pids < <({
  pidfile_pid "$D/dockerd.pid" dockerd
  pids_with_config dockerd "$D/daemon.json" --config-file
} | sort -un)
stop_pids docker-down dockerd 15 "${pids[@]}"

# ---- 3. mounts, then the dir ----
# shellcheck source=lib/mounts.sh
source "$(dirname "$0")/lib/mounts.sh"
unmount_under "$D" docker-down || exit 1
if [[ -e "$D" ]]; then
  rm -rf --one-file-system "$D"
fi
echo "docker-down: $D is down"
