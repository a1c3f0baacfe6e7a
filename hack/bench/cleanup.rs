//! The end-of-run check: every container the benchmark created is gone from
//! containerd (container, task, snapshot) and from the host (runtime state,
//! mounts, cgroups), and no shim of this containerd is still running.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::common;

static CREATED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records a container id the benchmark is about to create.
pub fn created(id: &str) {
    CREATED.lock().unwrap().push(id.to_string());
}

/// Panics (the benchmark fails) naming whatever is left.
pub fn check_nothing_left() {
    let mut ids = CREATED.lock().unwrap().clone();
    ids.sort();
    ids.dedup();
    let mut left = Vec::new();
    for (what, args) in [
        ("container", &["containers", "ls", "-q"][..]),
        ("task", &["tasks", "ls"][..]),
        ("snapshot", &["snapshots", "ls"][..]),
    ] {
        for line in common::ctr_ok(args).lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if first.starts_with("bench-") {
                left.push(format!("{what} {first}"));
            }
        }
    }
    // Shims exit once containerd has shut them down after the last delete.
    let address = common::env().address;
    let start = Instant::now();
    let mut shims = shims_of(&address);
    while !shims.is_empty() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        shims = shims_of(&address);
    }
    left.extend(shims.iter().map(|p| format!("shim process {p}")));
    for id in &ids {
        left.extend(common::leftovers(id));
        let runc_state = Path::new("/run/containerd/runc")
            .join(common::NAMESPACE)
            .join(id);
        if runc_state.exists() {
            left.push(format!("runc state {}", runc_state.display()));
        }
    }
    assert!(left.is_empty(), "the benchmark left behind: {left:#?}");
    println!(
        "\ncleanup: {} containers created, none left (containers, tasks, snapshots, shims, runtime state, mounts, cgroups)",
        ids.len()
    );
}

/// Live shim processes whose command line names this containerd's socket.
fn shims_of(address: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_shim = args
            .first()
            .and_then(|a| std::str::from_utf8(a).ok())
            .is_some_and(|a| {
                a.rsplit('/')
                    .next()
                    .unwrap_or("")
                    .starts_with("containerd-shim")
            });
        if is_shim && args.contains(&address.as_bytes()) && common::alive(pid) {
            found.push(pid);
        }
    }
    found
}
