//! The OCI runtime backend behind the task service. The embedded backend
//! (youki's libcontainer, run in a short-lived helper process) is the default;
//! an external runtime binary (runc's command line, `runc::Runc`) is a second
//! implementation of the same trait.

pub mod embedded;
mod exec_seccomp;
mod executor;
pub mod helper;
/// The external runtime, chosen per container by `BinaryName` (container.rs).
pub mod runc;
pub mod sealed_exe;

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use async_trait::async_trait;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use crate::error::{Error, Result};

/// The container's standard streams, as the runtime should hand them to init.
pub struct InitStdio {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    /// For a terminal: the socket the container's init sends its pty master to.
    pub console_socket: Option<PathBuf>,
}

pub struct CreateOpts {
    pub id: String,
    /// The bundle the runtime reads `config.json` from.
    pub bundle: PathBuf,
    pub pid_file: PathBuf,
    pub no_pivot_root: bool,
    /// The spec's `slice:prefix:name` when the systemd cgroup driver makes
    /// the container's cgroup (a transient scope), not the runtime itself.
    pub systemd: Option<String>,
    pub stdio: InitStdio,
}

pub struct ExecOpts {
    pub id: String,
    pub exec_id: String,
    /// The OCI process (JSON) to run in the container.
    pub process_json: Vec<u8>,
    pub stdio: InitStdio,
}

/// What a Kill reaches: one process of the container, or with `all` every
/// process in its cgroup.
pub struct KillTarget<'a> {
    /// The process the request names (the init or an exec).
    pub pid: u32,
    /// Its name in messages ("c1", "c1/exec-1").
    pub name: &'a str,
    /// The container's init (an external runtime signals it itself).
    pub init: bool,
    pub signal: u32,
    pub all: bool,
    pub cgroups_path: &'a str,
}

/// The one place that knows how a container is created, started,
/// signalled, frozen, updated, measured and deleted: the embedded backend
/// (embedded.rs) and an external runc (runc.rs) side by side; callers never
/// ask which one they have. The cgroup code both use (freezer, update,
/// stats, pids) is crate::cgroup.
#[async_trait]
pub trait Runtime: Send + Sync {
    /// Creates the container; returns the pid of its init, which waits for `start`.
    async fn create(&self, opts: CreateOpts) -> Result<u32>;
    /// Lets the created init exec the container's process.
    async fn start(&self, id: &str) -> Result<()>;
    /// Runs an additional process in the running container; returns its pid.
    async fn exec(&self, opts: ExecOpts) -> Result<u32>;
    /// Removes the container's runtime state and cgroup; `force` kills what still runs.
    async fn delete(&self, id: &str, force: bool) -> Result<()>;
    /// Sends a signal (0: only asks whether the process lives).
    async fn kill(&self, id: &str, target: KillTarget<'_>) -> Result<()>;
    /// Freezes every process of the container.
    async fn pause(&self, id: &str, cgroups_path: &str) -> Result<()>;
    async fn resume(&self, id: &str, cgroups_path: &str) -> Result<()>;
    /// Applies new resource limits to the container.
    async fn update(&self, id: &str, cgroups_path: &str, resources: &LinuxResources) -> Result<()>;
    /// The pids of the container's processes.
    async fn ps(&self, id: &str, cgroups_path: &str) -> Result<Vec<u32>>;
    /// The container's cgroup metrics (v1 or v2 Metrics in an Any).
    async fn stats(&self, id: &str, cgroups_path: &str) -> Result<Any>;
}

/// Signals the target's process, or every process of its cgroup, from the
/// shim itself: the embedded backend for every process, the external one
/// for execs (as containerd-shim-runc-v2 signals them).
pub fn signal_directly(target: &KillTarget<'_>) -> Result<()> {
    let signal = target.signal;
    // Signal 0 sends nothing: it only asks whether the process lives.
    let sig = match signal {
        0 => None,
        _ => Some(
            i32::try_from(signal)
                .ok()
                .and_then(|s| Signal::try_from(s).ok())
                .ok_or_else(|| Error::InvalidArgument(format!("invalid signal {signal}")))?,
        ),
    };
    if target.all && target.init {
        let mut pids = crate::cgroup::procs(target.cgroups_path);
        if !pids.contains(&target.pid) {
            pids.push(target.pid);
        }
        for p in pids {
            match kill(Pid::from_raw(p as i32), sig) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => return Err(Error::caused(format!("signal {signal} to pid {p}"), e)),
            }
        }
        return Ok(());
    }
    match kill(Pid::from_raw(target.pid as i32), sig) {
        Ok(()) => Ok(()),
        Err(Errno::ESRCH) => Err(Error::NotFound(format!(
            "process {} already finished",
            target.name
        ))),
        Err(e) => Err(Error::caused(
            format!("signal {signal} to pid {}", target.pid),
            e,
        )),
    }
}

/// Runs work that can block (freezing waits for the kernel, a lower memory
/// limit makes it reclaim, an overlay of many layers takes a while to
/// mount) off the single serving thread, so one container's slow request
/// does not stall the pod's others.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::caused("blocking task failed", e))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(pid: u32, signal: u32) -> KillTarget<'static> {
        KillTarget {
            pid,
            name: "c1",
            init: true,
            signal,
            all: false,
            cgroups_path: "/no-such-ns/no-such-c1",
        }
    }

    #[test]
    fn direct_signals_name_what_went_wrong() {
        // A pid that cannot exist: NotFound, naming the process.
        let e = signal_directly(&target(i32::MAX as u32 - 1, 0)).unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e}");
        assert!(e.to_string().contains("c1"), "{e}");
        let e = signal_directly(&target(1, 999)).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
        // Signal 0 to ourselves: alive.
        signal_directly(&target(std::process::id(), 0)).unwrap();
    }
}
