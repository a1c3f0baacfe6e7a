//! The socket file of a group's shim: bound by exactly one `start`, and
//! removed only by the shim it belongs to.
//!
//! Binding a unix socket is two steps (bind, then listen), and in between a
//! connect is refused as if the file were a dead shim's. So a start looks at
//! the group's socket and binds it under an exclusive lock on the socket
//! directory (flock, held for those few system calls): it never takes a
//! socket that is about to listen for a dead one. An exiting shim removes
//! its file while it still listens ([`Bound`]), so it never removes a socket
//! a newer shim has bound at its path.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

/// The socket directory, locked until the guard is dropped.
fn lock_dir(dir: &Path) -> Result<Flock<File>, String> {
    let file = File::open(dir).map_err(|e| format!("open {}: {e}", dir.display()))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| format!("lock {}: {e}", dir.display()))
}

/// Binds the group's socket `path` in `dir`, or returns None when a live
/// shim serves it. A dead shim's socket file is replaced.
pub fn bind_or_join(dir: &Path, path: &Path) -> Result<Option<UnixListener>, String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("create {}: {e}", dir.display()))?;
    let _locked = lock_dir(dir)?;
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if UnixStream::connect(path).is_ok() {
            return Ok(None);
        }
        if path.exists() {
            // Nobody listens, and no start is between bind and listen (it
            // would hold the lock): a shim that died. Replace its socket.
            let _ = std::fs::remove_file(path);
        }
        match UnixListener::bind(path) {
            Ok(l) => {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| format!("chmod {}: {e}", path.display()))?;
                return Ok(Some(l));
            }
            // Something that does not take the lock bound it meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(format!("listen on {}: {e}", path.display())),
        }
    }
}

/// The group's socket file while this shim listens on it. Dropped, it
/// removes the file, and only then stops listening (a duplicate of the
/// listener is kept for that, whatever becomes of the server's own): while
/// the shim listens, no start replaces the file, so the file removed is this
/// shim's own, never one a newer shim of its group bound at the same path.
/// No lock is needed for that: a start that looks meanwhile either connects
/// (and joins) or finds no file (and binds anew).
pub struct Bound {
    path: PathBuf,
    _listening: OwnedFd,
}

impl Bound {
    pub fn new(path: &Path, listener: &OwnedFd) -> std::io::Result<Bound> {
        Ok(Bound {
            path: path.to_path_buf(),
            _listening: listener.try_clone()?,
        })
    }
}

impl Drop for Bound {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            log::warn!("remove socket {}: {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    /// Starts of one pod race for its socket: in each round exactly one
    /// binds it, and every other start joins that one's listener. (A start
    /// that found the socket bound but not yet listening once removed it and
    /// bound its own: the first shim then served nobody and never exited.)
    #[test]
    fn racing_starts_of_one_group_bind_its_socket_once() {
        let dir = std::env::temp_dir().join(format!("shim-start-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("pod");
        for round in 0..300 {
            let barrier = Arc::new(Barrier::new(8));
            let racers: Vec<_> = (0..8)
                .map(|_| {
                    let (dir, path, barrier) = (dir.clone(), path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        bind_or_join(&dir, &path).unwrap()
                    })
                })
                .collect();
            let won: Vec<UnixListener> = racers
                .into_iter()
                .filter_map(|r| r.join().unwrap())
                .collect();
            assert_eq!(
                won.len(),
                1,
                "round {round}: {} starts bound the socket",
                won.len()
            );
            // The path leads to the winner's listener.
            let _client = UnixStream::connect(&path).unwrap();
            won[0].set_nonblocking(true).unwrap();
            assert!(
                won[0].accept().is_ok(),
                "round {round}: the socket is not the winner's"
            );
            drop(won);
            std::fs::remove_file(&path).unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An exiting shim removes its socket file while it still listens: a
    /// start before that joins it, one after finds no file and binds anew
    /// (no start can bind a file the exiting shim then removes).
    #[test]
    fn an_exiting_shim_removes_its_own_socket_only() {
        let dir = std::env::temp_dir().join(format!("shim-socket-own-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("pod");
        let old = OwnedFd::from(bind_or_join(&dir, &path).unwrap().unwrap());
        let bound = Bound::new(&path, &old).unwrap();
        drop(old); // the server's own listener closed first: the dup listens
        assert!(bind_or_join(&dir, &path).unwrap().is_none(), "still served");
        drop(bound);
        assert!(!path.exists());
        let new = bind_or_join(&dir, &path).unwrap();
        assert!(new.is_some(), "a start after the exit binds anew");
        drop(new);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
