//! What containerd runs: the shim's actions on its command line, `start`
//! (launch or reuse the serving shim), `delete` (clean up after a dead
//! shim), no action at all (serve the task API), and the `-info` flag
//! (RuntimeInfo for containerd 2.2+). The node tools an operator runs
//! (`install`, `uninstall`, `check`) are the other product in this binary:
//! src/node/.

pub mod delete;
pub mod info;
pub mod serve;
pub mod start;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::cli::Flags;

/// Where libcontainer keeps state for this namespace (tmpfs).
pub const STATE_BASE: &str = "/run/containerd/rust";

pub fn state_root(namespace: &str) -> PathBuf {
    Path::new(STATE_BASE).join(namespace)
}

/// The bundle: `-bundle`, else the working directory containerd gave us.
pub fn bundle_dir(flags: &Flags) -> std::io::Result<PathBuf> {
    match &flags.bundle {
        Some(b) => Ok(b.clone()),
        None => std::env::current_dir(),
    }
}

/// The annotations of the bundle's config.json (only those: `start` must
/// not fail on parts of the spec it does not need).
pub fn bundle_annotations(bundle: &Path) -> Result<HashMap<String, String>, String> {
    #[derive(serde::Deserialize)]
    struct Partial {
        #[serde(default)]
        annotations: Option<HashMap<String, String>>,
    }
    let path = bundle.join("config.json");
    let text = std::fs::read(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let partial: Partial =
        serde_json::from_slice(&text).map_err(|e| format!("parse {}: {e}", path.display()))?;
    Ok(partial.annotations.unwrap_or_default())
}
