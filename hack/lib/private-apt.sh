# shellcheck shell=bash
# Sourced by hack/fetch-containerd.sh and hack/fetch-docker.sh: downloads
# .debs of another Debian suite without touching the system's apt setup. A
# private one-line sources list, lists dir and apt cache dir under
# CACHE/apt/SUITE serve `apt-get update` and `apt-get download` (apt warns
# that the download runs unsandboxed as root because `_apt` cannot write
# there: harmless).
#
# private_apt_debs CACHE SUITE VERSION PACKAGE...
#   Prints the path of each PACKAGE_VERSION_*.deb, one a line, downloading
#   those not cached yet (one `apt-get update` for all). Progress goes to
#   stderr. Needs a `log` function.
private_apt_debs() {
  local cache=$1 suite=$2 version=$3
  shift 3
  local tool pkg deb aptdir=$cache/apt/$suite
  local -a missing=() apt
  for tool in apt-get dpkg-deb; do
    command -v "$tool" >/dev/null || { log "$tool is needed"; return 1; }
  done
  mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$aptdir/debs"
  # target-=DEP-11: skip the AppStream metadata that appstream's apt.conf.d adds.
  echo "deb [target-=DEP-11] http://deb.debian.org/debian $suite main" >"$aptdir/sources.list"
  apt=(
    apt-get -q
    -o "Dir::Etc::sourcelist=$aptdir/sources.list"
    -o "Dir::Etc::sourceparts=-"
    -o "Dir::State::Lists=$aptdir/lists"
    -o "Dir::Cache=$aptdir/cache"
    -o "APT::Get::List-Cleanup=0"
  )
  for pkg in "$@"; do
    compgen -G "$aptdir/debs/${pkg}_${version}_*.deb" >/dev/null || missing+=("$pkg=$version")
  done
  if ((${#missing[@]})); then
    log "apt-get update ($suite, private lists in $aptdir)"
    "${apt[@]}" update >&2
    log "apt-get download ${missing[*]}"
    (cd "$aptdir/debs" && "${apt[@]}" download "${missing[@]}" >&2)
  fi
  for pkg in "$@"; do
    deb=$(compgen -G "$aptdir/debs/${pkg}_${version}_*.deb" | head -n1 || true)
    [[ -n "$deb" ]] || { log "download produced no ${pkg}_${version}_*.deb in $aptdir/debs"; return 1; }
    echo "$deb"
  done
}
