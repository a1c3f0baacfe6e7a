#!/usr/bin/env bash
# A job for the cgroup v2 node (hack/uml/boot.sh): the end-to-end tests
# (tests/e2e.rs, its binary prebuilt on the host: the guest has no cargo)
# against a private containerd, as hack/test.sh runs them: containerd-up
# with runc off containerd's PATH, CTR_BIN set, the shim sockets listed
# before; then hack/check-leftovers.sh and hack/containerd-down.sh. Not the
# --ignored tests (they restart containerd), not tests/api.
#
# Usage: hack/uml/boot.sh plain|systemd hack/uml/e2e.sh [TEST-ARG...]
#   TEST-ARGs go to the test binary after --test-threads=2 (a name filter,
#   --exact, ...). Host first: hack/uml/prepare.sh, and SHIM_RELEASE_DIR
#   holding the release build with its e2e test binary.
# Env (pass with UML_PASS):
#   E2E_BIN         the test binary (default: the newest
#                   $SHIM_RELEASE_DIR/deps/e2e-*)
#   E2E_CONTAINERD  containerd version (default 2.3), fetched on the host
# Writes $UML_OUT/e2e.log: the binary's output, each line prefixed with the
# seconds since it started ("test NAME ... ok" comes when NAME ends).
# Exit: the test binary's status, else check-leftovers'.
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ -n "${UML_MODE:-}" ]] || { echo "e2e: run me with hack/uml/boot.sh MODE $0" >&2; exit 2; }
fail() { echo "e2e: FAILED: $*" >&2; exit 1; }

E2E_BIN=${E2E_BIN:-$(find "$SHIM_RELEASE_DIR/deps" -maxdepth 1 -type f -name 'e2e-*' ! -name '*.d' -printf '%T@ %p\n' 2>/dev/null |
  sort -rn | head -n 1 | cut -d' ' -f2-)}
[[ -n "$E2E_BIN" && -x "$E2E_BIN" ]] || fail "no e2e test binary in $SHIM_RELEASE_DIR/deps (cargo test --release --test e2e --no-run on the host)"
version=${E2E_CONTAINERD:-2.3}
bin=$(hack/fetch-containerd.sh "$version") ||
  fail "containerd $version is not in the cache: run hack/uml/prepare.sh $version on the host"

DIR=$(mktemp -d /run/shim-e2e.XXXXXX)
trap 'hack/containerd-down.sh "$DIR"' EXIT
CONTAINERD_BIN=$bin/containerd CTR_BIN=$bin/ctr CONTAINERD_PATH=$SHIM_RELEASE_DIR \
  hack/containerd-up.sh "$DIR"
# shellcheck disable=SC1091
source "$DIR/env"
ls "$SHIM_SOCKET_DIR" >"$DIR/sockets.before" 2>/dev/null || true

echo "e2e: $E2E_BIN on containerd $CONTAINERD_VERSION ($UML_MODE)"
log=$UML_OUT/e2e.log
SECONDS=0
set +e
CTR_BIN=$bin/ctr "$E2E_BIN" --test-threads=2 "$@" 2>&1 |
  while IFS= read -r line; do printf '[%5d] %s\n' "$SECONDS" "$line"; done | tee "$log"
rc=${PIPESTATUS[0]}
set -e
echo "e2e: the test binary exited $rc after $SECONDS s"
if ! CTR_BIN=$bin/ctr hack/check-leftovers.sh "$DIR"; then
  ((rc)) || rc=1
fi
exit "$rc"
