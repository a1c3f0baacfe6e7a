#!/usr/bin/env bash
# Fetches (once) a given containerd release from Debian and prints the
# directory holding its `containerd` and `ctr` binaries, for use as
#   CONTAINERD_BIN=$DIR/containerd CTR_BIN=$DIR/ctr hack/containerd-up.sh ...
#
# Usage: hack/fetch-containerd.sh VERSION
#   VERSION  1.6  the system package (hack/install-deps.sh): prints /usr/bin
#            1.7  Debian trixie  containerd=1.7.24~ds1-6+deb13u1
#            2.1  Debian sid     containerd=2.1.9+ds1-5
# Env:
#   CONTAINERD_CACHE  cache dir (default
#                     ${XDG_CACHE_HOME:-/var/cache}/containerd-shim-rust-v2/containerd)
#   DEB_VERSION       override the exact Debian version for 1.7/2.1 (e.g. when
#                     the archive has moved on); SUITE overrides the suite.
#
# The system's apt setup is never touched (hack/lib/private-apt.sh: private
# sources list, lists and cache under CONTAINERD_CACHE/apt/<suite>).
# The .deb is unpacked with `dpkg-deb -x` into CONTAINERD_CACHE/<deb version>/;
# its usr/bin also holds that release's own containerd-shim-runc-v2, so put the
# printed dir first on containerd's PATH to make it use its own Go shim.
# Idempotent: once unpacked (and `containerd --version` runs) it prints the dir
# without any network access. Progress goes to stderr; stdout is the dir only.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 1.6|1.7|2.1" >&2
  exit 2
fi
log() { echo "fetch-containerd: $*" >&2; }

case "$1" in
  1.6)
    [[ -x /usr/bin/containerd && -x /usr/bin/ctr ]] ||
      { log "/usr/bin/containerd missing (run hack/install-deps.sh)"; exit 1; }
    echo /usr/bin
    exit 0
    ;;
  1.7) suite=${SUITE:-trixie} deb_version=${DEB_VERSION:-1.7.24~ds1-6+deb13u1} ;;
  2.1) suite=${SUITE:-sid} deb_version=${DEB_VERSION:-2.1.9+ds1-5} ;;
  *)
    echo "usage: $0 1.6|1.7|2.1 (got '$1')" >&2
    exit 2
    ;;
esac

CACHE=${CONTAINERD_CACHE:-${XDG_CACHE_HOME:-/var/cache}/containerd-shim-rust-v2/containerd}
DEST=$CACHE/$deb_version
BIN=$DEST/usr/bin

usable() {
  [[ -x "$BIN/containerd" && -x "$BIN/ctr" ]] &&
    "$BIN/containerd" --version >/dev/null 2>&1 && "$BIN/ctr" --version >/dev/null 2>&1
}

if usable; then
  echo "$BIN"
  exit 0
fi

# shellcheck source=lib/private-apt.sh
source "$(dirname "$0")/lib/private-apt.sh"
deb=$(private_apt_debs "$CACHE" "$suite" "$deb_version" containerd)

log "unpacking $deb into $DEST"
tmp=$DEST.tmp.$$
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
dpkg-deb -x "$deb" "$tmp"
[[ -x "$tmp/usr/bin/containerd" && -x "$tmp/usr/bin/ctr" ]] ||
  { log "$deb has no usr/bin/containerd and usr/bin/ctr"; exit 1; }
rm -rf "$DEST"
mv "$tmp" "$DEST"
trap - EXIT
usable || { log "$BIN/containerd or ctr does not run here"; exit 1; }
log "$("$BIN/containerd" --version)"
echo "$BIN"
