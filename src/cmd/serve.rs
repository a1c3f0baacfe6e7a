//! Serving: the long-lived shim. It owns the listening socket handed over on
//! fd 3 by `start`, reaps every child, and serves the task API (v2 for
//! containerd 1.x, the same handlers as v3 for 2.x) until Shutdown.

use std::path::Path;
use std::sync::Arc;

use containerd_shim_protos::shim_async::create_task;
use tokio::sync::Notify;

use crate::cli::Flags;
use crate::container::{Notices, Pod};
use crate::events::Publisher;
use crate::handover;
use crate::reaper::Reaper;
use crate::runtime::embedded::Embedded;
use crate::service::TaskService;
use crate::socket_file;

const TASK_V2: &str = "containerd.task.v2.Task";
const TASK_V3: &str = "containerd.task.v3.Task";
/// How long an exiting shim waits for its undelivered events.
const FLUSH_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

pub fn run(flags: &Flags) -> Result<(), String> {
    // containerd made the `log` FIFO in the bundle, our working directory.
    crate::logger::to_fifo(Path::new("log"), flags.debug);
    // A panic in a request handler ends that request (its task), not the
    // shim; it goes to containerd's log, where the default hook's stderr
    // (/dev/null here) would lose it. Locks it poisons are taken over
    // (locked.rs).
    std::panic::set_hook(Box::new(|info| log::error!("panic: {info}")));
    let listener =
        handover::take_listener().map_err(|e| format!("no listening socket from `start`: {e}"))?;
    crate::sys::cloexec_above(3);
    // The socket file `start` bound for us, removed when this is dropped.
    let bound = match &flags.socket {
        Some(path) => Some(
            socket_file::Bound::new(Path::new(path), &listener)
                .map_err(|e| format!("keep the listening socket: {e}"))?,
        ),
        None => None,
    };
    // Not dumpable: no core dump of the shim's memory, and no process
    // without CAP_SYS_PTRACE may ptrace it or read its /proc/<pid>/mem,
    // environ or fds, even one running as root (a container's init, say).
    // Children are unaffected: exec resets the flag.
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        log::warn!("prctl(PR_SET_DUMPABLE, 0): {e}");
    }
    // Paths are absolute from here on; containerd may remove this bundle.
    let _ = std::env::set_current_dir("/");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let result = runtime.block_on(serve(flags, listener, bound));
    if let Err(e) = &result {
        log::error!("{e}");
    }
    result
}

async fn serve(
    flags: &Flags,
    listener: std::os::fd::OwnedFd,
    bound: Option<socket_file::Bound>,
) -> Result<(), String> {
    let reaper = Reaper::start().map_err(|e| format!("become subreaper: {e}"))?;
    let publisher = Publisher::start(std::env::var("TTRPC_ADDRESS").ok(), flags.namespace.clone());
    let state_root = super::state_root(&flags.namespace);
    let runtime = Embedded::new(state_root.clone(), reaper.clone()).map_err(|e| e.to_string())?;
    let oom = crate::cgroup::OomWatcher::new();
    publish_oom_events(&oom, publisher.clone());
    let shutdown = Arc::new(Notify::new());
    let service = Arc::new(TaskService::new(
        Pod {
            runtime: Arc::new(runtime),
            namespace: flags.namespace.clone(),
            state_root,
            notices: Notices {
                publisher: publisher.clone(),
                reaper,
                oom: Arc::new(oom),
            },
        },
        shutdown.clone(),
    ));

    // One set of handlers under both names: v2 and v3 differ only in the
    // package name, the messages are the same on the wire.
    let mut services = create_task(service.clone());
    if let Some(v3_again) = create_task(service).remove(TASK_V3) {
        services.insert(TASK_V2.to_string(), v3_again);
    }
    let mut server = handover::ttrpc_server(listener)
        .map_err(|e| format!("adopt listening socket: {e}"))?
        .register_service(services);
    server
        .start()
        .await
        .map_err(|e| format!("start ttrpc server: {e}"))?;
    log::info!("serving the task API for namespace {}", flags.namespace);
    shutdown.notified().await;
    // The last exits and deletes go out before the shim does: containerd
    // (which just asked it to shut down, or deleted its last task) is up.
    if !publisher.flush(FLUSH_LIMIT).await {
        log::warn!("exiting with events undelivered after {FLUSH_LIMIT:?}");
    }
    // No start joins this shim once its socket file is gone.
    drop(bound);
    let _ = server.shutdown().await;
    Ok(())
}

/// Publishes /tasks/oom for each OOM the watcher reports, as it reports
/// it (so before the exit that a `settle` at the reap precedes).
fn publish_oom_events(oom: &crate::cgroup::OomWatcher, publisher: Publisher) {
    oom.on_oom(move |container_id| {
        log::info!("container {container_id}: out of memory");
        let mut ev = containerd_shim_protos::events::task::TaskOOM::new();
        ev.container_id = container_id.to_string();
        publisher.publish(&ev);
    });
}
