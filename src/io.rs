//! The shim holds each process's stdio: it creates the pipes the container
//! writes to and copies them into the FIFOs containerd made, so output is not
//! lost when a container exits at once and containerd's reader comes and goes.
//!
//! A copy ends when the container's pipe reaches end of file and the reader
//! on the FIFO has taken every byte out of it; only then is the FIFO closed.
//! The exit of a process is reported after its copies drained (bounded):
//! clients such as `ctr` may close their end as soon as they learn of the
//! exit, and must find nothing left in flight.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{splice, OFlag, SpliceFFlags};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::sync::{oneshot, watch};
use tokio::task::{AbortHandle, JoinHandle};

use crate::error::{Error, IoContext, Result};
use crate::log_uri::{self, Sink};
use crate::reaper::Reaper;
use crate::runtime::InitStdio;
use crate::sys;

/// Whose stdio this is: a logging program is told, and its exit is reaped.
pub struct IoOwner<'a> {
    pub container_id: &'a str,
    pub namespace: &'a str,
    pub reaper: &'a Reaper,
    /// Where console sockets for terminals are made.
    pub console_dir: &'a Path,
    /// The owner of the stdio pipes (runtime options IoUid/IoGid), so a
    /// container running as that user can reopen them, as with runc's shim.
    pub io_ids: (u32, u32),
}

impl IoOwner<'_> {
    /// A pipe for the process's stdio, owned by `io_ids` when set.
    fn pipe(&self) -> Result<(OwnedFd, OwnedFd)> {
        let (r, w) = pipe()?;
        let (uid, gid) = self.io_ids;
        if (uid, gid) != (0, 0) {
            for end in [&r, &w] {
                nix::unistd::fchown(
                    end,
                    Some(nix::unistd::Uid::from_raw(uid)),
                    Some(nix::unistd::Gid::from_raw(gid)),
                )
                .map_err(|e| Error::io(format!("chown stdio pipe to {uid}:{gid}"), e.into()))?;
            }
        }
        Ok((r, w))
    }
}

/// How long the runtime may take to hand over a terminal's pty master.
const CONSOLE_LIMIT: Duration = Duration::from_secs(10);

/// A terminal being set up: the socket the init sends its pty master to.
struct PendingConsole {
    path: PathBuf,
    master: oneshot::Receiver<std::io::Result<OwnedFd>>,
}

impl Drop for PendingConsole {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

const COPY_BUFFER: usize = 64 * 1024;
/// How long a finished copy waits for the FIFO's reader to take the last
/// bytes before closing the FIFO anyway (the reader may be gone).
const READER_CATCH_UP: Duration = Duration::from_secs(2);

/// The stdio paths containerd asked for (empty: none).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StdioPaths {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
    pub terminal: bool,
}

impl StdioPaths {
    /// The paths of a Create or Exec request.
    pub fn new(stdin: &str, stdout: &str, stderr: &str, terminal: bool) -> StdioPaths {
        StdioPaths {
            stdin: stdin.to_string(),
            stdout: stdout.to_string(),
            stderr: stderr.to_string(),
            terminal,
        }
    }
}

/// The running copies of one process's stdio.
pub struct ProcessIo {
    stdin_close: Option<oneshot::Sender<()>>,
    /// The terminal's pty master (resize, end of input).
    master: Option<OwnedFd>,
    console: Option<(PendingConsole, StdioPaths)>,
    copies: Vec<AbortHandle>,
    /// Becomes true once every output copy has ended.
    drained: watch::Receiver<bool>,
}

impl Default for ProcessIo {
    fn default() -> Self {
        ProcessIo {
            stdin_close: None,
            master: None,
            console: None,
            copies: Vec::new(),
            drained: watch::channel(true).1,
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::io("create pipe", e.into()))
}

/// /dev/null, for a stream nobody asked for.
pub fn dev_null() -> Result<OwnedFd> {
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
    pub async fn open(paths: &StdioPaths, owner: &IoOwner<'_>) -> Result<(ProcessIo, InitStdio)> {
        let mut io = ProcessIo::default();
        if paths.terminal {
            return io.open_console(paths, owner);
        }
        let stdin = if paths.stdin.is_empty() {
            dev_null()?
        } else {
            let fifo = open_stdin_fifo(&paths.stdin)?;
            let (r, w) = owner.pipe()?;
            let to_process = pipe::Sender::from_owned_fd(w).io_context(|| "register stdin pipe")?;
            let (tx, rx) = oneshot::channel();
            io.stdin_close = Some(tx);
            io.copies.push(
                tokio::spawn(copy_stdin(fifo, to_process, rx, StdinEnd::Close)).abort_handle(),
            );
            r
        };
        let mut outputs = Vec::new();
        let (stdout, stderr) = match log_uri::parse(&paths.stdout)? {
            Sink::Binary {
                path,
                args,
                ready_byte,
            } => {
                if paths.stderr != paths.stdout && !paths.stderr.is_empty() {
                    return Err(Error::InvalidArgument(format!(
                        "stderr {:?} must go to the same logger as stdout {:?}",
                        paths.stderr, paths.stdout
                    )));
                }
                let (out_r, out_w) = owner.pipe()?;
                let (err_r, err_w) = owner.pipe()?;
                let logger = log_uri::start_logger(
                    &path,
                    &args,
                    ready_byte,
                    out_r,
                    err_r,
                    owner.container_id,
                    owner.namespace,
                    owner.reaper,
                )
                .await?;
                // The output is complete once the logger has exited.
                outputs.push(tokio::spawn(async move {
                    let _ = logger.exited.await;
                }));
                (out_w, err_w)
            }
            out => {
                let err = log_uri::parse(&paths.stderr)?;
                let mut files = FileSinks::default();
                let stdout = output(out, "stdout", owner, &mut outputs, &mut files)?;
                let stderr = output(err, "stderr", owner, &mut outputs, &mut files)?;
                files.start(&mut outputs);
                (stdout, stderr)
            }
        };
        io.copies
            .extend(outputs.iter().map(JoinHandle::abort_handle));
        let (done_tx, done_rx) = watch::channel(outputs.is_empty());
        io.drained = done_rx;
        if !outputs.is_empty() {
            tokio::spawn(async move {
                for h in outputs {
                    let _ = h.await;
                }
                let _ = done_tx.send(true);
            });
        }
        Ok((
            io,
            InitStdio {
                stdin,
                stdout,
                stderr,
                console_socket: None,
            },
        ))
    }

    /// For a terminal: listens on a console socket; the copies start in
    /// `attach_console` once the runtime created the process.
    fn open_console(
        mut self,
        paths: &StdioPaths,
        owner: &IoOwner<'_>,
    ) -> Result<(ProcessIo, InitStdio)> {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        std::fs::create_dir_all(owner.console_dir)
            .io_context(|| format!("create {}", owner.console_dir.display()))?;
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Named by shim pid and sequence, not by the container id: CRI's
        // 64-hex ids would push the path past sun_path's 108 bytes.
        let path = owner
            .console_dir
            .join(format!("{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = tokio::net::UnixListener::bind(&path)
            .io_context(|| format!("listen on console socket {}", path.display()))?;
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let received = async {
                let (stream, _) = listener.accept().await?;
                let stream = stream.into_std()?;
                stream.set_nonblocking(false)?;
                tokio::task::spawn_blocking(move || sys::recv_fd(stream.as_fd()))
                    .await
                    .map_err(std::io::Error::other)?
            };
            let _ = tx.send(received.await);
        });
        self.console = Some((
            PendingConsole {
                path: path.clone(),
                master: rx,
            },
            paths.clone(),
        ));
        let stdio = InitStdio {
            stdin: dev_null()?,
            stdout: dev_null()?,
            stderr: dev_null()?,
            console_socket: Some(path),
        };
        Ok((self, stdio))
    }

    /// For a terminal, once the runtime created the process: takes the pty
    /// master it sent and copies between it and the FIFOs.
    pub async fn attach_console(&mut self, size: Option<(u32, u32)>) -> Result<()> {
        let Some((pending, paths)) = self.console.take() else {
            return Ok(());
        };
        let PendingConsole { path, master } = &mut { pending };
        let master = match tokio::time::timeout(CONSOLE_LIMIT, master).await {
            Ok(Ok(Ok(fd))) => fd,
            Ok(Ok(Err(e))) => {
                return Err(Error::io(
                    format!("receive pty master on {}", path.display()),
                    e,
                ))
            }
            _ => {
                return Err(Error::Runtime(format!(
                    "no pty master arrived on {} within {CONSOLE_LIMIT:?}",
                    path.display()
                )))
            }
        };
        let dup = |what: &str| {
            master
                .try_clone()
                .io_context(|| format!("duplicate pty master for {what}"))
        };
        let mut outputs = Vec::new();
        if !paths.stdout.is_empty() {
            let fifo = pipe::OpenOptions::new()
                .read_write(true)
                .open_sender(&paths.stdout)
                .io_context(|| format!("open stdout fifo {}", paths.stdout))?;
            let from = pipe::Receiver::from_owned_fd_unchecked(dup("stdout")?)
                .io_context(|| "register pty master")?;
            outputs.push(tokio::spawn(copy_output(
                from,
                fifo,
                "terminal".to_string(),
                Source::Pty,
            )));
        }
        if !paths.stdin.is_empty() {
            let fifo = open_stdin_fifo(&paths.stdin)?;
            let to = pipe::Sender::from_owned_fd_unchecked(dup("stdin")?)
                .io_context(|| "register pty master")?;
            let (tx, rx) = oneshot::channel();
            self.stdin_close = Some(tx);
            self.copies
                .push(tokio::spawn(copy_stdin(fifo, to, rx, StdinEnd::EofChar)).abort_handle());
        }
        self.copies
            .extend(outputs.iter().map(JoinHandle::abort_handle));
        let (done_tx, done_rx) = watch::channel(outputs.is_empty());
        self.drained = done_rx;
        tokio::spawn(async move {
            for h in outputs {
                let _ = h.await;
            }
            let _ = done_tx.send(true);
        });
        self.master = Some(master);
        // The spec's consoleSize (containerd sets it from the client's
        // terminal) applies before the process runs, as runc does.
        if let Some((cols, rows)) = size {
            self.resize(cols, rows)?;
        }
        Ok(())
    }

    /// Sets the terminal's window size; a process without one ignores it.
    pub fn resize(&self, cols: u32, rows: u32) -> Result<()> {
        match &self.master {
            Some(m) => sys::set_winsize(
                m.as_fd(),
                cols.min(u16::MAX as u32) as u16,
                rows.min(u16::MAX as u32) as u16,
            )
            .map_err(|e| Error::io("resize terminal", e)),
            None => Ok(()),
        }
    }

    /// A handle that resolves once all output has been copied.
    pub fn drained(&self) -> watch::Receiver<bool> {
        self.drained.clone()
    }

    /// Closes the process's stdin: it reads end of file. On a terminal that
    /// is the EOF character (^D) typed into it.
    /// What the client wrote before it asked is delivered first: the copy
    /// takes what is left in the FIFO, then ends (`copy_stdin`).
    pub fn close_stdin(&mut self) {
        if let Some(tx) = self.stdin_close.take() {
            let _ = tx.send(());
        }
    }

    /// Waits, at most `limit`, until all output reached the FIFOs; then stops
    /// whatever copy is left (a grandchild may hold the pipe open forever).
    pub async fn finish(&mut self, limit: Duration) {
        self.close_stdin();
        if !wait_drained(self.drained(), limit).await {
            log::warn!("stdio copies did not drain within {limit:?}; closing them");
        }
        self.copies.drain(..).for_each(|c| c.abort());
    }
}

impl Drop for ProcessIo {
    fn drop(&mut self) {
        self.copies.iter().for_each(|c| c.abort());
    }
}

/// Waits until `drained` is true, at most `limit`; returns whether it is.
pub async fn wait_drained(mut drained: watch::Receiver<bool>, limit: Duration) -> bool {
    tokio::time::timeout(limit, drained.wait_for(|d| *d))
        .await
        .is_ok_and(|r| r.is_ok())
}

/// The `file://` outputs of one process: each log file with the pipes that
/// go into it. One copy serves a file's streams (stdout, then stderr), so
/// what a process wrote to stdout before it wrote to stderr is in the file
/// before it, as with one writer.
#[derive(Default)]
struct FileSinks(Vec<FileSink>);

/// One log file: its path, the open file, and the pipes (with their stream
/// names) that go into it.
type FileSink = (std::path::PathBuf, File, Vec<(OwnedFd, String)>);

impl FileSinks {
    /// A pipe into the log file at `path`; returns the process's end.
    fn add(
        &mut self,
        path: std::path::PathBuf,
        name: &str,
        owner: &IoOwner<'_>,
    ) -> Result<OwnedFd> {
        let (r, w) = owner.pipe()?;
        match self.0.iter_mut().find(|(p, _, _)| *p == path) {
            Some((_, _, sources)) => sources.push((r, name.to_string())),
            None => {
                let file = log_uri::open_file(&path)?;
                self.0.push((path, file, vec![(r, name.to_string())]));
            }
        }
        Ok(w)
    }

    fn start(self, copies: &mut Vec<JoinHandle<()>>) {
        for (_, file, sources) in self.0 {
            copies.push(tokio::spawn(log_uri::copy_to_file(sources, file)));
        }
    }
}

fn output(
    sink: Sink,
    name: &str,
    owner: &IoOwner<'_>,
    copies: &mut Vec<JoinHandle<()>>,
    files: &mut FileSinks,
) -> Result<OwnedFd> {
    let path = match sink {
        Sink::None => return dev_null(),
        Sink::Fifo(path) => path,
        Sink::File(path) => return files.add(path, name, owner),
        Sink::Binary { .. } => {
            return Err(Error::InvalidArgument(format!(
                "{name}: a binary:// logger must be given for stdout"
            )))
        }
    };
    let path = path.as_str();
    // Read-write: opening never blocks, and writing never fails with EPIPE
    // while containerd's reader is away (we are a reader too).
    let fifo = pipe::OpenOptions::new()
        .read_write(true)
        .open_sender(path)
        .io_context(|| format!("open {name} fifo {path}"))?;
    let (r, w) = owner.pipe()?;
    let from_process =
        pipe::Receiver::from_owned_fd(r).io_context(|| format!("register {name} pipe"))?;
    copies.push(tokio::spawn(copy_output(
        from_process,
        fifo,
        name.to_string(),
        Source::Pipe,
    )));
    Ok(w)
}

/// What a process writes to: a pipe the shim made, or a terminal's pty master.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    Pipe,
    Pty,
}

async fn copy_output(from: pipe::Receiver, mut to: pipe::Sender, name: String, source: Source) {
    let copied = match source {
        Source::Pipe => splice_pipe(&from, &to).await,
        Source::Pty => {
            let mut reader = BufReader::with_capacity(COPY_BUFFER, from);
            tokio::io::copy_buf(&mut reader, &mut to).await
        }
    };
    match copied {
        Ok(n) => log::debug!("copied {n} bytes of {name}"),
        // A pty master reads EIO once the last holder of the slave is gone.
        Err(e) if e.raw_os_error() == Some(libc::EIO) => log::debug!("{name} closed"),
        Err(e) => log::warn!("copy {name}: {e}"),
    }
    // Closing now would be fine for a reader that reads to end of file, but
    // a client may stop reading the moment it learns of the exit: keep the
    // exit back until the reader has taken everything (or seems gone).
    let start = Instant::now();
    let mut pause = Duration::from_micros(200);
    while sys::unread_bytes(to.as_fd()).unwrap_or(0) > 0 {
        if start.elapsed() > READER_CATCH_UP {
            log::warn!("the reader of {name} left bytes unread; closing it");
            break;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Moves everything from the process's pipe into the FIFO with splice: the
/// pages change pipes, no byte is copied. Whether a splice that would block
/// waits for the pipe (empty) or for the FIFO (full) is told by what the pipe
/// holds, so each wait is on the end that really blocked.
async fn splice_pipe(from: &pipe::Receiver, to: &pipe::Sender) -> std::io::Result<u64> {
    let flags = SpliceFFlags::SPLICE_F_NONBLOCK | SpliceFFlags::SPLICE_F_MOVE;
    let splice_once = || {
        splice(from.as_fd(), None, to.as_fd(), None, SPLICE_CHUNK, flags)
            .map_err(std::io::Error::from)
    };
    let mut total = 0u64;
    let mut grown = false;
    loop {
        let pending = sys::unread_bytes(from.as_fd())?;
        let moved = if pending == 0 {
            from.readable().await?;
            from.try_io(splice_once)
        } else {
            if !grown && pending >= sys::DEFAULT_PIPE_SIZE {
                // A busy writer: fewer, larger hand-overs from now on.
                sys::grow_pipe(from.as_fd());
                sys::grow_pipe(to.as_fd());
                grown = true;
            }
            to.writable().await?;
            to.try_io(splice_once)
        };
        match moved {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

const SPLICE_CHUNK: usize = 1 << 20;

/// Opens the stdin FIFO for reading, with a write end of the shim's own
/// (O_RDWR), as containerd-shim-runc-v2 keeps one: a FIFO without a writer
/// reads as end of file, which would end the process's stdin before the
/// client has even opened its end (it may open it after Create returns), or
/// while it reconnects. The process's stdin ends with CloseIO only.
fn open_stdin_fifo(path: &str) -> Result<pipe::Receiver> {
    pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(path)
        .io_context(|| format!("open stdin fifo {path}"))
}

/// How the process learns that its input ended.
#[derive(Clone, Copy)]
enum StdinEnd {
    /// Its pipe is closed.
    Close,
    /// The EOF character (^D) is typed into its terminal.
    EofChar,
}

/// Copies the client's FIFO into the process's stdin until CloseIO. Every
/// byte the client wrote before CloseIO is delivered, in order: a write into
/// a full pipe (the process reads slowly) is finished, not dropped, and what
/// is still in the FIFO when CloseIO comes is taken out (until it is empty)
/// before the process's stdin is ended.
async fn copy_stdin(
    from: pipe::Receiver,
    mut to: pipe::Sender,
    mut close: oneshot::Receiver<()>,
    end: StdinEnd,
) {
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut closing = false;
    loop {
        if !closing {
            tokio::select! {
                biased;
                _ = &mut close => {
                    // CloseIO, or the process's io dropped (then this task
                    // is aborted anyway): drain what is there, then end.
                    closing = true;
                    continue;
                }
                ready = from.readable() => {
                    if let Err(e) = ready {
                        log::debug!("copy stdin: {e}");
                        return;
                    }
                }
            }
        }
        let read = if closing {
            // After CloseIO, read(2) itself says when the FIFO is empty:
            // try_read answers from tokio's readiness, which can lag behind
            // the client's last write (its event not yet polled when CloseIO
            // wakes this task), and that write would be lost.
            nix::unistd::read(&from, &mut buf).map_err(std::io::Error::from)
        } else {
            from.try_read(&mut buf)
        };
        let n = match read {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if closing {
                    break; // the FIFO is empty: all the client wrote is through
                }
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::debug!("copy stdin: {e}");
                break;
            }
        };
        if let Err(e) = to.write_all(&buf[..n]).await {
            // The process closed its stdin or exited: nothing more to do.
            log::debug!("copy stdin: {e}");
            return;
        }
    }
    if let StdinEnd::EofChar = end {
        let _ = to.write_all(&[4u8]).await;
    }
    // Dropping `to` closes the process's stdin (for a terminal, one of the
    // master's descriptors, the others stay).
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::path::Path;

    fn owner(reaper: &Reaper) -> IoOwner<'_> {
        IoOwner {
            container_id: "c",
            namespace: "ns",
            reaper,
            console_dir: Path::new("/tmp"),
            io_ids: (0, 0),
        }
    }

    /// ProcessIo::open for `paths`, owned by a container "c" of a fresh reaper.
    async fn open_io(paths: StdioPaths) -> Result<(ProcessIo, InitStdio)> {
        ProcessIo::open(&paths, &owner(&Reaper::default())).await
    }

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
        let (mut io, stdio) = open_io(StdioPaths {
            stdout: stdout.clone(),
            ..Default::default()
        })
        .await
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
        let (_io, stdio) = open_io(StdioPaths::default()).await.unwrap();
        let link = std::fs::read_link(format!("/proc/self/fd/{}", {
            use std::os::fd::AsRawFd;
            stdio.stdout.as_raw_fd()
        }))
        .unwrap();
        assert_eq!(link, Path::new("/dev/null"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_missing_fifo_is_named_in_the_error() {
        let err = open_io(StdioPaths {
            stdout: "/nonexistent/dir/stdout".into(),
            ..Default::default()
        })
        .await
        .err()
        .unwrap();
        assert!(err.to_string().contains("/nonexistent/dir/stdout"), "{err}");
    }

    /// The client's last write lands in the FIFO just before CloseIO, while
    /// the copy waits on an empty FIFO: it is delivered before the end of
    /// file, although tokio has not yet seen the FIFO become readable when
    /// the copy wakes for CloseIO (written and closed with no await in
    /// between, so the copy runs before the runtime polls for events).
    #[tokio::test(flavor = "current_thread")]
    async fn a_write_just_before_close_io_arrives() {
        let dir = tempdir("stdin-last");
        let stdin = mkfifo(&dir, "stdin");
        let (mut io, stdio) = open_io(StdioPaths {
            stdin: stdin.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
        // The shim holds a write end itself: this open does not block.
        let mut client = std::fs::OpenOptions::new()
            .write(true)
            .open(&stdin)
            .unwrap();
        client.write_all(b"first ").unwrap();
        let mut process = File::from(stdio.stdin);
        let (process, first) = tokio::task::spawn_blocking(move || {
            let mut b = [0u8; 6];
            process.read_exact(&mut b).unwrap();
            (process, b)
        })
        .await
        .unwrap();
        assert_eq!(&first, b"first ");
        // The copy found the FIFO empty and waits.
        tokio::time::sleep(Duration::from_millis(20)).await;
        client.write_all(b"last").unwrap();
        drop(client);
        io.close_stdin();
        let rest = tokio::task::spawn_blocking(move || {
            let mut process = process;
            let mut v = Vec::new();
            process.read_to_end(&mut v).unwrap();
            v
        })
        .await
        .unwrap();
        assert_eq!(String::from_utf8_lossy(&rest), "last");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// The process reads slowly; the client opens its end of the FIFO only
    /// after the shim did, writes 1 MB, closes its end and calls CloseIO at
    /// once: every byte arrives, in order, then end of file.
    #[tokio::test(flavor = "current_thread")]
    async fn stdin_written_before_close_io_all_arrives() {
        let dir = tempdir("stdin");
        let stdin = mkfifo(&dir, "stdin");
        let (mut io, stdio) = open_io(StdioPaths {
            stdin: stdin.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
        // Let the copy look at the FIFO before any writer exists: it must
        // not take that for the end of the input.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let sent = data.clone();
        let client = std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(&stdin)
                .unwrap();
            f.write_all(&sent).unwrap();
        });
        let process_stdin = stdio.stdin;
        let process = std::thread::spawn(move || {
            let mut f = File::from(process_stdin);
            let mut all = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                match f.read(&mut chunk).unwrap() {
                    0 => return all,
                    n => all.extend_from_slice(&chunk[..n]),
                }
                // A slow reader: the pipe, the copy and the FIFO fill up, so
                // CloseIO comes with up to three buffers of input in flight.
                std::thread::sleep(Duration::from_micros(500));
            }
        });
        tokio::task::spawn_blocking(move || client.join().unwrap())
            .await
            .unwrap();
        io.close_stdin();
        let got = tokio::task::spawn_blocking(move || process.join().unwrap())
            .await
            .unwrap();
        assert_eq!(got.len(), data.len());
        assert!(got == data, "stdin arrived changed");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
