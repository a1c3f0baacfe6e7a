#!/usr/bin/env bash
# Regenerates hack/layout/serving.order: the functions of the shim's binary
# that a serving shim runs. build.rs hands the file to the linker
# (lld --symbol-ordering-file), which puts those functions first and next to
# each other. The long-lived server's resident memory is mostly its code
# pages, and each page fault on them maps a 64 KiB window (fault-around): a
# serving path spread over the whole binary keeps most of it resident, a
# dense one keeps a few windows (docs/performance.md, "Memory at rest").
#
# How: a private containerd (hack/containerd-up.sh) whose PATH holds a
# wrapper that runs the shim's `start`, and so the server it launches, under
# valgrind's callgrind (the oci-helper runs are not traced: they are
# separate, short-lived processes). A workload through ctr exercises what
# users do with a serving shim: two containers of one pod, with stdio FIFOs
# and a file:// log, exec with and without a terminal, resize, stats,
# pause/resume, update, kill, wait, delete, and the events. When the shim
# exits, callgrind lists every function it ran; the ones of the shim's own
# binary, as the linker names them (mangled), are the order file, sorted so
# that a change shows as a readable diff. Symbols that a later change
# renames are skipped by the linker; run this again after larger changes.
#
# Usage: hack/layout.sh            (needs root, valgrind; ~2 minutes)
#        hack/layout.sh --check    how much of the list the built binary
#          still has; warns below 80% (hack/test.sh runs it after the build),
#          so that a list gone stale through renames or new dependency
#          versions is seen and regenerated (this one command), never
#          failing a build or the suite
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
# shellcheck source=lib/paths.sh
source hack/lib/paths.sh
OUT=$REPO/hack/layout/serving.order

if [[ "${1:-}" == --check ]]; then
  BIN=$SHIM_RELEASE_DIR/containerd-shim-rust-v2
  [[ -x "$BIN" ]] || { echo "layout: build first ($BIN missing)" >&2; exit 1; }
  if [[ ! -f "$OUT" ]]; then
    echo "layout: warning: no $OUT, so the build applied no link order; run hack/layout.sh" >&2
    exit 0
  fi
  total=$(wc -l <"$OUT")
  found=$(nm "$BIN" | awk '$2 ~ /^[tTwW]$/ {print $3}' | LC_ALL=C sort -u |
    LC_ALL=C comm -12 - "$OUT" | wc -l)
  echo "layout: $found of $total functions in $OUT are in the binary"
  if (( found * 100 < total * 80 )); then
    # A warning, never a failure: a stale list costs memory (the benchmark
    # shows it), not correctness, and a dependency update must not fail CI.
    echo "layout: warning: the list is stale; run hack/layout.sh and commit hack/layout/serving.order" >&2
  fi
  exit 0
fi

command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
cargo build --release --locked --bin containerd-shim-rust-v2
BIN=$SHIM_RELEASE_DIR/containerd-shim-rust-v2

DIR=$(mktemp -d /tmp/shim-layout.XXXXXX)
cleanup() { hack/containerd-down.sh "$DIR" >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT

mkdir -p "$DIR/wrap"
cat >"$DIR/wrap/containerd-shim-rust-v2" <<EOF
#!/bin/sh
# containerd runs "... start" to launch the shim; everything else (delete)
# runs the binary as is.
for a in "\$@"; do
  if [ "\$a" = start ]; then
    exec $(command -v valgrind) -q --tool=callgrind --trace-children=yes \\
      --trace-children-skip-by-arg='*oci-helper*' \\
      --demangle=no --dump-instr=no --callgrind-out-file="$DIR/callgrind.%p" \\
      "$BIN" "\$@"
  fi
done
exec "$BIN" "\$@"
EOF
chmod +x "$DIR/wrap/containerd-shim-rust-v2"

CONTAINERD_PATH=$DIR/wrap hack/containerd-up.sh "$DIR" >/dev/null
# shellcheck disable=SC1091
source "$DIR/env"
C=(ctr -a "$CONTAINERD_ADDRESS" -n "$CONTAINERD_NAMESPACE")
POD=(--runtime io.containerd.rust.v2 --annotation io.containerd.runc.v2.group=layout)

"${C[@]}" events >"$DIR/events.log" 2>&1 &
EVENTS=$!
"${C[@]}" run -d "${POD[@]}" "$TEST_IMAGE" lay-a sh -c 'while :; do echo tick; sleep 0.2; done' >/dev/null
"${C[@]}" run -d "${POD[@]}" --log-uri "file://$DIR/lay-b.log" "$TEST_IMAGE" lay-b sh -c 'echo out; echo err >&2; exec sleep 1000' >/dev/null
"${C[@]}" run --rm "${POD[@]}" "$TEST_IMAGE" lay-c sh -c 'echo hello; exit 3' >/dev/null || true
"${C[@]}" task exec --exec-id e1 lay-a sh -c 'echo exec-out; echo exec-err >&2; exit 5' >/dev/null 2>&1 || true
# ctr sends CloseIO at the end of its stdin only once it has the process:
# the input ends a moment after the exec exists (the shim, as the Go shim,
# ends a process's stdin with CloseIO only).
{ echo stdin; sleep 2; } | "${C[@]}" task exec --exec-id e2 lay-b cat >/dev/null
script -qec "${C[*]} task exec -t --exec-id e3 lay-b sh -c 'stty size; exit 0'" /dev/null >/dev/null </dev/null || true
"${C[@]}" task exec --exec-id e4 lay-b sleep 1000 &
sleep 1
"${C[@]}" task kill -s KILL --exec-id e4 lay-b || true
wait $! 2>/dev/null || true
"${C[@]}" task metrics lay-a >/dev/null
"${C[@]}" task ps lay-a >/dev/null
"${C[@]}" task pause lay-b
"${C[@]}" task resume lay-b
"${C[@]}" task update --memory-limit 67108864 lay-b 2>/dev/null || true
"${C[@]}" task ls >/dev/null
for id in lay-a lay-b; do
  "${C[@]}" task kill "$id"
done
sleep 2
for id in lay-a lay-b; do
  "${C[@]}" task kill -s KILL "$id" 2>/dev/null || true
  "${C[@]}" task rm -f "$id" >/dev/null 2>&1 || true
  "${C[@]}" container rm "$id"
done
kill "$EVENTS" 2>/dev/null || true

# The server exits once its last container is deleted; callgrind then
# writes its file.
for _ in $(seq 1 300); do
  pgrep -f "valgrind.*$BIN" >/dev/null || break
  sleep 0.2
done
! pgrep -f "valgrind.*$BIN" >/dev/null || { echo "layout: the profiled shim did not exit" >&2; exit 1; }

# Functions of $BIN in every profile (the `start` and the server). In the
# callgrind format, "ob=(n) path" names an object the first time, later
# "ob=(n)" alone; the same for "fn=(n) name". A name may first appear in a
# callee line (cob=, cfn=), which defines it too.
mkdir -p "$(dirname "$OUT")"
awk -v bin="$BIN" '
  function define(table, s,    id, v) {
    id = s; sub(/ .*/, "", id); v = s; sub(/^\([0-9]+\) ?/, "", v)
    if (v != "") table[FILENAME, id] = v
    return table[FILENAME, id]
  }
  /^ob=/  { cur = define(obj, substr($0, 4)); next }
  /^cob=/ { define(obj, substr($0, 5)); next }
  /^cfn=/ { define(fun, substr($0, 5)); next }
  /^fn=/  { f = define(fun, substr($0, 4)); if (cur == bin && f !~ /^0x/) print f }
' "$DIR"/callgrind.* | LC_ALL=C sort -u >"$OUT.new"
[[ -s "$OUT.new" ]] || { echo "layout: no functions profiled" >&2; exit 1; }
mv "$OUT.new" "$OUT"
echo "layout: $(wc -l <"$OUT") functions in $OUT (from $(ls "$DIR"/callgrind.* | wc -l) profiles)"
