#!/usr/bin/env bash
# Fetches (once) Docker Engine (dockerd) and the docker CLI from Debian and
# prints the directory holding their `dockerd` and `docker` binaries, for use as
#   DOCKER_BIN_DIR=$(hack/fetch-docker.sh) hack/docker-up.sh DIR ...
#
# Usage: hack/fetch-docker.sh
#   Debian sid: docker.io=28.5.2+dfsg4-5 (dockerd, docker-proxy) and
#               docker-cli=28.5.2+dfsg4-5 (docker), Docker Engine 28.5.2.
# Env:
#   DOCKER_CACHE  cache dir (default
#                 ${XDG_CACHE_HOME:-/var/cache}/containerd-shim-rust-v2/docker)
#   DEB_VERSION   override the exact Debian version (e.g. when the archive has
#                 moved on); SUITE overrides the suite.
#
# Like hack/fetch-containerd.sh, the system's apt setup is never touched
# (hack/lib/private-apt.sh, under DOCKER_CACHE/apt/<suite>). Both .debs are unpacked with `dpkg-deb -x` into
# DOCKER_CACHE/<deb version>/; dockerd (usr/sbin) is linked next to docker
# (usr/bin) in DOCKER_CACHE/<deb version>/bin, the printed dir. Nothing is
# installed: no docker group, no systemd unit, no /etc/docker.
# Idempotent: once unpacked (and `dockerd --version` and `docker --version`
# run) it prints the dir without any network access. Progress goes to
# stderr; stdout is the dir only.
set -euo pipefail

if [[ $# -ne 0 ]]; then
  echo "usage: $0" >&2
  exit 2
fi
log() { echo "fetch-docker: $*" >&2; }

suite=${SUITE:-sid}
deb_version=${DEB_VERSION:-28.5.2+dfsg4-5}
CACHE=${DOCKER_CACHE:-${XDG_CACHE_HOME:-/var/cache}/containerd-shim-rust-v2/docker}
DEST=$CACHE/$deb_version
BIN=$DEST/bin

usable() {
  [[ -x "$BIN/dockerd" && -x "$BIN/docker" ]] &&
    "$BIN/dockerd" --version >/dev/null 2>&1 && "$BIN/docker" --version >/dev/null 2>&1
}

if usable; then
  echo "$BIN"
  exit 0
fi

# shellcheck source=lib/private-apt.sh
source "$(dirname "$0")/lib/private-apt.sh"
mapfile -t debs < <(private_apt_debs "$CACHE" "$suite" "$deb_version" docker.io docker-cli)
((${#debs[@]} == 2)) || exit 1

log "unpacking into $DEST"
tmp=$DEST.tmp.$$
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
for deb in "${debs[@]}"; do
  dpkg-deb -x "$deb" "$tmp"
done
[[ -x "$tmp/usr/sbin/dockerd" && -x "$tmp/usr/bin/docker" ]] ||
  { log "the .debs have no usr/sbin/dockerd and usr/bin/docker"; exit 1; }
mkdir -p "$tmp/bin"
for f in "$tmp"/usr/sbin/* "$tmp"/usr/bin/*; do ln -s "../${f#"$tmp"/}" "$tmp/bin/${f##*/}"; done
rm -rf "$DEST"
mv "$tmp" "$DEST"
trap - EXIT
usable || { log "$BIN/dockerd or docker does not run here"; exit 1; }
log "$("$BIN/dockerd" --version); $("$BIN/docker" --version)"
echo "$BIN"
