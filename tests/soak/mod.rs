//! Soak: one pod shim lives through many create / start / exec / kill /
//! delete cycles of containers in its pod, and afterwards has nothing more
//! than it had before: no zombie anywhere, the same open fds, RSS within
//! 1 MiB, no cgroup, mount or state directory of any cycle's container.
//!
//! SOAK_CYCLES sets the count (default 200, what the suite runs);
//! hack/soak.sh runs the long version (1,000) against a private containerd.

use std::time::{Duration, Instant};

use crate::common::*;
use containerd_shim_protos::api;

/// Cycles run before the baseline is read: the allocator's arenas and the
/// runtime's worker state reach their working size in the first few, and
/// that is not growth.
const WARM_UP: usize = 5;
/// The allowed RSS growth over the whole soak.
const RSS_GROWTH_LIMIT_KB: u64 = 1024;

fn status_field(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Every zombie on the host: (pid, parent, command).
fn zombies() -> Vec<(u32, u32, String)> {
    let mut found = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = tail.split_whitespace().collect();
        if fields.first() == Some(&"Z") {
            let comm = head.split_once('(').map(|(_, c)| c).unwrap_or("");
            let ppid = fields.get(1).and_then(|p| p.parse().ok()).unwrap_or(0);
            found.push((pid, ppid, comm.to_string()));
        }
    }
    found
}

/// Zombies that outlive `grace`: a zombie some other parent is about to
/// reap (another test's ctr, pid 1 collecting an orphan) is not a leak.
fn lasting_zombies(grace: Duration) -> Vec<(u32, u32, String)> {
    let first = zombies();
    if first.is_empty() {
        return first;
    }
    std::thread::sleep(grace);
    let later = zombies();
    first.into_iter().filter(|z| later.contains(z)).collect()
}

fn wait_exit(pod: &str, id: &str) -> u32 {
    let mut req = api::WaitRequest::new();
    req.id = id.to_string();
    shim_client(pod)
        .wait(ttrpc_ctx(), &req)
        .unwrap_or_else(|e| panic!("Wait of {id}: {e:?}"))
        .exit_status
}

fn cycle(pod: &str, annotation: &str, id: &str, shim: u32) {
    run_detached(id, &["--annotation", annotation], &["sleep", "1000"]);
    assert_eq!(shim_pid(id), shim, "{id} is not served by the pod's shim");
    let out = ctr(&[
        "task",
        "exec",
        "--exec-id",
        "soak",
        id,
        "sh",
        "-c",
        "exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7), "exec in {id}: {}", stderr(&out));
    ctr_ok(&["task", "kill", "-s", "SIGKILL", id]);
    assert_eq!(wait_exit(pod, id), 137, "{id}'s exit status");
    ctr_ok(&["task", "delete", id]);
    ctr_ok(&["container", "delete", id]);
}

#[test]
fn a_pod_shim_lives_through_many_cycles_and_keeps_nothing() {
    let cycles: usize = std::env::var("SOAK_CYCLES")
        .ok()
        .map(|v| v.parse().expect("SOAK_CYCLES must be a number"))
        .unwrap_or(200);
    assert!(
        cycles > WARM_UP,
        "SOAK_CYCLES must exceed the {WARM_UP} warm-up cycles"
    );
    let pod = unique_id("soak-pod");
    let _cleanup = Cleanup(vec![pod.clone()]);
    let annotation = format!("io.containerd.runc.v2.group={pod}");
    run_detached(&pod, &["--annotation", &annotation], &["sleep", "100000"]);
    let shim = shim_pid(&pod);

    let mut ids = vec![];
    let mut baseline = None;
    let started = Instant::now();
    for i in 0..cycles {
        if i == WARM_UP {
            baseline = Some((settled_fds(shim), status_field(shim, "VmRSS:")));
        }
        let id = format!("{pod}-c{i}");
        cycle(&pod, &annotation, &id, shim);
        ids.push(id);
    }
    let elapsed = started.elapsed();
    let (fds_before, rss_before) = baseline.unwrap();

    // fds: exactly the same set as before (a copy thread may take a moment
    // to close its ends after the last delete).
    let start = Instant::now();
    let mut fds_after = open_fds(shim);
    while fds_after != fds_before && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
        fds_after = open_fds(shim);
    }
    assert_eq!(
        fds_after, fds_before,
        "the shim's fds after {cycles} cycles differ from those after {WARM_UP}"
    );
    let rss_after = status_field(shim, "VmRSS:");
    eprintln!(
        "soak: {cycles} cycles in {elapsed:.1?}; shim {shim}: {} fds, VmRSS {rss_before} kB -> {rss_after} kB, threads {}",
        fds_before.len(),
        status_field(shim, "Threads:")
    );
    assert!(
        rss_after <= rss_before + RSS_GROWTH_LIMIT_KB,
        "the shim's RSS grew by {} kB over {cycles} cycles (limit {RSS_GROWTH_LIMIT_KB} kB)",
        rss_after - rss_before
    );
    let z = lasting_zombies(Duration::from_secs(3));
    assert!(
        z.is_empty(),
        "zombies (pid, parent, command) after the soak: {z:?}"
    );
    for id in &ids {
        let l = leftovers(id);
        assert!(l.is_empty(), "{id} left behind: {l:#?}");
    }
}
