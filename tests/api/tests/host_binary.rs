//! No process in a container can reach the host's shim binary (the
//! CVE-2019-5736 class; src/runtime/sealed_exe.rs). A task that containerd
//! created but did not start keeps its init waiting, forked from the
//! runtime helper, for as long as the test needs: the moment at which
//! `/proc/PID/exe` of a container process is the shim's.
//!
//! Runs against the private containerd of hack/test.sh (ctr has no verb for
//! a task that is created and not started: containerd's Tasks API does it).

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use containerd_client::services::v1::snapshots::snapshots_client::SnapshotsClient;
use containerd_client::services::v1::snapshots::MountsRequest;
use containerd_client::services::v1::tasks_client::TasksClient;
use containerd_client::services::v1::CreateTaskRequest;
use containerd_client::tonic::Request;
use containerd_client::with_namespace;
use shim_api_tests::{cgroup_procs, ctr, ctr_ok, env, NAMESPACE, RUNTIME};

/// A container (and its task, if any) removed on drop.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = ctr(&["task", "kill", "-s", "SIGKILL", &self.0]);
        for _ in 0..100 {
            let out = ctr(&["task", "rm", &self.0]);
            let err = String::from_utf8_lossy(&out.stderr);
            if out.status.success() || err.contains("not found") {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = ctr(&["container", "rm", &self.0]);
    }
}

/// The device and inode a path resolves to.
fn file_id(p: impl AsRef<Path>) -> (u64, u64) {
    let m = std::fs::metadata(p.as_ref())
        .unwrap_or_else(|e| panic!("stat {}: {e}", p.as_ref().display()));
    (m.dev(), m.ino())
}

fn ppid(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(") ").unwrap();
    rest.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn a_waiting_init_runs_from_a_sealed_view_nobody_can_write_through() {
    let me = std::process::id();
    let id = format!("api-seal-{me}");
    let image = env("TEST_IMAGE");
    ctr_ok(&[
        "container",
        "create",
        "--runtime",
        RUNTIME,
        &image,
        &id,
        "sleep",
        "600",
    ]);
    let container = Container(id.clone());

    let channel = containerd_client::connect(env("CONTAINERD_ADDRESS"))
        .await
        .expect("connect to containerd");
    let req = MountsRequest {
        snapshotter: "overlayfs".into(),
        key: id.clone(),
    };
    let rootfs = SnapshotsClient::new(channel.clone())
        .mounts(with_namespace!(req, NAMESPACE))
        .await
        .expect("Snapshots.Mounts of the container's snapshot")
        .into_inner()
        .mounts;
    let req = CreateTaskRequest {
        container_id: id.clone(),
        rootfs,
        ..Default::default()
    };
    let init = TasksClient::new(channel)
        .create(with_namespace!(req, NAMESPACE))
        .await
        .expect("Tasks.Create")
        .into_inner()
        .pid;

    // The serving shim (the init's parent: it is the subreaper) runs from the
    // host's binary; that is the file to protect.
    let shim = ppid(init);
    let host_path = std::fs::read_link(format!("/proc/{shim}/exe")).unwrap();
    let host = file_id(&host_path);
    assert!(
        host_path.ends_with("containerd-shim-rust-v2"),
        "pid {shim} is not our shim: {}",
        host_path.display()
    );
    let bytes = std::fs::read(&host_path).unwrap();

    // Every process of the container (the waiting init) has another file.
    let procs = cgroup_procs(init);
    assert!(
        procs.contains(&init),
        "init {init} not in its cgroup: {procs:?}"
    );
    for p in &procs {
        assert_ne!(
            file_id(format!("/proc/{p}/exe")),
            host,
            "pid {p} of {id} runs the host's shim binary {}",
            host_path.display()
        );
    }

    // Not even root on the host can write through the init's exe link.
    let e = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{init}/exe"))
        .expect_err("opened the waiting init's executable for writing");
    assert!(
        // EROFS (30): the overlay view; ETXTBSY (26): the memfd copy.
        matches!(e.raw_os_error(), Some(30) | Some(26)),
        "open /proc/{init}/exe for writing: {e} (want EROFS or ETXTBSY)"
    );

    // Nor a privileged container in the init's pid namespace, through every
    // /proc/PID/exe it can see (its own sh and the waiting init among them).
    let joiner = format!("api-seal-join-{me}");
    let ns = format!("pid:/proc/{init}/ns/pid");
    let script = r#"for f in /proc/[0-9]*/exe; do
        if msg=$( (echo overwritten >> "$f") 2>&1 ); then echo "WROTE $f"; else echo "refused $f: $msg"; fi
    done"#;
    let out = ctr(&[
        "run",
        "--rm",
        "--privileged",
        "--runtime",
        RUNTIME,
        "--with-ns",
        &ns,
        &image,
        &joiner,
        "sh",
        "-c",
        script,
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the joiner failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("WROTE"), "a write went through:\n{text}");
    let init_line = text
        .lines()
        .find(|l| l.starts_with("refused /proc/1/exe:"))
        .unwrap_or_else(|| panic!("the joiner did not see the waiting init as pid 1:\n{text}"));
    assert!(
        init_line.contains("Read-only file system") || init_line.contains("Text file busy"),
        "refused for another reason than the sealed view: {init_line}"
    );
    assert_eq!(
        std::fs::read(&host_path).unwrap(),
        bytes,
        "the host's shim binary changed"
    );
    drop(container);
}
