//! The OCI runtime backend behind the task service. The embedded backend
//! (youki's libcontainer, run in a short-lived helper process) is the default;
//! an external runtime binary (runc's command line, `runc::Runc`) is a second
//! implementation of the same trait.

pub mod embedded;
mod executor;
pub mod helper;
// Not selected by the task service yet (container.rs does that: BinaryName).
#[allow(dead_code)]
pub mod runc;

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use async_trait::async_trait;

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
    pub stdio: InitStdio,
}

pub struct ExecOpts {
    pub id: String,
    pub exec_id: String,
    /// The OCI process (JSON) to run in the container.
    pub process_json: Vec<u8>,
    pub stdio: InitStdio,
}

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

    // What only an external runtime does for now; the embedded backend
    // answers Unimplemented (the shim signals and reads cgroups itself).
    // (allow(dead_code): the task service does not call them yet.)

    /// Sends `signal` to the container's init, or with `all` to all its processes.
    #[allow(dead_code)]
    async fn kill(&self, id: &str, _signal: u32, _all: bool) -> Result<()> {
        Err(unimplemented("kill", id))
    }
    /// Freezes every process of the container.
    #[allow(dead_code)]
    async fn pause(&self, id: &str) -> Result<()> {
        Err(unimplemented("pause", id))
    }
    /// Thaws a paused container.
    #[allow(dead_code)]
    async fn resume(&self, id: &str) -> Result<()> {
        Err(unimplemented("resume", id))
    }
    /// Applies new resource limits: an OCI `linux.resources` object as JSON.
    #[allow(dead_code)]
    async fn update(&self, id: &str, _resources_json: &[u8]) -> Result<()> {
        Err(unimplemented("update", id))
    }
    /// The pids (in the shim's pid namespace) of the container's processes.
    #[allow(dead_code)]
    async fn ps(&self, id: &str) -> Result<Vec<u32>> {
        Err(unimplemented("ps", id))
    }
}

#[allow(dead_code)]
fn unimplemented(op: &str, id: &str) -> Error {
    Error::Unimplemented(format!(
        "{op} of container {id} through the runtime is not supported by this runtime backend"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Minimal;

    #[async_trait]
    impl Runtime for Minimal {
        async fn create(&self, _: CreateOpts) -> Result<u32> {
            Ok(1)
        }
        async fn start(&self, _: &str) -> Result<()> {
            Ok(())
        }
        async fn exec(&self, _: ExecOpts) -> Result<u32> {
            Ok(2)
        }
        async fn delete(&self, _: &str, _: bool) -> Result<()> {
            Ok(())
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_backend_without_them_answers_unimplemented() {
        let rt: &dyn Runtime = &Minimal;
        let results = [
            ("kill", rt.kill("c1", 15, false).await),
            ("pause", rt.pause("c1").await),
            ("resume", rt.resume("c1").await),
            ("update", rt.update("c1", b"{}").await),
            ("ps", rt.ps("c1").await.map(|_| ())),
        ];
        for (op, r) in results {
            match r {
                Err(Error::Unimplemented(m)) => {
                    assert!(m.starts_with(&format!("{op} of container c1")), "{m}")
                }
                other => panic!("{op}: expected Unimplemented, got {other:?}"),
            }
        }
    }
}
