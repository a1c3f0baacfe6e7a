#!/usr/bin/env bash
# After the e2e tests, with the private containerd of DIR still up: fails if
# any shim process, runtime state, cgroup, mount or socket of the tests is
# left. Test containers are named e2e-*.
# Usage: hack/check-leftovers.sh DIR   (DIR as given to containerd-up.sh)
set -euo pipefail
DIR=$(cd "$1" && pwd)
SOCK=$DIR/containerd.sock
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
for p in /run/containerd/rust/*/e2e-* /run/containerd/rust/*/.bundles/e2e-*; do
  problems+=("runtime state $p")
done
for p in /sys/fs/cgroup/*/*/e2e-*; do
  problems+=("cgroup $p")
done
while read -r m; do
  problems+=("mount $m")
done < <(awk -v d="$DIR" 'index($5, d) == 1 && $5 ~ /e2e-/ {print $5}' /proc/self/mountinfo)
if [[ -f "$DIR/sockets.before" ]]; then
  while read -r s; do
    problems+=("socket /run/containerd/s/$s")
  done < <(comm -13 <(sort "$DIR/sockets.before") <(ls /run/containerd/s 2>/dev/null | sort))
fi

if ((${#problems[@]})); then
  echo "check-leftovers: the tests left these behind:" >&2
  printf '  %s\n' "${problems[@]}" >&2
  exit 1
fi
echo "check-leftovers: no shim, state dir, cgroup, mount or socket left"
