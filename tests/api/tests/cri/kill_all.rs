//! A container without a pid namespace of its own (the pod's, shared) whose
//! init exits: the shim kills what it left behind, as runc's shim does
//! (`kill --all` when the spec's pid namespace has a path), since no pid
//! namespace ends with it to take them down.

use super::*;

/// Whether `pid` is gone (or a zombie: dead, not yet reaped by the pause).
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs a containerd with the CRI plugin: hack/test.sh runs it with --ignored and CRI_ADDRESS"]
async fn cri_exit_kills_what_the_init_left_in_a_shared_pid_namespace() {
    with_pod(
        "cri-killall",
        NamespaceMode::Pod,
        |mut cri, pod, pod_id| async move {
            // The background sleep would outlive its init: it is in the
            // pod's pid namespace, whose pid 1 (the pause) lives on.
            let id = start_config(
                &mut cri,
                &pod,
                &pod_id,
                pod.container("leaver", "sleep 1000 & sleep 2; exit 0"),
            )
            .await;
            let sleeper = wait_for(
                "the background sleep in the container's cgroup",
                Duration::from_secs(10),
                || {
                    let found = container_procs(&pod, &id).into_iter().find(|pid| {
                        std::fs::read(format!("/proc/{pid}/cmdline"))
                            .is_ok_and(|c| c == b"sleep\x001000\x00")
                    });
                    async move { found }
                },
            )
            .await;
            eprintln!("background sleep of {id}: host pid {sleeper}");

            let st = wait_exited(&mut cri, &id).await;
            assert_eq!(
                (st.exit_code, st.reason.as_str()),
                (0, "Completed"),
                "{st:?}"
            );
            wait_for(
                "the background sleep to be killed",
                Duration::from_secs(5),
                || async move { dead(sleeper).then_some(()) },
            )
            .await;
            let left = container_procs(&pod, &id);
            assert!(left.is_empty(), "processes left in {id}'s cgroup: {left:?}");
            // A pod-shared pid namespace is still up (its pause lives).
            let pause = sandbox_pid(&mut cri, &pod_id).await;
            assert!(
                !dead(pause),
                "the pause process {pause} died with the container"
            );
        },
    )
    .await;
}
