# shellcheck shell=bash
# What the teardown scripts (containerd-down.sh, docker-down.sh) share:
# reading a process's command line, finding a private daemon by its config
# file, and stopping processes within a deadline.

# Read the NUL-separated command line of pid $1 into array ARGS (empty if gone).
read_args() { ARGS=(); mapfile -d "" -t ARGS 2>/dev/null <"/proc/$1/cmdline" || true; }
alive() { kill -0 "$1" 2>/dev/null; }

# wait_gone SECONDS PID...: true once all pids are gone.
wait_gone() {
  local t=$(($1 * 10)) p any; shift
  while ((t-- > 0)); do
    any=""
    for p in "$@"; do alive "$p" && any=1; done
    [[ -n "$any" ]] || return 0
    sleep 0.1
  done
  return 1
}

# pidfile_pid FILE GLOB [NOT]: the pid in FILE, if that process is alive and
# its program's name matches GLOB (and not NOT).
pidfile_pid() {
  [[ -s "$1" ]] || return 0
  local p name
  p=$(cat "$1")
  read_args "$p"
  ((${#ARGS[@]})) || return 0
  name=${ARGS[0]##*/}
  # shellcheck disable=SC2053 # GLOB and NOT are patterns
  if [[ "$name" == $2 && "$name" != ${3:-} ]]; then echo "$p"; fi
}

# pids_with_config NAME CONFIG FLAG: every process whose program is named
# NAME and whose command line has CONFIG as a word or as FLAG=CONFIG, one
# pid a line.
pids_with_config() {
  local name=$1 config=$2 flag=$3 d p a
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    read_args "$p"
    if ((${#ARGS[@]} == 0)) || [[ "${ARGS[0]##*/}" != "$name" ]]; then continue; fi
    for a in "${ARGS[@]}"; do
      if [[ "$a" == "$config" || "$a" == "$flag=$config" ]]; then echo "$p"; break; fi
    done
  done
}

# stop_pids WHO WHAT SECONDS PID...: SIGTERM, then SIGKILL for what is still
# alive after SECONDS; WHO and WHAT name the script and the daemon in its
# messages. Nothing to do without pids.
stop_pids() {
  local who=$1 what=$2 limit=$3
  shift 3
  (($#)) || return 0
  echo "$who: stopping $what $*"
  kill -TERM "$@" 2>/dev/null || true
  if ! wait_gone "$limit" "$@"; then
    echo "$who: $what still alive after $limit s, SIGKILL" >&2
    kill -KILL "$@" 2>/dev/null || true
    wait_gone 5 "$@" || echo "$who: warning: $what $* did not die" >&2
  fi
}

# shim_socket_dir DIR: where the shims of the private containerd in DIR put
# their sockets: the socket_dir containerd-up gave a containerd 2.3+
# (SHIM_SOCKET_DIR in DIR/env), else containerd's default.
shim_socket_dir() {
  local d
  d=$(sed -n 's/^export SHIM_SOCKET_DIR=//p' "$1/env" 2>/dev/null | head -1)
  echo "${d:-/run/containerd/s}"
}
