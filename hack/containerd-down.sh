#!/usr/bin/env bash
# Tears down a private containerd started by hack/containerd-up.sh DIR:
#   1. stops containerd (pid file or `--config DIR/config.toml` on its command
#      line): SIGTERM, wait up to 10 s, then SIGKILL;
#   2. SIGKILLs every containerd-shim-* process (rust or runc) whose command
#      line names DIR/containerd.sock, together with its descendants
#      (the containers), and removes their <socket dir>/<hash> sockets;
#   3. `runc delete --force`s leftover runc (or youki-style) containers whose
#      state.json references DIR (bundles live in DIR/state), then removes that
#      state dir, so ids can be reused;
#   4. with CRI=1's network (DIR/cni/bridge names it): deletes the bridge
#      and libcni's cache entries of that network in /var/lib/cni (the
#      host-local IPAM state is under DIR/cni; the pods' netns are mounts
#      under DIR/state, unmounted in 5, and their veths go with them);
#   5. unmounts every mount at or under DIR, deepest first (`umount -l` fallback);
#   6. removes DIR (refuses if a mount is still there).
# Cgroups are otherwise left alone. Idempotent: succeeds if already down.
#
# Usage: hack/containerd-down.sh DIR
# Env:   RUNC_BIN (default runc), RUNC_ROOTS (space-separated runc state roots
#        to scan; default "/run/containerd/runc/* /run/containerd/rust/* /run/runc")
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
DIR=$(realpath -m "$1")
[[ "$DIR" != / ]] || { echo "containerd-down: refusing DIR=/" >&2; exit 2; }
SOCK=$DIR/containerd.sock
RUNC_BIN=${RUNC_BIN:-runc}

# shellcheck source=lib/daemons.sh
source "$(dirname "$0")/lib/daemons.sh"
SOCKET_DIR=$(shim_socket_dir "$DIR")
descendants() { local c; for c in $(pgrep -P "$1" || true); do echo "$c"; descendants "$c"; done; }

# ---- 1. containerd ----
mapfile -t ctrd < <({
  pidfile_pid "$DIR/containerd.pid" 'containerd*' 'containerd-shim*'
  pids_with_config containerd "$DIR/config.toml" --config
} | sort -un)
stop_pids containerd-down containerd 10 "${ctrd[@]}"

# ---- 2. shims and their containers ----
victims=() shim_socks=()
for d in /proc/[0-9]*; do
  p=${d#/proc/}
  read_args "$p"
  ((${#ARGS[@]})) || continue
  comm=$(cat "$d/comm" 2>/dev/null || true)
  [[ "${ARGS[0]##*/}" == containerd-shim-* || "$comm" == containerd-shim* ]] || continue
  mine="" ns="" id=""
  for ((i = 1; i < ${#ARGS[@]}; i++)); do
    a=${ARGS[i]} next=${ARGS[i + 1]:-}
    if [[ "$a" == "$SOCK" || "$a" == *"=$SOCK" ]]; then mine=1; fi
    if [[ "$a" == -namespace || "$a" == --namespace ]]; then ns=$next; fi
    if [[ "$a" == -id || "$a" == --id ]]; then id=$next; fi
  done
  [[ -n "$mine" ]] || continue
  mapfile -t kids < <(descendants "$p")
  victims+=("$p" "${kids[@]}")
  # Shim API socket, as containerd's shim.SocketAddress names it:
  # /run/containerd/s/sha256(<containerd address>/<ns>/<id>). SIGKILL leaves it.
  if [[ -n "$ns" && -n "$id" ]]; then
    shim_socks+=("$SOCKET_DIR/$(printf '%s' "$SOCK/$ns/$id" | sha256sum | cut -d' ' -f1)")
  fi
done
if ((${#victims[@]})); then
  echo "containerd-down: killing shims/containers ${victims[*]}"
  kill -KILL "${victims[@]}" 2>/dev/null || true
  wait_gone 5 "${victims[@]}" || echo "containerd-down: warning: some of ${victims[*]} survived" >&2
fi
for s in "${shim_socks[@]}"; do
  if [[ -S "$s" ]]; then rm -f "$s"; fi
done

# ---- 3. leftover runc/youki state for containers whose bundle is under DIR ----
shopt -s nullglob
for root in ${RUNC_ROOTS:-/run/containerd/runc/* /run/containerd/rust/* /run/runc}; do
  for st in "$root"/*/state.json; do
    grep -qF "\"$DIR/" "$st" 2>/dev/null || continue
    id=$(basename "$(dirname "$st")")
    echo "containerd-down: removing leftover container state $root/$id"
    "$RUNC_BIN" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
    # runc does not understand every state format (e.g. youki/libcontainer's):
    # its processes are dead by now, so drop the state dir itself.
    rm -rf "${root:?}/$id"
  done
done
shopt -u nullglob

# ---- 4. the CRI network ----
if [[ -s "$DIR/cni/bridge" ]]; then
  br=$(cat "$DIR/cni/bridge")
  if [[ "$br" =~ ^[A-Za-z0-9_.-]{1,15}$ ]]; then
    if ip link show "$br" >/dev/null 2>&1; then
      echo "containerd-down: deleting bridge $br"
      ip link del "$br" || echo "containerd-down: warning: could not delete bridge $br" >&2
    fi
    shopt -s nullglob
    for f in /var/lib/cni/results/"$br"-* /var/lib/cni/cache/results/"$br"-*; do rm -f "$f"; done
    shopt -u nullglob
  fi
fi

# ---- 5. mounts ----
# Mount points at/under DIR from mountinfo (field 5, octal-escaped), deepest first.
# shellcheck source=lib/mounts.sh
source "$(dirname "$0")/lib/mounts.sh"
unmount_under "$DIR" containerd-down || exit 1

# ---- 6. remove DIR ----
if [[ -e "$DIR" ]]; then
  rm -rf --one-file-system "$DIR"
fi
echo "containerd-down: $DIR is down"
