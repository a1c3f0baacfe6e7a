#!/usr/bin/env bash
# Fetches (once) a given containerd release from Debian and prints the
# directory holding its `containerd` and `ctr` binaries, for use as
#   CONTAINERD_BIN=$DIR/containerd CTR_BIN=$DIR/ctr hack/containerd-up.sh ...
#
# Usage: hack/fetch-containerd.sh VERSION
#   VERSION  1.6  the system package (hack/install-deps.sh): prints /usr/bin
#            1.7  Debian trixie  containerd=1.7.24~ds1-6+deb13u1
#            2.1  Debian sid     containerd=2.1.9+ds1-5
#            2.2  containerd 2.2.7's release tarball (Debian has none)
#            2.3  containerd 2.3.4's release tarball (the LTS release)
# 2.2 and 2.3 come from containerd-<v>-linux-<arch>.tar.gz in
# CONTAINERD_TARBALLS (default: ../shared/containerd beside the repository,
# or /work/shared/containerd, where these machines keep them; checked
# against the SHA256SUMS there);
# where that has none, from containerd's GitHub release, checked against the
# .sha256sum file published beside it. Neither: a clear error, exit 1.
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
  echo "usage: $0 1.6|1.7|2.1|2.2|2.3" >&2
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
  2.2) release=2.2.7 ;;
  2.3) release=2.3.4 ;;
  *)
    echo "usage: $0 1.6|1.7|2.1|2.2|2.3 (got '$1')" >&2
    exit 2
    ;;
esac

CACHE=${CONTAINERD_CACHE:-${XDG_CACHE_HOME:-/var/cache}/containerd-shim-rust-v2/containerd}
if [[ -n "${release:-}" ]]; then
  DEST=$CACHE/release-$release
  BIN=$DEST/bin
else
  DEST=$CACHE/$deb_version
  BIN=$DEST/usr/bin
fi

usable() {
  [[ -x "$BIN/containerd" && -x "$BIN/ctr" ]] &&
    "$BIN/containerd" --version >/dev/null 2>&1 && "$BIN/ctr" --version >/dev/null 2>&1
}

if usable; then
  echo "$BIN"
  exit 0
fi

tmp=$DEST.tmp.$$
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
if [[ -n "${release:-}" ]]; then
  # A release tarball: bin/containerd, bin/ctr, bin/containerd-shim-runc-v2.
  case "$(uname -m)" in
    x86_64) arch=amd64 ;;
    aarch64) arch=arm64 ;;
    *) log "no containerd release tarball for $(uname -m)"; exit 1 ;;
  esac
  name=containerd-$release-linux-$arch.tar.gz
  # Where these machines keep them: beside the checkout, or the workplace's
  # shared folder when the checkout is elsewhere (CI's fresh clone).
  shared=${CONTAINERD_TARBALLS:-}
  if [[ -z "$shared" ]]; then
    for d in "$(cd "$(dirname "$0")/../.." && pwd)/shared/containerd" /work/shared/containerd; do
      if [[ -f "$d/$name" ]]; then shared=$d; break; fi
    done
    shared=${shared:-$(cd "$(dirname "$0")/../.." && pwd)/shared/containerd}
  fi
  mkdir -p "$tmp"
  if [[ -f "$shared/$name" ]]; then
    [[ -f "$shared/SHA256SUMS" ]] || { log "$shared has $name but no SHA256SUMS to check it against"; exit 1; }
    grep -E "  $name\$" "$shared/SHA256SUMS" >"$tmp/sum" ||
      { log "$shared/SHA256SUMS has no line for $name"; exit 1; }
    (cd "$shared" && sha256sum --quiet -c "$tmp/sum") >&2 ||
      { log "$shared/$name does not match its SHA256SUMS line"; exit 1; }
    tarball=$shared/$name
  else
    url=https://github.com/containerd/containerd/releases/download/v$release/$name
    log "$shared has no $name: downloading $url"
    if ! curl -fsSL --retry 2 -o "$tmp/$name" "$url" ||
      ! curl -fsSL --retry 2 -o "$tmp/$name.sha256sum" "$url.sha256sum"; then
      log "containerd $release can be had neither from $shared (set CONTAINERD_TARBALLS) nor from $url"
      exit 1
    fi
    (cd "$tmp" && sha256sum --quiet -c "$name.sha256sum") >&2 ||
      { log "$url does not match its published .sha256sum"; exit 1; }
    tarball=$tmp/$name
  fi
  log "unpacking $tarball into $DEST"
  tar -xzf "$tarball" -C "$tmp" bin
  [[ -x "$tmp/bin/containerd" && -x "$tmp/bin/ctr" ]] ||
    { log "$tarball has no bin/containerd and bin/ctr"; exit 1; }
  rm -f "$tmp/$name" "$tmp/$name.sha256sum" "$tmp/sum"
else
  # shellcheck source=lib/private-apt.sh
  source "$(dirname "$0")/lib/private-apt.sh"
  deb=$(private_apt_debs "$CACHE" "$suite" "$deb_version" containerd)
  log "unpacking $deb into $DEST"
  dpkg-deb -x "$deb" "$tmp"
  [[ -x "$tmp/usr/bin/containerd" && -x "$tmp/usr/bin/ctr" ]] ||
    { log "$deb has no usr/bin/containerd and usr/bin/ctr"; exit 1; }
fi
rm -rf "$DEST"
mv "$tmp" "$DEST"
trap - EXIT
usable || { log "$BIN/containerd or ctr does not run here"; exit 1; }
log "$("$BIN/containerd" --version)"
echo "$BIN"
