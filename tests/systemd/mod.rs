//! End-to-end: the systemd cgroup driver of the embedded runtime. A
//! `slice:prefix:name` cgroupsPath (ctr's `--cgroup`, what containerd's CRI
//! plugin sends for a kubelet with the systemd driver) puts the container in
//! a transient scope `<prefix>-<name>.scope` made by systemd, and everything
//! the shim does with the cgroup follows it there. Where systemd does not
//! run (this repository's v1 host, the plain cgroup v2 node) the same
//! request is refused, naming the path; on the systemd node (hack/uml/,
//! SHIM_NODE_SYSTEMD=1) the scope must work.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::*;

/// Whether systemd runs as init here; SHIM_NODE_SYSTEMD=1 (the systemd
/// node) insists that it does.
fn systemd_runs() -> bool {
    let runs = Path::new("/run/systemd/system").is_dir();
    if std::env::var("SHIM_NODE_SYSTEMD").as_deref() == Ok("1") {
        assert!(runs, "SHIM_NODE_SYSTEMD=1, but systemd does not run here");
    }
    runs
}

/// `systemctl show -p PROPERTY --value UNIT`.
fn unit_property(unit: &str, property: &str) -> String {
    let out = Command::new("systemctl")
        .args(["show", "-p", property, "--value", unit])
        .output()
        .expect("run systemctl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_slice_path_runs_in_a_systemd_scope_that_delete_stops() {
    let id = unique_id("sd-scope");
    let _cleanup = Cleanup(vec![id.clone()]);
    let slice_path = format!("system.slice:e2e:{id}");
    let unit = format!("e2e-{id}.scope");
    let cgroup = format!("/system.slice/{unit}");
    let args = [
        "run",
        "-d",
        "--null-io",
        "--runtime",
        RUNTIME,
        "--cgroup",
        &slice_path,
        "--memory-limit",
        "33554432",
    ];
    let image = env().image;
    let mut run: Vec<&str> = args.to_vec();
    run.extend([image.as_str(), id.as_str(), "sleep", "1000"]);
    if !systemd_runs() {
        let out = ctr(&run);
        assert!(!out.status.success(), "a slice path ran without systemd");
        let err = stderr(&out);
        assert!(
            err.contains(&slice_path) && err.contains("systemd does not run"),
            "{err}"
        );
        remove(&id);
        assert_no_leftovers(&id);
        return;
    }
    ctr_ok(&run);
    let mut req = containerd_shim_protos::api::ConnectRequest::new();
    req.id = id.clone();
    let init = shim_client(&id)
        .connect(ttrpc_ctx(), &req)
        .unwrap()
        .task_pid;
    // The init is in the scope, which systemd knows and limits.
    assert_eq!(cgroup_of(init), cgroup);
    assert_eq!(unit_property(&unit, "ActiveState"), "active");
    assert_eq!(unit_property(&unit, "MemoryMax"), "33554432");
    assert_eq!(
        read_cgroup_file(&cgroup, ("memory", "memory.limit_in_bytes"), "memory.max"),
        "33554432"
    );
    // Pause, metrics, update and kill-all reach the scope's cgroup.
    ctr_ok(&["task", "pause", &id]);
    assert_eq!(
        read_cgroup_file(&cgroup, ("freezer", "freezer.state"), "cgroup.freeze"),
        "1"
    );
    ctr_ok(&["task", "resume", &id]);
    assert_eq!(
        read_cgroup_file(&cgroup, ("freezer", "freezer.state"), "cgroup.freeze"),
        "0"
    );
    let metrics = ctr_ok(&["task", "metrics", &id]);
    assert!(
        metrics
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["memory.usage_limit", "33554432"]),
        "{metrics}"
    );
    // As containerd's CRI plugin sends an in-place resize: the whole
    // resources of the spec, its devices among them.
    let update = crate::resources::update_request(
        &id,
        serde_json::json!({
            "memory": {"limit": 50331648},
            "pids": {"limit": 40},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000},
            "devices": [{"allow": false, "access": "rwm"}]
        }),
    );
    shim_client(&id)
        .update(ttrpc_ctx(), &update)
        .expect("Update");
    assert_eq!(
        read_cgroup_file(&cgroup, ("pids", "pids.max"), "pids.max"),
        "40"
    );
    // The unit's properties changed too: a daemon-reload, which writes them
    // into the cgroup again, keeps the updated limits.
    assert_eq!(unit_property(&unit, "MemoryMax"), "50331648");
    assert_eq!(unit_property(&unit, "TasksMax"), "40");
    assert_eq!(unit_property(&unit, "CPUQuotaPerSecUSec"), "500ms");
    assert_eq!(
        read_cgroup_file(&cgroup, ("cpu", "cpu.cfs_quota_us"), "cpu.max"),
        "50000 100000"
    );
    let reload = Command::new("systemctl")
        .arg("daemon-reload")
        .status()
        .unwrap();
    assert!(reload.success());
    assert_eq!(
        read_cgroup_file(&cgroup, ("memory", "memory.limit_in_bytes"), "memory.max"),
        "50331648"
    );
    assert_eq!(
        read_cgroup_file(&cgroup, ("memory", "memory.limit_in_bytes"), "memory.max"),
        "50331648"
    );
    ctr_ok(&[
        "task",
        "exec",
        "--exec-id",
        "bg",
        &id,
        "sh",
        "-c",
        "sleep 1000 &",
    ]);
    ctr_ok(&["task", "kill", "--all", "-s", "SIGKILL", &id]);
    wait_until("the task to stop", Duration::from_secs(10), || {
        task_status(&id).as_deref() == Some("STOPPED")
    });
    // Deleted: the scope is stopped and its cgroup gone.
    remove(&id);
    wait_until("the scope to go", Duration::from_secs(10), || {
        !Path::new("/sys/fs/cgroup").join(&cgroup[1..]).exists()
    });
    assert_ne!(unit_property(&unit, "ActiveState"), "active");
    assert_no_leftovers(&id);
}

#[test]
fn an_oom_in_a_scope_is_reported_before_the_exit() {
    if !systemd_runs() {
        // Without systemd the request is refused (the test above); the
        // OOM order on cgroupfs is resources::a_container_out_of_memory_*.
        return;
    }
    let id = unique_id("sd-oom");
    let slice_path = format!("system.slice:e2e:{id}");
    crate::resources::out_of_memory(&id, &["--cgroup", &slice_path]);
    let scope = format!("/sys/fs/cgroup/system.slice/e2e-{id}.scope");
    wait_until("the scope to go", Duration::from_secs(10), || {
        !Path::new(&scope).exists()
    });
}
