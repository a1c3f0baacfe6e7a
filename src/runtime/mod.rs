//! The OCI runtime backend behind the task service. The embedded backend
//! (youki's libcontainer, run in a short-lived helper process) is the default;
//! an external runtime binary is a second implementation of the same trait.

pub mod embedded;
mod executor;
pub mod helper;

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use async_trait::async_trait;

use crate::error::Result;

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
}
