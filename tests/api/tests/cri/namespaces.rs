//! The namespaces of a pod: its app containers join the sandbox's network
//! and ipc namespaces (those of the pause process), and its pid namespace
//! with `NamespaceMode::Pod`, a pid namespace each with `Container`.

use super::*;

/// The namespace links (`readlink /proc/<pid>/ns/<kind>`) of a process.
fn host_ns(pid: &str, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/{kind}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// net, ipc and pid namespace links as the container sees its own.
async fn container_ns(cri: &mut Cri, id: &str) -> [String; 3] {
    let out = exec_out(
        cri,
        id,
        &[
            "sh",
            "-c",
            "for k in net ipc pid; do readlink /proc/self/ns/$k; done",
        ],
    )
    .await;
    let links: Vec<String> = out.lines().map(str::to_string).collect();
    links
        .try_into()
        .unwrap_or_else(|l| panic!("readlink in {id}: not three links: {l:?}"))
}

/// The command lines (`ps -o args`) a container sees.
async fn processes(cri: &mut Cri, id: &str) -> Vec<String> {
    exec_out(cri, id, &["ps", "-o", "args"])
        .await
        .lines()
        .skip(1)
        .map(|l| l.trim().to_string())
        .collect()
}

async fn check(pid_mode: NamespaceMode, name: &'static str) {
    with_pod(name, pid_mode, move |mut cri, pod, pod_id| async move {
        let a = start_config(
            &mut cri,
            &pod,
            &pod_id,
            pod.container("a", "exec sleep 1001"),
        )
        .await;
        let b = start_config(
            &mut cri,
            &pod,
            &pod_id,
            pod.container("b", "exec sleep 1002"),
        )
        .await;
        let pause = sandbox_pid(&mut cri, &pod_id).await.to_string();
        let [a_net, a_ipc, a_pid] = container_ns(&mut cri, &a).await;
        let [b_net, b_ipc, b_pid] = container_ns(&mut cri, &b).await;
        eprintln!("{name}: pause {pause}; a {a_net} {a_ipc} {a_pid}; b {b_net} {b_ipc} {b_pid}");

        // Network and ipc: the sandbox's, not the host's.
        for (kind, a_ns, b_ns) in [("net", &a_net, &b_net), ("ipc", &a_ipc, &b_ipc)] {
            let sandbox = host_ns(&pause, kind);
            assert_eq!(a_ns, &sandbox, "{kind} of a is not the sandbox's");
            assert_eq!(b_ns, &sandbox, "{kind} of b is not the sandbox's");
            assert_ne!(
                &sandbox,
                &host_ns("self", kind),
                "the sandbox has the host's {kind}"
            );
        }

        let host_pid = host_ns("self", "pid");
        assert_ne!(a_pid, host_pid, "a runs in the host's pid namespace");
        assert_ne!(b_pid, host_pid, "b runs in the host's pid namespace");
        let seen_by_a = processes(&mut cri, &a).await;
        match pid_mode {
            NamespaceMode::Pod => {
                // One pid namespace, the pause process's (its pid 1): each
                // sees the other's processes.
                let sandbox = host_ns(&pause, "pid");
                assert_eq!(a_pid, sandbox, "pid of a is not the sandbox's");
                assert_eq!(b_pid, sandbox, "pid of b is not the sandbox's");
                assert!(
                    seen_by_a.iter().any(|p| p == "sleep 1002"),
                    "a does not see b's sleep: {seen_by_a:?}"
                );
                // Its pid 1 is the pause process.
                let init = exec_out(&mut cri, &a, &["cat", "/proc/1/cmdline"]).await;
                let pause_cmdline = std::fs::read(format!("/proc/{pause}/cmdline")).unwrap();
                assert_eq!(
                    init.as_bytes(),
                    pause_cmdline,
                    "pid 1 of a is not the pause process"
                );
                let seen_by_b = processes(&mut cri, &b).await;
                assert!(
                    seen_by_b.iter().any(|p| p == "sleep 1001"),
                    "b does not see a's sleep: {seen_by_b:?}"
                );
            }
            _ => {
                // A pid namespace each, in which its sleep is pid 1.
                assert_ne!(a_pid, b_pid, "a and b share a pid namespace");
                assert_ne!(
                    a_pid,
                    host_ns(&pause, "pid"),
                    "a has the sandbox's pid namespace"
                );
                assert!(
                    !seen_by_a
                        .iter()
                        .any(|p| p == "sleep 1002" || p.contains("trap")),
                    "a sees processes of other containers: {seen_by_a:?}"
                );
                let init = exec_out(&mut cri, &a, &["cat", "/proc/1/cmdline"]).await;
                assert_eq!(init, "sleep\x001001\x00", "pid 1 of a");
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs a containerd with the CRI plugin: hack/test.sh runs it with --ignored and CRI_ADDRESS"]
async fn cri_containers_share_the_pods_namespaces() {
    check(NamespaceMode::Pod, "cri-ns-pod").await;
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs a containerd with the CRI plugin: hack/test.sh runs it with --ignored and CRI_ADDRESS"]
async fn cri_containers_get_a_pid_namespace_each() {
    check(NamespaceMode::Container, "cri-ns-container").await;
}
