//! Handing a descriptor to a child at fd 3: `start` gives the serving shim
//! its listening socket, the shim gives the runtime helper its reply pipe.
//! The only `pre_exec` and the only adoption of a raw fd live here.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Arranges for `fds` to be fds 3, 4, 5, ... in the child, in order, without
/// close-on-exec (a logger gets the container's stdout, stderr and a
/// readiness pipe this way).
pub fn with_fds(cmd: &mut Command, fds: Vec<RawFd>) {
    // SAFETY: the closure runs in the forked child before exec and calls only
    // fcntl and dup2, which are async-signal-safe. It first moves every
    // source above the target range so that no dup2 overwrites a source
    // still to be placed; it allocates nothing (the Vec was built before the
    // fork and is only read).
    unsafe {
        cmd.pre_exec(move || {
            let mut moved = [0 as RawFd; 8];
            if fds.len() > moved.len() {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
            let floor = HANDED_FD + fds.len() as RawFd;
            for (i, fd) in fds.iter().enumerate() {
                let m = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, floor);
                if m < 0 {
                    return Err(io::Error::last_os_error());
                }
                moved[i] = m;
            }
            for (i, m) in moved[..fds.len()].iter().enumerate() {
                if libc::dup2(*m, HANDED_FD + i as RawFd) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Arranges for `fd` to be fd 3 in the child (without close-on-exec), and,
/// with `new_session`, for the child to lead a session of its own.
pub fn with_fd3(cmd: &mut Command, fd: RawFd, new_session: bool) {
    // SAFETY: the closure runs in the forked child before exec and calls only
    // setsid, dup2 and fcntl, which are async-signal-safe; it reads nothing
    // but the copied integers `fd` and `new_session`.
    unsafe {
        cmd.pre_exec(move || {
            if new_session && libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            if fd == 3 {
                // Already in place: only drop close-on-exec.
                if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(fd, 3) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The fd the parent placed for us.
const HANDED_FD: RawFd = 3;

/// Takes ownership of fd 3 if it is a socket, marking it close-on-exec so
/// no child inherits it.
pub fn take_listener() -> io::Result<OwnedFd> {
    let st = nix::sys::stat::fstat(
        // SAFETY: fd 3 is only borrowed for the duration of fstat.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(HANDED_FD) },
    )
    .map_err(|e| io::Error::other(format!("fd 3: {e}")))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(io::Error::other("fd 3 is not a socket"));
    }
    // SAFETY: fd 3 is open (fstat succeeded), is a socket, and nothing else in
    // this process owns it: `start` created it for this process only.
    let fd = unsafe { OwnedFd::from_raw_fd(HANDED_FD) };
    nix::fcntl::fcntl(
        &fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .map_err(io::Error::from)?;
    Ok(fd)
}

/// A ttrpc server on the listening socket `fd`.
pub fn ttrpc_server(fd: OwnedFd) -> ttrpc::Result<ttrpc::asynchronous::Server> {
    // SAFETY: `fd` is an owned, open unix listening socket whose ownership
    // passes to the server here (into_raw_fd gives it up).
    unsafe { ttrpc::asynchronous::Server::new().add_unix_listener(fd.into_raw_fd()) }
}
