#!/bin/bash
# Runs the cgroup v2 node's job inside the guest, as hack/uml/boot.sh wrote it
# down, and records its exit code for the host. Called by hack/uml/init.sh
# (plain mode) or by uml-job.service (systemd mode); not for calling by hand.
#
# Usage: hack/uml/run-job.sh OUT
#   OUT/.uml/cmd  sourceable: UML_CMD=(JOB ARG...)
#   OUT/.uml/env  sourceable `export K=V` lines: the job's whole environment
#                 beyond PATH (no rustc on it), HOME=/root, TMPDIR=/tmp
#                 (a tmpfs), LANG, TERM; UML_CWD is the directory it runs in.
# Writes OUT/.uml/rc: the job's exit status (written last, then synced).
set -uo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
CTL=$1/.uml
rm -f "$CTL/rc"
UML_CMD=()
# shellcheck disable=SC1091
source "$CTL/cmd" || { echo "uml-job: cannot read $CTL/cmd" >&2; UML_CMD=(false); }
echo "uml-job: $(uname -r) ($(nproc) CPU), cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null)"
echo "uml-job: running ${UML_CMD[*]}"
start=$(date +%s)
# shellcheck disable=SC2016 # expanded by that bash
env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  TMPDIR=/tmp LANG=C.UTF-8 TERM=dumb \
  bash -c 'source "$1" && cd "$UML_CWD" && shift && exec "$@"' uml-job "$CTL/env" "${UML_CMD[@]}" </dev/null
rc=$?
echo "uml-job: exit status $rc after $(($(date +%s) - start)) s"
echo "$rc" >"$CTL/rc.tmp" && mv "$CTL/rc.tmp" "$CTL/rc"
sync
exit 0
