//! A container that exits and is restarted as kubelet does it: a new
//! container of the same name with attempt 1 in the same sandbox, which the
//! pod's shim runs too, logging to <name>/1.log.

use super::*;

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs a containerd with the CRI plugin: hack/test.sh runs it with --ignored and CRI_ADDRESS"]
async fn cri_restarted_container_runs_in_the_pods_shim() {
    with_pod(
        "cri-restart",
        NamespaceMode::Container,
        |mut cri, pod, pod_id| async move {
            let address = env("CRI_ADDRESS");
            let state_dir = PathBuf::from(env("SHIM_TEST_DIR")).join("state");
            let first = start_config(
                &mut cri,
                &pod,
                &pod_id,
                pod.container("flaky", "echo attempt-0; exit 1"),
            )
            .await;
            let st = wait_exited(&mut cri, &first).await;
            assert_eq!((st.exit_code, st.reason.as_str()), (1, "Error"), "{st:?}");

            let mut config = pod.container("flaky", "echo attempt-1; sleep 3");
            config.metadata = Some(ContainerMetadata {
                name: "flaky".into(),
                attempt: 1,
            });
            config.log_path = "flaky/1.log".into();
            let second = start_config(&mut cri, &pod, &pod_id, config).await;
            assert_ne!(first, second);
            let st = status(&mut cri, &second).await;
            let meta = st.metadata.clone().unwrap_or_default();
            assert_eq!(
                (meta.name.as_str(), meta.attempt, st.state),
                ("flaky", 1, ContainerState::ContainerRunning as i32),
                "{st:?}"
            );
            // Still one shim for the pod, and the new container is its.
            let running = shims_for(&address, &[&pod_id, &first, &second]);
            assert_eq!(running.len(), 1, "shims of the pod: {running:?}");
            assert_eq!(running[0].1, pod_id);
            assert_eq!(
                bundle_address(&state_dir, &second),
                bundle_address(&state_dir, &pod_id),
                "the restarted container is served by another shim"
            );

            let st = wait_exited(&mut cri, &second).await;
            assert_eq!(
                (st.exit_code, st.reason.as_str()),
                (0, "Completed"),
                "{st:?}"
            );
            assert_eq!(
                cri_log(&pod.log_dir.join("flaky/1.log")),
                [("stdout".to_string(), "attempt-1".to_string())]
            );
            assert_eq!(
                cri_log(&pod.log_dir.join("flaky/0.log")),
                [("stdout".to_string(), "attempt-0".to_string())],
                "the first attempt's log changed"
            );
            // Both attempts listed, both exited.
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
            let attempts: BTreeSet<(String, u32)> = listed
                .iter()
                .filter_map(|c| c.metadata.as_ref())
                .map(|m| (m.name.clone(), m.attempt))
                .collect();
            assert_eq!(
                attempts,
                [("flaky".to_string(), 0), ("flaky".to_string(), 1)]
                    .into_iter()
                    .collect()
            );
        },
    )
    .await;
}
