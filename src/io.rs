//! The shim holds each process's stdio: it creates the pipes the container
//! writes to and copies them into the FIFOs containerd made, so output is not
//! lost when a container exits at once and containerd's reader comes and goes.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::time::Duration;

use nix::fcntl::OFlag;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::{Error, IoContext, Result};
use crate::runtime::InitStdio;

const COPY_BUFFER: usize = 64 * 1024;

/// The stdio paths containerd asked for (empty: none).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StdioPaths {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
    pub terminal: bool,
}

/// The running copies of one process's stdio.
#[derive(Default)]
pub struct ProcessIo {
    stdin_close: Option<oneshot::Sender<()>>,
    stdin_copy: Option<JoinHandle<()>>,
    output_copies: Vec<JoinHandle<()>>,
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::io("create pipe", e.into()))
}

fn dev_null() -> Result<OwnedFd> {
    Ok(File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .io_context(|| "open /dev/null")?
        .into())
}

impl ProcessIo {
    /// Opens the FIFOs and creates the pipes; returns the copies and the ends
    /// the container's process gets. Must run inside the tokio runtime.
    pub fn open(paths: &StdioPaths) -> Result<(ProcessIo, InitStdio)> {
        if paths.terminal {
            return Err(Error::Unimplemented(
                "terminal (pty) stdio is not supported yet".into(),
            ));
        }
        let mut io = ProcessIo::default();
        let stdin = if paths.stdin.is_empty() {
            dev_null()?
        } else {
            let fifo = pipe::OpenOptions::new()
                .open_receiver(&paths.stdin)
                .io_context(|| format!("open stdin fifo {}", paths.stdin))?;
            let (r, w) = pipe()?;
            let to_process = pipe::Sender::from_owned_fd(w).io_context(|| "register stdin pipe")?;
            let (tx, rx) = oneshot::channel();
            io.stdin_close = Some(tx);
            io.stdin_copy = Some(tokio::spawn(copy_stdin(fifo, to_process, rx)));
            r
        };
        let stdout = io.output(&paths.stdout, "stdout")?;
        let stderr = io.output(&paths.stderr, "stderr")?;
        Ok((
            io,
            InitStdio {
                stdin,
                stdout,
                stderr,
            },
        ))
    }

    fn output(&mut self, path: &str, name: &str) -> Result<OwnedFd> {
        if path.is_empty() {
            return dev_null();
        }
        // Read-write: opening never blocks, and writing never fails with
        // EPIPE while containerd's reader is away (we are a reader too).
        let fifo = pipe::OpenOptions::new()
            .read_write(true)
            .open_sender(path)
            .io_context(|| format!("open {name} fifo {path}"))?;
        let (r, w) = pipe()?;
        let from_process =
            pipe::Receiver::from_owned_fd(r).io_context(|| format!("register {name} pipe"))?;
        self.output_copies.push(tokio::spawn(copy_output(
            from_process,
            fifo,
            name.to_string(),
        )));
        Ok(w)
    }

    /// Closes the process's stdin: it reads end of file.
    pub fn close_stdin(&mut self) {
        if let Some(tx) = self.stdin_close.take() {
            let _ = tx.send(());
        }
    }

    /// Waits, at most `limit`, until all output reached the FIFOs; then stops
    /// whatever copy is left (a grandchild may hold the pipe open forever).
    pub async fn finish(&mut self, limit: Duration) {
        self.close_stdin();
        let copies = std::mem::take(&mut self.output_copies);
        let aborts: Vec<_> = copies.iter().map(|h| h.abort_handle()).collect();
        let all = async {
            for h in copies {
                let _ = h.await;
            }
        };
        if tokio::time::timeout(limit, all).await.is_err() {
            log::warn!("stdio copies did not drain within {limit:?}; closing them");
            aborts.iter().for_each(|a| a.abort());
        }
        if let Some(h) = self.stdin_copy.take() {
            h.abort();
        }
    }
}

impl Drop for ProcessIo {
    fn drop(&mut self) {
        self.output_copies.iter().for_each(|h| h.abort());
        if let Some(h) = &self.stdin_copy {
            h.abort();
        }
    }
}

async fn copy_output(from: pipe::Receiver, mut to: pipe::Sender, name: String) {
    let mut reader = BufReader::with_capacity(COPY_BUFFER, from);
    if let Err(e) = tokio::io::copy_buf(&mut reader, &mut to).await {
        log::warn!("copy {name}: {e}");
    }
    let _ = to.flush().await;
}

async fn copy_stdin(from: pipe::Receiver, mut to: pipe::Sender, close: oneshot::Receiver<()>) {
    let mut reader = BufReader::with_capacity(COPY_BUFFER, from);
    tokio::select! {
        r = tokio::io::copy_buf(&mut reader, &mut to) => {
            if let Err(e) = r {
                log::debug!("copy stdin: {e}");
            }
        }
        _ = close => {}
    }
    // Dropping `to` closes the process's stdin.
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::path::Path;

    fn mkfifo(dir: &Path, name: &str) -> String {
        let p = dir.join(name);
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        p.display().to_string()
    }

    fn tempdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("shim-io-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[tokio::test(flavor = "current_thread")]
    async fn output_reaches_the_fifo_byte_for_byte() {
        let dir = tempdir("out");
        let stdout = mkfifo(&dir, "stdout");
        let (mut io, stdio) = ProcessIo::open(&StdioPaths {
            stdout: stdout.clone(),
            ..Default::default()
        })
        .unwrap();
        let reader = std::thread::spawn(move || {
            let mut f = File::open(&stdout).unwrap();
            let mut all = Vec::new();
            f.read_to_end(&mut all).unwrap();
            all
        });
        let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let expected = payload.clone();
        let writer = std::thread::spawn(move || {
            let mut w = File::from(stdio.stdout);
            w.write_all(&payload).unwrap();
        });
        tokio::task::spawn_blocking(move || writer.join().unwrap())
            .await
            .unwrap();
        io.finish(Duration::from_secs(10)).await;
        let got = tokio::task::spawn_blocking(move || reader.join().unwrap())
            .await
            .unwrap();
        assert_eq!(got.len(), expected.len());
        assert!(got == expected);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn no_paths_means_dev_null() {
        let (_io, stdio) = ProcessIo::open(&StdioPaths::default()).unwrap();
        let link = std::fs::read_link(format!("/proc/self/fd/{}", {
            use std::os::fd::AsRawFd;
            stdio.stdout.as_raw_fd()
        }))
        .unwrap();
        assert_eq!(link, Path::new("/dev/null"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_missing_fifo_is_named_in_the_error() {
        let err = ProcessIo::open(&StdioPaths {
            stdout: "/nonexistent/dir/stdout".into(),
            ..Default::default()
        })
        .err()
        .unwrap();
        assert!(err.to_string().contains("/nonexistent/dir/stdout"), "{err}");
    }
}
