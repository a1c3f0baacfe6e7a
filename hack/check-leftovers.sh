#!/usr/bin/env bash
# After the e2e tests, with the private containerd of DIR still up: fails if
# any shim process, runtime state, cgroup, mount or socket of the tests is
# left. Test containers are named e2e-* (cri-* in tests/api). For a CRI=1 containerd (DIR/cni/bridge
# exists) also: no pod sandbox or container in the k8s.io namespace, no
# runtime state in /run/containerd/rust/k8s.io, no pod cgroup (/e2e-cri-*, /cri-*), no
# netns mount under DIR, no veth on the bridge, no host-local IP allocation.
# (The bridge itself lives until hack/containerd-down.sh DIR deletes it.)
# Usage: hack/check-leftovers.sh DIR   (DIR as given to containerd-up.sh)
# Env:   CTR_BIN (default ctr), for the CRI checks
set -euo pipefail
DIR=$(cd "$1" && pwd)
SOCK=$DIR/containerd.sock
# shellcheck source=lib/daemons.sh
source "$(dirname "$0")/lib/daemons.sh"
problems=()

# Give shims that just got their Shutdown a moment to exit.
for _ in $(seq 50); do
  pgrep -f "containerd-shim-rust-v2 .*-address $SOCK( |$)" >/dev/null || break
  sleep 0.1
done
while read -r pid; do
  [[ -n "$pid" ]] && problems+=("shim process $pid: $(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null)")
done < <(pgrep -f "containerd-shim-rust-v2 .*-address $SOCK( |$)" || true)

shopt -s nullglob
for p in /run/containerd/rust/*/{e2e,cri}-* /run/containerd/rust/*/.bundles/{e2e,cri}-*; do
  problems+=("runtime state $p")
done
# v1: /sys/fs/cgroup/<controller>/<namespace>/<id>; v2: /sys/fs/cgroup/<namespace>/<id>,
# and the systemd driver's scopes (e2e-<id>.scope, cri-containerd-<id>.scope).
for p in /sys/fs/cgroup/*/{e2e,cri}-* /sys/fs/cgroup/*/*/{e2e,cri}-* /sys/fs/cgroup/*.slice/*{e2e,cri}-*.scope; do
  problems+=("cgroup $p")
done
while read -r m; do
  problems+=("mount $m")
# e2e- in the part below DIR (DIR's own name may hold it: /tmp/shim-e2e-*),
# so that dockerd's bind mount of its data root under DIR is not counted.
done < <(awk -v d="$DIR" 'index($5, d) == 1 && substr($5, length(d) + 1) ~ /e2e-/ {print $5}' /proc/self/mountinfo)
if [[ -f "$DIR/sockets.before" ]]; then
  sockets=$(shim_socket_dir "$DIR")
  while read -r s; do
    problems+=("socket $sockets/$s")
  done < <(comm -13 <(sort "$DIR/sockets.before") <(ls "$sockets" 2>/dev/null | sort))
fi

if [[ -s "$DIR/cni/bridge" ]]; then
  br=$(cat "$DIR/cni/bridge")
  ctr_k8s() { "${CTR_BIN:-ctr}" --address "$SOCK" -n k8s.io "$@"; }
  while read -r c; do
    [[ -n "$c" ]] && problems+=("k8s.io container $c")
  done < <(ctr_k8s containers ls -q 2>/dev/null || echo "(ctr containers ls failed)")
  while read -r t; do
    [[ -n "$t" ]] && problems+=("k8s.io task $t")
  done < <(ctr_k8s tasks ls -q 2>/dev/null || echo "(ctr tasks ls failed)")
  # Pod cgroups: cgroupfs parents (/e2e-cri-*), the kubelet-style slices
  # the systemd driver's test stops (kubepods-burstable-pode2e_cri_*.slice).
  for p in /run/containerd/rust/k8s.io/* /sys/fs/cgroup/*/{e2e-cri,cri}-* /sys/fs/cgroup/{e2e-cri,cri}-* \
    /sys/fs/cgroup/kubepods.slice/*/*e2e_cri*.slice /sys/fs/cgroup/kubepods.slice/*/*/cri-containerd-*.scope; do
    problems+=("CRI leftover $p")
  done
  while read -r m; do
    problems+=("netns mount $m")
  done < <(awk -v d="$DIR/" '{ fs = ""; for (i = 7; i < NF; i++) if ($i == "-") { fs = $(i + 1); break } }
    index($5, d) == 1 && fs == "nsfs" {print $5}' /proc/self/mountinfo)
  while read -r l; do
    [[ -n "$l" ]] && problems+=("interface on bridge $br: $l")
  done < <(ip -o link show master "$br" 2>/dev/null | awk -F': ' '{print $2}')
  for f in "$DIR"/cni/ipam/*/*; do
    case ${f##*/} in lock | last_reserved_ip.*) ;; *) problems+=("host-local IP allocation $f") ;; esac
  done
fi

if ((${#problems[@]})); then
  echo "check-leftovers: the tests left these behind:" >&2
  printf '  %s\n' "${problems[@]}" >&2
  exit 1
fi
if [[ -s "$DIR/cni/bridge" ]]; then
  echo "check-leftovers: no shim, state dir, cgroup, mount, socket, sandbox, netns, veth or IP allocation left"
else
  echo "check-leftovers: no shim, state dir, cgroup, mount or socket left"
fi
