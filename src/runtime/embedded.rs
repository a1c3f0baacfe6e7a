//! The embedded OCI runtime, shim side.
//!
//! libcontainer forks and changes process-wide state (working directory,
//! dumpable flag, oom_score_adj), which is unsound in the multi-threaded,
//! long-lived shim. So every libcontainer call runs in a helper: this same
//! binary, exec'd fresh (single-threaded) with the action word `oci-helper`.
//! The helper replies with one JSON line on fd 3 and exits; the container's
//! init, its child, is reparented to the shim, the subreaper.
//!
//! The helper is exec'd from a sealed view of the binary (sealed_exe.rs), so
//! that no process in a container ever has the host's file as its
//! executable.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use nix::fcntl::OFlag;

use super::helper::Reply;
use super::sealed_exe::SealedExe;
use super::{blocking, signal_directly, CreateOpts, ExecOpts, KillTarget, Runtime};
use crate::error::{Error, IoContext, Result};
use crate::io::dev_null;
use crate::locked::Locked;
use crate::reaper::Reaper;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use oci_spec::runtime::LinuxResources;

/// A helper that takes longer than this is killed and the call fails.
const HELPER_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Embedded {
    /// The shim binary, for the helper verbs that stay outside containers.
    exe: PathBuf,
    /// Its sealed view, for the verbs whose children enter a container; the
    /// error says why none could be made.
    sealed: std::result::Result<SealedExe, String>,
    /// libcontainer's state root, one per namespace, on tmpfs.
    root: PathBuf,
    reaper: Reaper,
    /// The systemd scopes of the containers it created with systemd's
    /// driver, by id: their `slice:prefix:name`.
    units: Mutex<HashMap<String, String>>,
}

impl Embedded {
    pub fn new(root: PathBuf, reaper: Reaper) -> Result<Self> {
        let exe = std::env::current_exe().io_context(|| "locate the shim binary")?;
        std::fs::create_dir_all(&root)
            .io_context(|| format!("create runtime root {}", root.display()))?;
        let sealed = SealedExe::open(&exe, &root);
        if let Err(e) = &sealed {
            log::error!("{e}");
        }
        Ok(Embedded {
            exe,
            sealed,
            root,
            reaper,
            units: Mutex::new(HashMap::new()),
        })
    }

    /// What the helper for `verb` is exec'd from: create and exec fork the
    /// container's processes from it, so only the sealed view will do.
    fn program(&self, verb: &str) -> Result<PathBuf> {
        match (&self.sealed, verb) {
            (Ok(sealed), _) => Ok(sealed.program()),
            (Err(e), "create" | "exec") => Err(Error::FailedPrecondition(e.clone())),
            (Err(_), _) => Ok(self.exe.clone()),
        }
    }

    fn base_args(&self, verb: &str, id: &str) -> Vec<String> {
        vec![
            "oci-helper".into(),
            verb.into(),
            "--root".into(),
            self.root.display().to_string(),
            "--id".into(),
            id.into(),
        ]
    }

    async fn run(&self, args: Vec<String>, stdio: Option<[OwnedFd; 3]>) -> Result<Reply> {
        let stdio = match stdio {
            Some(s) => s,
            None => [dev_null()?, dev_null()?, dev_null()?],
        };
        let (reply_r, reply_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
            .map_err(|e| Error::io("create reply pipe", e.into()))?;
        let [stdin, stdout, stderr] = stdio;
        let program = self.program(&args[1])?;
        let mut cmd = Command::new(&program);
        cmd.arg0(&self.exe)
            .args(&args)
            .stdin(Stdio::from(stdin))
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr));
        crate::handover::with_fd3(&mut cmd, reply_w.as_raw_fd(), false);
        // Never waited for here: the reaper collects the helper's exit.
        let pid = cmd
            .spawn()
            .io_context(|| {
                format!(
                    "start runtime helper {} ({})",
                    self.exe.display(),
                    program.display()
                )
            })?
            .id();
        drop(cmd);
        drop(reply_w);
        let Some(status) = self.reaper.wait_bounded(pid, HELPER_TIMEOUT).await else {
            return Err(Error::Runtime(format!(
                "runtime helper {} {:?} did not finish within {HELPER_TIMEOUT:?}",
                args[1], args
            )));
        };
        // The helper wrote its reply before exiting, so it is in the pipe now;
        // the container's init may still hold the write end, so read what is
        // there rather than waiting for end of file.
        let mut buf = Vec::new();
        let mut f = File::from(reply_r);
        let mut chunk = [0u8; 4096];
        loop {
            match f.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("read runtime helper reply", e)),
            }
        }
        let line = buf.split(|b| *b == b'\n').next().unwrap_or_default();
        if line.is_empty() {
            return Err(Error::Runtime(format!(
                "runtime helper ({}) exited with status {status} without a reply",
                args[1]
            )));
        }
        let reply: Reply = serde_json::from_slice(line)
            .map_err(|e| Error::caused("unreadable runtime helper reply", e))?;
        match reply {
            Reply::Error { error } => Err(Error::Runtime(error)),
            ok => Ok(ok),
        }
    }
}

#[async_trait]
impl Runtime for Embedded {
    async fn create(&self, opts: CreateOpts) -> Result<u32> {
        let mut args = self.base_args("create", &opts.id);
        args.extend([
            "--bundle".into(),
            opts.bundle.display().to_string(),
            "--pid-file".into(),
            opts.pid_file.display().to_string(),
        ]);
        if opts.no_pivot_root {
            args.push("--no-pivot".into());
        }
        if opts.systemd.is_some() {
            args.push("--systemd".into());
        }
        if let Some(sock) = &opts.stdio.console_socket {
            args.extend(["--console-socket".into(), sock.display().to_string()]);
        }
        let stdio = [opts.stdio.stdin, opts.stdio.stdout, opts.stdio.stderr];
        match self.run(args, Some(stdio)).await? {
            Reply::Created { pid } => {
                if let Some(unit) = opts.systemd {
                    self.units.locked().insert(opts.id, unit);
                }
                Ok(pid)
            }
            other => Err(Error::Runtime(format!("unexpected helper reply {other:?}"))),
        }
    }

    async fn exec(&self, opts: ExecOpts) -> Result<u32> {
        // The helper reads the process spec from a file, as libcontainer wants.
        let dir = self.root.join(".exec");
        std::fs::create_dir_all(&dir).io_context(|| format!("create {}", dir.display()))?;
        let path = dir.join(format!("{}.{}.json", opts.id, opts.exec_id));
        std::fs::write(&path, &opts.process_json)
            .io_context(|| format!("write {}", path.display()))?;
        let mut args = self.base_args("exec", &opts.id);
        args.extend(["--process".into(), path.display().to_string()]);
        if let Some(sock) = &opts.stdio.console_socket {
            args.extend(["--console-socket".into(), sock.display().to_string()]);
        }
        let stdio = [opts.stdio.stdin, opts.stdio.stdout, opts.stdio.stderr];
        let result = self.run(args, Some(stdio)).await;
        let _ = std::fs::remove_file(&path);
        match result? {
            Reply::Created { pid } => Ok(pid),
            other => Err(Error::Runtime(format!("unexpected helper reply {other:?}"))),
        }
    }

    async fn start(&self, id: &str) -> Result<()> {
        self.run(self.base_args("start", id), None)
            .await
            .map(|_| ())
    }

    async fn delete(&self, id: &str, force: bool) -> Result<()> {
        let mut args = self.base_args("delete", id);
        if force {
            args.push("--force".into());
        }
        self.run(args, None).await?;
        self.units.locked().remove(id);
        Ok(())
    }

    /// The shim signals the container's processes itself (it is their
    /// parent and knows their pids): no helper, no fork.
    async fn kill(&self, _id: &str, target: KillTarget<'_>) -> Result<()> {
        signal_directly(&target)
    }

    /// In-process on the container's cgroup (no fork, so no helper), off
    /// the serving thread: freezing waits for the kernel.
    async fn pause(&self, _id: &str, cgroups_path: &str) -> Result<()> {
        let path = cgroups_path.to_string();
        blocking(move || crate::cgroup::freeze(&path)).await
    }

    async fn resume(&self, _id: &str, cgroups_path: &str) -> Result<()> {
        let path = cgroups_path.to_string();
        blocking(move || crate::cgroup::thaw(&path)).await
    }

    /// The cgroup's files, off the serving thread: lowering a memory limit
    /// below the usage makes the kernel reclaim before the write returns.
    /// A systemd scope's unit properties first (systemd writes them to the
    /// cgroup again on every daemon-reload), then the cgroup's files, for
    /// what no property covers.
    async fn update(&self, id: &str, cgroups_path: &str, resources: &LinuxResources) -> Result<()> {
        let unit = self.units.locked().get(id).cloned();
        let (id, path, resources) = (id.to_string(), cgroups_path.to_string(), resources.clone());
        blocking(move || {
            if let Some(unit) = unit {
                crate::cgroup::set_unit_properties(&unit, &id, &resources)?;
            }
            crate::cgroup::update(&path, &resources)
        })
        .await
    }

    async fn ps(&self, _id: &str, cgroups_path: &str) -> Result<Vec<u32>> {
        Ok(crate::cgroup::procs(cgroups_path))
    }

    async fn stats(&self, _id: &str, cgroups_path: &str) -> Result<Any> {
        let path = cgroups_path.to_string();
        blocking(move || crate::cgroup::metrics(&path)).await
    }
}
