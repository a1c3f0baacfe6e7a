//! The Kubernetes path, end to end: a CRI client (what kubelet is) talks to
//! containerd's CRI plugin, which runs a pod through the runtime handler
//! `rust` (runtime_type io.containerd.rust.v2) on this shim.
//!
//! Needs a containerd with the CRI plugin on (`CRI=1 hack/containerd-up.sh`:
//! the `rust` handler, a pause image, a CNI bridge). hack/test.sh starts one
//! per containerd version and runs this test with `--ignored`, with
//! CRI_ADDRESS set; it is ignored otherwise (the other tests run against a
//! containerd without CRI), and it fails, naming what is missing, when it is
//! run without that environment.

#[path = "cri/handler_features.rs"]
mod handler_features;
#[path = "cri/kill_all.rs"]
mod kill_all;
#[path = "cri/namespaces.rs"]
mod namespaces;
#[path = "cri/oom.rs"]
mod oom;
#[path = "cri/restart.rs"]
mod restart;
#[path = "cri/streaming.rs"]
mod streaming;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use shim_api_tests::{cgroup_dirs, cgroup_fs};

use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerConfig, ContainerFilter, ContainerMetadata, ContainerState, ContainerStatus,
    ContainerStatusRequest, CreateContainerRequest, ExecSyncRequest, ImageSpec,
    LinuxContainerConfig, LinuxContainerSecurityContext, LinuxPodSandboxConfig,
    LinuxSandboxSecurityContext, ListContainersRequest, ListPodSandboxRequest, NamespaceMode,
    NamespaceOption, PodSandboxConfig, PodSandboxFilter, PodSandboxMetadata, PodSandboxState,
    PodSandboxStatusRequest, RemovePodSandboxRequest, RunPodSandboxRequest, StartContainerRequest,
    StopPodSandboxRequest, VersionRequest,
};

type Cri = RuntimeServiceClient<containerd_client::tonic::transport::Channel>;

const HANDLER: &str = "rust";
const SHIM: &str = "containerd-shim-rust-v2";

fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| {
        panic!(
            "{k} is not set: this test needs a containerd with the CRI plugin \
             (CRI=1 hack/containerd-up.sh DIR, then source DIR/env); hack/test.sh runs it"
        )
    })
}

/// Live processes of our shim serving the containerd at `address`:
/// (pid, the `-id` it was started with).
fn shims(address: &str) -> Vec<(u32, String)> {
    let mut found = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_shim = args
            .first()
            .is_some_and(|a| Path::new(a).file_name().is_some_and(|n| n == SHIM));
        let value = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1))
                .cloned()
        };
        if is_shim && value("-address").as_deref() == Some(address) {
            found.push((pid, value("-id").unwrap_or_default()));
        }
    }
    found
}

/// The shims of `address` started for one of `ids` (a pod's sandbox and
/// containers): other tests' pods run at the same time.
fn shims_for(address: &str, ids: &[&str]) -> Vec<(u32, String)> {
    shims(address)
        .into_iter()
        .filter(|(_, id)| ids.contains(&id.as_str()))
        .collect()
}

fn vm_rss(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .map(|l| l["VmRSS:".len()..].trim().to_string())
        .unwrap_or_else(|| "?".into())
}

/// The shim address containerd keeps in a task's bundle: `address` (1.x),
/// or `bootstrap.json`'s "address" (2.x, which also writes one into the
/// bundle of each container it sends to its sandbox's shim).
fn bundle_address(state_dir: &Path, id: &str) -> String {
    let bundle = state_dir.join(format!("io.containerd.runtime.v2.task/k8s.io/{id}"));
    if let Ok(a) = std::fs::read_to_string(bundle.join("address")) {
        return a.trim().to_string();
    }
    let p = bundle.join("bootstrap.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "{}: neither address nor bootstrap.json ({e}); bundle has {:?}",
            bundle.display(),
            std::fs::read_dir(&bundle)
                .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
        )
    });
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", p.display()));
    v["address"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no address: {text}", p.display()))
        .to_string()
}

async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn status(cri: &mut Cri, id: &str) -> ContainerStatus {
    cri.container_status(ContainerStatusRequest {
        container_id: id.into(),
        verbose: false,
    })
    .await
    .unwrap_or_else(|e| panic!("ContainerStatus {id}: {e:?}"))
    .into_inner()
    .status
    .expect("ContainerStatus without a status")
}

async fn wait_exited(cri: &mut Cri, id: &str) -> ContainerStatus {
    let start = Instant::now();
    loop {
        let st = status(cri, id).await;
        if st.state == ContainerState::ContainerExited as i32 {
            return st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "container {id} did not exit: {st:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// CRI log lines of `path` ("<RFC3339Nano> <stream> <P|F> <text>") as
/// (stream, text) for the complete ("F") ones; panics on a malformed line.
fn cri_log(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|line| {
            let mut f = line.splitn(4, ' ');
            let (ts, stream, tag, msg) = (
                f.next().unwrap_or(""),
                f.next().unwrap_or(""),
                f.next().unwrap_or(""),
                f.next().unwrap_or(""),
            );
            assert!(
                ts.len() > 20 && ts.contains('T') && ts.ends_with('Z'),
                "{}: bad timestamp in CRI log line {line:?}",
                path.display()
            );
            assert!(
                matches!(stream, "stdout" | "stderr") && matches!(tag, "F" | "P"),
                "{}: not a CRI log line: {line:?}",
                path.display()
            );
            (stream.to_string(), msg.to_string())
        })
        .collect()
}

#[derive(Clone)]
struct Pod {
    uid: String,
    log_dir: PathBuf,
    cgroup_parent: String,
    config: PodSandboxConfig,
}

impl Pod {
    fn new(test_dir: &str) -> Pod {
        Pod::named(test_dir, "e2e-cri", NamespaceMode::Container)
    }

    /// A pod named `name` (also its hostname) whose containers get a pid
    /// namespace each (`NamespaceMode::Container`) or share the pod's
    /// (`NamespaceMode::Pod`); network and ipc are the pod's.
    fn named(test_dir: &str, name: &str, pid: NamespaceMode) -> Pod {
        let uid = format!("{name}-{}", std::process::id());
        let log_dir = PathBuf::from(test_dir).join("pods").join(&uid);
        // kubelet creates the pod's log directory before RunPodSandbox.
        std::fs::create_dir_all(&log_dir).unwrap();
        let cgroup_parent = match CgroupDriver::of_node() {
            CgroupDriver::Cgroupfs => format!("/{uid}"),
            // As the kubelet's systemd driver names a Burstable pod's slice
            // (dashes in the uid escaped, as systemd's slice names nest on
            // them).
            CgroupDriver::Systemd => {
                format!("kubepods-burstable-pod{}.slice", uid.replace('-', "_"))
            }
        };
        let config = PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: name.into(),
                uid: uid.clone(),
                namespace: "default".into(),
                attempt: 0,
            }),
            hostname: name.into(),
            log_directory: log_dir.to_string_lossy().into_owned(),
            linux: Some(LinuxPodSandboxConfig {
                cgroup_parent: cgroup_parent.clone(),
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(NamespaceOption {
                        network: NamespaceMode::Pod as i32,
                        pid: pid as i32,
                        ipc: NamespaceMode::Pod as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        Pod {
            uid,
            log_dir,
            cgroup_parent,
            config,
        }
    }

    fn container(&self, name: &str, script: &str) -> ContainerConfig {
        ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: name.into(),
                attempt: 0,
            }),
            image: Some(ImageSpec {
                image: env("TEST_IMAGE"),
                ..Default::default()
            }),
            command: vec!["sh".into(), "-c".into(), script.into()],
            log_path: format!("{name}/0.log"),
            linux: Some(LinuxContainerConfig {
                security_context: Some(LinuxContainerSecurityContext {
                    namespace_options: self
                        .config
                        .linux
                        .as_ref()
                        .and_then(|l| l.security_context.as_ref())
                        .and_then(|s| s.namespace_options.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// The pod cgroups kubelet would remove (libcontainer removes only the
    /// containers' own): the cgroupfs directory, or the pod's slice, which
    /// the kubelet's systemd driver stops.
    fn remove_cgroup_parents(&self) {
        match CgroupDriver::of_node() {
            CgroupDriver::Cgroupfs => {
                for d in cgroup_dirs(&self.cgroup_parent) {
                    let _ = std::fs::remove_dir(d);
                }
            }
            CgroupDriver::Systemd => {
                let out = std::process::Command::new("systemctl")
                    .args(["stop", &self.cgroup_parent])
                    .output()
                    .expect("run systemctl");
                assert!(
                    out.status.success(),
                    "systemctl stop {}: {}",
                    self.cgroup_parent,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }

    /// The cgroup of container `id` of this pod, below the hierarchy's
    /// root: `<parent>/<id>` with cgroupfs; with systemd the scope
    /// `cri-containerd-<id>.scope` in the pod's slice, which systemd nests
    /// as `/kubepods.slice/kubepods-burstable.slice/<pod slice>`.
    fn container_cgroup(&self, id: &str) -> String {
        match CgroupDriver::of_node() {
            CgroupDriver::Cgroupfs => format!("{}/{id}", self.cgroup_parent),
            CgroupDriver::Systemd => format!(
                "/kubepods.slice/kubepods-burstable.slice/{}/cri-containerd-{id}.scope",
                self.cgroup_parent
            ),
        }
    }
}

/// How the node's kubelet would name cgroups: CRI_CGROUP_DRIVER, which the
/// harness sets to `systemd` on the node where systemd runs as init
/// (hack/uml/), else cgroupfs.
#[derive(Clone, Copy, Debug, PartialEq)]
enum CgroupDriver {
    Cgroupfs,
    Systemd,
}

impl CgroupDriver {
    fn of_node() -> CgroupDriver {
        let driver = match std::env::var("CRI_CGROUP_DRIVER").as_deref() {
            Ok("systemd") => CgroupDriver::Systemd,
            Ok("cgroupfs") | Err(_) => CgroupDriver::Cgroupfs,
            Ok(other) => panic!("CRI_CGROUP_DRIVER={other}: systemd or cgroupfs"),
        };
        let systemd_runs = Path::new("/run/systemd/system").is_dir();
        assert!(
            driver == CgroupDriver::Cgroupfs || systemd_runs,
            "CRI_CGROUP_DRIVER=systemd, but systemd does not run here"
        );
        driver
    }
}

async fn create_and_start(
    cri: &mut Cri,
    pod: &Pod,
    pod_id: &str,
    name: &str,
    script: &str,
) -> String {
    start_config(cri, pod, pod_id, pod.container(name, script)).await
}

/// A CRI client on the containerd at CRI_ADDRESS.
async fn connect() -> Cri {
    let address = env("CRI_ADDRESS");
    let channel = containerd_client::connect(&address)
        .await
        .unwrap_or_else(|e| panic!("connect to the CRI socket {address}: {e:?}"));
    RuntimeServiceClient::new(channel)
}

/// Creates a container from `config` in the pod and starts it.
async fn start_config(cri: &mut Cri, pod: &Pod, pod_id: &str, config: ContainerConfig) -> String {
    let name = config.metadata.as_ref().map(|m| m.name.clone());
    let id = cri
        .create_container(CreateContainerRequest {
            pod_sandbox_id: pod_id.into(),
            config: Some(config),
            sandbox_config: Some(pod.config.clone()),
        })
        .await
        .unwrap_or_else(|e| panic!("CreateContainer {name:?}: {e:?}"))
        .into_inner()
        .container_id;
    cri.start_container(StartContainerRequest {
        container_id: id.clone(),
    })
    .await
    .unwrap_or_else(|e| panic!("StartContainer {name:?}: {e:?}"));
    id
}

/// ExecSync of `cmd` in container `id`: its stdout, after checking that it
/// exited 0 with nothing on stderr.
async fn exec_out(cri: &mut Cri, id: &str, cmd: &[&str]) -> String {
    let r = cri
        .exec_sync(ExecSyncRequest {
            container_id: id.into(),
            cmd: cmd.iter().map(|a| a.to_string()).collect(),
            timeout: 10,
        })
        .await
        .unwrap_or_else(|e| panic!("ExecSync {cmd:?} in {id}: {e:?}"))
        .into_inner();
    assert_eq!(
        (r.exit_code, String::from_utf8_lossy(&r.stderr).as_ref()),
        (0, ""),
        "ExecSync {cmd:?} in {id}: stdout {:?}",
        String::from_utf8_lossy(&r.stdout)
    );
    String::from_utf8_lossy(&r.stdout).into_owned()
}

/// The host pid of the sandbox's pause process, from PodSandboxStatus's
/// verbose info (containerd's CRI plugin puts it in "info").
async fn sandbox_pid(cri: &mut Cri, pod_id: &str) -> u32 {
    let info = cri
        .pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: pod_id.into(),
            verbose: true,
        })
        .await
        .expect("PodSandboxStatus verbose")
        .into_inner()
        .info;
    let text = info
        .get("info")
        .unwrap_or_else(|| panic!("verbose PodSandboxStatus has no \"info\": {info:?}"));
    let v: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("sandbox info {text}: {e}"));
    v["pid"]
        .as_u64()
        .filter(|p| *p > 0)
        .unwrap_or_else(|| panic!("sandbox info has no pid: {text}")) as u32
}

/// The pids in the cgroup of container `id` of the pod (`Pod::
/// container_cgroup`); empty once the cgroup is gone.
fn container_procs(pod: &Pod, id: &str) -> Vec<u32> {
    cgroup_fs::procs_in(&pod.container_cgroup(id))
}

/// Runs `body` against a fresh pod named `name` (RunPodSandbox with the
/// `rust` handler), then stops and removes the pod, its cgroup parents and
/// its log directory, also when `body` panicked (its panic is passed on).
async fn with_pod<F, Fut>(name: &str, pid: NamespaceMode, body: F)
where
    F: FnOnce(Cri, Pod, String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let test_dir = env("SHIM_TEST_DIR");
    let mut cri = connect().await;
    let pod = Pod::named(&test_dir, name, pid);
    let pod_id = cri
        .run_pod_sandbox(RunPodSandboxRequest {
            config: Some(pod.config.clone()),
            runtime_handler: HANDLER.into(),
        })
        .await
        .unwrap_or_else(|e| panic!("RunPodSandbox {name} with handler {HANDLER}: {e:?}"))
        .into_inner()
        .pod_sandbox_id;
    eprintln!("pod {} is sandbox {pod_id}", pod.uid);
    let result = tokio::spawn(body(cri.clone(), pod.clone(), pod_id.clone())).await;
    let stop = cri
        .stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: pod_id.clone(),
        })
        .await;
    let remove = cri
        .remove_pod_sandbox(RemovePodSandboxRequest {
            pod_sandbox_id: pod_id.clone(),
        })
        .await;
    // The pod's cgroup (kubelet's to remove) is empty once its shim is gone.
    let address = env("CRI_ADDRESS");
    wait_for("the pod's shim to exit", Duration::from_secs(15), || {
        let gone = shims_for(&address, &[&pod_id]).is_empty();
        async move { gone.then_some(()) }
    })
    .await;
    pod.remove_cgroup_parents();
    let _ = std::fs::remove_dir_all(&pod.log_dir);
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
    stop.unwrap_or_else(|e| panic!("StopPodSandbox {name}: {e:?}"));
    remove.unwrap_or_else(|e| panic!("RemovePodSandbox {name}: {e:?}"));
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs a containerd with the CRI plugin: hack/test.sh runs it with --ignored and CRI_ADDRESS"]
async fn cri_pod_runs_in_one_shim() {
    let address = env("CRI_ADDRESS");
    let test_dir = env("SHIM_TEST_DIR");
    let channel = containerd_client::connect(&address)
        .await
        .unwrap_or_else(|e| panic!("connect to the CRI socket {address}: {e:?}"));
    let mut cri: Cri = RuntimeServiceClient::new(channel);
    let version = cri
        .version(VersionRequest::default())
        .await
        .unwrap_or_else(|e| panic!("CRI Version on {address} (is the CRI plugin on?): {e:?}"))
        .into_inner();
    eprintln!(
        "CRI: {} {} (CRI API {})",
        version.runtime_name, version.runtime_version, version.runtime_api_version
    );
    let pod = Pod::new(&test_dir);
    let pod_id = cri
        .run_pod_sandbox(RunPodSandboxRequest {
            config: Some(pod.config.clone()),
            runtime_handler: HANDLER.into(),
        })
        .await
        .unwrap_or_else(|e| panic!("RunPodSandbox with handler {HANDLER}: {e:?}"))
        .into_inner()
        .pod_sandbox_id;
    eprintln!("pod {} is sandbox {pod_id}", pod.uid);

    // The body runs as a task of its own so that a failed assertion still
    // gets the pod stopped and removed below.
    let body = tokio::spawn(pod_body(
        cri.clone(),
        pod.clone(),
        pod_id.clone(),
        address.clone(),
        test_dir,
    ));
    let result = body.await;

    let stop = cri
        .stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: pod_id.clone(),
        })
        .await;
    let stopped_state = cri
        .pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: pod_id.clone(),
            verbose: false,
        })
        .await
        .ok()
        .and_then(|r| r.into_inner().status)
        .map(|s| s.state);
    let remove = cri
        .remove_pod_sandbox(RemovePodSandboxRequest {
            pod_sandbox_id: pod_id.clone(),
        })
        .await;
    let (shim_pid, container_ids) = match result {
        Ok(v) => v,
        Err(e) => {
            pod.remove_cgroup_parents();
            std::panic::resume_unwind(e.into_panic());
        }
    };
    stop.unwrap_or_else(|e| panic!("StopPodSandbox: {e:?}"));
    assert!(
        stopped_state == Some(PodSandboxState::SandboxNotready as i32),
        "after StopPodSandbox the sandbox is {stopped_state:?}, not NotReady"
    );
    remove.unwrap_or_else(|e| panic!("RemovePodSandbox: {e:?}"));

    let left = cri
        .list_pod_sandbox(ListPodSandboxRequest {
            filter: Some(PodSandboxFilter {
                id: pod_id.clone(),
                ..Default::default()
            }),
        })
        .await
        .expect("ListPodSandbox")
        .into_inner()
        .items;
    assert!(
        left.is_empty(),
        "sandbox still listed after RemovePodSandbox: {left:?}"
    );

    // The shim exits by itself once its last container is gone.
    wait_for("the pod's shim to exit", Duration::from_secs(15), || {
        let alive = Path::new(&format!("/proc/{shim_pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{shim_pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ");
        async move { (!alive).then_some(()) }
    })
    .await;
    let ids: Vec<&str> = container_ids.iter().map(String::as_str).collect();
    assert!(
        shims_for(&address, &ids).is_empty(),
        "shims left: {:?}",
        shims_for(&address, &ids)
    );

    // libcontainer removed every container's cgroup; the pod's own (the
    // parent, kubelet's to remove) goes now.
    for id in &container_ids {
        let left = cgroup_dirs(&pod.container_cgroup(id));
        assert!(
            left.is_empty(),
            "cgroups {left:?} left after RemovePodSandbox"
        );
    }
    pod.remove_cgroup_parents();
    std::fs::remove_dir_all(&pod.log_dir).unwrap();
}

/// Everything between RunPodSandbox and StopPodSandbox; returns the shim's
/// pid and the ids of the sandbox and its containers.
async fn pod_body(
    mut cri: Cri,
    pod: Pod,
    pod_id: String,
    address: String,
    test_dir: String,
) -> (u32, Vec<String>) {
    let st = cri
        .pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: pod_id.clone(),
            verbose: false,
        })
        .await
        .expect("PodSandboxStatus")
        .into_inner()
        .status
        .expect("PodSandboxStatus without a status");
    assert_eq!(st.state, PodSandboxState::SandboxReady as i32, "{st:?}");
    let ip = st
        .network
        .as_ref()
        .map(|n| n.ip.clone())
        .unwrap_or_default();
    eprintln!("sandbox IP {ip}");
    assert!(!ip.is_empty(), "the sandbox got no IP from CNI: {st:?}");

    let app = create_and_start(
        &mut cri,
        &pod,
        &pod_id,
        "app",
        "trap 'exit 0' TERM; echo hello-stdout; echo hello-stderr >&2; while :; do sleep 1; done",
    )
    .await;
    let failing = create_and_start(
        &mut cri,
        &pod,
        &pod_id,
        "failing",
        "echo bye; sleep 2; exit 3",
    )
    .await;

    // Sandbox + two containers: one shim, whose children are their inits.
    let running = shims_for(&address, &[&pod_id, &app, &failing]);
    assert_eq!(running.len(), 1, "shims of the pod: {running:?}");
    let (shim_pid, shim_id) = running[0].clone();
    assert_eq!(shim_id, pod_id, "the shim was started for the sandbox");
    let state_dir = PathBuf::from(&test_dir).join("state");
    let sandbox_address = bundle_address(&state_dir, &pod_id);
    for id in [&app, &failing] {
        assert_eq!(
            bundle_address(&state_dir, id),
            sandbox_address,
            "container {id} is served by another shim"
        );
    }
    eprintln!(
        "pod shim pid {shim_pid} at {sandbox_address}: VmRSS {} with 3 containers (sandbox + 2)",
        vm_rss(shim_pid)
    );

    // ExecSync: output and exit code.
    let exec = cri
        .exec_sync(ExecSyncRequest {
            container_id: app.clone(),
            cmd: vec![
                "sh".into(),
                "-c".into(),
                "echo exec-out; echo exec-err >&2; exit 5".into(),
            ],
            timeout: 10,
        })
        .await
        .expect("ExecSync")
        .into_inner();
    assert_eq!(String::from_utf8_lossy(&exec.stdout), "exec-out\n");
    assert_eq!(String::from_utf8_lossy(&exec.stderr), "exec-err\n");
    assert_eq!(exec.exit_code, 5);
    let exec = cri
        .exec_sync(ExecSyncRequest {
            container_id: app.clone(),
            cmd: vec!["cat".into(), "/etc/hostname".into()],
            timeout: 10,
        })
        .await
        .expect("ExecSync cat")
        .into_inner();
    assert_eq!(
        (exec.exit_code, String::from_utf8_lossy(&exec.stdout).trim()),
        (0, "e2e-cri")
    );

    // Exit codes and reasons as kubelet reads them.
    let st = wait_exited(&mut cri, &failing).await;
    assert_eq!((st.exit_code, st.reason.as_str()), (3, "Error"), "{st:?}");
    let done = create_and_start(&mut cri, &pod, &pod_id, "done", "echo done; sleep 2").await;
    // (Read while it runs: the CRI plugin deletes a task once it exits.)
    assert_eq!(
        shims_for(&address, &[&pod_id, &app, &failing, &done]).len(),
        1,
        "a fourth container started another shim"
    );
    assert_eq!(bundle_address(&state_dir, &done), sandbox_address);
    let st = wait_exited(&mut cri, &done).await;
    assert_eq!(
        (st.exit_code, st.reason.as_str()),
        (0, "Completed"),
        "{st:?}"
    );
    let st = status(&mut cri, &app).await;
    assert_eq!(st.state, ContainerState::ContainerRunning as i32, "{st:?}");

    // Logs, in the CRI format, in the files under the pod's log directory.
    let app_log = pod.log_dir.join("app/0.log");
    let lines = wait_for("the app's log lines", Duration::from_secs(10), || {
        let lines = cri_log(&app_log);
        let want = [
            ("stdout".to_string(), "hello-stdout".to_string()),
            ("stderr".to_string(), "hello-stderr".to_string()),
        ];
        let ok = want.iter().all(|w| lines.contains(w));
        async move { ok.then_some(lines) }
    })
    .await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        cri_log(&pod.log_dir.join("failing/0.log")),
        [("stdout".to_string(), "bye".to_string())]
    );
    assert_eq!(
        cri_log(&pod.log_dir.join("done/0.log")),
        [("stdout".to_string(), "done".to_string())]
    );

    // ListContainers: the pod's three, in their states.
    let listed = cri
        .list_containers(ListContainersRequest {
            filter: Some(ContainerFilter {
                pod_sandbox_id: pod_id.clone(),
                ..Default::default()
            }),
        })
        .await
        .expect("ListContainers")
        .into_inner()
        .containers;
    let got: BTreeSet<(String, i32)> = listed.iter().map(|c| (c.id.clone(), c.state)).collect();
    let want: BTreeSet<(String, i32)> = [
        (app.clone(), ContainerState::ContainerRunning as i32),
        (failing.clone(), ContainerState::ContainerExited as i32),
        (done.clone(), ContainerState::ContainerExited as i32),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want, "{listed:?}");

    (shim_pid, vec![pod_id, app, failing, done])
}
