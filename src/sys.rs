//! The few system calls the shim needs that nix does not wrap.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// How many bytes sit unread in the pipe or FIFO `fd` (FIONREAD).
pub fn unread_bytes(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points to
    // a live local; the fd is borrowed, so it stays open for the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n.max(0) as usize)
}

/// Marks every descriptor above `above` close-on-exec. containerd passes on
/// descriptors it inherited itself; no child of the shim (runtime helper,
/// container) may receive them.
pub fn cloexec_above(above: RawFd) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > above)
        .collect();
    for fd in fds {
        // SAFETY: fcntl on a raw descriptor number touches no memory; a
        // number that is no longer open (read_dir's own) fails with EBADF.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
}

/// Receives one descriptor sent with SCM_RIGHTS (the pty master that the
/// container's init sends over the console socket).
pub fn recv_fd(sock: BorrowedFd<'_>) -> io::Result<std::os::fd::OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut data = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut data)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    for cmsg in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor in our
                // table for us (SCM_RIGHTS); nothing else owns it.
                return Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(io::Error::other(
        "no descriptor received on the console socket",
    ))
}

/// Sets the window size of the terminal `fd` (TIOCSWINSZ).
pub fn set_winsize(fd: BorrowedFd<'_>, cols: u16, rows: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize through the pointer, which points
    // to a live local; the fd is borrowed, so it stays open for the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The new mount API's flags that libc does not name (linux/mount.h).
pub mod mount_api {
    pub const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
    pub const FSCONFIG_SET_STRING: libc::c_uint = 1;
    pub const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    pub const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;
    pub const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
    pub const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
    pub const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;
}

/// Turns a system call's returned descriptor into an owned one.
fn owned_fd(r: libc::c_long) -> io::Result<OwnedFd> {
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us as new; nothing
    // else in the process knows its number, so this is its only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// fsopen(2): a filesystem context for `fstype` (close-on-exec).
pub fn fsopen(fstype: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: fsopen reads the NUL-terminated string, which outlives the call.
    owned_fd(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), mount_api::FSOPEN_CLOEXEC) })
}

/// fsconfig(2) FSCONFIG_SET_STRING: sets `key` to `value` on the context.
pub fn fsconfig_set_string(ctx: BorrowedFd<'_>, key: &CStr, value: &CStr) -> io::Result<()> {
    // SAFETY: both strings are NUL-terminated and outlive the call; the
    // context fd is borrowed, so it stays open for it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            mount_api::FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// fsconfig(2) FSCONFIG_CMD_CREATE: creates the superblock.
pub fn fsconfig_create(ctx: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: no pointers are passed (key and value are NULL, as the command
    // requires); the context fd is borrowed, so it stays open for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            mount_api::FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// fsmount(2): a detached mount of the context's superblock, attached
/// nowhere (close-on-exec), with the MOUNT_ATTR_* `attrs`.
pub fn fsmount(ctx: BorrowedFd<'_>, attrs: libc::c_uint) -> io::Result<OwnedFd> {
    // SAFETY: only integers are passed; the context fd is borrowed, so it
    // stays open for the call.
    owned_fd(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            ctx.as_raw_fd(),
            mount_api::FSMOUNT_CLOEXEC,
            attrs,
        )
    })
}

/// A duplicate of `fd` numbered `min` or above (close-on-exec).
pub fn dup_at_least(fd: BorrowedFd<'_>, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl with integer arguments only; the fd is borrowed, so it
    // stays open for the call.
    owned_fd(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) } as libc::c_long)
}

/// unshare(CLONE_FS) for the calling thread: it gets a working directory
/// (and root, umask) of its own, so a chdir there moves no other thread.
pub fn unshare_fs() -> io::Result<()> {
    // SAFETY: unshare takes an integer flag and touches no memory of ours;
    // CLONE_FS only copies the thread's fs_struct in the kernel.
    if unsafe { libc::unshare(libc::CLONE_FS) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The kernel's default pipe capacity.
pub const DEFAULT_PIPE_SIZE: usize = 64 * 1024;
/// What a busy pipe grows to: the unprivileged maximum (pipe-max-size).
const BUSY_PIPE_SIZE: i32 = 1 << 20;

/// Grows a pipe whose writer keeps it full, so it wakes its reader less
/// often (the output copies of io.rs and log_uri.rs). Only busy pipes grow:
/// pipe pages count against the user's pipe-user-pages limits, and most
/// containers write little.
pub fn grow_pipe(fd: BorrowedFd<'_>) {
    if let Err(e) = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETPIPE_SZ(BUSY_PIPE_SIZE)) {
        log::debug!("grow pipe: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;

    #[test]
    fn counts_unread_bytes_in_a_pipe() {
        let (r, w) = nix::unistd::pipe().unwrap();
        assert_eq!(unread_bytes(r.as_fd()).unwrap(), 0);
        std::fs::File::from(w).write_all(b"hello").unwrap();
        assert_eq!(unread_bytes(r.as_fd()).unwrap(), 5);
    }
}
