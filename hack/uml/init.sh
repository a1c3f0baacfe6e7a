#!/bin/bash
# PID 1 of the cgroup v2 node (hack/uml/boot.sh boots user-mode-linux with
# init= this script, its root the host's / read-only over hostfs). Not for
# calling by hand.
#
# Kernel command line (the kernel hands KEY=VALUE words to init's env):
#   UML_MODE=plain    this script stays PID 1: it mounts the API filesystems,
#                     tmpfs on /run /tmp /var/lib /var/log /dev/shm, cgroup2 on
#                     /sys/fs/cgroup (every controller enabled for the
#                     children of the root), runs the job
#                     (hack/uml/run-job.sh) and powers off.
#   UML_MODE=systemd  an overlay root (lower: the host's /, upper: a tmpfs, so
#                     /etc and /var are writable), tmpfs on /run and /tmp,
#                     then systemd 252 as PID 1 with the unit uml-job.target:
#                     dbus and the job (uml-job.service, which powers off
#                     when the job ends, however it ends).
#   UML_OUT=DIR       the host's output dir: mounted (hostfs, writable) at the
#                     same path, over the guest's tmpfs /tmp when under /tmp;
#                     DIR/.uml holds the job's command, env and, after it, rc.
# Both modes load the modules of hack/uml/lib.sh first and bring lo up.
# /var/cache/containerd-shim-rust-v2 stays the host's, read-only.
set -uo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/uml/lib.sh
source "$HERE/lib.sh"

die() {
  echo "uml-init: $*" >&2
  sync
  poweroff -f
  exit 1 # not reached: PID 1 must not exit (the kernel panics)
}

[[ "${UML_OUT:-}" =~ ^/[A-Za-z0-9._/-]+$ ]] || die "bad or missing UML_OUT='${UML_OUT:-}'"
mount -t proc proc /proc || die "mount /proc failed"
mount -t sysfs sysfs /sys || die "mount /sys failed"
# CONFIG_DEVTMPFS_MOUNT: the kernel has mounted devtmpfs on /dev already.
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev || die "mount /dev failed"
uml_load_modules || die "loading modules failed"
ip link set lo up

# mount_out ROOT: the host's UML_OUT at ROOT$UML_OUT, writable.
mount_out() {
  if ! mkdir -p "$1$UML_OUT" || ! mount -t hostfs -o "$UML_OUT" none "$1$UML_OUT"; then
    die "mounting the host's $UML_OUT failed"
  fi
}

case "${UML_MODE:-}" in
  plain)
    mkdir -p /dev/pts /dev/shm
    # What udev/systemd would make: bash's <(...) needs /dev/fd.
    ln -sfn /proc/self/fd /dev/fd
    ln -sfn /proc/self/fd/0 /dev/stdin
    ln -sfn /proc/self/fd/1 /dev/stdout
    ln -sfn /proc/self/fd/2 /dev/stderr
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts || die "mount /dev/pts failed"
    ln -sf pts/ptmx /dev/ptmx
    mount -t tmpfs -o mode=1777 tmpfs /dev/shm || die "mount /dev/shm failed"
    mount -t tmpfs -o mode=1777 tmpfs /tmp || die "mount /tmp failed"
    for d in /run /var/lib /var/log; do
      mount -t tmpfs -o mode=0755 tmpfs "$d" || die "mount $d failed"
    done
    mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || die "mount cgroup2 failed"
    ctrls=$(sed 's/\([^ ]*\)/+\1/g' /sys/fs/cgroup/cgroup.controllers)
    echo "$ctrls" >/sys/fs/cgroup/cgroup.subtree_control || die "enabling $ctrls at the cgroup root failed"
    mount_out ""
    hostname uml-plain
    "$HERE/run-job.sh" "$UML_OUT"
    sync
    poweroff -f
    ;;
  systemd)
    mount -t tmpfs -o mode=0755 tmpfs /run || die "mount /run failed"
    U=/run/uml
    mkdir -p $U/upper $U/work $U/root
    # Whiteouts: the host's /.dockerenv would make systemd think it runs in
    # a container (it would then skip what a node runs).
    mknod $U/upper/.dockerenv c 0 0 || die "mknod a whiteout failed"
    mount -t overlay -o lowerdir=/,upperdir=$U/upper,workdir=$U/work overlay $U/root ||
      die "mounting the overlay root failed"
    N=$U/root
    mount -t tmpfs -o mode=0755 tmpfs $N/run || die "mount /run failed"
    mount -t tmpfs -o mode=1777 tmpfs $N/tmp || die "mount /tmp failed"
    mount_out "$N"
    C=/var/cache/containerd-shim-rust-v2
    if [[ -d $C ]]; then
      mount --bind $C $N$C || die "bind-mounting $C failed"
      mount -o remount,bind,ro $N$C || die "making $C read-only failed"
    fi
    # The upper layer's /etc: an empty fstab (the host's is not this
    # machine's), systemd leaves /tmp alone (tmp.mount masked: it would
    # hide UML_OUT; tmp.conf emptied: systemd-tmpfiles --remove would empty
    # /tmp, UML_OUT with it), no timers, no binfmt_misc (a module systemd
    # cannot modprobe here), no emergency shell (nobody types
    # at this console: a failed unit should not stop the job), and the
    # job's units.
    E=$N/etc
    mkdir -p $E/systemd/system $E/tmpfiles.d
    : >$E/fstab
    : >$E/tmpfiles.d/tmp.conf
    for u in tmp.mount timers.target emergency.target emergency.service rescue.target rescue.service \
      proc-sys-fs-binfmt_misc.automount systemd-binfmt.service; do
      ln -sfn /dev/null $E/systemd/system/$u
    done
    cat >$E/systemd/system/uml-job.target <<EOF
[Unit]
Description=The cgroup v2 node's job (hack/uml/boot.sh)
Wants=basic.target dbus.service uml-job.service
After=basic.target dbus.service uml-job.service
AllowIsolate=yes
EOF
    cat >$E/systemd/system/uml-job.service <<EOF
[Unit]
Description=The cgroup v2 node's job (hack/uml/run-job.sh $UML_OUT)
Wants=dbus.service
After=basic.target dbus.service
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=$HERE/run-job.sh $UML_OUT
StandardInput=null
StandardOutput=tty
StandardError=inherit
TTYPath=/dev/console
TimeoutStartSec=infinity
EOF
    for m in /proc /sys /dev; do
      mount --move $m $N$m || die "moving $m into the new root failed"
    done
    mkdir -p $N/.oldroot
    cd $N || die "cd $N failed"
    pivot_root . .oldroot || die "pivot_root failed"
    umount -l /.oldroot || die "detaching the old root failed"
    rmdir /.oldroot
    exec chroot . /lib/systemd/systemd --unit=uml-job.target
    ;;
  *)
    die "UML_MODE must be plain or systemd, not '${UML_MODE:-}'"
    ;;
esac
