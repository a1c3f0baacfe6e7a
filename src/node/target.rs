//! What a node command acts on, from its flags and the host: the config
//! file, the directory of the shim binary, the handler name, and the
//! containerd found on PATH (if any).

use std::path::PathBuf;

use super::error::{validate_handler, NodeError};
use super::host_containerd::{self, Containerd};
use crate::cli::NodeFlags;

#[derive(Debug, Clone)]
pub struct Target {
    pub config: PathBuf,
    /// The directory the shim binary goes into.
    pub prefix: PathBuf,
    pub handler: String,
    pub dry_run: bool,
    /// containerd on PATH, or why there is none.
    pub containerd: Result<Containerd, String>,
    /// The binary to install: this very program.
    pub self_exe: PathBuf,
}

impl Target {
    /// `--config` (default /etc/containerd/config.toml), `--prefix` (default:
    /// the directory of the containerd on PATH, else /usr/local/bin),
    /// `--handler` (default `rust`).
    pub fn resolve(flags: &NodeFlags) -> Result<Target, NodeError> {
        let handler = flags
            .handler
            .clone()
            .unwrap_or_else(|| host_containerd::DEFAULT_HANDLER.to_string());
        validate_handler(&handler)?;
        let containerd = host_containerd::detect();
        let prefix = match &flags.prefix {
            Some(p) => p.clone(),
            None => host_containerd::find_on_path("containerd")
                .and_then(|c| c.parent().map(|d| d.to_path_buf()))
                .unwrap_or_else(|| PathBuf::from(host_containerd::FALLBACK_PREFIX)),
        };
        Ok(Target {
            config: flags
                .config
                .clone()
                .unwrap_or_else(|| PathBuf::from(host_containerd::DEFAULT_CONFIG)),
            prefix,
            handler,
            dry_run: flags.dry_run,
            containerd,
            self_exe: PathBuf::from("/proc/self/exe"),
        })
    }

    pub fn shim_path(&self) -> PathBuf {
        self.prefix.join(host_containerd::SHIM_BINARY)
    }
}
