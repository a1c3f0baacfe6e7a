#!/usr/bin/env bash
# Stops and starts again the private containerd of DIR (hack/containerd-up.sh)
# while its shims keep running: the very same binary, command line and PATH
# (recorded from /proc at `stop`), logging to DIR/containerd.log.
#
# Usage: hack/containerd-restart.sh stop DIR [SIGNAL]   (default TERM; waits
#          until it is gone, records DIR/restart/{exe,cmdline,path})
#        hack/containerd-restart.sh start DIR           (waits until it answers
#          on DIR/containerd.sock; updates DIR/containerd.pid)
#        hack/containerd-restart.sh restart DIR [SIGNAL]
# Env: CTR_BIN (default: ctr next to the containerd binary, else `ctr`)
#      LOG_LEVEL (start: run containerd with --log-level LOG_LEVEL; 1.7 and
#      2.x log each event a shim forwards only at trace level)
set -euo pipefail
if [[ $# -lt 2 || $# -gt 3 ]]; then
  echo "usage: $0 stop|start|restart DIR [SIGNAL]" >&2
  exit 2
fi
ACTION=$1
DIR=$(cd "$2" && pwd)
SIG=${3:-TERM}
PIDFILE=$DIR/containerd.pid
SOCK=$DIR/containerd.sock
LOG=$DIR/containerd.log
SAVED=$DIR/restart

# Gone, or a zombie nobody reaped yet.
gone() {
  [[ ! -e /proc/$1/stat ]] || [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" == Z ]]
}

stop() {
  local pid
  pid=$(cat "$PIDFILE")
  gone "$pid" && { echo "containerd-restart: containerd $pid is not running" >&2; exit 1; }
  mkdir -p "$SAVED"
  cp "/proc/$pid/cmdline" "$SAVED/cmdline"
  grep -qaF "$DIR/config.toml" "$SAVED/cmdline" ||
    { echo "containerd-restart: pid $pid is not the containerd of $DIR" >&2; exit 1; }
  readlink "/proc/$pid/exe" >"$SAVED/exe"
  tr '\0' '\n' <"/proc/$pid/environ" | sed -n 's/^PATH=//p' >"$SAVED/path"
  kill -s "$SIG" "$pid"
  for ((i = 0; ; i++)); do
    gone "$pid" && break
    ((i < 200)) || { echo "containerd-restart: containerd $pid did not exit within 20 s of SIG$SIG" >&2; exit 1; }
    sleep 0.1
  done
  echo "containerd-restart: containerd $pid stopped (SIG$SIG)"
}

start() {
  local exe path pid args
  exe=$(cat "$SAVED/exe")
  path=$(cat "$SAVED/path")
  mapfile -d '' args <"$SAVED/cmdline"
  if [[ -z "${CTR_BIN:-}" ]]; then
    CTR_BIN=ctr
    if [[ -x "$(dirname "$exe")/ctr" ]]; then CTR_BIN=$(dirname "$exe")/ctr; fi
  fi
  [[ -n "${LOG_LEVEL:-}" ]] && args+=(--log-level "$LOG_LEVEL")
  setsid env PATH="$path" "$exe" "${args[@]:1}" </dev/null >>"$LOG" 2>&1 &
  pid=$!
  echo "$pid" >"$PIDFILE"
  for ((i = 0; ; i++)); do
    gone "$pid" && { echo "containerd-restart: containerd exited during startup" >&2; tail -n 30 "$LOG" >&2; exit 1; }
    "$CTR_BIN" --address "$SOCK" version >/dev/null 2>&1 && break
    ((i < 100)) || { echo "containerd-restart: containerd did not answer on $SOCK within 20 s" >&2; exit 1; }
    sleep 0.2
  done
  echo "containerd-restart: containerd $pid listening on $SOCK"
}

case $ACTION in
  stop) stop ;;
  start) start ;;
  restart) stop; start ;;
  *) echo "usage: $0 stop|start|restart DIR [SIGNAL]" >&2; exit 2 ;;
esac
