//! The shim binary as the runtime helper is exec'd from: a view of it that
//! no container can write through (the CVE-2019-5736 class).
//!
//! A container's init, and every exec'd process, is forked from the runtime
//! helper; until it execs the workload its `/proc/PID/exe` is the helper's
//! executable. Exec'd from the host's file, that would hand a process in the
//! container a handle on the binary that every shim on the node runs as
//! root. So the helper is exec'd from one of:
//!
//! 1. **a read-only overlayfs view** of the binary's directory, made with the
//!    new mount API and attached nowhere (runc 1.2 does the same): no copy
//!    and no extra memory (the page cache is the host file's), writes
//!    through it fail with EROFS, it has no upper layer to copy up into, and
//!    its device is the overlay's own, not the host file's;
//! 2. where overlayfs or fsopen(2) is missing (kernels before 5.2, no
//!    overlay module, no CAP_SYS_ADMIN): **a sealed memfd copy**, made once
//!    per shim (write, grow, shrink and the seals themselves sealed; about
//!    the binary's size in shared memory for the shim's life).
//!
//! If neither can be made, the runtime refuses to create or exec (embedded.rs)
//! rather than run a container with the host file exposed.
//!
//! The view is opened once, when the shim starts, and kept: every helper is
//! exec'd through `/proc/self/fd/N`. The executor (executor.rs) also refuses
//! to run the view itself as a container's program.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::stat::Mode;

use crate::sys::{self, mount_api};

/// How the view was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    Overlay,
    Memfd,
}

#[derive(Debug)]
pub struct SealedExe {
    fd: OwnedFd,
    how: How,
}

impl SealedExe {
    /// A sealed view of the binary `exe`; `scratch` is a directory of the
    /// shim's own where an empty directory can be made for a moment (the
    /// overlay's second, empty, lower layer).
    pub fn open(exe: &Path, scratch: &Path) -> Result<SealedExe, String> {
        let overlay_err = match overlay_view(exe, scratch) {
            Ok(fd) => return Self::keep(fd, How::Overlay),
            Err(e) => e,
        };
        match memfd_copy(exe) {
            Ok(fd) => {
                log::info!(
                    "no overlayfs view of {} ({overlay_err}): the runtime helper runs from a sealed memfd copy",
                    exe.display()
                );
                Self::keep(fd, How::Memfd)
            }
            Err(memfd_err) => Err(format!(
                "no sealed copy of the shim binary {} can be made, so no container may be run from it \
                 (CVE-2019-5736): overlayfs view: {overlay_err}; memfd copy: {memfd_err}",
                exe.display()
            )),
        }
    }

    /// Moves the descriptor above fd 3, which the helper's reply pipe takes
    /// in the child (handover::with_fd3) before the exec resolves the path.
    fn keep(fd: OwnedFd, how: How) -> Result<SealedExe, String> {
        let fd = if fd.as_raw_fd() <= 3 {
            sys::dup_at_least(fd.as_fd(), 4)
                .map_err(|e| format!("move the sealed binary's fd: {e}"))?
        } else {
            fd
        };
        Ok(SealedExe { fd, how })
    }

    /// The path a child execs the view by (the fd is inherited across the
    /// fork and closed by the exec it names).
    pub fn program(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    pub fn how(&self) -> How {
        self.how
    }
}

/// Escapes `:` and `\` in an overlay lowerdir path.
fn escape_lowerdir(p: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in p.as_os_str().as_bytes() {
        if b == b':' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

fn cstring(bytes: Vec<u8>) -> Result<CString, String> {
    CString::new(bytes).map_err(|_| "a path with a NUL byte".to_string())
}

/// An O_PATH descriptor of `exe` through a read-only overlay of its
/// directory (upper: none; lowers: the directory and an empty one, since
/// overlayfs needs two lower layers to mount without an upper one).
fn overlay_view(exe: &Path, scratch: &Path) -> Result<OwnedFd, String> {
    let (Some(dir), Some(name)) = (exe.parent(), exe.file_name()) else {
        return Err(format!("{} has no directory and file name", exe.display()));
    };
    let ctx = sys::fsopen(c"overlay").map_err(|e| format!("fsopen overlay: {e}"))?;
    let empty = scratch.join(format!(".exe-lower.{}", std::process::id()));
    std::fs::create_dir_all(&empty).map_err(|e| format!("create {}: {e}", empty.display()))?;
    let mounted = (|| {
        let mut lower = escape_lowerdir(dir);
        lower.push(b':');
        lower.extend(escape_lowerdir(&empty));
        let lower = cstring(lower)?;
        sys::fsconfig_set_string(ctx.as_fd(), c"lowerdir", &lower)
            .map_err(|e| format!("overlay lowerdir={}: {e}", lower.to_string_lossy()))?;
        // Inode numbers do not matter here; xino on would only log warnings
        // when the layers are on different filesystems.
        let _ = sys::fsconfig_set_string(ctx.as_fd(), c"xino", c"off");
        sys::fsconfig_create(ctx.as_fd()).map_err(|e| format!("create the overlay: {e}"))?;
        sys::fsmount(
            ctx.as_fd(),
            mount_api::MOUNT_ATTR_RDONLY
                | mount_api::MOUNT_ATTR_NOSUID
                | mount_api::MOUNT_ATTR_NODEV,
        )
        .map_err(|e| format!("fsmount the overlay: {e}"))
    })();
    // The superblock holds the empty layer by reference; the path can go.
    let _ = std::fs::remove_dir(&empty);
    let mnt = mounted?;
    let fd = nix::fcntl::openat(
        mnt.as_fd(),
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        format!(
            "open {} in the overlay of {}: {e}",
            name.to_string_lossy(),
            dir.display()
        )
    })?;
    Ok(fd)
}

/// A read-only descriptor of a memfd copy of `exe`, sealed against any
/// change.
fn memfd_copy(exe: &Path) -> Result<OwnedFd, String> {
    let mut src = File::open(exe).map_err(|e| format!("open {}: {e}", exe.display()))?;
    // Kernels with vm.memfd_noexec (6.3+) want MFD_EXEC said; older ones
    // refuse the flag they do not know.
    let name = c"containerd-shim-rust-v2";
    let flags = MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING;
    // nix names no MFD_EXEC (Linux 6.3): the kernel's bit, as it is.
    let exec = MFdFlags::from_bits_retain(libc::MFD_EXEC);
    let memfd = match memfd_create(name, flags | exec) {
        Err(Errno::EINVAL) => memfd_create(name, flags),
        other => other,
    }
    .map_err(|e| format!("memfd_create: {e}"))?;
    let mut dst = File::from(memfd);
    std::io::copy(&mut src, &mut dst).map_err(|e| format!("copy {}: {e}", exe.display()))?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(&dst, FcntlArg::F_ADD_SEALS(seals)).map_err(|e| format!("seal the memfd: {e}"))?;
    // exec refuses a file that is open for writing (ETXTBSY): keep a
    // read-only descriptor and close the one memfd_create gave.
    let ro = File::open(format!("/proc/self/fd/{}", dst.as_raw_fd()))
        .map_err(|e| format!("reopen the memfd read-only: {e}"))?;
    Ok(ro.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    use std::process::Command;

    /// A scratch dir with a copy of /bin/true in it, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("shim-seal-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(dir.join("bin")).unwrap();
            std::fs::copy("/bin/true", dir.join("bin/prog")).unwrap();
            Scratch(dir)
        }
        fn prog(&self) -> PathBuf {
            self.0.join("bin/prog")
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// What every view must be: runnable by its path, another file than the
    /// host's (device and inode), not writable, and the host file unchanged.
    fn check_view(view: &SealedExe, host: &Path) {
        let before = std::fs::read(host).unwrap();
        let status = Command::new(view.program()).status().unwrap();
        assert!(
            status.success(),
            "exec through {:?}: {status}",
            view.program()
        );
        let seen = std::fs::metadata(view.program()).unwrap();
        let real = std::fs::metadata(host).unwrap();
        assert_ne!(
            (seen.dev(), seen.ino()),
            (real.dev(), real.ino()),
            "the view is the host file itself"
        );
        // What a process holding /proc/PID/exe would try: open it for writing.
        match std::fs::OpenOptions::new().write(true).open(view.program()) {
            Err(e) => assert!(
                matches!(
                    e.raw_os_error(),
                    Some(libc::EROFS) | Some(libc::EACCES) | Some(libc::EPERM)
                ),
                "{e}"
            ),
            Ok(mut f) => {
                let w = f.write_all(b"overwritten");
                assert!(w.is_err(), "a write through the view succeeded");
            }
        }
        assert_eq!(
            std::fs::read(host).unwrap(),
            before,
            "the host binary changed"
        );
    }

    #[test]
    fn the_overlay_view_runs_and_cannot_be_written() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: an overlayfs mount needs root");
            return;
        }
        let s = Scratch::new("ovl");
        let fd = overlay_view(&s.prog(), &s.0).unwrap();
        let view = SealedExe::keep(fd, How::Overlay).unwrap();
        check_view(&view, &s.prog());
        // Its filesystem is the overlay, and the empty layer's dir is gone.
        let fs = nix::sys::statfs::fstatfs(&view.fd).unwrap();
        assert_eq!(
            fs.filesystem_type(),
            nix::sys::statfs::OVERLAYFS_SUPER_MAGIC
        );
        let left: Vec<_> = std::fs::read_dir(&s.0)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("bin")]);
    }

    #[test]
    fn the_memfd_copy_runs_and_is_sealed() {
        let s = Scratch::new("memfd");
        let fd = memfd_copy(&s.prog()).unwrap();
        let view = SealedExe::keep(fd, How::Memfd).unwrap();
        check_view(&view, &s.prog());
        let seals = fcntl(&view.fd, FcntlArg::F_GET_SEALS).unwrap();
        for seal in [
            libc::F_SEAL_SEAL,
            libc::F_SEAL_SHRINK,
            libc::F_SEAL_GROW,
            libc::F_SEAL_WRITE,
        ] {
            assert_ne!(seals & seal, 0, "seal {seal:#x} missing from {seals:#x}");
        }
    }

    #[test]
    fn open_prefers_the_overlay_and_names_both_failures() {
        let s = Scratch::new("open");
        let view = SealedExe::open(&s.prog(), &s.0).unwrap();
        let want = if nix::unistd::geteuid().is_root() {
            How::Overlay
        } else {
            How::Memfd
        };
        assert_eq!(view.how(), want);
        assert!(view.fd.as_raw_fd() > 3);
        let e = SealedExe::open(&s.0.join("bin/missing"), &s.0).unwrap_err();
        assert!(
            e.contains("overlayfs view: ") && e.contains("memfd copy: "),
            "{e}"
        );
        assert!(e.contains("bin/missing"), "{e}");
    }

    #[test]
    fn lowerdir_paths_are_escaped() {
        assert_eq!(escape_lowerdir(Path::new(r"/a:b\c")), br"/a\:b\\c".to_vec());
    }
}
