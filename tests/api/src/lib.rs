//! What the gRPC API tests (tests/) share: the private containerd's
//! coordinates and ctr against it, and the container cgroup reader of the
//! e2e tests.

use std::process::{Command, Output};

#[path = "../../shared/cgroup_fs.rs"]
pub mod cgroup_fs;
pub use cgroup_fs::{cgroup_dir, cgroup_dirs, cgroup_of, cgroup_procs, is_v2, read_cgroup_file};

pub const NAMESPACE: &str = "default";
pub const RUNTIME: &str = "io.containerd.rust.v2";

/// An environment variable hack/test.sh sets (from hack/containerd-up.sh).
pub fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| {
        panic!("{k} is not set: run these tests through hack/test.sh, which starts a private containerd")
    })
}

/// ctr (CTR_BIN, else on PATH) on the private containerd, in NAMESPACE.
pub fn ctr(args: &[&str]) -> Output {
    let bin = std::env::var("CTR_BIN").unwrap_or_else(|_| "ctr".into());
    Command::new(bin)
        .args(["--address", &env("CONTAINERD_ADDRESS"), "-n", NAMESPACE])
        .args(args)
        .output()
        .expect("run ctr")
}

/// ctr, which must succeed; its stdout.
pub fn ctr_ok(args: &[&str]) -> String {
    let out = ctr(args);
    assert!(
        out.status.success(),
        "ctr {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
