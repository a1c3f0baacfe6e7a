//! Where a process's output goes when containerd passes a URI instead of a
//! FIFO path (`ctr run --log-uri`): `file:///abs/path` (the shim appends
//! stdout and stderr to the file) or `binary:///abs/path?key=value` (a
//! logging program gets stdout on fd 3, stderr on fd 4 and a readiness pipe
//! on fd 5, which it closes once ready). `binary-v2://` (containerd 2.3) is
//! the same, except that the logger must write a byte to fd 5 before it
//! closes it: an end of file alone means it died before it was ready. A
//! plain path or `fifo://` is a FIFO.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::fcntl::OFlag;
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
    Binary {
        path: PathBuf,
        args: Vec<String>,
        /// binary-v2: readiness is a byte on fd 5, not its end of file.
        ready_byte: bool,
    },
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
        "binary" | "binary-v2" => {
            let mut args = Vec::new();
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                args.push(k.to_string());
                if !v.is_empty() {
                    args.push(v.to_string());
                }
            }
            Ok(Sink::Binary {
                path: absolute(scheme)?,
                args,
                ready_byte: scheme == "binary-v2",
            })
        }
        other => Err(Error::InvalidArgument(format!(
            "unsupported stdio URI scheme {other:?} in {target:?} (use fifo, file, binary or binary-v2)"
        ))),
    }
}

/// Opens (creating it and its directory) the log file for appending. stdout
/// and stderr share this one open file through `try_clone`.
pub fn open_file(path: &PathBuf) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).io_context(|| format!("create {}", dir.display()))?;
    }
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
        .io_context(|| format!("open log file {}", path.display()))
}

/// Copies everything from the pipes `sources` (a process's stdout, then its
/// stderr) into the log file `to`, until each reaches end of file or until
/// this future is dropped (its task aborted). The copy runs on a thread of
/// its own: file writes block (writeback throttling), and the shim's event
/// loop must not. One thread for all the file's streams keeps their order:
/// when several pipes hold data, the earlier stream goes first. read/write
/// rather than splice: splice into a file holds the pipe's lock while it
/// writes the page cache, which stalls the container's writer.
pub async fn copy_to_file(sources: Vec<(OwnedFd, String)>, to: std::fs::File) {
    let label = sources
        .iter()
        .map(|(_, n)| n.as_str())
        .collect::<Vec<_>>()
        .join("+");
    let (cancel_r, cancel_w) = match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => {
            log::warn!("{label}: create cancel pipe: {e}");
            return;
        }
    };
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let thread_label = label.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("log-{label}"))
        .stack_size(64 * 1024)
        .spawn(move || {
            let total = copy_blocking(sources, to, cancel_r, &thread_label);
            let _ = done_tx.send(total);
        });
    if let Err(e) = spawned {
        log::warn!("{label}: start copy thread: {e}");
        return;
    }
    // Dropping `cancel_w` (this future dropped) wakes the thread to stop.
    let _cancel = cancel_w;
    if let Ok(total) = done_rx.await {
        log::debug!("wrote {total} bytes of {label}");
    }
}

/// The copy thread's loop: poll for output or cancellation, read, append.
fn copy_blocking(
    mut sources: Vec<(OwnedFd, String)>,
    mut to: std::fs::File,
    cancel: OwnedFd,
    label: &str,
) -> u64 {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::io::Write;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    let mut grown = vec![false; sources.len()];
    while !sources.is_empty() {
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd> = sources
                .iter()
                .map(|(fd, _)| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
                .collect();
            fds.push(PollFd::new(cancel.as_fd(), PollFlags::POLLIN));
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    log::warn!("{label}: poll: {e}");
                    break;
                }
            }
            if fds.last().and_then(|f| f.any()).unwrap_or(true) {
                log::debug!("{label}: copy stopped");
                break;
            }
            fds.iter().map(|f| f.any().unwrap_or(false)).collect()
        };
        // In stream order; a stream at end of file is dropped.
        let mut ended = Vec::new();
        for (i, (fd, name)) in sources.iter().enumerate() {
            if !ready[i] {
                continue;
            }
            match nix::unistd::read(fd, &mut buf) {
                Ok(0) => ended.push(i),
                Ok(n) => {
                    if !grown[i] && n >= crate::sys::DEFAULT_PIPE_SIZE {
                        // The writer filled the pipe: give it room.
                        crate::sys::grow_pipe(fd.as_fd());
                        grown[i] = true;
                    }
                    if let Err(e) = to.write_all(&buf[..n]) {
                        log::warn!("{label}: write log file ({name}): {e}");
                        return total;
                    }
                    total += n as u64;
                }
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(e) => {
                    log::warn!("{label}: read {name}: {e}");
                    ended.push(i);
                }
            }
        }
        for i in ended.into_iter().rev() {
            sources.remove(i);
            grown.remove(i);
        }
    }
    total
}

/// A running logging program.
pub struct Logger {
    /// Resolves when the logger exits (after the container's output ended).
    pub exited: tokio::sync::oneshot::Receiver<crate::reaper::Exit>,
}

/// Starts the logging program with stdout/stderr read ends on fds 3 and 4
/// and a readiness pipe on fd 5; returns once it closed fd 5 (having
/// written a byte to it first, with `ready_byte`).
#[allow(clippy::too_many_arguments)]
pub async fn start_logger(
    path: &PathBuf,
    args: &[String],
    ready_byte: bool,
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
        Ok(Ok(())) if ready_byte && sink.is_empty() => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            Err(Error::InvalidArgument(format!(
                "logger {} did not call ready (it closed fd 5 without writing to it: \
                 it may have crashed or exited prematurely)",
                path.display()
            )))
        }
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
                args: vec!["id".into(), "abc".into(), "debug".into()],
                ready_byte: false,
            }
        );
        assert_eq!(
            parse("binary-v2:///usr/bin/logger?id=abc").unwrap(),
            Sink::Binary {
                path: "/usr/bin/logger".into(),
                args: vec!["id".into(), "abc".into()],
                ready_byte: true,
            }
        );
        assert!(parse("binary-v2://relative").is_err());
    }

    #[test]
    fn rejects_unknown_schemes_and_relative_paths() {
        let e = parse("syslog://x").unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)));
        assert!(e.to_string().contains("syslog"), "{e}");
        assert!(parse("file://relative/path").is_err());
    }

    fn temp_file(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("shim-log-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_log_file_gets_every_byte_appended() {
        use std::io::Write;
        let path = temp_file("append");
        std::fs::write(&path, b"old\n").unwrap();
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        let copy = tokio::spawn(copy_to_file(
            vec![(r, "t".into())],
            open_file(&path).unwrap(),
        ));
        let payload: Vec<u8> = (0..5_000_000u32).map(|i| (i % 253) as u8).collect();
        let expected = payload.clone();
        tokio::task::spawn_blocking(move || std::fs::File::from(w).write_all(&payload))
            .await
            .unwrap()
            .unwrap();
        copy.await.unwrap();
        let got = std::fs::read(&path).unwrap();
        assert_eq!(&got[..4], b"old\n");
        assert!(
            got[4..] == expected[..],
            "{} bytes after the old line",
            got.len() - 4
        );
        std::fs::remove_file(path).unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_aborted_copy_lets_go_of_the_pipe() {
        let path = temp_file("abort");
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        // The writer stays open, as a grandchild holding stdout would.
        let copy = tokio::spawn(copy_to_file(
            vec![(r, "t".into())],
            open_file(&path).unwrap(),
        ));
        tokio::time::sleep(Duration::from_millis(50)).await;
        copy.abort();
        let _ = copy.await;
        // The thread closed the read end: writing now fails with EPIPE.
        let start = std::time::Instant::now();
        loop {
            match nix::unistd::write(&w, b"x") {
                Err(nix::errno::Errno::EPIPE) => break,
                _ if start.elapsed() > Duration::from_secs(5) => {
                    panic!("the copy thread still holds the pipe after abort")
                }
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        std::fs::remove_file(path).unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn what_stdout_wrote_first_lands_first() {
        use std::io::Write;
        let path = temp_file("order");
        let (out_r, out_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        let (err_r, err_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        let sources = vec![(out_r, "stdout".into()), (err_r, "stderr".into())];
        let copy = tokio::spawn(copy_to_file(sources, open_file(&path).unwrap()));
        let payload = vec![b'o'; 3_000_000];
        tokio::task::spawn_blocking(move || {
            // One writer: all of stdout, then a line on stderr.
            std::fs::File::from(out_w).write_all(&payload).unwrap();
            std::fs::File::from(err_w).write_all(b"err\n").unwrap();
        })
        .await
        .unwrap();
        copy.await.unwrap();
        let got = std::fs::read(&path).unwrap();
        assert_eq!(got.len(), 3_000_004);
        assert_eq!(&got[3_000_000..], b"err\n", "stderr overtook stdout");
        std::fs::remove_file(path).unwrap();
    }
}
