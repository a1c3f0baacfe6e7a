//! The container's cgroup as the shim reads it: which processes it holds.
//! (libcontainer creates and removes the cgroup; the shim only looks.)

use std::path::{Path, PathBuf};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// v1 hierarchies to look in, in order; any one lists the same processes.
const V1_CONTROLLERS: [&str; 5] = ["pids", "memory", "cpu", "freezer", "devices"];

/// Where `cgroup.procs` of the cgroup at `cgroups_path` lives under `root`.
fn procs_file(root: &Path, cgroups_path: &str) -> Option<PathBuf> {
    let rel = cgroups_path.trim_start_matches('/');
    if root.join("cgroup.controllers").exists() {
        return Some(root.join(rel).join("cgroup.procs"));
    }
    V1_CONTROLLERS
        .iter()
        .map(|c| root.join(c).join(rel).join("cgroup.procs"))
        .find(|p| p.exists())
}

/// The pids in the container's cgroup (empty if it is gone).
pub fn procs(cgroups_path: &str) -> Vec<u32> {
    procs_under(Path::new(CGROUP_ROOT), cgroups_path)
}

fn procs_under(root: &Path, cgroups_path: &str) -> Vec<u32> {
    procs_file(root, cgroups_path)
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("shim-cg-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn reads_v1_procs_from_the_first_mounted_controller() {
        let root = fixture("v1");
        let dir = root.join("memory/default/c1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cgroup.procs"), "12\n34\n").unwrap();
        assert_eq!(procs_under(&root, "/default/c1"), vec![12, 34]);
        assert!(procs_under(&root, "/default/gone").is_empty());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn reads_v2_procs_from_the_unified_tree() {
        let root = fixture("v2");
        let dir = root.join("default/c1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(root.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        std::fs::write(dir.join("cgroup.procs"), "7\n").unwrap();
        assert_eq!(procs_under(&root, "default/c1"), vec![7]);
        std::fs::remove_dir_all(root).unwrap();
    }
}
