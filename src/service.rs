//! The task API (`containerd.task.v2.Task`, and the same handlers as v3):
//! each request is checked, routed to its container, and errors are turned
//! into the status codes containerd acts on.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use containerd_shim_protos::api::*;
use containerd_shim_protos::protobuf::well_known_types::empty::Empty;
use containerd_shim_protos::shim::oci::ProcessDetails;
use containerd_shim_protos::shim_async::Task;
use containerd_shim_protos::types::task::{ProcessInfo, Status as TaskStatus};
use tokio::sync::Notify;
use ttrpc::asynchronous::TtrpcContext;

use crate::container::{Container, Pod};
use crate::error::{Error, Result};
use crate::events::timestamp;
use crate::id;
use crate::io::StdioPaths;
use crate::locked::Locked;
use crate::process::{Process, Status};

/// How long an empty shim waits for another container (or containerd's
/// Shutdown) before it exits by itself. containerd 2.x does not call
/// Shutdown after deleting a sandboxed task.
const IDLE_EXIT: Duration = Duration::from_secs(2);

pub struct TaskService {
    pod: Pod,
    containers: Arc<Mutex<HashMap<String, Arc<Container>>>>,
    /// Ids whose Create is in flight: a second Create of one is AlreadyExists.
    creating: Arc<Mutex<HashSet<String>>>,
    shutdown: Arc<Notify>,
}

impl TaskService {
    pub fn new(pod: Pod, shutdown: Arc<Notify>) -> Self {
        TaskService {
            pod,
            containers: Arc::new(Mutex::new(HashMap::new())),
            creating: Arc::new(Mutex::new(HashSet::new())),
            shutdown,
        }
    }

    fn container(&self, id: &str) -> Result<Arc<Container>> {
        id::validate("container", id)?;
        self.containers
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("container {id} not found")))
    }

    /// The container and the process a request names (the init for an
    /// empty exec id).
    fn process_of(&self, id: &str, exec_id: &str) -> Result<(Arc<Container>, Arc<Process>)> {
        let c = self.container(id)?;
        let p = c.process(exec_id)?;
        Ok((c, p))
    }

    fn reserve(&self, id: &str) -> Result<()> {
        let containers = self.containers.locked();
        let mut creating = self.creating.locked();
        if containers.contains_key(id) || !creating.insert(id.to_string()) {
            return Err(Error::AlreadyExists(format!(
                "container {id} already exists"
            )));
        }
        Ok(())
    }

    async fn do_create(&self, req: CreateTaskRequest) -> Result<CreateTaskResponse> {
        id::validate("container", &req.id)?;
        self.reserve(&req.id)?;
        let result = Container::create(&self.pod, &req).await;
        let mut containers = self.containers.locked();
        self.creating.locked().remove(&req.id);
        let c = result?;
        log::info!("created container {} (pid {})", c.id, c.init.pid());
        let mut resp = CreateTaskResponse::new();
        resp.pid = c.init.pid();
        containers.insert(req.id.clone(), c);
        Ok(resp)
    }

    async fn do_delete(&self, req: DeleteRequest) -> Result<DeleteResponse> {
        let (c, p) = self.process_of(&req.id, &req.exec_id)?;
        if !req.exec_id.is_empty() {
            let exit = c.delete_exec(&req.exec_id).await?;
            let mut resp = DeleteResponse::new();
            resp.pid = p.pid();
            resp.exit_status = exit.status;
            resp.exited_at = Some(timestamp(exit.at)).into();
            return Ok(resp);
        }
        let exit = c.delete().await?;
        let now_empty = {
            let mut containers = self.containers.locked();
            containers.remove(&req.id);
            containers.is_empty()
        };
        log::info!("deleted container {}", req.id);
        if now_empty {
            self.exit_when_idle();
        }
        let mut resp = DeleteResponse::new();
        resp.pid = c.init.pid();
        resp.exit_status = exit.status;
        resp.exited_at = Some(timestamp(exit.at)).into();
        Ok(resp)
    }

    fn do_state(&self, req: StateRequest) -> Result<StateResponse> {
        let (c, p) = self.process_of(&req.id, &req.exec_id)?;
        let mut resp = StateResponse::new();
        resp.id = req.id.clone();
        resp.bundle = c.bundle.display().to_string();
        resp.pid = p.pid();
        resp.status = match p.status() {
            Status::Created => TaskStatus::CREATED,
            Status::Running if c.is_paused() => TaskStatus::PAUSED,
            Status::Running => TaskStatus::RUNNING,
            Status::Stopped => TaskStatus::STOPPED,
        }
        .into();
        resp.stdin = p.stdio.stdin.clone();
        resp.stdout = p.stdio.stdout.clone();
        resp.stderr = p.stdio.stderr.clone();
        resp.terminal = p.stdio.terminal;
        if let Some(exit) = p.exit() {
            resp.exit_status = exit.status;
            resp.exited_at = Some(timestamp(exit.at)).into();
        }
        resp.exec_id = req.exec_id;
        Ok(resp)
    }

    fn idle(
        containers: &Mutex<HashMap<String, Arc<Container>>>,
        creating: &Mutex<HashSet<String>>,
    ) -> bool {
        containers.locked().is_empty() && creating.locked().is_empty()
    }

    fn do_shutdown(&self) {
        if Self::idle(&self.containers, &self.creating) {
            log::info!("no container left: shutting down");
            self.shutdown.notify_one();
        }
    }

    /// Exits after IDLE_EXIT unless a container arrived meanwhile.
    fn exit_when_idle(&self) {
        let (containers, creating) = (self.containers.clone(), self.creating.clone());
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(IDLE_EXIT).await;
            if Self::idle(&containers, &creating) {
                log::info!("no container left for {IDLE_EXIT:?}: exiting");
                shutdown.notify_one();
            }
        });
    }
}

fn unsupported<T>(what: &str) -> ttrpc::Result<T> {
    Err(Error::Unimplemented(format!("{what} is not supported by this shim yet")).into())
}

#[async_trait]
impl Task for TaskService {
    async fn create(
        &self,
        _: &TtrpcContext,
        req: CreateTaskRequest,
    ) -> ttrpc::Result<CreateTaskResponse> {
        let id = req.id.clone();
        self.do_create(req).await.map_err(|e| {
            log::warn!("create {id}: {e}");
            e.into()
        })
    }

    async fn start(&self, _: &TtrpcContext, req: StartRequest) -> ttrpc::Result<StartResponse> {
        let c = self.container(&req.id)?;
        let pid = if req.exec_id.is_empty() {
            c.start().await?
        } else {
            c.start_exec(&req.exec_id).await?
        };
        let mut resp = StartResponse::new();
        resp.pid = pid;
        Ok(resp)
    }

    async fn state(&self, _: &TtrpcContext, req: StateRequest) -> ttrpc::Result<StateResponse> {
        Ok(self.do_state(req)?)
    }

    async fn wait(&self, _: &TtrpcContext, req: WaitRequest) -> ttrpc::Result<WaitResponse> {
        let (_, p) = self.process_of(&req.id, &req.exec_id)?;
        let exit = p.wait().await;
        let mut resp = WaitResponse::new();
        resp.exit_status = exit.status;
        resp.exited_at = Some(timestamp(exit.at)).into();
        Ok(resp)
    }

    async fn kill(&self, _: &TtrpcContext, req: KillRequest) -> ttrpc::Result<Empty> {
        let c = self.container(&req.id)?;
        c.kill(&req.exec_id, req.signal, req.all).await?;
        Ok(Empty::new())
    }

    async fn delete(&self, _: &TtrpcContext, req: DeleteRequest) -> ttrpc::Result<DeleteResponse> {
        Ok(self.do_delete(req).await?)
    }

    async fn pids(&self, _: &TtrpcContext, req: PidsRequest) -> ttrpc::Result<PidsResponse> {
        let c = self.container(&req.id)?;
        let mut resp = PidsResponse::new();
        resp.processes = c
            .pids()
            .await?
            .into_iter()
            .map(|pid| {
                let mut info = ProcessInfo::new();
                info.pid = pid;
                if let Some(exec_id) = c.exec_id_of(pid) {
                    let mut details = ProcessDetails::new();
                    details.exec_id = exec_id;
                    info.info = Some(crate::events::to_any(&details)).into();
                }
                info
            })
            .collect();
        Ok(resp)
    }

    async fn close_io(&self, _: &TtrpcContext, req: CloseIORequest) -> ttrpc::Result<Empty> {
        let (_, p) = self.process_of(&req.id, &req.exec_id)?;
        if req.stdin {
            p.close_stdin();
        }
        Ok(Empty::new())
    }

    async fn connect(
        &self,
        _: &TtrpcContext,
        req: ConnectRequest,
    ) -> ttrpc::Result<ConnectResponse> {
        let mut resp = ConnectResponse::new();
        resp.shim_pid = std::process::id();
        if let Ok(c) = self.container(&req.id) {
            resp.task_pid = c.init.pid();
        }
        resp.version = env!("CARGO_PKG_VERSION").to_string();
        Ok(resp)
    }

    async fn shutdown(&self, _: &TtrpcContext, _: ShutdownRequest) -> ttrpc::Result<Empty> {
        self.do_shutdown();
        Ok(Empty::new())
    }

    async fn exec(&self, _: &TtrpcContext, req: ExecProcessRequest) -> ttrpc::Result<Empty> {
        let c = self.container(&req.id)?;
        let stdio = StdioPaths::new(&req.stdin, &req.stdout, &req.stderr, req.terminal);
        c.add_exec(&req.exec_id, stdio, req.spec.as_ref())?;
        Ok(Empty::new())
    }

    async fn resize_pty(&self, _: &TtrpcContext, req: ResizePtyRequest) -> ttrpc::Result<Empty> {
        let (_, p) = self.process_of(&req.id, &req.exec_id)?;
        p.resize(req.width, req.height)?;
        Ok(Empty::new())
    }

    async fn pause(&self, _: &TtrpcContext, req: PauseRequest) -> ttrpc::Result<Empty> {
        self.container(&req.id)?.pause().await?;
        Ok(Empty::new())
    }

    async fn resume(&self, _: &TtrpcContext, req: ResumeRequest) -> ttrpc::Result<Empty> {
        self.container(&req.id)?.resume().await?;
        Ok(Empty::new())
    }

    async fn update(&self, _: &TtrpcContext, req: UpdateTaskRequest) -> ttrpc::Result<Empty> {
        self.container(&req.id)?
            .update(req.resources.as_ref())
            .await?;
        Ok(Empty::new())
    }

    async fn stats(&self, _: &TtrpcContext, req: StatsRequest) -> ttrpc::Result<StatsResponse> {
        let mut resp = StatsResponse::new();
        resp.stats = Some(self.container(&req.id)?.stats().await?).into();
        Ok(resp)
    }

    async fn checkpoint(&self, _: &TtrpcContext, _: CheckpointTaskRequest) -> ttrpc::Result<Empty> {
        unsupported("checkpoint (CRIU)")
    }
}
