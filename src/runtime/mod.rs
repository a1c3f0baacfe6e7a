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

    /// An external runtime binary (signals to the init go through it, as
    /// containerd-shim-runc-v2 sends them through `runc kill`).
    fn is_external(&self) -> bool {
        false
    }
    /// Signals the init (or with `all` every process) through the runtime;
    /// only external runtimes do: the shim signals directly otherwise.
    async fn kill(&self, id: &str, _signal: u32, _all: bool) -> Result<()> {
        Err(Error::Unimplemented(format!(
            "kill of container {id} through the runtime: the embedded runtime signals directly"
        )))
    }
    /// Freezes every process of the container. The embedded runtime does it
    /// in-process on the container's cgroup (no fork, so no helper needed).
    async fn pause(&self, _id: &str, cgroups_path: &str) -> Result<()> {
        let path = cgroups_path.to_string();
        blocking(move || crate::cgroup::freeze(&path)).await
    }
    async fn resume(&self, _id: &str, cgroups_path: &str) -> Result<()> {
        let path = cgroups_path.to_string();
        blocking(move || crate::cgroup::thaw(&path)).await
    }
    /// Applies new resource limits to the container's cgroup, off the
    /// serving thread: lowering a memory limit below the usage makes the
    /// kernel reclaim before the write returns.
    async fn update(
        &self,
        _id: &str,
        cgroups_path: &str,
        resources: &LinuxResources,
    ) -> Result<()> {
        let (path, resources) = (cgroups_path.to_string(), resources.clone());
        blocking(move || crate::cgroup::update(&path, &resources)).await
    }
    /// The pids of the container's processes.
    async fn ps(&self, _id: &str, cgroups_path: &str) -> Result<Vec<u32>> {
        Ok(crate::cgroup::procs(cgroups_path))
    }
}

/// Runs a blocking cgroup operation (freezing waits for the kernel) off the
/// shim's event loop.
async fn blocking(f: impl FnOnce() -> Result<()> + Send + 'static) -> Result<()> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Other(format!("cgroup task: {e}")))?
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
    async fn the_embedded_defaults_work_on_the_cgroup() {
        let rt: &dyn Runtime = &Minimal;
        assert!(!rt.is_external());
        match rt.kill("c1", 15, false).await {
            Err(Error::Unimplemented(m)) => assert!(m.contains("c1"), "{m}"),
            other => panic!("expected Unimplemented, got {other:?}"),
        }
        // A cgroup that does not exist: NotFound, naming it.
        let e = rt.pause("c1", "/no-such-ns/no-such-c1").await.unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e}");
        assert!(e.to_string().contains("no-such-c1"), "{e}");
        assert!(rt
            .ps("c1", "/no-such-ns/no-such-c1")
            .await
            .unwrap()
            .is_empty());
    }
}
