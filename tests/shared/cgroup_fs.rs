//! The processes of a container's cgroup, read the same way by the e2e
//! tests (tests/common) and the gRPC API tests (tests/api).

use std::path::Path;

/// The pids in the cgroup of `pid`: its memory cgroup on v1, its one
/// cgroup on v2 (read from `/proc/<pid>/cgroup`).
pub fn cgroup_procs(pid: u32) -> Vec<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let dir = text
        .lines()
        .find_map(|l| {
            let (_, rest) = l.split_once(':')?;
            let (controllers, path) = rest.split_once(':')?;
            match controllers {
                "memory" if !v2 => Some(format!("/sys/fs/cgroup/memory{path}")),
                "" if v2 => Some(format!("/sys/fs/cgroup{path}")),
                _ => None,
            }
        })
        .unwrap_or_else(|| panic!("no memory or v2 cgroup for {pid}: {text}"));
    std::fs::read_to_string(format!("{dir}/cgroup.procs"))
        .unwrap_or_else(|e| panic!("read {dir}/cgroup.procs: {e}"))
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}
