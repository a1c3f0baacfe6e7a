//! End-to-end: pause, resume, update, stats and OOM events through the
//! embedded runtime (the cgroup freezer, limits and metrics in-process), and
//! the runtime options users set, the external runc backend among them.

use std::path::PathBuf;
use std::time::Duration;

use crate::common::*;
use containerd_shim_protos::api;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use ttrpc::Code;

/// The container's cgroup path, as ctr's default spec names it.
fn cgroup_path(id: &str) -> String {
    format!("/{NAMESPACE}/{id}")
}

/// The counter the container below writes into its own /tmp, read from the
/// host through the bundle's rootfs mount.
fn counter(id: &str) -> u64 {
    let p = bundle(id).join("rootfs/tmp/count");
    std::fs::read_to_string(&p)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn pause_freezes_and_resume_thaws() {
    let id = unique_id("pause");
    let _cleanup = Cleanup(vec![id.clone()]);
    let events = EventLog::start();
    run_detached(
        &id,
        &[],
        &[
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; usleep 20000; done",
        ],
    );
    wait_until("the counter to run", Duration::from_secs(10), || {
        counter(&id) > 2
    });
    ctr_ok(&["task", "pause", &id]);
    assert_eq!(task_status(&id).as_deref(), Some("PAUSED"));
    let frozen = read_cgroup_file(
        &cgroup_path(&id),
        ("freezer", "freezer.state"),
        "cgroup.freeze",
    );
    assert_eq!(frozen, if is_v2() { "1" } else { "FROZEN" });
    let frozen_at = counter(&id);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        counter(&id),
        frozen_at,
        "a paused container's counter moved"
    );
    // Pausing again, and exec into a paused container, are refused.
    let again = ctr(&["task", "pause", &id]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already paused"),
        "{}",
        stderr(&again)
    );
    let exec = ctr(&["task", "exec", "--exec-id", "x", &id, "true"]);
    assert!(!exec.status.success());
    assert!(stderr(&exec).contains("paused"), "{}", stderr(&exec));

    ctr_ok(&["task", "resume", &id]);
    assert_eq!(task_status(&id).as_deref(), Some("RUNNING"));
    wait_until("the counter to move again", Duration::from_secs(10), || {
        counter(&id) > frozen_at + 2
    });
    let twice = ctr(&["task", "resume", &id]);
    assert!(!twice.status.success());
    assert!(stderr(&twice).contains("not paused"), "{}", stderr(&twice));
    let topics = events.stop_topics(&id);
    let wanted: Vec<&str> = topics
        .iter()
        .map(String::as_str)
        .filter(|t| matches!(*t, "/tasks/paused" | "/tasks/resumed"))
        .collect();
    assert_eq!(wanted, ["/tasks/paused", "/tasks/resumed"], "{topics:?}");
}

#[test]
fn metrics_show_the_containers_cgroup() {
    let id = unique_id("metrics");
    let _cleanup = Cleanup(vec![id.clone()]);
    run_detached(&id, &["--memory-limit", "67108864"], &["sleep", "1000"]);
    let value = |out: &str, name: &str| -> u64 {
        out.lines()
            .find_map(|l| {
                let mut f = l.split_whitespace();
                (f.next() == Some(name)).then(|| f.next().unwrap_or("").parse().ok())?
            })
            .unwrap_or_else(|| panic!("no {name} in ctr task metrics:\n{out}"))
    };
    // ctr prints v1's and v2's metrics under their own names.
    let (limit, usage, cpu) = if is_v2() {
        ("memory.usage_limit", "memory.usage", "cpu.usage_usec")
    } else {
        (
            "memory.limit_in_bytes",
            "memory.usage_in_bytes",
            "cpuacct.usage",
        )
    };
    let out = ctr_ok(&["task", "metrics", &id]);
    assert_eq!(value(&out, limit), 67108864, "{out}");
    assert!(value(&out, usage) > 0, "{out}");
    assert_eq!(value(&out, "pids.current"), 1, "{out}");
    assert!(value(&out, cpu) > 0, "{out}");

    // Stopped and not yet deleted: its cgroup is still there, and so are its
    // stats, as the Go shim answers them (containerd 2.2+ asks after every
    // exit, to check for an OOM kill).
    ctr_ok(&["task", "kill", "-s", "SIGKILL", &id]);
    wait_until("the task to stop", Duration::from_secs(10), || {
        task_status(&id).as_deref() == Some("STOPPED")
    });
    let out = ctr_ok(&["task", "metrics", &id]);
    assert_eq!(value(&out, limit), 67108864, "{out}");
    assert_eq!(value(&out, "pids.current"), 0, "{out}");
    assert!(value(&out, cpu) > 0, "{out}");
}

pub fn update_request(id: &str, resources: serde_json::Value) -> api::UpdateTaskRequest {
    let mut any = Any::new();
    any.type_url = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources".into();
    any.value = serde_json::to_vec(&resources).unwrap();
    let mut r = api::UpdateTaskRequest::new();
    r.id = id.to_string();
    r.resources = Some(any).into();
    r
}

#[test]
fn update_reaches_the_cgroup_and_a_stopped_task_refuses_it() {
    let (running, stopped, _cleanup) = running_and_stopped_in_one_shim("update");
    let client = shim_client(&running);
    let limits = serde_json::json!({
        "memory": {"limit": 33554432},
        "cpu": {"shares": 512},
        "pids": {"limit": 64}
    });
    client
        .update(ttrpc_ctx(), &update_request(&running, limits.clone()))
        .expect("Update");
    let read = |v1: (&str, &str), v2: &str| read_cgroup_file(&cgroup_path(&running), v1, v2);
    assert_eq!(
        read(("memory", "memory.limit_in_bytes"), "memory.max"),
        "33554432"
    );
    // v2: shares 512 as cpu.weight, by the OCI conversion runc and crun use
    // (1 + (shares - 2) * 9999 / 262142).
    let weight = if is_v2() { "20" } else { "512" };
    assert_eq!(read(("cpu", "cpu.shares"), "cpu.weight"), weight);
    assert_eq!(read(("pids", "pids.max"), "pids.max"), "64");

    expect_code(
        client.update(ttrpc_ctx(), &update_request(&stopped, limits)),
        Code::FAILED_PRECONDITION,
        "stopped",
    );
    let mut bad = update_request(&running, serde_json::json!({}));
    bad.resources.as_mut().unwrap().value = b"not json".to_vec();
    expect_code(
        client.update(ttrpc_ctx(), &bad),
        Code::INVALID_ARGUMENT,
        "LinuxResources",
    );
}

#[test]
fn a_container_out_of_memory_gets_an_oom_event_and_137() {
    out_of_memory(&unique_id("oom"), &[]);
}

/// Runs `id` (with ctr run `flags`) over a 16 MiB limit until the OOM
/// killer ends it: 137, and /tasks/oom before /tasks/exit, as Kubernetes
/// needs it to report OOMKilled; nothing left.
pub fn out_of_memory(id: &str, flags: &[&str]) {
    let events = EventLog::start();
    let mut all = flags.to_vec();
    all.extend(["--memory-limit", "16777216"]);
    let out = run_rm_with(&all, id, &["sh", "-c", "tail /dev/zero"]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    let topics = events.stop_topics(id);
    let oom = topics.iter().position(|t| t == "/tasks/oom");
    let exit = topics.iter().position(|t| t == "/tasks/exit");
    assert!(
        matches!((oom, exit), (Some(o), Some(e)) if o < e),
        "no /tasks/oom before /tasks/exit: {topics:?}"
    );
    assert_no_leftovers(id);
}

/// `--runtime-config-path` (runtimeoptions.v1.Options naming a TOML file of
/// the runtime's options), written for this test; removed on drop.
struct OptionsFile(PathBuf);

impl OptionsFile {
    fn new(tag: &str, toml: &str) -> OptionsFile {
        let p = std::env::temp_dir().join(format!("{}.toml", unique_id(tag)));
        std::fs::write(&p, toml).unwrap();
        OptionsFile(p)
    }

    fn path(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for OptionsFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn binary_name_runs_the_lifecycle_through_runc() {
    let id = unique_id("runc");
    let _cleanup = Cleanup(vec![id.clone()]);
    let opts = OptionsFile::new("runc", "BinaryName = \"/usr/sbin/runc\"\n");
    // A short one: output and exit code through runc.
    let short = unique_id("runcshort");
    let out = run_rm_with(
        &["--runtime-config-path", &opts.path()],
        &short,
        &["sh", "-c", "echo through runc; exit 3"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "through runc\n");
    assert_no_leftovers(&short);

    run_detached(
        &id,
        &["--runtime-config-path", &opts.path()],
        &["sleep", "1000"],
    );
    // runc, not the embedded runtime, holds the container's state.
    let runc_state = PathBuf::from("/run/containerd/runc")
        .join(NAMESPACE)
        .join(&id);
    assert!(
        runc_state.join("state.json").exists(),
        "no runc state for {id}"
    );
    let out = ctr(&["task", "exec", "--exec-id", "e1", &id, "sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let ps = ctr_ok(&["task", "ps", &id]);
    let init = ctr_ok(&["task", "ls"]);
    assert!(init.contains(&id), "{init}");
    assert!(ps.lines().count() >= 2, "{ps}");
    ctr_ok(&["task", "pause", &id]);
    assert_eq!(task_status(&id).as_deref(), Some("PAUSED"));
    ctr_ok(&["task", "resume", &id]);
    assert_eq!(task_status(&id).as_deref(), Some("RUNNING"));
    let client = shim_client(&id);
    client
        .update(
            ttrpc_ctx(),
            &update_request(&id, serde_json::json!({"pids": {"limit": 50}})),
        )
        .expect("Update through runc");
    let pids_max = read_cgroup_file(&cgroup_path(&id), ("pids", "pids.max"), "pids.max");
    assert_eq!(pids_max, "50");
    ctr_ok(&["task", "kill", "-s", "SIGKILL", &id]);
    wait_until(
        "the runc container to stop",
        Duration::from_secs(10),
        || task_status(&id).as_deref() == Some("STOPPED"),
    );
    ctr_ok(&["task", "rm", &id]);
    assert!(
        !runc_state.exists(),
        "runc state left: {}",
        runc_state.display()
    );
    assert_no_leftovers(&id);
}

#[test]
fn bad_runtime_options_are_a_clear_error() {
    for (toml, needle) in [
        ("BinaryName = \"/nonexistent/runc\"\n", "/nonexistent/runc"),
        ("SystemdCgroup = true\n", "systemd"),
        ("NoSuchOption = 1\n", "NoSuchOption"),
    ] {
        let id = unique_id("badopt");
        let opts = OptionsFile::new("badopt", toml);
        let out = run_rm_with(&["--runtime-config-path", &opts.path()], &id, &["true"]);
        assert!(!out.status.success(), "{toml:?} was accepted");
        assert!(stderr(&out).contains(needle), "{toml:?}: {}", stderr(&out));
        remove(&id);
        assert_no_leftovers(&id);
    }
}

/// The owner (uid, gid) of what `/proc/<pid>/fd/<fd>` refers to.
fn fd_owner(pid: u32, fd: u32) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(format!("/proc/{pid}/fd/{fd}")).unwrap();
    (m.uid(), m.gid())
}

/// A cgroup made by a test, removed on drop once the processes in it (a
/// shim that exits by itself after its container) are gone.
struct TestCgroup(PathBuf);

impl Drop for TestCgroup {
    fn drop(&mut self) {
        for _ in 0..200 {
            if std::fs::remove_dir(&self.0).is_ok() || !self.0.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("test cgroup {} could not be removed", self.0.display());
    }
}

#[test]
fn runtime_options_place_the_shim_and_own_the_pipes() {
    let id = unique_id("shimopts");
    // A cgroup for the shim (on v1 in the pids hierarchy only); dropped
    // after the container (declared first, dropped last).
    let cg_name = format!("/{id}-shim");
    let cg_dir = cgroup_dir("pids", &cg_name);
    std::fs::create_dir_all(&cg_dir).unwrap();
    let cgroup = TestCgroup(cg_dir);
    let _cleanup = Cleanup(vec![id.clone()]);
    let opts = OptionsFile::new(
        "shimopts",
        &format!("ShimCgroup = \"{cg_name}\"\nIoUid = 1000\nIoGid = 1001\n"),
    );
    let log = std::env::temp_dir().join(format!("{id}.log"));
    let uri = format!("file://{}", log.display());
    // Not run_detached: its --null-io would give the init /dev/null.
    let image = env().image;
    let cfg = opts.path();
    ctr_ok(&[
        "run",
        "-d",
        "--runtime",
        RUNTIME,
        "--runtime-config-path",
        &cfg,
        "--log-uri",
        &uri,
        &image,
        &id,
        "sleep",
        "1000",
    ]);
    let shim = shim_pid(&id);
    let cgroups = std::fs::read_to_string(format!("/proc/{shim}/cgroup")).unwrap();
    let line = if is_v2() {
        format!("0::{cg_name}")
    } else {
        format!(":pids:{cg_name}")
    };
    assert!(
        cgroups.lines().any(|l| l.ends_with(&line)),
        "the shim is not in {cg_name}:\n{cgroups}"
    );
    // One step above containerd's OOM score, as containerd-shim-runc-v2.
    let containerd: u32 = std::fs::read_to_string(env().dir.join("containerd.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let score = |pid: u32| -> i32 {
        std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(score(shim), (score(containerd) + 1).min(1000));
    // The init's stdout and stderr are the shim's pipes, owned by IoUid/IoGid.
    let mut req = api::ConnectRequest::new();
    req.id = id.clone();
    let init = shim_client(&id)
        .connect(ttrpc_ctx(), &req)
        .unwrap()
        .task_pid;
    assert_eq!(fd_owner(init, 1), (1000, 1001));
    assert_eq!(fd_owner(init, 2), (1000, 1001));
    remove(&id);
    wait_until("the shim to exit", Duration::from_secs(10), || !alive(shim));
    std::fs::remove_dir(&cgroup.0).unwrap();
    let _ = std::fs::remove_file(log);
}

/// CgroupPrimer in the runtime options decides whether a container's
/// create and its execs hold the shim's cgroup migration primer; without
/// it the default holds. The shim's debug log names each request that
/// holds the primer.
#[test]
fn the_cgroup_primer_option_switches_the_primer_per_container() {
    let off = unique_id("primeroff");
    let dflt = unique_id("primerdefault");
    let _cleanup = Cleanup(vec![off.clone(), dflt.clone()]);
    let opts = OptionsFile::new("primeroff", "CgroupPrimer = false\n");
    let offset = containerd_log_len();
    run_detached(
        &off,
        &["--runtime-config-path", &opts.path()],
        &["sleep", "1000"],
    );
    run_detached(&dflt, &[], &["sleep", "1000"]);
    for id in [&off, &dflt] {
        let out = ctr(&["task", "exec", "--exec-id", "e1", id, "true"]);
        assert!(out.status.success(), "{id}: {}", stderr(&out));
    }
    let held = |log: &str, id: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains("cgroup migration primer held for") && l.contains(id))
            .map(String::from)
            .collect()
    };
    // The default container's lines show that the log has the shims' debug
    // lines, and that they were written by the time it is read.
    wait_until(
        "the primer's log lines for the default container",
        Duration::from_secs(10),
        || held(&containerd_log_since(offset), &dflt).len() >= 3,
    );
    let log = containerd_log_since(offset);
    for want in [
        format!("create {dflt}"),
        format!("exec {dflt}/e1"),
        format!("start of exec {dflt}/e1"),
    ] {
        assert!(
            held(&log, &dflt)
                .iter()
                .any(|l| l.contains(&format!("for {want}\""))),
            "no primer held for {want}: {:?}",
            held(&log, &dflt)
        );
    }
    assert_eq!(
        held(&log, &off),
        Vec::<String>::new(),
        "CgroupPrimer = false"
    );
    remove(&off);
    remove(&dflt);
    assert_no_leftovers(&off);
    assert_no_leftovers(&dflt);
}

#[test]
fn the_create_options_of_ctr_no_pivot_are_accepted() {
    let id = unique_id("nopivot");
    let out = run_rm_with(
        &["--no-pivot"],
        &id,
        &["sh", "-c", "echo without pivot_root"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "without pivot_root\n");
    assert_no_leftovers(&id);
}

#[test]
fn the_delete_action_cleans_up_a_runc_container_after_a_killed_shim() {
    let id = unique_id("runcdead");
    let _cleanup = Cleanup(vec![id.clone()]);
    let opts = OptionsFile::new("runcdead", "BinaryName = \"/usr/sbin/runc\"\n");
    run_detached(
        &id,
        &["--runtime-config-path", &opts.path()],
        &["sleep", "1000"],
    );
    let runc_state = PathBuf::from("/run/containerd/runc")
        .join(NAMESPACE)
        .join(&id);
    assert!(runc_state.exists(), "no runc state for {id}");
    kill_the_shim_and_check_cleanup(&id);
    assert!(
        !runc_state.exists(),
        "runc state left: {}",
        runc_state.display()
    );
}
