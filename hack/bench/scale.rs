//! Metrics with many containers: shim memory per container with one shim
//! each, parallel start and delete, and one pod shim (containers grouped by
//! the `io.containerd.runc.v2.group` annotation, which both shims honour)
//! growing to 50 containers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::{self, ctr_ok};
use containerd_shim_protos::api;

use crate::{call, cleanup, fig, median, ms, short, Figure, Shim, Unit};

/// Containers of the one-shim-each metric.
pub const SEPARATE: usize = 20;
/// The pod sizes whose shim memory is read.
const POD_SIZES: [usize; 3] = [1, 10, 50];
/// Start latency samples (start, time, delete) per pod size.
const START_SAMPLES: usize = 3;
/// Concurrent `ctr run -d` while a pod is filled (not timed).
const FILL_THREADS: usize = 4;
/// Pause between the last start and reading memory, so that what the
/// starts allocated transiently (Go's GC, helpers' exits) has settled.
const SETTLE: Duration = Duration::from_secs(1);
const LIMIT: Duration = Duration::from_secs(120);

pub const SEPARATE_FIGURES: &[Figure] = &[
    fig(
        "parallel start: 20 `ctr run -d` at once, until `ctr task ls` shows all 20 RUNNING",
        Unit::Ms,
    ),
    fig("shim Rss per container (20 shims' smaps_rollup Rss / 20)", Unit::MiB),
    fig("shim Pss per container (20 shims' smaps_rollup Pss / 20)", Unit::MiB),
    fig(
        "parallel delete: 20 `ctr task rm -f` + `ctr container rm` at once, until all containers are gone and the 20 shims exited",
        Unit::Ms,
    ),
];

pub const POD_FIGURES: &[Figure] = &[
    fig("pod shim Rss, 1 container", Unit::MiB),
    fig("pod shim Pss, 1 container", Unit::MiB),
    fig("pod shim Rss, 10 containers", Unit::MiB),
    fig("pod shim Pss, 10 containers", Unit::MiB),
    fig("pod shim Rss, 50 containers", Unit::MiB),
    fig("pod shim Pss, 50 containers", Unit::MiB),
    fig(
        "start one more in the pod (`ctr run -d` until RUNNING, median of 3), 1 running",
        Unit::Ms,
    ),
    fig(
        "start one more in the pod (`ctr run -d` until RUNNING, median of 3), 50 running",
        Unit::Ms,
    ),
];

/// 20 containers started at once, each in a shim of its own; their shims'
/// memory; all 20 deleted at once.
pub fn separate_shims(s: &Shim, tag: &str) -> Vec<f64> {
    let ids: Vec<String> = (0..SEPARATE)
        .map(|i| format!("bench-sep-{}-{tag}-{i}", short(s)))
        .collect();
    let t = Instant::now();
    parallel(&ids, SEPARATE, |id| start(s, id, &[]));
    wait_running(&ids);
    let started = ms(t);
    let mut pids: Vec<u32> = ids.iter().map(|id| shim_pid(id)).collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(
        pids.len(),
        SEPARATE,
        "{}: {SEPARATE} containers without a group must have {SEPARATE} shims, found {pids:?}",
        s.runtime
    );
    std::thread::sleep(SETTLE);
    let (mut rss, mut pss) = (0.0, 0.0);
    for p in &pids {
        let (r, q) = memory(*p);
        rss += r;
        pss += q;
    }
    let t = Instant::now();
    parallel(&ids, SEPARATE, delete);
    wait_gone(&ids, &pids);
    let deleted = ms(t);
    vec![
        started,
        rss / SEPARATE as f64,
        pss / SEPARATE as f64,
        deleted,
    ]
}

/// One pod shim with 1, then 10, then 50 containers: its memory at each
/// size, and how long one more container takes to start at 1 and at 50.
pub fn pod_growth(s: &Shim, tag: &str) -> Vec<f64> {
    let group = format!("bench-pod-{}-{tag}", short(s));
    let annotation = format!("io.containerd.runc.v2.group={group}");
    let extra = ["--annotation", annotation.as_str()];
    let ids: Vec<String> = (0..POD_SIZES[2]).map(|i| format!("{group}-{i}")).collect();
    start(s, &ids[0], &extra);
    let shim = shim_pid(&ids[0]);
    let mut figures = Vec::new();
    let mut start_ms = Vec::new();
    let mut running = 1;
    for size in POD_SIZES {
        parallel(&ids[running..size], FILL_THREADS, |id| start(s, id, &extra));
        wait_running(&ids[..size]);
        running = size;
        for id in &ids[..size] {
            assert_eq!(
                shim_pid(id),
                shim,
                "{}: {id} is not served by the pod's shim",
                s.runtime
            );
        }
        std::thread::sleep(SETTLE);
        let (rss, pss) = memory(shim);
        figures.extend([rss, pss]);
        if size == 1 || size == POD_SIZES[2] {
            let samples: Vec<f64> = (0..START_SAMPLES)
                .map(|k| {
                    let id = format!("{group}-more{size}-{k}");
                    let t = Instant::now();
                    start(s, &id, &extra);
                    wait_running(std::slice::from_ref(&id));
                    let took = ms(t);
                    assert_eq!(shim_pid(&id), shim, "{}: {id} not in the pod", s.runtime);
                    delete(&id);
                    took
                })
                .collect();
            start_ms.push(median(&samples));
        }
    }
    parallel(&ids, 2 * FILL_THREADS, delete);
    wait_gone(&ids, &[shim]);
    figures.extend(start_ms);
    figures
}

/// `ctr run -d --null-io` of a sleeping container; `extra` goes before the image.
pub fn start(s: &Shim, id: &str, extra: &[&str]) {
    cleanup::created(id);
    let image = common::env().image;
    let mut args = vec!["run", "-d", "--null-io"];
    args.extend(s.runtime_args());
    args.extend_from_slice(extra);
    args.extend([image.as_str(), id, "sleep", "1000000"]);
    ctr_ok(&args);
}

/// Kills (SIGKILL, waiting for the exit) and deletes the task, then the
/// container and its snapshot.
pub fn delete(id: &str) {
    ctr_ok(&["tasks", "rm", "-f", id]);
    ctr_ok(&["containers", "rm", id]);
}

/// The pid of the shim serving `id`, from its Connect (task API v2, which
/// both shims speak; the v3 client of tests/common is not for the Go shim
/// of containerd 1.6).
pub fn shim_pid(id: &str) -> u32 {
    let client = ttrpc::Client::connect(&common::shim_socket(id))
        .unwrap_or_else(|e| panic!("connect to the shim of {id}: {e:?}"));
    let mut req = api::ConnectRequest::new();
    req.id = id.to_string();
    call::<api::ConnectResponse>(&client, "Connect", &req).shim_pid
}

/// The init's pid as `ctr task ls` shows it.
pub fn task_pid(id: &str) -> u32 {
    ctr_ok(&["tasks", "ls"])
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id)).then(|| f.get(1).and_then(|p| p.parse().ok()))
        })
        .flatten()
        .unwrap_or_else(|| panic!("no pid of {id} in `ctr tasks ls`"))
}

/// Polls `ctr task ls` until every one of `ids` is RUNNING.
pub fn wait_running(ids: &[String]) {
    let start = Instant::now();
    loop {
        let out = ctr_ok(&["tasks", "ls"]);
        let running = ids.iter().all(|id| {
            out.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.first() == Some(&id.as_str()) && f.get(2) == Some(&"RUNNING")
            })
        });
        if running {
            return;
        }
        assert!(start.elapsed() < LIMIT, "not all RUNNING: {ids:?}\n{out}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls until none of `ids` is a container any more and `shims` exited.
pub fn wait_gone(ids: &[String], shims: &[u32]) {
    let start = Instant::now();
    loop {
        let out = ctr_ok(&["containers", "ls", "-q"]);
        let left: Vec<&str> = out
            .lines()
            .filter(|l| ids.iter().any(|id| id == l))
            .collect();
        let live: Vec<u32> = shims
            .iter()
            .copied()
            .filter(|p| common::alive(*p))
            .collect();
        if left.is_empty() && live.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < LIMIT,
            "still there: containers {left:?}, shims {live:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Rss and Pss of a process in MiB, from /proc/PID/smaps_rollup.
fn memory(pid: u32) -> (f64, f64) {
    let path = format!("/proc/{pid}/smaps_rollup");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let field = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {name} in {path}"))
            / 1024.0
    };
    (field("Rss:"), field("Pss:"))
}

/// Runs `f` on every id, `threads` at a time.
pub fn parallel(ids: &[String], threads: usize, f: impl Fn(&str) + Sync) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(ids.len()) {
            scope.spawn(|| {
                while let Some(id) = ids.get(next.fetch_add(1, Ordering::SeqCst)) {
                    f(id);
                }
            });
        }
    });
}
