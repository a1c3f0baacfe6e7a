#!/usr/bin/env bash
# Installs (idempotently, via apt-get) the Debian packages needed to build and
# test containerd-shim-rust-v2: containerd, runc, a static busybox for the test
# image, build deps (libseccomp, pkg-config; no protoc: build.rs parses the
# protos in Rust) and test tooling,
# user-mode-linux and dbus for the cgroup v2 node (hack/uml/boot.sh: its
# systemd set-up runs the host's systemd and dbus).
# Only packages that are missing are installed; `apt-get update` runs only then.
# No system containerd is started or used by our tests (they run a private one,
# see hack/containerd-up.sh).
set -euo pipefail

PKGS=(
  containerd runc busybox-static libseccomp-dev pkg-config
  iptables containernetworking-plugins util-linux procps psmisc dbus
)
# Debian builds user-mode-linux for amd64 only (hack/test.sh runs the v2
# node only there).
[[ "$(dpkg --print-architecture)" != amd64 ]] || PKGS+=(user-mode-linux)

missing=()
for p in "${PKGS[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ "$status" == ii* ]] || missing+=("$p")
done

# libseccomp.a where .cargo/config.toml looks for it (LIBSECCOMP_LIB_PATH),
# from this architecture's multiarch dir.
link_libseccomp() {
  local multiarch lib dir=/usr/local/lib/containerd-shim-rust-v2
  multiarch=$(gcc -print-multiarch 2>/dev/null || true)
  lib=/usr/lib/${multiarch:-unknown}/libseccomp.a
  [[ -f "$lib" ]] || { echo "install-deps: $lib missing (libseccomp-dev for ${multiarch:-this architecture})" >&2; return 1; }
  $SUDO mkdir -p "$dir"
  [[ "$(readlink "$dir/libseccomp.a" 2>/dev/null)" == "$lib" ]] || $SUDO ln -sfn "$lib" "$dir/libseccomp.a"
}
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"

if ((${#missing[@]} == 0)); then
  link_libseccomp
  echo "install-deps: all packages already installed"
  exit 0
fi

echo "install-deps: installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d exit 101 stops maintainer scripts from starting daemons (no systemd
# here anyway); removed afterwards only if we created it.
created_policy=""
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  created_policy=1
fi
trap '[[ -n "$created_policy" ]] && $SUDO rm -f /usr/sbin/policy-rc.d' EXIT

$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
link_libseccomp
echo "install-deps: done"
