#!/usr/bin/env bash
# Starts a PRIVATE containerd whose config, root, state, sockets and logs all
# live under DIR (never the system daemon's /run/containerd sockets), with our
# shim's directory first on its PATH, then imports the busybox test image.
#
# Usage: hack/containerd-up.sh DIR
# Env:
#   SHIM_BIN_DIR    dir holding containerd-shim-rust-v2 (default <repo>/target/<host triple>/release)
#   CONTAINERD_BIN  containerd binary (default /usr/bin/containerd)
#   CTR_BIN         ctr binary (default: ctr next to CONTAINERD_BIN, else `ctr`)
#   CONTAINERD_PATH PATH for containerd and the shims it starts (default
#                   SHIM_BIN_DIR:$PATH; the test suite leaves runc out of it)
#   TEST_IMAGE_TAR  cached image tarball (default
#                   ${XDG_CACHE_HOME:-/var/cache}/containerd-shim-rust-v2/busybox.tar)
# Writes: DIR/config.toml DIR/containerd.log DIR/containerd.pid DIR/env
#   (DIR/env is sourceable: CONTAINERD_ADDRESS, CONTAINERD_NAMESPACE,
#    SHIM_TEST_DIR, TEST_IMAGE, CONTAINERD_VERSION=x.y.z, SHIM_SOCKET_DIR:
#    DIR/s for 2.3+, which containerd passes on as socket_dir) and
#   DIR/{root,state,tmp,opt}.
# containerd 1.x (1.6, 1.7) gets a config `version = 2`, 2.0-2.2 a
# `version = 3`, 2.3 and later a `version = 4` (its server addresses are
# plugins: io.containerd.server.v1.grpc, .ttrpc, .debug, .metrics); all
# disable CRI (1.x: io.containerd.grpc.v1.cri; 2.x: that and
# io.containerd.cri.v1.{runtime,images}) and, on 2.x, NRI (its socket and
# plugin dirs are pointed into DIR anyway). hack/fetch-containerd.sh fetches
# 1.7, 2.1, 2.2 and 2.3: CONTAINERD_BIN=$(hack/fetch-containerd.sh 2.3)/containerd.
# With CRI=1 the CRI plugin is enabled instead (what kubelet talks to): its
# root and state under DIR's, runtime handler `rust` (runtime_type
# io.containerd.rust.v2, with an options table, so the CRI plugin sends
# runtimeoptions.v1.Options), a locally built pause image as the sandbox
# image, and a CNI `bridge` network (host-local IPAM on a private /24, its
# state under DIR/cni) with Debian's plugins from /usr/lib/cni. The bridge
# (CRI_BRIDGE, default shimcri-<hash of DIR>) and the subnet (CRI_SUBNET,
# default 10.234.<0-255>.0/24 from the same hash) are per DIR. busybox and
# pause are then imported into the k8s.io namespace too, and DIR/env also
# exports CRI_ADDRESS (the containerd socket), CRI_PAUSE_IMAGE, CRI_BRIDGE.
# Stop it with hack/containerd-down.sh DIR.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
HACK=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HACK/.." && pwd)
# shellcheck source=lib/paths.sh
source "$HACK/lib/paths.sh"
mkdir -p "$1"
DIR=$(cd "$1" && pwd)

SHIM_BIN_DIR=${SHIM_BIN_DIR:-$SHIM_RELEASE_DIR}
CONTAINERD_BIN=${CONTAINERD_BIN:-/usr/bin/containerd}
if [[ -z "${CTR_BIN:-}" ]]; then
  CTR_BIN=ctr
  if [[ -x "$(dirname "$CONTAINERD_BIN")/ctr" ]]; then CTR_BIN=$(dirname "$CONTAINERD_BIN")/ctr; fi
fi
TEST_IMAGE=docker.io/library/busybox:latest
TEST_IMAGE_TAR=${TEST_IMAGE_TAR:-${XDG_CACHE_HOME:-/var/cache}/containerd-shim-rust-v2/busybox.tar}
PAUSE_IMAGE=localhost/containerd-shim-rust-v2/pause:latest
PAUSE_IMAGE_TAR=${PAUSE_IMAGE_TAR:-${XDG_CACHE_HOME:-/var/cache}/containerd-shim-rust-v2/pause.tar}
CRI=${CRI:-0}
[[ "$CRI" == 0 || "$CRI" == 1 ]] || { echo "containerd-up: CRI must be 0 or 1, not $CRI" >&2; exit 2; }
SOCK=$DIR/containerd.sock
PIDFILE=$DIR/containerd.pid
LOG=$DIR/containerd.log

[[ -x "$CONTAINERD_BIN" ]] || { echo "containerd-up: $CONTAINERD_BIN not executable (run hack/install-deps.sh)" >&2; exit 1; }
[[ -e "$SHIM_BIN_DIR/containerd-shim-rust-v2" ]] ||
  echo "containerd-up: warning: $SHIM_BIN_DIR/containerd-shim-rust-v2 does not exist (yet)" >&2

if [[ -s "$PIDFILE" ]]; then
  old=$(cat "$PIDFILE")
  if kill -0 "$old" 2>/dev/null && grep -qa containerd "/proc/$old/cmdline" 2>/dev/null; then
    echo "containerd-up: a containerd (pid $old) is already running for $DIR; run hack/containerd-down.sh $DIR first" >&2
    exit 1
  fi
  rm -f "$PIDFILE"
fi

# "containerd github.com/containerd/containerd 1.6.20~ds1 ..." or
# "containerd github.com/containerd/containerd/v2 2.1.9+unknown": keep x.y.z.
CONTAINERD_VERSION=$("$CONTAINERD_BIN" --version | awk '{print $3}' | grep -oE '^v?[0-9]+\.[0-9]+\.[0-9]+' | tr -d v || true)
[[ -n "$CONTAINERD_VERSION" ]] ||
  { echo "containerd-up: cannot tell the version of $CONTAINERD_BIN: $("$CONTAINERD_BIN" --version 2>&1)" >&2; exit 1; }
CONTAINERD_MAJOR=${CONTAINERD_VERSION%%.*}
CONTAINERD_MINOR=${CONTAINERD_VERSION#*.}
CONTAINERD_MINOR=${CONTAINERD_MINOR%%.*}
if ((CONTAINERD_MAJOR < 2)); then
  CONFIG_VERSION=2
elif ((CONTAINERD_MAJOR == 2 && CONTAINERD_MINOR < 3)); then
  CONFIG_VERSION=3
else
  CONFIG_VERSION=4
fi

mkdir -p "$DIR/root" "$DIR/state" "$DIR/tmp" "$DIR/opt"
# Where the shims put their sockets: containerd's default, or with 2.3 a
# directory of DIR's that containerd names in socket_dir (at most 42 bytes,
# containerd's limit: else the default).
SHIM_SOCKET_DIR=/run/containerd/s
if ((CONFIG_VERSION >= 4 && ${#DIR} + 2 <= 42)); then
  SHIM_SOCKET_DIR=$DIR/s
fi

if ((CRI)); then
  hash=$(printf '%s' "$DIR" | sha256sum | cut -c1-6)
  CRI_BRIDGE=${CRI_BRIDGE:-shimcri-$hash}
  CRI_SUBNET=${CRI_SUBNET:-10.234.$((16#${hash:0:2})).0/24}
  ((${#CRI_BRIDGE} <= 15)) || { echo "containerd-up: CRI_BRIDGE=$CRI_BRIDGE is longer than 15 characters" >&2; exit 2; }
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] ||
    { echo "containerd-up: CNI plugins missing in /usr/lib/cni (run hack/install-deps.sh)" >&2; exit 1; }
  if ip link show "$CRI_BRIDGE" >/dev/null 2>&1; then
    echo "containerd-up: bridge $CRI_BRIDGE exists already (another containerd-up for $DIR?)" >&2
    exit 1
  fi
  # The network's name is the bridge's: libcni's cache (/var/lib/cni) names
  # its entries after it, and hack/containerd-down.sh removes them by it.
  mkdir -p "$DIR/cni/net.d" "$DIR/cni/ipam"
  echo "$CRI_BRIDGE" >"$DIR/cni/bridge"
  cat >"$DIR/cni/net.d/10-$CRI_BRIDGE.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$CRI_BRIDGE",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CRI_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$DIR/cni/ipam",
        "ranges": [[{"subnet": "$CRI_SUBNET"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
  DISABLED_1='' DISABLED_2=''
else
  DISABLED_1='"io.containerd.grpc.v1.cri"'
  DISABLED_2='"io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images"'
fi

# The part of the config every version shares. $1: config version,
# $2: the disabled plugins (CRI is off unless CRI=1: the other tests drive
# containerd with ctr and its gRPC API).
base_config() {
  cat <<EOF
# Private containerd for containerd-shim-rust-v2 tests (hack/containerd-up.sh).
version = $1
root = "$DIR/root"
state = "$DIR/state"
temp = "$DIR/tmp"
disabled_plugins = [$2]
EOF
  if (($1 < 4)); then
    cat <<EOF

[grpc]
  address = "$SOCK"

[ttrpc]
  address = "$SOCK.ttrpc"

[debug]
  level = "debug"
  address = "$DIR/debug.sock"

[metrics]
  address = ""

[plugins]
EOF
  else
    cat <<EOF

[debug]
  level = "debug"

[plugins]
  [plugins."io.containerd.server.v1.grpc"]
    address = "$SOCK"
  [plugins."io.containerd.server.v1.ttrpc"]
    address = "$SOCK.ttrpc"
  [plugins."io.containerd.server.v1.debug"]
    address = "$DIR/debug.sock"
  [plugins."io.containerd.server.v1.metrics"]
    address = ""
EOF
  fi
  cat <<EOF
  # Default snapshotter for clients (ctr) is overlayfs; keep its defaults.
  [plugins."io.containerd.snapshotter.v1.overlayfs"]
    root_path = ""
EOF
}

if ((CONTAINERD_MAJOR >= 2)); then
  # Sections only for plugins this build has (`config default` lists them all).
  defaults=$("$CONTAINERD_BIN" config default 2>/dev/null || true)
  has_plugin() { grep -qF "[plugins.'$1']" <<<"$defaults"; }
  # Without the CRI plugins, 2.x logs "failed to load plugin" warnings for
  # io.containerd.podsandbox.controller.v1.podsandbox and
  # io.containerd.grpc.v1.sandbox-controllers (they need CRI); harmless for ctr.
  {
    base_config "$CONFIG_VERSION" "$DISABLED_2"
    if has_plugin io.containerd.internal.v1.opt; then
      printf '  [plugins."io.containerd.internal.v1.opt"]\n    path = "%s"\n' "$DIR/opt"
    fi
    if has_plugin io.containerd.nri.v1.nri; then
      printf '  [plugins."io.containerd.nri.v1.nri"]\n    disable = true\n    socket_path = "%s"\n    plugin_path = "%s"\n    plugin_config_path = "%s"\n' \
        "$DIR/nri.sock" "$DIR/nri/plugins" "$DIR/nri/conf.d"
    fi
    if ((CONFIG_VERSION >= 4)); then
      # 2.3 tells the shim where to put its socket (BootstrapParams'
      # socket_dir); a directory of DIR's, to see it used.
      printf '  [plugins."io.containerd.shim.v1.manager"]\n    socket_dir = "%s"\n' "$SHIM_SOCKET_DIR"
    fi
    if has_plugin io.containerd.image-verifier.v1.bindir; then
      printf '  [plugins."io.containerd.image-verifier.v1.bindir"]\n    bin_dir = "%s"\n' "$DIR/opt/image-verifier/bin"
    fi
    if ((CRI)); then
      cat <<EOF
  [plugins."io.containerd.grpc.v1.cri"]
    stream_server_port = "0"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "$PAUSE_IMAGE"
  [plugins."io.containerd.cri.v1.runtime"]
    netns_mounts_under_state_dir = true
    restrict_oom_score_adj = true
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.rust]
      runtime_type = "io.containerd.rust.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.rust.options]
        NoNewKeyring = true
    [plugins."io.containerd.cri.v1.runtime".cni]
      bin_dirs = ["/usr/lib/cni"]
      conf_dir = "$DIR/cni/net.d"
EOF
    fi
  } >"$DIR/config.toml"
else
  {
    base_config 2 "$DISABLED_1"
    printf '  [plugins."io.containerd.internal.v1.opt"]\n    path = "%s"\n' "$DIR/opt"
    if ((CRI)); then
      cat <<EOF
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "$PAUSE_IMAGE"
    stream_server_port = "0"
    netns_mounts_under_state_dir = true
    restrict_oom_score_adj = true
    # 1.x replaces the default runtimes map with this one: runc is not in it.
    [plugins."io.containerd.grpc.v1.cri".containerd]
      default_runtime_name = "rust"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.rust]
      runtime_type = "io.containerd.rust.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.rust.options]
        NoNewKeyring = true
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "$DIR/cni/net.d"
EOF
    fi
  } >"$DIR/config.toml"
fi

# setsid: own session, so the daemon outlives the shell/job that started it.
CONTAINERD_PATH=${CONTAINERD_PATH:-$SHIM_BIN_DIR:$PATH}
setsid env PATH="$CONTAINERD_PATH" "$CONTAINERD_BIN" --config "$DIR/config.toml" \
  </dev/null >>"$LOG" 2>&1 &
pid=$!
echo "$pid" >"$PIDFILE"

fail() {
  echo "containerd-up: $*" >&2
  echo "---- last lines of $LOG ----" >&2
  tail -n 30 "$LOG" >&2 || true
  kill "$pid" 2>/dev/null || true
  exit 1
}

run_ctr() { "$CTR_BIN" --address "$SOCK" -n default "$@"; }

for ((i = 0; ; i++)); do
  kill -0 "$pid" 2>/dev/null || fail "containerd (pid $pid) exited during startup"
  run_ctr version >/dev/null 2>&1 && break
  ((i < 100)) || fail "containerd did not answer on $SOCK within 20 s"
  sleep 0.2
done
echo "containerd-up: containerd $CONTAINERD_VERSION pid $pid listening on $SOCK"

bash "$HACK/build-image.sh" "$TEST_IMAGE_TAR" "$TEST_IMAGE"
run_ctr images import "$TEST_IMAGE_TAR" || fail "image import failed"
# The list is read whole first: `grep -q` stops reading at its match, and
# with pipefail ctr's EPIPE on a longer list would fail the check.
images=$(run_ctr images ls -q) || fail "ctr images ls failed"
grep -Fxq "$TEST_IMAGE" <<<"$images" || fail "$TEST_IMAGE missing after import"
if ((CRI)); then
  # A CRI plugin that fails to load (bad config) only logs a warning.
  # `ctr plugins ls`: TYPE ID PLATFORMS STATUS (the CRI service is type
  # io.containerd.grpc.v1, id cri, in 1.x and 2.x).
  run_ctr plugins ls | awk '$1 == "io.containerd.grpc.v1" && $2 == "cri" && $NF == "ok" {f = 1} END {exit !f}' ||
    fail "the CRI plugin did not load: $(run_ctr plugins ls | grep -wF cri || true)"
  # The pause container (build-image.sh knows its command).
  bash "$HACK/build-image.sh" "$PAUSE_IMAGE_TAR" "$PAUSE_IMAGE"
  for tar in "$TEST_IMAGE_TAR" "$PAUSE_IMAGE_TAR"; do
    "$CTR_BIN" --address "$SOCK" -n k8s.io images import "$tar" || fail "image import of $tar into k8s.io failed"
  done
  images=$("$CTR_BIN" --address "$SOCK" -n k8s.io images ls -q) || fail "ctr -n k8s.io images ls failed"
  for img in "$TEST_IMAGE" "$PAUSE_IMAGE"; do
    grep -Fxq "$img" <<<"$images" || fail "$img missing in k8s.io after import"
  done
fi

printf 'export %s=%q\n' CONTAINERD_ADDRESS "$SOCK" CONTAINERD_NAMESPACE default \
  SHIM_TEST_DIR "$DIR" TEST_IMAGE "$TEST_IMAGE" CONTAINERD_VERSION "$CONTAINERD_VERSION" \
  SHIM_SOCKET_DIR "$SHIM_SOCKET_DIR" >"$DIR/env"
if ((CRI)); then
  printf 'export %s=%q\n' CRI_ADDRESS "$SOCK" CRI_PAUSE_IMAGE "$PAUSE_IMAGE" CRI_BRIDGE "$CRI_BRIDGE" >>"$DIR/env"
fi
echo "containerd-up: ready; source $DIR/env"
