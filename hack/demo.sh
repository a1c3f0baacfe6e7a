#!/usr/bin/env bash
# The demo: sets everything up on a fresh Debian 12 machine (packages, the
# shim, a busybox image, a private containerd) and runs real containers
# through containerd-shim-rust-v2, then tears it all down again.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
# shellcheck source=lib/paths.sh
source hack/lib/paths.sh

hack/install-deps.sh
cargo build --release --locked
DIR=$(mktemp -d /tmp/shim-demo.XXXXXX)
trap 'hack/containerd-down.sh "$DIR" >/dev/null' EXIT
# runc is deliberately not on containerd's PATH: the shim embeds its runtime.
CONTAINERD_PATH="$SHIM_RELEASE_DIR" hack/containerd-up.sh "$DIR" >/dev/null
# shellcheck disable=SC1091
source "$DIR/env"
RT=io.containerd.rust.v2

echo "\$ ctr run --rm --runtime $RT busybox demo sh -c '...'"
ctr run --rm --runtime $RT "$TEST_IMAGE" demo \
  sh -c 'echo "hello from a container run by containerd-shim-rust-v2"; echo "pid $$, hostname $(hostname)"; grep -E "^0::|memory" /proc/self/cgroup'

echo
echo "\$ ctr run --rm --runtime $RT busybox demo-exit sh -c 'exit 7'"
set +e
ctr run --rm --runtime $RT "$TEST_IMAGE" demo-exit sh -c 'exit 7'
echo "exit status: $?"
set -e

echo
echo "A pod: two containers with the same sandbox id share one shim process."
for c in pod-a pod-b; do
  ctr run -d --null-io --runtime $RT --annotation io.kubernetes.cri.sandbox-id=demo-pod "$TEST_IMAGE" $c sleep 60
done
ctr task ls
echo "shim processes: $(pgrep -fc "containerd-shim-rust-v2 .*-address $CONTAINERD_ADDRESS") (for 2 containers)"

echo
echo "\$ ctr task exec --exec-id hello pod-a sh -c 'echo ...'"
ctr task exec --exec-id hello pod-a sh -c 'echo "hello from an exec in $(hostname)"'
echo "\$ ctr task pause pod-a; ctr task ls; ctr task resume pod-a"
ctr task pause pod-a
ctr task ls
ctr task resume pod-a
echo "\$ ctr task metrics pod-a"
ctr task metrics pod-a
for c in pod-a pod-b; do
  ctr task kill -s SIGKILL $c
done
for c in pod-a pod-b; do
  # -f: the kill above may not have landed yet.
  ctr task rm -f $c >/dev/null
  ctr container rm $c
done
echo "demo done"
