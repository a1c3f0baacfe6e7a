//! The runtime handler's features as the kubelet sees them: containerd's
//! CRI plugin asks the shim (`containerd-shim-rust-v2 -info`) at start-up
//! and reports what it supports in Status' runtime_handlers. They must be
//! true: recursive read-only mounts yes (libcontainer applies `rro` with
//! mount_setattr), user namespaces no (libcontainer 0.7 has no idmapped
//! mounts). And a container with a recursive read-only mount (kubelet's
//! `recursiveReadOnly: Enabled`) gets one: a mount below the volume is read
//! only too, as with runc.

use super::*;
use k8s_cri::v1::{Mount, MountPropagation, StatusRequest};

/// containerd's (major, minor), from CONTAINERD_VERSION.
fn containerd_version() -> (u32, u32) {
    let v = env("CONTAINERD_VERSION");
    let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs a containerd with the CRI plugin: hack/test.sh runs it with --ignored and CRI_ADDRESS"]
async fn cri_handler_reports_the_features_the_shim_has() {
    let mut cri = connect().await;
    let status = cri
        .status(StatusRequest { verbose: false })
        .await
        .expect("CRI Status")
        .into_inner();
    let version = containerd_version();
    let ours = status.runtime_handlers.iter().find(|h| h.name == HANDLER);
    if version < (2, 2) {
        // 1.x's CRI lists no handlers; 2.0 and 2.1 list them without
        // features (runc's neither): nothing of the shim's is reported.
        assert!(
            status.runtime_handlers.iter().all(|h| h.features.is_none()),
            "{:?}",
            status.runtime_handlers
        );
        return;
    }
    let features = ours.and_then(|h| h.features.as_ref()).unwrap_or_else(|| {
        panic!(
            "no features for handler {HANDLER}: {:?}",
            status.runtime_handlers
        )
    });
    assert!(
        features.recursive_read_only_mounts,
        "containerd {version:?} did not learn that the shim does rro: {features:?}"
    );
    assert!(
        !features.user_namespaces,
        "the handler claims user namespaces, which need idmapped mounts: {features:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs a containerd with the CRI plugin: hack/test.sh runs it with --ignored and CRI_ADDRESS"]
async fn cri_recursive_read_only_mount_covers_the_mounts_below_it() {
    if containerd_version() < (2, 2) {
        // Before 2.2 the CRI plugin learns no handler features, so it has
        // no rro to offer (and containerd 2.1.9 went down on this request
        // in our run: the CRI connection broke, then was refused).
        return;
    }
    // A host directory with a tmpfs mounted below it: `ro` alone would
    // leave the tmpfs writable in the container, `rro` must not.
    let host = PathBuf::from(env("SHIM_TEST_DIR")).join(format!("rro-{}", std::process::id()));
    let sub = host.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&sub)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount a tmpfs on {}", sub.display());
    let host_for_pod = host.clone();
    with_pod(
        "cri-rro",
        NamespaceMode::Container,
        |mut cri, pod, pod_id| async move {
            let mut config = pod.container(
                "rro",
                "for f in /data/top /data/sub/below; do \
                   if touch $f 2>/dev/null; then echo \"wrote $f\"; else echo \"refused $f\"; fi; \
                 done",
            );
            config.mounts = vec![Mount {
                container_path: "/data".into(),
                host_path: host_for_pod.display().to_string(),
                readonly: true,
                recursive_read_only: true,
                propagation: MountPropagation::PropagationPrivate as i32,
                ..Default::default()
            }];
            let id = start_config(&mut cri, &pod, &pod_id, config).await;
            let st = wait_exited(&mut cri, &id).await;
            assert_eq!(st.exit_code, 0, "{st:?}");
            let lines: Vec<String> = cri_log(&pod.log_dir.join("rro/0.log"))
                .into_iter()
                .map(|(_, text)| text)
                .collect();
            assert_eq!(
                lines,
                ["refused /data/top", "refused /data/sub/below"],
                "a recursive read-only mount left something writable"
            );
        },
    )
    .await;
    let _ = std::process::Command::new("umount").arg(&sub).status();
    assert!(!sub.join("below").exists() && !host.join("top").exists());
    std::fs::remove_dir_all(&host).unwrap();
}
