//! A container as the shim holds it: its bundle and rootfs, its init process,
//! and the lifecycle steps Create, Start, Kill and Delete that go through the
//! runtime backend and come back out as events.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use containerd_shim_protos::api::CreateTaskRequest;
use containerd_shim_protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;
use std::collections::HashMap;
use std::sync::Mutex;

use crate::cgroup::{self, Driver};
use crate::error::{Error, IoContext, Result};
use crate::events::{timestamp, Publisher};
use crate::io::{ProcessIo, StdioPaths};
use crate::locked::Locked;
use crate::mount;
use crate::options;
use crate::process::{ExitEvent, Process, Status};
use crate::reaper::{Exit, Reaper};
use crate::runtime::runc::Runc;
use crate::runtime::{CreateOpts, ExecOpts, Runtime};

/// How long an exit is held back for the process's output to drain.
const EXIT_IO_LIMIT: Duration = Duration::from_secs(2);
/// How long Delete waits for the last output to reach containerd.
const IO_DRAIN_LIMIT: Duration = Duration::from_secs(5);
/// How long Delete of a created container waits for its killed init.
const KILL_WAIT_LIMIT: Duration = Duration::from_secs(10);
/// How long an Exec keeps the cgroup migration path warm for its Start.
const EXEC_TO_START: Duration = Duration::from_millis(50);

/// Where the containers of the shim report: the reaper their processes'
/// exits come from, the publisher their events go to, the OOM watcher of
/// their cgroups. One of each per shim; every container holds a handle.
#[derive(Clone)]
pub struct Notices {
    pub publisher: Publisher,
    pub reaper: Reaper,
    pub oom: Arc<crate::cgroup::OomWatcher>,
}

/// What a Create takes from the shim it runs in: the embedded runtime (the
/// backend unless the options name a binary), the namespace, the runtime's
/// state root for it, and the notices the new container will report through.
pub struct Pod {
    pub runtime: Arc<dyn Runtime>,
    pub namespace: String,
    pub state_root: PathBuf,
    pub notices: Notices,
}

impl Pod {
    /// Where the console sockets of its containers' processes go.
    fn console_dir(&self) -> PathBuf {
        self.state_root.join(".console")
    }
}

/// An exec process and its OCI process spec (JSON).
type ExecEntry = (Arc<Process>, Vec<u8>);

pub struct Container {
    pub id: String,
    pub bundle: PathBuf,
    /// `<bundle>/rootfs` when the shim mounted it.
    rootfs_mount: Option<PathBuf>,
    cgroups_path: String,
    /// A copy of the bundle config with a cgroups path, when the spec had none.
    private_bundle: Option<PathBuf>,
    pub init: Arc<Process>,
    /// Exec processes by exec id, with their OCI process spec (JSON).
    execs: Mutex<HashMap<String, ExecEntry>>,
    /// The OCI runtime this container runs on: the shared embedded one, or
    /// the external binary its runtime options name.
    runtime: Arc<dyn Runtime>,
    /// Owner of the stdio pipes (IoUid/IoGid), for execs too.
    io_ids: (u32, u32),
    /// Where Pause and Resume (the cgroup freezer) have the container.
    freezer: Mutex<Freezer>,
    /// Where its exits come from and its events go.
    notices: Notices,
    /// Its namespace, and the directory of its processes' console sockets,
    /// for the stdio of its execs.
    namespace: String,
    console_dir: PathBuf,
    /// No pid namespace of its own: its processes outlive the init unless
    /// the shim kills them (see `kills_all_on_exit`).
    kill_all_on_exit: bool,
    /// Its cgroup is a systemd scope, which systemd removes as soon as the
    /// last process in it is gone.
    systemd_scope: bool,
    /// The scope's stats read when the init was reaped, for Stats after
    /// systemd has removed it.
    exit_stats: Mutex<Option<Any>>,
    /// Its execs run the cgroup migration primer (the runtime options'
    /// CgroupPrimer).
    primer: bool,
}

/// Pause and Resume: each a transition of the container's cgroup freezer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freezer {
    Thawed,
    Freezing,
    Frozen,
    Thawing,
}

/// The type URL containerd gives an exec's process spec.
pub const PROCESS_SPEC_TYPE: &str = "types.containerd.io/opencontainers/runtime-spec/1/Process";

/// Checks an exec's process spec (JSON in an Any) and returns the JSON the
/// runtime gets: its `terminal` is the request's, as containerd-shim-runc-v2
/// sets it (containerd's Go client may send `terminal = true` with a spec
/// that says false: `ctr task exec -t`, `cio.WithTerminal`).
pub fn parse_exec_spec(spec: Option<&Any>, terminal: bool) -> Result<Vec<u8>> {
    let any = spec.ok_or_else(|| Error::InvalidArgument("exec has no process spec".into()))?;
    if any.type_url != PROCESS_SPEC_TYPE {
        return Err(Error::InvalidArgument(format!(
            "exec process spec has type {:?}, expected {PROCESS_SPEC_TYPE}",
            any.type_url
        )));
    }
    let process: oci_spec::runtime::Process = serde_json::from_slice(&any.value).map_err(|e| {
        Error::InvalidArgument(format!("exec process spec is not a valid OCI process: {e}"))
    })?;
    if process
        .args()
        .as_ref()
        .is_none_or(|a| a.is_empty() || a[0].is_empty())
    {
        return Err(Error::InvalidArgument(
            "exec process args must name a command".into(),
        ));
    }
    // The shim opens a pty (and a console socket) for the request's flag:
    // the runtime must make the same choice.
    if process.terminal().unwrap_or(false) == terminal {
        return Ok(any.value.clone());
    }
    let mut value: serde_json::Value = serde_json::from_slice(&any.value)
        .map_err(|e| Error::InvalidArgument(format!("exec process spec: {e}")))?;
    value["terminal"] = terminal.into();
    serde_json::to_vec(&value).map_err(|e| Error::caused("encode exec process spec", e))
}

/// Undoes the steps of a Create that failed half-way.
#[derive(Default)]
struct Rollback {
    rootfs_mount: Option<PathBuf>,
    private_bundle: Option<PathBuf>,
    /// The runtime was asked to create the container: its state may exist.
    runtime_state: bool,
}

impl Rollback {
    fn run(self) {
        if let Some(p) = self.rootfs_mount {
            mount::unmount_all(&p);
        }
        if let Some(p) = self.private_bundle {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

fn load_spec(bundle: &Path) -> Result<Spec> {
    if !bundle.is_absolute() {
        return Err(Error::InvalidArgument(format!(
            "bundle path {:?} is not absolute",
            bundle.display()
        )));
    }
    if !bundle.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "bundle {} does not exist",
            bundle.display()
        )));
    }
    let path = bundle.join("config.json");
    // An unreadable config.json is the request's fault as much as a bad one.
    let text = std::fs::read(&path)
        .map_err(|e| Error::InvalidArgument(format!("read {}: {e}", path.display())))?;
    parse_spec(&text)
        .map_err(|e| Error::InvalidArgument(format!("invalid {}: {e}", path.display())))
}

/// A bundle's config.json: an OCI runtime spec whose process names a
/// command. The error names what is wrong.
pub fn parse_spec(text: &[u8]) -> std::result::Result<Spec, String> {
    let spec: Spec = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    let args = spec.process().as_ref().and_then(|p| p.args().as_ref());
    if args.is_none_or(|a| a.is_empty() || a[0].is_empty()) {
        return Err("process.args must name a command".into());
    }
    Ok(spec)
}

/// The root filesystem the spec names, relative paths against the bundle.
fn root_path(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::InvalidArgument("config.json has no root".into()))?;
    Ok(bundle.join(root.path()))
}

/// The spec with a cgroups path, when it names none: libcontainer would
/// otherwise put the container in a default cgroup of its own. The copy keeps
/// the rootfs of the real bundle. None when the spec is complete.
fn complete_spec(
    spec: &Spec,
    bundle: &Path,
    namespace: &str,
    id: &str,
    terminal: bool,
    systemd: bool,
) -> Result<Option<Spec>> {
    let has_cgroups_path = spec_cgroups_path(spec).is_some();
    let spec_terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let propagation = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(libcontainer_propagation);
    if has_cgroups_path && spec_terminal == terminal && propagation.is_none() {
        return Ok(None);
    }
    let mut amended = spec.clone();
    let mut linux = amended.linux().clone().unwrap_or_default();
    if let Some(word) = propagation {
        linux.set_rootfs_propagation(Some(word.to_string()));
    }
    if !has_cgroups_path {
        linux.set_cgroups_path(Some(PathBuf::from(default_cgroups_path(
            namespace, id, systemd,
        ))));
    }
    amended.set_linux(Some(linux));
    // The request's terminal flag decides, as for an exec (the shim opens
    // the pty for it).
    if spec_terminal != terminal {
        if let Some(mut process) = amended.process().clone() {
            process.set_terminal(Some(terminal));
            amended.set_process(Some(process));
        }
    }
    let mut root = amended.root().clone().unwrap_or_default();
    root.set_path(root_path(spec, bundle)?);
    amended.set_root(Some(root));
    Ok(Some(amended))
}

/// The cgroups path a spec without one gets: `/<namespace>/<id>`, as
/// containerd's default spec has it, or for the systemd driver the scope
/// `<namespace>-<id>.scope` in `system.slice`.
fn default_cgroups_path(namespace: &str, id: &str, systemd: bool) -> String {
    if systemd {
        format!("system.slice:{namespace}:{id}")
    } else {
        format!("/{namespace}/{id}")
    }
}

/// Which driver makes the container's cgroup and where it will be. The
/// embedded runtime takes systemd's for `SystemdCgroup = true` and for a
/// `slice:prefix:name` path (what containerd's CRI plugin sends when the
/// kubelet's cgroup parent is a slice, whatever the handler's options), and
/// refuses it where systemd does not run (FailedPrecondition naming both),
/// never making a cgroupfs directory with colons in its name. An external
/// runtime takes systemd's only with `SystemdCgroup`, as runc does.
fn cgroup_location(
    spec_path: &str,
    systemd_cgroup: bool,
    embedded: bool,
    systemd_running: &Path,
) -> Result<(Driver, String)> {
    let driver = if embedded {
        cgroup::driver_for(spec_path, systemd_cgroup)
    } else if systemd_cgroup {
        Driver::Systemd
    } else {
        Driver::Cgroupfs
    };
    if driver == Driver::Systemd && embedded && !systemd_running.is_dir() {
        return Err(Error::FailedPrecondition(format!(
            "cgroupsPath {spec_path:?} needs the systemd cgroup driver, and systemd does not \
             run on this host ({} does not exist): give the container a cgroupfs path (the \
             kubelet's cgroupDriver: cgroupfs) and leave SystemdCgroup unset",
            systemd_running.display()
        )));
    }
    Ok((driver, cgroup::resolve(spec_path, driver)?))
}

/// `linux.rootfsPropagation` as libcontainer reads it, where the spec's
/// word differs: the spec (and runc) take `rshared`, `rslave`, `rprivate`
/// and `runbindable`, which containerd's CRI plugin sends for Kubernetes'
/// `mountPropagation: Bidirectional` and `HostToContainer`; libcontainer
/// knows only the plain words and refuses the others ("failed to prepare
/// rootfs"). It applies them to the whole tree anyway (MS_REC), so the
/// plain word means the same.
fn libcontainer_propagation(word: &str) -> Option<&'static str> {
    match word {
        "rshared" => Some("shared"),
        "rslave" => Some("slave"),
        "rprivate" => Some("private"),
        "runbindable" => Some("unbindable"),
        _ => None,
    }
}

/// The bundle the runtime reads: the real one, or a private copy of the
/// config completed by `complete_spec`; with the spec's cgroups path.
fn runtime_bundle(
    spec: &Spec,
    bundle: &Path,
    pod: &Pod,
    id: &str,
    terminal: bool,
    systemd: bool,
) -> Result<(PathBuf, String, Option<PathBuf>)> {
    let completed = complete_spec(spec, bundle, &pod.namespace, id, terminal, systemd)?;
    let used = completed.as_ref().unwrap_or(spec);
    let cgroups_path = spec_cgroups_path(used).unwrap_or_default();
    let Some(completed) = completed else {
        return Ok((bundle.to_path_buf(), cgroups_path, None));
    };
    let dir = pod.state_root.join(".bundles").join(id);
    std::fs::create_dir_all(&dir).io_context(|| format!("create {}", dir.display()))?;
    completed
        .save(dir.join("config.json"))
        .map_err(|e| Error::caused(format!("write {}/config.json", dir.display()), e))?;
    Ok((dir.clone(), cgroups_path, Some(dir)))
}

/// The spec's `linux.cgroupsPath`, if it has one.
fn spec_cgroups_path(spec: &Spec) -> Option<String> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.display().to_string())
}

impl Container {
    pub async fn create(pod: &Pod, req: &CreateTaskRequest) -> Result<Arc<Container>> {
        let id = req.id.clone();
        let bundle = PathBuf::from(&req.bundle);
        let spec = load_spec(&bundle)?;
        let opts = options::ShimOptions::decode(req.options.as_ref())?;
        let runtime: Arc<dyn Runtime> = match &opts.binary_name {
            Some(_) => {
                let runc = Runc::new(&opts, &pod.namespace, pod.notices.reaper.clone())?;
                runc.record_in(&bundle)?;
                Arc::new(runc)
            }
            None => pod.runtime.clone(),
        };
        if !req.checkpoint.is_empty() {
            return Err(Error::Unimplemented(
                "restoring from a checkpoint is not supported (no CRIU)".into(),
            ));
        }
        let mut undo = Rollback::default();
        // The runtime joins the new cgroup during these steps.
        let primed = opts
            .primer()
            .then(|| cgroup::keep_primed(&format!("create {id}")));
        let result = Self::create_steps(pod, &*runtime, req, &spec, &opts, &mut undo).await;
        drop(primed);
        match result {
            Ok((pid, io, rootfs_mount, (driver, cgroups_path))) => {
                let stdio = stdio_paths(req);
                let container = Arc::new(Container {
                    id: id.clone(),
                    bundle,
                    rootfs_mount,
                    cgroups_path,
                    private_bundle: undo.private_bundle.take(),
                    init: Arc::new(Process::new(id, pid, stdio, io)),
                    execs: Mutex::new(HashMap::new()),
                    runtime,
                    io_ids: (opts.io_uid, opts.io_gid),
                    freezer: Mutex::new(Freezer::Thawed),
                    notices: pod.notices.clone(),
                    namespace: pod.namespace.clone(),
                    console_dir: pod.console_dir(),
                    kill_all_on_exit: kills_all_on_exit(&spec),
                    systemd_scope: driver == Driver::Systemd,
                    exit_stats: Mutex::new(None),
                    primer: opts.primer(),
                });
                container.watch_init();
                container
                    .notices
                    .publisher
                    .publish(&container.create_event(req));
                Ok(container)
            }
            Err(e) => {
                if undo.runtime_state {
                    if let Err(de) = runtime.delete(&id, true).await {
                        log::warn!("clean up after failed create of {id}: {de}");
                    }
                }
                let _ = tokio::task::spawn_blocking(move || undo.run()).await;
                Err(e)
            }
        }
    }

    async fn create_steps(
        pod: &Pod,
        runtime: &dyn Runtime,
        req: &CreateTaskRequest,
        spec: &Spec,
        opts: &options::ShimOptions,
        undo: &mut Rollback,
    ) -> Result<(u32, ProcessIo, Option<PathBuf>, (Driver, String))> {
        let bundle = Path::new(&req.bundle);
        let rootfs_mount = if req.rootfs.is_empty() {
            None
        } else {
            let target = bundle.join("rootfs");
            // Off the serving thread: an overlay mount of many layers takes
            // a while, and every container of the pod waits behind it.
            let (mounts, at) = (req.rootfs.clone(), target.clone());
            crate::runtime::blocking(move || mount::mount_rootfs(&mounts, &at)).await?;
            undo.rootfs_mount = Some(target.clone());
            Some(target)
        };
        let root = root_path(spec, bundle)?;
        if !root.is_dir() {
            return Err(Error::InvalidArgument(format!(
                "rootfs {} does not exist",
                root.display()
            )));
        }
        let (runtime_bundle, spec_path, private) = runtime_bundle(
            spec,
            bundle,
            pod,
            &req.id,
            req.terminal,
            opts.systemd_cgroup,
        )?;
        undo.private_bundle = private;
        let (driver, cgroups_path) = cgroup_location(
            &spec_path,
            opts.systemd_cgroup,
            opts.binary_name.is_none(),
            Path::new(options::SYSTEMD_RUNNING),
        )?;
        let console_dir = pod.console_dir();
        let owner = io_owner(
            &pod.namespace,
            &pod.notices.reaper,
            &req.id,
            &console_dir,
            (opts.io_uid, opts.io_gid),
        );
        let (mut io, stdio) = ProcessIo::open(&stdio_paths(req), &owner).await?;
        undo.runtime_state = true;
        let pid = runtime
            .create(CreateOpts {
                id: req.id.clone(),
                bundle: runtime_bundle,
                pid_file: bundle.join("init.pid"),
                no_pivot_root: opts.no_pivot_root,
                systemd: (driver == Driver::Systemd).then(|| spec_path.clone()),
                stdio,
            })
            .await?;
        io.attach_console(console_size(spec.process().as_ref()))
            .await?;
        Ok((pid, io, rootfs_mount, (driver, cgroups_path)))
    }

    fn create_event(&self, req: &CreateTaskRequest) -> TaskCreate {
        let mut io = TaskIO::new();
        io.stdin = req.stdin.clone();
        io.stdout = req.stdout.clone();
        io.stderr = req.stderr.clone();
        io.terminal = req.terminal;
        let mut ev = TaskCreate::new();
        ev.container_id = self.id.clone();
        ev.bundle = req.bundle.clone();
        ev.rootfs = req.rootfs.clone();
        ev.io = Some(io).into();
        ev.checkpoint = req.checkpoint.clone();
        ev.pid = self.init.pid();
        ev
    }

    /// Routes the init's exit from the reaper into its state and an event.
    fn watch_init(self: &Arc<Self>) {
        let exited = self.notices.reaper.subscribe(self.init.pid() as i32);
        let this = Arc::clone(self);
        let publisher = self.notices.publisher.clone();
        let oom = self.notices.oom.clone();
        tokio::spawn(async move {
            if let Ok(exit) = exited.await {
                log::debug!("container {} init exited with {}", this.id, exit.status);
                // An OOM kill the cgroup's notice has not reported yet goes
                // out now, ahead of the exit (Kubernetes' OOMKilled).
                oom.settle(&this.id);
                if this.systemd_scope {
                    match this.runtime.stats(&this.id, &this.cgroups_path).await {
                        Ok(m) => *this.exit_stats.lock().unwrap() = Some(m),
                        Err(e) => log::debug!("stats of {} at its exit: {e}", this.id),
                    }
                }
                this.init.mark_reaped(exit);
                if this.kill_all_on_exit {
                    let path = this.cgroups_path.clone();
                    let _ = tokio::task::spawn_blocking(move || kill_remaining(&path)).await;
                }
                // Report the exit once its output is out (see io.rs), and
                // after the exits of its execs (they die with the init of
                // their pid namespace).
                crate::io::wait_drained(this.init.io_drained(), EXIT_IO_LIMIT).await;
                let running: Vec<Arc<Process>> = this
                    .execs
                    .lock()
                    .unwrap()
                    .values()
                    .map(|(p, _)| p.clone())
                    .filter(|p| p.status() == Status::Running)
                    .collect();
                for p in running {
                    let _ = tokio::time::timeout(EXIT_IO_LIMIT, p.wait()).await;
                }
                if let ExitEvent::Now(exit) = this.init.set_exited(exit) {
                    publisher.publish(&this.exit_event(&this.init, exit));
                }
            }
        });
    }

    fn exit_event(&self, p: &Process, exit: Exit) -> TaskExit {
        exit_event(&self.id, p, exit)
    }

    pub async fn start(&self) -> Result<u32> {
        let pid = self.init.begin_start()?;
        let result = self.runtime.start(&self.id).await;
        let held_exit = self.init.end_start(result.is_ok());
        if result.is_ok() {
            // OOM events from now on (as containerd-shim-runc-v2 does).
            if let Err(e) = self.notices.oom.watch(self.id.clone(), &self.cgroups_path) {
                log::warn!("no OOM events for {}: {e}", self.id);
            }
            let mut ev = TaskStart::new();
            ev.container_id = self.id.clone();
            ev.pid = pid;
            self.notices.publisher.publish(&ev);
        }
        if let Some(exit) = held_exit {
            self.notices
                .publisher
                .publish(&self.exit_event(&self.init, exit));
        }
        result.map(|_| pid)
    }

    /// The process an exec id names: the init for an empty one.
    pub fn process(&self, exec_id: &str) -> Result<Arc<Process>> {
        if exec_id.is_empty() {
            return Ok(self.init.clone());
        }
        self.execs
            .lock()
            .unwrap()
            .get(exec_id)
            .map(|(p, _)| p.clone())
            .ok_or_else(|| {
                Error::NotFound(format!("exec {exec_id} not found in container {}", self.id))
            })
    }

    /// The exec id of the exec process with `pid`, if any.
    pub fn exec_id_of(&self, pid: u32) -> Option<String> {
        self.execs
            .lock()
            .unwrap()
            .iter()
            .find(|(_, (p, _))| p.pid() == pid && pid != 0)
            .map(|(id, _)| id.clone())
    }

    /// Registers an exec (it runs at its Start); publishes /tasks/exec-added.
    pub fn add_exec(&self, exec_id: &str, stdio: StdioPaths, spec: Option<&Any>) -> Result<()> {
        crate::id::validate("exec", exec_id)?;
        if self.is_paused() {
            return Err(Error::FailedPrecondition(format!(
                "cannot exec in container {}: it is paused",
                self.id
            )));
        }
        match self.init.status() {
            Status::Running => {}
            other => {
                return Err(Error::FailedPrecondition(format!(
                    "cannot exec in container {}: it is {}",
                    self.id,
                    status_word(other)
                )))
            }
        }
        let json = parse_exec_spec(spec, stdio.terminal)?;
        {
            let mut execs = self.execs.locked();
            if execs.contains_key(exec_id) {
                return Err(Error::AlreadyExists(format!(
                    "exec {exec_id} already exists in container {}",
                    self.id
                )));
            }
            let process = Process::new(exec_id.to_string(), 0, stdio, ProcessIo::default());
            execs.insert(exec_id.to_string(), (Arc::new(process), json));
        }
        if self.primer {
            // Its Start, which joins the container's cgroup, follows at
            // once: start the kernel's wait for that now.
            cgroup::prime_for(EXEC_TO_START, &format!("exec {}/{exec_id}", self.id));
        }
        let mut ev = TaskExecAdded::new();
        ev.container_id = self.id.clone();
        ev.exec_id = exec_id.to_string();
        self.notices.publisher.publish(&ev);
        Ok(())
    }

    /// Starts a registered exec; publishes /tasks/exec-started.
    pub async fn start_exec(&self, exec_id: &str) -> Result<u32> {
        let (p, json) = {
            let execs = self.execs.locked();
            let (p, json) = execs.get(exec_id).ok_or_else(|| {
                Error::NotFound(format!("exec {exec_id} not found in container {}", self.id))
            })?;
            (p.clone(), json.clone())
        };
        p.begin_start()?;
        if self.init.status() != Status::Running {
            p.end_start(false);
            return Err(Error::FailedPrecondition(format!(
                "cannot start exec {exec_id}: container {} is no longer running",
                self.id
            )));
        }
        let exec_spec: Option<oci_spec::runtime::Process> = serde_json::from_slice(&json).ok();
        // The exec joins the container's cgroup during this.
        let primed = self
            .primer
            .then(|| cgroup::keep_primed(&format!("start of exec {}/{exec_id}", self.id)));
        let started = async {
            let owner = io_owner(
                &self.namespace,
                &self.notices.reaper,
                &self.id,
                &self.console_dir,
                self.io_ids,
            );
            let (mut io, stdio) = ProcessIo::open(&p.stdio, &owner).await?;
            let pid = self
                .runtime
                .exec(ExecOpts {
                    id: self.id.clone(),
                    exec_id: exec_id.to_string(),
                    process_json: json,
                    stdio,
                })
                .await?;
            io.attach_console(console_size(exec_spec.as_ref())).await?;
            Ok::<_, Error>((io, pid))
        }
        .await;
        drop(primed);
        let (io, pid) = match started {
            Ok(v) => v,
            Err(e) => {
                p.fail_start();
                return Err(e);
            }
        };
        p.set_pid(pid);
        p.set_io(io);
        let exited = self.notices.reaper.subscribe(pid as i32);
        let held = p.end_start(true);
        let mut ev = TaskExecStarted::new();
        ev.container_id = self.id.clone();
        ev.exec_id = exec_id.to_string();
        ev.pid = pid;
        self.notices.publisher.publish(&ev);
        if let Some(exit) = held {
            self.notices.publisher.publish(&self.exit_event(&p, exit));
        }
        let (container_id, publisher) = (self.id.clone(), self.notices.publisher.clone());
        tokio::spawn(async move {
            if let Ok(exit) = exited.await {
                p.mark_reaped(exit);
                crate::io::wait_drained(p.io_drained(), EXIT_IO_LIMIT).await;
                if let ExitEvent::Now(exit) = p.set_exited(exit) {
                    publisher.publish(&exit_event(&container_id, &p, exit));
                }
            }
        });
        Ok(pid)
    }

    /// Deletes a created or stopped exec.
    pub async fn delete_exec(&self, exec_id: &str) -> Result<Exit> {
        let p = self.process(exec_id)?;
        p.begin_delete()?;
        let exit = match p.exit() {
            Some(exit) => exit,
            // Never started: nothing ran, nothing to wait for.
            None => Exit {
                status: 0,
                at: std::time::SystemTime::now(),
            },
        };
        p.take_io().finish(IO_DRAIN_LIMIT).await;
        self.execs.locked().remove(exec_id);
        Ok(exit)
    }

    /// Signals a process, or with `all` every process in the container's cgroup.
    pub async fn kill(&self, exec_id: &str, signal: u32, all: bool) -> Result<()> {
        let process = self.process(exec_id)?;
        let pid = process.signal_target()?;
        let target = crate::runtime::KillTarget {
            pid,
            name: &process.id,
            init: exec_id.is_empty(),
            signal,
            all,
            cgroups_path: &self.cgroups_path,
        };
        self.runtime.kill(&self.id, target).await
    }

    /// The pids in the container (its cgroup), at least the init while it runs.
    pub async fn pids(&self) -> Result<Vec<u32>> {
        let mut pids = self.runtime.ps(&self.id, &self.cgroups_path).await?;
        if pids.is_empty() && self.init.status() != Status::Stopped {
            pids.push(self.init.pid());
        }
        Ok(pids)
    }

    /// Paused, or on its way into or out of it.
    pub fn is_paused(&self) -> bool {
        *self.freezer.locked() != Freezer::Thawed
    }

    /// Moves the freezer state from `from` to `to`, or says why not.
    fn freezer_step(&self, from: Freezer, to: Freezer) -> Result<()> {
        let mut f = self.freezer.locked();
        if *f != from {
            return Err(Error::FailedPrecondition(match (*f, from) {
                (Freezer::Frozen, Freezer::Thawed) => {
                    format!("container {} is already paused", self.id)
                }
                (Freezer::Thawed, _) => {
                    format!("cannot resume container {}: it is not paused", self.id)
                }
                _ => format!("container {} is being paused or resumed", self.id),
            }));
        }
        *f = to;
        Ok(())
    }

    /// Fails with FailedPrecondition unless the init is running.
    fn require_running(&self, what: &str) -> Result<()> {
        match self.init.status() {
            Status::Running => Ok(()),
            other => Err(Error::FailedPrecondition(format!(
                "cannot {what} container {}: it is {}",
                self.id,
                status_word(other)
            ))),
        }
    }

    /// Freezes every process of the running container; publishes /tasks/paused.
    pub async fn pause(&self) -> Result<()> {
        self.require_running("pause")?;
        self.freeze(true).await
    }

    /// Thaws a paused container; publishes /tasks/resumed.
    pub async fn resume(&self) -> Result<()> {
        self.freeze(false).await
    }

    /// Pause (`freeze`) or resume: the freezer moves through its transient
    /// state, lands on the new one or back on the old, and the event follows
    /// a success.
    async fn freeze(&self, freeze: bool) -> Result<()> {
        let (from, via, to) = if freeze {
            (Freezer::Thawed, Freezer::Freezing, Freezer::Frozen)
        } else {
            (Freezer::Frozen, Freezer::Thawing, Freezer::Thawed)
        };
        self.freezer_step(from, via)?;
        let done = if freeze {
            self.runtime.pause(&self.id, &self.cgroups_path).await
        } else {
            self.runtime.resume(&self.id, &self.cgroups_path).await
        };
        *self.freezer.locked() = if done.is_ok() { to } else { from };
        done?;
        if freeze {
            let mut ev = TaskPaused::new();
            ev.container_id = self.id.clone();
            self.notices.publisher.publish(&ev);
        } else {
            let mut ev = TaskResumed::new();
            ev.container_id = self.id.clone();
            self.notices.publisher.publish(&ev);
        }
        Ok(())
    }

    /// Applies new resource limits (an Any holding OCI LinuxResources JSON).
    pub async fn update(&self, resources: Option<&Any>) -> Result<()> {
        let any = resources
            .ok_or_else(|| Error::InvalidArgument("update carries no resources".into()))?;
        let resources = cgroup::parse_resources(any)?;
        match self.init.status() {
            Status::Stopped => Err(Error::FailedPrecondition(format!(
                "cannot update container {}: it is stopped",
                self.id
            ))),
            _ => {
                self.runtime
                    .update(&self.id, &self.cgroups_path, &resources)
                    .await
            }
        }
    }

    /// The container's cgroup metrics (v1 or v2 Metrics in an Any). A
    /// stopped container keeps its cgroup until it is deleted, and its stats
    /// with it, as containerd-shim-runc-v2 answers them: containerd 2.2+
    /// reads them after every exit to check for an OOM kill.
    /// A systemd scope is gone once its processes are: its stats are then
    /// the ones read at the init's exit.
    pub async fn stats(&self) -> Result<Any> {
        match self.runtime.stats(&self.id, &self.cgroups_path).await {
            Err(e) if self.init.status() == Status::Stopped => {
                self.exit_stats.lock().unwrap().clone().ok_or(e)
            }
            other => other,
        }
    }

    /// Deletes a created or stopped container: its output is drained, its
    /// runtime state and cgroup removed, its rootfs unmounted.
    pub async fn delete(&self) -> Result<Exit> {
        if self.init.begin_delete()? == Status::Created {
            let _ = kill(Pid::from_raw(self.init.pid() as i32), Signal::SIGKILL);
        }
        let exit = match tokio::time::timeout(KILL_WAIT_LIMIT, self.init.wait()).await {
            Ok(exit) => exit,
            Err(_) => {
                self.init.abort_delete();
                return Err(Error::Other(format!(
                    "init of {} did not exit within {KILL_WAIT_LIMIT:?} of SIGKILL",
                    self.id
                )));
            }
        };
        self.init.take_io().finish(IO_DRAIN_LIMIT).await;
        let execs: Vec<Arc<Process>> = self
            .execs
            .lock()
            .unwrap()
            .drain()
            .map(|(_, (p, _))| p)
            .collect();
        for p in execs {
            p.take_io().finish(IO_DRAIN_LIMIT).await;
        }
        self.notices.oom.unwatch(&self.id);
        if let Err(e) = self.runtime.delete(&self.id, true).await {
            self.init.abort_delete();
            return Err(e);
        }
        let (mounted, private) = (self.rootfs_mount.clone(), self.private_bundle.clone());
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(p) = &mounted {
                mount::unmount_all(p);
            }
            if let Some(p) = &private {
                let _ = std::fs::remove_dir_all(p);
            }
        })
        .await;
        let mut ev = TaskDelete::new();
        ev.container_id = self.id.clone();
        ev.id = self.init.id.clone();
        ev.pid = self.init.pid();
        ev.exit_status = exit.status;
        ev.exited_at = Some(timestamp(exit.at)).into();
        self.notices.publisher.publish(&ev);
        Ok(exit)
    }
}

/// Whether the container's processes must die with its init, as
/// containerd-shim-runc-v2 decides (`shouldKillAllOnExit`): unless the spec
/// gives it a pid namespace of its own (a pid entry without a path), its
/// processes live in a namespace (the pod's, the host's) that outlives the
/// init, and nothing else would end them.
fn kills_all_on_exit(spec: &Spec) -> bool {
    let own_pid_ns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|nss| {
            nss.iter().any(|ns| {
                ns.typ() == oci_spec::runtime::LinuxNamespaceType::Pid
                    && ns.path().as_ref().is_none_or(|p| p.as_os_str().is_empty())
            })
        });
    !own_pid_ns
}

/// SIGKILLs every process left in the cgroup at `cgroups_path` after its
/// init exited (runc's `kill --all`), frozen meanwhile so that none forks
/// past the list; blocks while freezing, so run it off the async threads.
fn kill_remaining(cgroups_path: &str) {
    if cgroup::procs(cgroups_path).is_empty() {
        return;
    }
    let frozen = cgroup::freeze(cgroups_path);
    if let Err(e) = &frozen {
        log::warn!("kill the processes left in {cgroups_path} unfrozen: {e}");
    }
    for pid in cgroup::procs(cgroups_path) {
        match kill(Pid::from_raw(pid as i32), Signal::SIGKILL) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => log::warn!("SIGKILL pid {pid} left in {cgroups_path}: {e}"),
        }
    }
    // Also after a freeze that timed out half-way (FREEZING).
    if let Err(e) = cgroup::thaw(cgroups_path) {
        if frozen.is_ok() {
            log::warn!("thaw {cgroups_path} after killing its processes: {e}");
        }
    }
}

fn exit_event(container_id: &str, p: &Process, exit: Exit) -> TaskExit {
    let mut ev = TaskExit::new();
    ev.container_id = container_id.to_string();
    ev.id = p.id.clone();
    ev.pid = p.pid();
    ev.exit_status = exit.status;
    ev.exited_at = Some(timestamp(exit.at)).into();
    ev
}

/// The terminal size a process spec asks for (width, height).
fn console_size(process: Option<&oci_spec::runtime::Process>) -> Option<(u32, u32)> {
    let size = process?.console_size()?;
    Some((size.width() as u32, size.height() as u32))
}

pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::Created => "created",
        Status::Running => "running",
        Status::Stopped => "stopped",
    }
}

fn stdio_paths(req: &CreateTaskRequest) -> StdioPaths {
    StdioPaths::new(&req.stdin, &req.stdout, &req.stderr, req.terminal)
}

/// Whose stdio a process of container `id` has (the init's or an exec's).
fn io_owner<'a>(
    namespace: &'a str,
    reaper: &'a Reaper,
    id: &'a str,
    console_dir: &'a Path,
    io_ids: (u32, u32),
) -> crate::io::IoOwner<'a> {
    crate::io::IoOwner {
        container_id: id,
        namespace,
        reaper,
        console_dir,
        io_ids,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_pid_namespace_of_its_own_spares_the_rest_at_exit() {
        let ns = |nss: serde_json::Value| {
            spec_json(serde_json::json!({"linux": {"cgroupsPath": "/c", "namespaces": nss}}))
        };
        // Its own pid namespace: its processes die with the init.
        assert!(!kills_all_on_exit(&ns(serde_json::json!([
            {"type": "mount"}, {"type": "pid"}
        ]))));
        assert!(!kills_all_on_exit(&ns(
            serde_json::json!([{"type": "pid", "path": ""}])
        )));
        // The pod's pid namespace (a path), or the host's (no entry).
        assert!(kills_all_on_exit(&ns(serde_json::json!([
            {"type": "pid", "path": "/proc/42/ns/pid"}
        ]))));
        assert!(kills_all_on_exit(&ns(
            serde_json::json!([{"type": "mount"}])
        )));
        assert!(kills_all_on_exit(&spec_json(serde_json::json!({}))));
    }

    fn spec_json(extra: serde_json::Value) -> Spec {
        let mut v = serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}},
            "linux": {"cgroupsPath": "/default/c1"}
        });
        if let (Some(base), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            for (k, val) in extra {
                base.insert(k.clone(), val.clone());
            }
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_complete_spec_is_used_as_it_is() {
        let spec = spec_json(serde_json::json!({}));
        assert!(
            complete_spec(&spec, Path::new("/b"), "ns", "c1", false, false)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn recursive_rootfs_propagation_is_written_as_libcontainer_reads_it() {
        for (word, plain) in [
            ("rshared", "shared"),
            ("rslave", "slave"),
            ("rprivate", "private"),
        ] {
            let spec = spec_json(serde_json::json!({
                "linux": {"cgroupsPath": "/default/c1", "rootfsPropagation": word}
            }));
            let done = complete_spec(&spec, Path::new("/b"), "ns", "c1", false, false)
                .unwrap()
                .expect("amended");
            assert_eq!(
                done.linux()
                    .as_ref()
                    .unwrap()
                    .rootfs_propagation()
                    .as_deref(),
                Some(plain)
            );
        }
        let spec = spec_json(serde_json::json!({
            "linux": {"cgroupsPath": "/default/c1", "rootfsPropagation": "slave"}
        }));
        assert!(
            complete_spec(&spec, Path::new("/b"), "ns", "c1", false, false)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_slice_path_takes_systemds_driver_and_is_refused_without_systemd() {
        let slice = "kubepods-burstable-pod1.slice:cri-containerd:c1";
        let e = cgroup_location(slice, false, true, Path::new("/nonexistent")).unwrap_err();
        assert!(matches!(e, Error::FailedPrecondition(_)), "{e}");
        let text = e.to_string();
        assert!(
            text.contains(slice) && text.contains("systemd does not run"),
            "{text}"
        );
        let (driver, path) = cgroup_location(slice, false, true, Path::new("/")).unwrap();
        assert_eq!(driver, Driver::Systemd);
        assert_eq!(
            path,
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-c1.scope"
        );
        // runc takes systemd's driver only from the option, as runc does.
        let (driver, path) = cgroup_location(slice, false, false, Path::new("/")).unwrap();
        assert_eq!((driver, path.as_str()), (Driver::Cgroupfs, slice));
        // cgroupfs paths, absolute or relative, and colons elsewhere stay
        // cgroupfs paths, even where systemd runs.
        for ok in ["/default/c1", "kubepods/pod1/c1", "/a:b:c", "x:y:z"] {
            let (driver, path) = cgroup_location(ok, false, true, Path::new("/")).unwrap();
            assert_eq!((driver, path.as_str()), (Driver::Cgroupfs, ok));
        }
        // SystemdCgroup with a cgroupfs path: runc's refusal.
        let e = cgroup_location("/default/c1", true, true, Path::new("/")).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    }

    #[test]
    fn without_a_path_systemds_driver_gets_a_scope_in_system_slice() {
        let spec = spec_json(serde_json::json!({"linux": {}}));
        let done = complete_spec(&spec, Path::new("/b"), "ns", "c1", false, true)
            .unwrap()
            .unwrap();
        assert_eq!(
            spec_cgroups_path(&done).as_deref(),
            Some("system.slice:ns:c1")
        );
    }

    #[test]
    fn the_create_requests_terminal_flag_goes_into_the_spec() {
        let spec = spec_json(serde_json::json!({}));
        let done = complete_spec(&spec, Path::new("/b"), "ns", "c1", true, false)
            .unwrap()
            .expect("a spec without a terminal, asked for one, is amended");
        assert_eq!(done.process().as_ref().unwrap().terminal(), Some(true));
        // Its cgroups path is the spec's own, unchanged.
        assert_eq!(
            done.linux().as_ref().unwrap().cgroups_path(),
            spec.linux().as_ref().unwrap().cgroups_path()
        );
        assert_eq!(done.root().as_ref().unwrap().path(), Path::new("/b/rootfs"));
    }

    #[test]
    fn a_missing_cgroups_path_becomes_namespace_and_id() {
        let spec = spec_json(serde_json::json!({"linux": {}}));
        let done = complete_spec(&spec, Path::new("/b"), "ns", "c1", false, false)
            .unwrap()
            .unwrap();
        let path = done
            .linux()
            .as_ref()
            .unwrap()
            .cgroups_path()
            .clone()
            .unwrap();
        assert_eq!(path, PathBuf::from("/ns/c1"));
        // the private copy must still find the rootfs of the real bundle
        assert_eq!(done.root().as_ref().unwrap().path(), Path::new("/b/rootfs"));
    }
}

#[cfg(test)]
mod exec_spec_tests {
    use super::*;

    fn any(json: serde_json::Value) -> Any {
        let mut a = Any::new();
        a.type_url = PROCESS_SPEC_TYPE.into();
        a.value = serde_json::to_vec(&json).unwrap();
        a
    }

    fn process(terminal: Option<bool>) -> serde_json::Value {
        let mut p = serde_json::json!({
            "args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}
        });
        if let Some(t) = terminal {
            p["terminal"] = t.into();
        }
        p
    }

    #[test]
    fn the_requests_terminal_flag_decides() {
        // Agreeing: the spec goes on byte for byte.
        let same = any(process(Some(true)));
        assert_eq!(parse_exec_spec(Some(&same), true).unwrap(), same.value);
        let none = any(process(None));
        assert_eq!(parse_exec_spec(Some(&none), false).unwrap(), none.value);
        // Differing: the request's flag is written into the spec.
        for (spec, terminal) in [(None, true), (Some(false), true), (Some(true), false)] {
            let json = parse_exec_spec(Some(&any(process(spec))), terminal).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
            assert_eq!(v["terminal"], terminal, "{spec:?} -> {terminal}");
            assert_eq!(v["args"], serde_json::json!(["sh"]));
        }
    }

    #[test]
    fn a_spec_of_another_type_or_not_json_is_refused() {
        let mut wrong = any(process(None));
        wrong.type_url = "types.containerd.io/something/else".into();
        let err = parse_exec_spec(Some(&wrong), false).unwrap_err();
        assert!(err.to_string().contains("something/else"), "{err}");
        let mut not_json = any(process(None));
        not_json.value = b"{".to_vec();
        let err = parse_exec_spec(Some(&not_json), false).unwrap_err();
        assert!(err.to_string().contains("not a valid OCI process"), "{err}");
        assert!(matches!(
            parse_exec_spec(None, false),
            Err(Error::InvalidArgument(_))
        ));
    }
}
