//! containerd's Tasks API (gRPC), called the way containerd's clients call
//! it (ctr has no verb for Update), against a private containerd that
//! hack/test.sh started; the task runs on containerd-shim-rust-v2.

use std::time::Duration;

use containerd_client::services::v1::tasks_client::TasksClient;
use containerd_client::services::v1::UpdateTaskRequest;
use containerd_client::tonic::{Code, Request};
use containerd_client::with_namespace;
use shim_api_tests::{cgroup_fs, ctr, ctr_ok, env, read_cgroup_file, NAMESPACE, RUNTIME};

/// A detached container of ours, removed (with its task) on drop.
struct Task(String);

impl Task {
    fn run(tag: &str, cmd: &[&str]) -> Task {
        Task::run_named(&format!("api-{tag}-{}", std::process::id()), &[], cmd)
    }

    /// `ctr run -d` of container `id` with the `extra` flags of ctr run.
    fn run_named(id: &str, extra: &[&str], cmd: &[&str]) -> Task {
        let image = env("TEST_IMAGE");
        let mut args = vec!["run", "-d", "--null-io", "--runtime", RUNTIME];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[&image, id]);
        args.extend_from_slice(cmd);
        ctr_ok(&args);
        Task(id.to_string())
    }

    /// The task's status and host pid as `ctr task ls` shows them.
    fn status(&self) -> Option<(String, u32)> {
        let ls = String::from_utf8_lossy(&ctr(&["task", "ls"]).stdout).into_owned();
        ls.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&self.0.as_str()) && f.len() >= 3)
                .then(|| (f[2].to_string(), f[1].parse().unwrap_or(0)))
        })
    }

    fn wait_status(&self, want: &str) -> u32 {
        for _ in 0..200 {
            if let Some((status, pid)) = self.status() {
                if status == want {
                    return pid;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("task {} never {want}: {:?}", self.0, self.status());
    }

    /// The pids in the task's cgroup, which must exist.
    fn procs(&self) -> Vec<u32> {
        let path = format!("/{NAMESPACE}/{}", self.0);
        assert!(
            !cgroup_fs::cgroup_dirs(&path).is_empty(),
            "{}'s cgroup {path} is gone",
            self.0
        );
        cgroup_fs::procs_in(&path)
    }

    fn memory_limit(&self) -> String {
        read_cgroup_file(
            &format!("/{NAMESPACE}/{}", self.0),
            ("memory", "memory.limit_in_bytes"),
            "memory.max",
        )
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        let _ = ctr(&["task", "kill", "-s", "SIGKILL", &self.0]);
        for _ in 0..100 {
            if ctr(&["task", "rm", &self.0]).status.success() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = ctr(&["container", "rm", &self.0]);
    }
}

fn memory_update(id: &str, limit: i64) -> UpdateTaskRequest {
    let resources = serde_json::json!({"memory": {"limit": limit}});
    UpdateTaskRequest {
        container_id: id.to_string(),
        resources: Some(prost_types::Any {
            type_url: "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources".into(),
            value: serde_json::to_vec(&resources).unwrap(),
        }),
        annotations: Default::default(),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn update_through_containerd_reaches_the_cgroup() {
    let channel = containerd_client::connect(env("CONTAINERD_ADDRESS"))
        .await
        .expect("connect to containerd");
    let mut tasks = TasksClient::new(channel);

    let running = Task::run("update", &["sleep", "1000"]);
    let req = memory_update(&running.0, 48 << 20);
    tasks
        .update(with_namespace!(req, NAMESPACE))
        .await
        .expect("Tasks.Update of a running task");
    assert_eq!(running.memory_limit(), (48u64 << 20).to_string());

    // A stopped task: containerd passes the shim's FailedPrecondition on.
    let stopped = Task::run("update-stopped", &["true"]);
    for _ in 0..100 {
        let ls = String::from_utf8_lossy(&ctr(&["task", "ls"]).stdout).into_owned();
        if ls
            .lines()
            .any(|l| l.starts_with(&stopped.0) && l.contains("STOPPED"))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let req = memory_update(&stopped.0, 48 << 20);
    let err = tasks
        .update(with_namespace!(req, NAMESPACE))
        .await
        .expect_err("Update of a stopped task must fail");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("stopped"), "{err:?}");
}

/// The host pid of a live process whose command line is `cmdline`.
fn find_process(cmdline: &[u8]) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let raw = std::fs::read(e.path().join("cmdline")).ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        let zombie = stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'));
        (raw == cmdline && !zombie).then_some(pid)
    })
}

/// A container in another's pid namespace (ctr run --with-ns pid:...):
/// when its init exits, the shim kills what the init left (runc's shim:
/// `kill --all` unless the container has a pid namespace of its own), before
/// it reports the exit; with nobody deleting the task yet.
#[test]
fn exit_in_a_joined_pid_namespace_kills_the_rest() {
    let me = std::process::id();
    let holder = Task::run_named(&format!("cri-pidns-{me}"), &[], &["sleep", "1000"]);
    let holder_pid = holder.wait_status("RUNNING");
    let ns = format!("pid:/proc/{holder_pid}/ns/pid");
    let marker = format!("sleep\0{}\0", 1000 + me % 1000 + 1);
    let script = format!("sleep {} & sleep 1; exit 0", 1000 + me % 1000 + 1);
    let joiner = Task::run_named(
        &format!("cri-pidns-join-{me}"),
        &["--with-ns", &ns],
        &["sh", "-c", &script],
    );
    // While the init runs, its background sleep is in its cgroup.
    let mut sleeper = None;
    for _ in 0..100 {
        sleeper = find_process(marker.as_bytes()).filter(|p| joiner.procs().contains(p));
        if sleeper.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let sleeper = sleeper.expect("the background sleep never showed in the joiner's cgroup");
    joiner.wait_status("STOPPED");
    // Killed (a zombie of the holder's init at most), not just orphaned.
    assert_eq!(
        find_process(marker.as_bytes()),
        None,
        "the background sleep (pid {sleeper}) outlived the init of {}",
        joiner.0
    );
    assert!(
        joiner.procs().is_empty(),
        "left in {}: {:?}",
        joiner.0,
        joiner.procs()
    );
    assert_eq!(
        holder.wait_status("RUNNING"),
        holder_pid,
        "the holder died too"
    );
}
