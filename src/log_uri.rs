//! Where a process's output goes when containerd passes a URI instead of a
//! FIFO path (`ctr run --log-uri`): `file:///abs/path` (the shim appends
//! stdout and stderr to the file) or `binary:///abs/path?key=value` (a
//! logging program gets stdout on fd 3, stderr on fd 4 and a readiness pipe
//! on fd 5, which it closes once ready). A plain path or `fifo://` is a FIFO.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::fcntl::{splice, OFlag, SpliceFFlags};
use tokio::io::AsyncReadExt;

use crate::error::{Error, IoContext, Result};
use crate::reaper::Reaper;

/// How long a logging program may take to signal readiness.
const LOGGER_READY_LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq)]
pub enum Sink {
    None,
    Fifo(String),
    File(PathBuf),
    Binary { path: PathBuf, args: Vec<String> },
}

/// Parses one stdio destination as containerd passes it.
pub fn parse(target: &str) -> Result<Sink> {
    if target.is_empty() {
        return Ok(Sink::None);
    }
    let Some((scheme, rest)) = target.split_once("://") else {
        return Ok(Sink::Fifo(target.to_string()));
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, q),
        None => (rest, ""),
    };
    let absolute = |what: &str| -> Result<PathBuf> {
        if path.starts_with('/') {
            Ok(PathBuf::from(path))
        } else {
            Err(Error::InvalidArgument(format!(
                "{what} URI {target:?} must name an absolute path"
            )))
        }
    };
    match scheme {
        "fifo" => Ok(Sink::Fifo(absolute("fifo")?.display().to_string())),
        "file" => Ok(Sink::File(absolute("file")?)),
        "binary" => {
            let mut args = Vec::new();
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                args.push(k.to_string());
                if !v.is_empty() {
                    args.push(v.to_string());
                }
            }
            Ok(Sink::Binary {
                path: absolute("binary")?,
                args,
            })
        }
        other => Err(Error::InvalidArgument(format!(
            "unsupported stdio URI scheme {other:?} in {target:?} (use fifo, file or binary)"
        ))),
    }
}

/// Opens (creating it and its directory) the log file, positioned at its
/// end. Not O_APPEND: splice refuses append-mode targets. stdout and stderr
/// share this one open file (and so its offset) through `try_clone`.
pub fn open_file(path: &PathBuf) -> Result<std::fs::File> {
    use std::io::Seek;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).io_context(|| format!("create {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o640)
        .open(path)
        .io_context(|| format!("open log file {}", path.display()))?;
    file.seek(std::io::SeekFrom::End(0))
        .io_context(|| format!("seek to the end of {}", path.display()))?;
    Ok(file)
}

/// Moves everything from the pipe `from` into the file `to` with splice, no
/// copy through user space, until end of file.
pub async fn splice_to_file(from: OwnedFd, to: OwnedFd, name: String) {
    let from = match tokio::net::unix::pipe::Receiver::from_owned_fd(from) {
        Ok(r) => r,
        Err(e) => {
            log::warn!("{name}: register pipe: {e}");
            return;
        }
    };
    let flags = SpliceFFlags::SPLICE_F_NONBLOCK | SpliceFFlags::SPLICE_F_MOVE;
    let mut total = 0u64;
    loop {
        if let Err(e) = from.readable().await {
            log::warn!("{name}: {e}");
            break;
        }
        let moved = from.try_io(|| {
            splice(from.as_fd(), None, to.as_fd(), None, 1 << 20, flags)
                .map_err(std::io::Error::from)
        });
        match moved {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                log::warn!("{name}: {e}");
                break;
            }
        }
    }
    log::debug!("wrote {total} bytes of {name}");
}

/// A running logging program.
pub struct Logger {
    /// Resolves when the logger exits (after the container's output ended).
    pub exited: tokio::sync::oneshot::Receiver<crate::reaper::Exit>,
}

/// Starts the logging program with stdout/stderr read ends on fds 3 and 4
/// and a readiness pipe on fd 5; returns once it closed fd 5.
pub async fn start_logger(
    path: &PathBuf,
    args: &[String],
    stdout_r: OwnedFd,
    stderr_r: OwnedFd,
    container_id: &str,
    namespace: &str,
    reaper: &Reaper,
) -> Result<Logger> {
    let (ready_r, ready_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .map_err(|e| Error::io("create readiness pipe", e.into()))?;
    let mut cmd = Command::new(path);
    cmd.args(args)
        .env("CONTAINER_ID", container_id)
        .env("CONTAINER_NAMESPACE", namespace)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    crate::handover::with_fds(
        &mut cmd,
        vec![
            stdout_r.as_raw_fd(),
            stderr_r.as_raw_fd(),
            ready_w.as_raw_fd(),
        ],
    );
    let pid = cmd
        .spawn()
        .map_err(|e| Error::InvalidArgument(format!("start logger {}: {e}", path.display())))?
        .id();
    drop(cmd);
    drop((stdout_r, stderr_r, ready_w));
    let mut exited = reaper.subscribe(pid as i32);
    let mut ready = tokio::net::unix::pipe::Receiver::from_owned_fd(ready_r)
        .io_context(|| "register readiness pipe")?;
    let mut sink = Vec::new();
    let wait_ready = async {
        tokio::select! {
            _ = ready.read_to_end(&mut sink) => Ok(()),
            exit = &mut exited => Err(exit.map(|e| e.status).unwrap_or(255)),
        }
    };
    match tokio::time::timeout(LOGGER_READY_LIMIT, wait_ready).await {
        Ok(Ok(())) => Ok(Logger { exited }),
        Ok(Err(status)) => Err(Error::InvalidArgument(format!(
            "logger {} exited with status {status} before it was ready",
            path.display()
        ))),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            Err(Error::Other(format!(
                "logger {} was not ready within {LOGGER_READY_LIMIT:?}",
                path.display()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_uris_containerd_passes() {
        assert_eq!(parse("").unwrap(), Sink::None);
        assert_eq!(
            parse("/run/x/stdout").unwrap(),
            Sink::Fifo("/run/x/stdout".into())
        );
        assert_eq!(parse("fifo:///run/x").unwrap(), Sink::Fifo("/run/x".into()));
        assert_eq!(
            parse("file:///var/log/c.log").unwrap(),
            Sink::File("/var/log/c.log".into())
        );
        assert_eq!(
            parse("binary:///usr/bin/logger?id=abc&debug").unwrap(),
            Sink::Binary {
                path: "/usr/bin/logger".into(),
                args: vec!["id".into(), "abc".into(), "debug".into()]
            }
        );
    }

    #[test]
    fn rejects_unknown_schemes_and_relative_paths() {
        let e = parse("syslog://x").unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)));
        assert!(e.to_string().contains("syslog"), "{e}");
        assert!(parse("file://relative/path").is_err());
    }
}
