#!/usr/bin/env bash
# The cgroup v2 node: boots user-mode-linux (/usr/bin/linux.uml, a real
# Linux 6.1 with cgroup v2, 1 CPU) over the host's / read-only (hostfs),
# runs JOB in it as root, streams the guest's console to stdout and exits
# with JOB's exit status. For cgroup v2 tests on a cgroup v1 host.
#
# Usage: hack/uml/boot.sh MODE JOB [ARG...]
#   MODE  plain    our own PID 1 (hack/uml/init.sh): cgroup2 mounted by it,
#                  no systemd; the cgroupfs driver's world.
#         systemd  systemd 252 as PID 1, with dbus (an overlay root: /etc
#                  and /var writable in a tmpfs upper layer); systemd's own
#                  cgroup2 tree, systemd-run works.
#   JOB   an executable on the host's filesystem (read-only in the guest),
#         run with ARGs, cwd the repository's root, stdin /dev/null. Not
#         under /tmp, /run, /var/lib, /var/log (tmpfs in the guest) unless
#         in UML_OUT.
# Env:
#   UML_OUT      host dir the guest can write, at the same path in the guest
#                (default: a new /tmp/shim-uml.XXXXXX, kept; only
#                [A-Za-z0-9._/-] in its path). The job finds it in $UML_OUT.
#                Its .uml/ is the harness's: cmd, env, rc, console.log.
#   UML_PASS     names of host variables to pass to the job ("VAR1 VAR2")
#   UML_ENV      a file of KEY=VALUE lines (taken literally; # comments) for
#                the job's env, after UML_PASS's
#   UML_TIMEOUT  wall-clock seconds before linux.uml is killed (default 2400)
#   UML_MEM      the guest's memory (default 2G; its tmpfs live in it)
#   UML_BIN      the UML kernel (default /usr/bin/linux.uml)
#   SHIM_RELEASE_DIR  passed on (default hack/lib/paths.sh's, which needs
#                rustc on the host; the guest has none)
# The job's env is only: PATH (system dirs, no rustc), HOME=/root, TMPDIR=/tmp
# (a tmpfs), LANG, TERM, UML_MODE, UML_OUT, UML_CWD, SHIM_RELEASE_DIR and
# UML_PASS's and UML_ENV's variables. Writable in the guest: /run, /tmp,
# /dev/shm, /var/lib, /var/log (tmpfs in plain mode; in systemd mode /run and
# /tmp are tmpfs, the rest of / the overlay), UML_OUT; /etc only in systemd
# mode. /var/cache/containerd-shim-rust-v2 is read-only: prepare it on the
# host first (hack/uml/prepare.sh). boot.sh builds nothing.
# Guest modules (overlay, bridge, veth, netfilter): hack/uml/lib.sh.
# Exit: JOB's status; 124 on timeout; 1 when the job left no status (the
# guest crashed, or never got to it). No linux.uml process outlives boot.sh.
set -euo pipefail

if [[ $# -lt 2 || ( "$1" != plain && "$1" != systemd ) ]]; then
  echo "usage: $0 plain|systemd JOB [ARG...]" >&2
  exit 2
fi
MODE=$1 JOB=$2
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
if [[ -z "${SHIM_RELEASE_DIR:-}" ]]; then
  # shellcheck source=hack/lib/paths.sh
  source "$REPO/hack/lib/paths.sh"
fi
UML_BIN=${UML_BIN:-/usr/bin/linux.uml}
UML_MEM=${UML_MEM:-2G}
UML_TIMEOUT=${UML_TIMEOUT:-2400}
log() { echo "uml-boot: $*" >&2; }

[[ -x "$UML_BIN" ]] || { log "$UML_BIN missing (hack/install-deps.sh installs user-mode-linux)"; exit 1; }
[[ "$UML_TIMEOUT" =~ ^[0-9]+$ ]] || { log "UML_TIMEOUT must be seconds, not '$UML_TIMEOUT'"; exit 2; }
JOB=$(realpath -e "$JOB") || { log "no job $JOB"; exit 2; }
[[ -x "$JOB" && -f "$JOB" ]] || { log "$JOB is not executable"; exit 2; }
if [[ -z "${UML_OUT:-}" ]]; then
  UML_OUT=$(mktemp -d /tmp/shim-uml.XXXXXX)
fi
mkdir -p "$UML_OUT"
UML_OUT=$(cd "$UML_OUT" && pwd)
# It travels on the kernel command line: nothing a word split would change.
[[ "$UML_OUT" =~ ^/[A-Za-z0-9._/-]+$ && "$UML_OUT" != / ]] ||
  { log "UML_OUT=$UML_OUT: only [A-Za-z0-9._/-] please (it goes on the kernel command line)"; exit 2; }
# The guest's tmpfs hide the host's files there, all but UML_OUT's.
case "$JOB" in
  "$UML_OUT"/*) ;;
  /tmp/* | /run/* | /var/lib/* | /var/log/* | /dev/shm/*)
    log "$JOB is under a directory the guest has a tmpfs on: put it elsewhere or in UML_OUT"
    exit 2
    ;;
esac
CTL=$UML_OUT/.uml
rm -rf "$CTL"
mkdir -p "$CTL"

# The job's command and env, for hack/uml/run-job.sh.
{ printf 'UML_CMD=('; printf '%q ' "$JOB" "$@"; printf ')\n'; } >"$CTL/cmd"
{
  printf 'export %s=%q\n' UML_MODE "$MODE" UML_OUT "$UML_OUT" UML_CWD "$REPO" \
    SHIM_RELEASE_DIR "$SHIM_RELEASE_DIR"
  for v in ${UML_PASS:-}; do
    [[ "$v" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || { log "UML_PASS: '$v' is not a variable name"; exit 2; }
    if [[ -v $v ]]; then printf 'export %s=%q\n' "$v" "${!v}"; else log "UML_PASS: $v is not set: not passed"; fi
  done
  if [[ -n "${UML_ENV:-}" ]]; then
    while IFS= read -r line || [[ -n "$line" ]]; do
      [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
      [[ "$line" =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || { log "UML_ENV: not KEY=VALUE: $line"; exit 2; }
      printf 'export %s=%q\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
    done <"$UML_ENV"
  fi
} >"$CTL/env"

# UML's umid dir (pid file, mconsole socket): a private one, removed at the
# end; its RAM: a file in /dev/shm (tmpfs) rather than on disk.
UMID_DIR=$(mktemp -d /tmp/shim-uml-umid.XXXXXX)
# shellcheck disable=SC2054 # con0=fd:0,fd:1 is one word
ARGS=(
  mem="$UML_MEM" rootfstype=hostfs rootflags=/ ro init="$HERE/init.sh"
  con0=fd:0,fd:1 con=null ssl=null umid=shim-uml uml_dir="$UMID_DIR"
  UML_MODE="$MODE" UML_OUT="$UML_OUT"
)
if [[ "$MODE" == systemd ]]; then
  ARGS+=(systemd.unified_cgroup_hierarchy=1)
fi

pgid="" tail_pid=""
# shellcheck disable=SC2317 # called by the trap
cleanup() {
  # Every process of the UML session (the kernel and its helpers).
  if [[ -n "$pgid" ]] && pgrep -g "$pgid" >/dev/null; then
    kill -KILL -- "-$pgid" 2>/dev/null || true
    for _ in $(seq 50); do pgrep -g "$pgid" >/dev/null || break; sleep 0.1; done
    if pgrep -g "$pgid" >/dev/null; then log "warning: processes of group $pgid survived: $(pgrep -g "$pgid" | xargs)"; fi
  fi
  if [[ -n "$tail_pid" ]]; then kill "$tail_pid" 2>/dev/null || true; fi
  rm -rf "$UMID_DIR"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

log "booting $MODE, job $JOB${*:+ $*}, out $UML_OUT"
start=$(date +%s)
: >"$CTL/console.log"
# setsid: a session (and process group) of its own, for the kill above;
# stdin /dev/null and stdout a file: UML never touches our terminal.
setsid env TMPDIR=/dev/shm "$UML_BIN" "${ARGS[@]}" </dev/null >"$CTL/console.log" 2>&1 &
pid=$!
# A background child of a script is no group leader, so setsid did not fork:
# $pid leads the new session and process group.
pgid=$pid
tail -n +1 -f --pid="$pid" "$CTL/console.log" 2>/dev/null | sed -u 's/\r$//' &
tail_pid=$!

timed_out=""
while kill -0 "$pid" 2>/dev/null; do
  if (($(date +%s) - start >= UML_TIMEOUT)); then
    timed_out=1
    log "timeout: no end after $UML_TIMEOUT s, killing linux.uml"
    kill -KILL -- "-$pgid" 2>/dev/null || true
    break
  fi
  sleep 0.5
done
wait "$pid" 2>/dev/null || true
wait "$tail_pid" 2>/dev/null || true
tail_pid=""
secs=$(($(date +%s) - start))

if [[ -n "$timed_out" ]]; then
  log "FAILED: $MODE: timeout after $secs s (UML_TIMEOUT=$UML_TIMEOUT); console: $CTL/console.log"
  exit 124
fi
if [[ ! -s "$CTL/rc" ]]; then
  log "FAILED: $MODE: the job left no exit status in $CTL/rc (guest crashed or never ran it) after $secs s; console: $CTL/console.log"
  exit 1
fi
rc=$(cat "$CTL/rc")
[[ "$rc" =~ ^[0-9]+$ ]] || { log "FAILED: $MODE: bad exit status '$rc' in $CTL/rc"; exit 1; }
if ((rc == 0)); then
  log "ok: $MODE: $(basename "$JOB") exited 0 after $secs s (boot, job and poweroff); out: $UML_OUT"
else
  log "FAILED: $MODE: $(basename "$JOB") exited $rc after $secs s; out: $UML_OUT"
fi
exit "$rc"
