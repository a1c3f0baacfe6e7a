//! A systemd scope's resource properties, set over D-Bus by libcgroups'
//! systemd manager (what libcontainer made the scope with) when the
//! container's resources change. systemd writes a unit's properties into
//! its cgroup again on every daemon-reload: a limit changed in the cgroup's
//! files alone would fall back to the create's at the next one.

use std::path::PathBuf;
use std::time::Duration;

use libcgroups::common::{CgroupManager, ControllerOpt};
use libcgroups::systemd::manager::Manager;
use oci_spec::runtime::LinuxResources;

use crate::error::{Error, Result};

/// How long libcgroups waits for a process to show in a new scope (not used
/// here: the scope exists).
const WAIT: Duration = Duration::from_secs(5);

/// Sets the properties of the scope that `slice_path` (`slice:prefix:name`,
/// as the spec gave it) names from `resources`: MemoryMax, CPUWeight,
/// CPUQuota, AllowedCPUs, TasksMax, IO weights and the unified keys
/// libcgroups maps to properties.
pub fn set_unit_properties(
    slice_path: &str,
    container: &str,
    resources: &LinuxResources,
) -> Result<()> {
    let manager = Manager::new(
        PathBuf::from(super::CGROUP_ROOT),
        PathBuf::from(slice_path),
        container.to_string(),
        true,
        WAIT,
    )
    .map_err(|e| Error::caused(format!("systemd scope of {container} ({slice_path})"), e))?;
    manager
        .apply(&ControllerOpt {
            resources,
            disable_oom_killer: false,
            oom_score_adj: None,
            freezer_state: None,
        })
        .map_err(|e| {
            Error::caused(
                format!("set the systemd properties of {container}'s scope ({slice_path})"),
                e,
            )
        })
}
