//! A container's cgroup as the tests find it on this host, cgroup v1 or v2
//! alike, read the same way by the e2e tests (tests/common) and the gRPC
//! API tests (tests/api). On v1 a cgroup has a directory in each
//! controller's hierarchy (`/sys/fs/cgroup/<controller>/<path>`); on v2 it
//! has one, `/sys/fs/cgroup/<path>`, for every controller.

use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// Whether `/sys/fs/cgroup` is the unified (v2) hierarchy.
pub fn is_v2() -> bool {
    Path::new(ROOT).join("cgroup.controllers").exists()
}

/// The directory of the cgroup at `path` (as in a spec, `/default/c1`)
/// that holds `controller`'s files.
pub fn cgroup_dir(controller: &str, path: &str) -> PathBuf {
    let rel = path.trim_start_matches('/');
    if is_v2() {
        Path::new(ROOT).join(rel)
    } else {
        Path::new(ROOT).join(controller).join(rel)
    }
}

/// Every directory the cgroup at `path` has now (v1: one per hierarchy
/// that has it; v2: the one, if it exists).
pub fn cgroup_dirs(path: &str) -> Vec<PathBuf> {
    let rel = path.trim_start_matches('/');
    if is_v2() {
        let d = Path::new(ROOT).join(rel);
        return if d.is_dir() { vec![d] } else { vec![] };
    }
    std::fs::read_dir(ROOT)
        .map(|dirs| {
            dirs.flatten()
                .map(|h| h.path().join(rel))
                .filter(|d| d.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

/// The cgroup path of `pid` (below the hierarchy's root): its memory
/// cgroup on v1, its one cgroup on v2, from `/proc/<pid>/cgroup`.
pub fn cgroup_of(pid: u32) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let v2 = is_v2();
    text.lines()
        .find_map(|l| {
            let (_, rest) = l.split_once(':')?;
            let (controllers, path) = rest.split_once(':')?;
            let wanted = if v2 {
                controllers.is_empty()
            } else {
                controllers.split(',').any(|c| c == "memory")
            };
            wanted.then(|| path.to_string())
        })
        .unwrap_or_else(|| panic!("no memory or v2 cgroup for {pid}: {text}"))
}

/// The pids in the cgroup at `path` (empty once it is gone).
pub fn procs_in(path: &str) -> Vec<u32> {
    std::fs::read_to_string(cgroup_dir("memory", path).join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The pids in the cgroup of `pid`.
pub fn cgroup_procs(pid: u32) -> Vec<u32> {
    let path = cgroup_of(pid);
    let procs = procs_in(&path);
    assert!(!procs.is_empty(), "no process in {pid}'s cgroup {path}");
    procs
}

/// The trimmed text of `file` of the cgroup at `path`: `v1` (controller,
/// file) on v1, `v2_file` on v2.
pub fn read_cgroup_file(path: &str, v1: (&str, &str), v2_file: &str) -> String {
    let p = if is_v2() {
        cgroup_dir("", path).join(v2_file)
    } else {
        cgroup_dir(v1.0, path).join(v1.1)
    };
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}
