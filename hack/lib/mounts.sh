# shellcheck shell=bash
# Sourced by hack/containerd-down.sh and hack/docker-down.sh.
#
# unmount_under DIR NAME
#   Unmounts every mount point at or under DIR, deepest first (from
#   /proc/self/mountinfo, whose field 5 is octal-escaped), up to three
#   rounds, lazily where a plain umount fails. Returns 1, naming what is
#   left on stderr as NAME, if anything is still mounted there.
mounts_under() {
  awk -v dir="$1" '{
      m = $5
      while (match(m, /\\[0-7][0-7][0-7]/)) {
        c = sprintf("%c", (substr(m, RSTART+1, 1) * 64) + (substr(m, RSTART+2, 1) * 8) + substr(m, RSTART+3, 1))
        m = substr(m, 1, RSTART-1) c substr(m, RSTART+4)
      }
      if (m == dir || index(m, dir "/") == 1) print length(m) "\t" m
    }' /proc/self/mountinfo | sort -rn | cut -f2-
}

unmount_under() {
  local dir=$1 name=$2 m
  local -a mnts
  for _ in 1 2 3; do
    mapfile -t mnts < <(mounts_under "$dir")
    ((${#mnts[@]})) || break
    for m in "${mnts[@]}"; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
  done
  mapfile -t mnts < <(mounts_under "$dir")
  if ((${#mnts[@]})); then
    echo "$name: mounts still present under $dir, not removing it:" >&2
    printf '  %s\n' "${mnts[@]}" >&2
    return 1
  fi
}
