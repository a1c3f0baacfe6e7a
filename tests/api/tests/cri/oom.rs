//! A container over its memory limit: the kernel's OOM killer ends it, the
//! shim's /tasks/oom event (cgroup v1 memory.oom_control, v2 memory.events)
//! reaches the CRI plugin before the exit, and ContainerStatus reads as
//! kubelet shows it: exit code 137, reason OOMKilled.

use super::*;
use k8s_cri::v1::LinuxContainerResources;

const LIMIT: i64 = 16 << 20;

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs a containerd with the CRI plugin: hack/test.sh runs it with --ignored and CRI_ADDRESS"]
async fn cri_container_over_its_memory_limit_is_oom_killed() {
    with_pod(
        "cri-oom",
        NamespaceMode::Container,
        |mut cri, pod, pod_id| async move {
            // tail keeps the last line of an endless one: it grows until
            // the memory cgroup's OOM killer ends it (no swap to go to).
            let mut config = pod.container("hog", "echo start; exec tail /dev/zero");
            if let Some(linux) = config.linux.as_mut() {
                linux.resources = Some(LinuxContainerResources {
                    memory_limit_in_bytes: LIMIT,
                    ..Default::default()
                });
            }
            let id = start_config(&mut cri, &pod, &pod_id, config).await;
            let st = wait_exited(&mut cri, &id).await;
            assert_eq!(
                (st.exit_code, st.reason.as_str()),
                (137, "OOMKilled"),
                "{st:?}"
            );
            assert_eq!(
                cri_log(&pod.log_dir.join("hog/0.log")),
                [("stdout".to_string(), "start".to_string())]
            );
        },
    )
    .await;
}
