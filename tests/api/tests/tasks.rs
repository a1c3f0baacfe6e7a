//! containerd's Tasks API (gRPC), called the way containerd's clients call
//! it (ctr has no verb for Update), against a private containerd that
//! hack/test.sh started; the task runs on containerd-shim-rust-v2.

use std::process::Command;
use std::time::Duration;

use containerd_client::services::v1::tasks_client::TasksClient;
use containerd_client::services::v1::UpdateTaskRequest;
use containerd_client::tonic::{Code, Request};
use containerd_client::with_namespace;

const NAMESPACE: &str = "default";
const RUNTIME: &str = "io.containerd.rust.v2";

fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| {
        panic!("{k} is not set: run these tests through hack/test.sh, which starts a private containerd")
    })
}

fn ctr(args: &[&str]) -> std::process::Output {
    let bin = std::env::var("CTR_BIN").unwrap_or_else(|_| "ctr".into());
    Command::new(bin)
        .args(["--address", &env("CONTAINERD_ADDRESS"), "-n", NAMESPACE])
        .args(args)
        .output()
        .expect("run ctr")
}

fn ctr_ok(args: &[&str]) {
    let out = ctr(args);
    assert!(
        out.status.success(),
        "ctr {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A detached container of ours, removed (with its task) on drop.
struct Task(String);

impl Task {
    fn run(tag: &str, cmd: &[&str]) -> Task {
        let id = format!("api-{tag}-{}", std::process::id());
        let image = env("TEST_IMAGE");
        let mut args = vec!["run", "-d", "--null-io", "--runtime", RUNTIME, &image, &id];
        args.extend_from_slice(cmd);
        ctr_ok(&args);
        Task(id)
    }

    fn memory_limit(&self) -> String {
        let p = format!(
            "/sys/fs/cgroup/memory/{NAMESPACE}/{}/memory.limit_in_bytes",
            self.0
        );
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("read {p}: {e}"))
            .trim()
            .to_string()
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
