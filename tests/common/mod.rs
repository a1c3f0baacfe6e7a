//! Helpers for the end-to-end tests: they drive the private containerd that
//! `hack/test.sh` starts (see hack/containerd-up.sh) with `ctr`, and talk to
//! the shim's own socket where containerd would not pass a bad request on.
#![allow(dead_code)]

#[path = "../shared/cgroup_fs.rs"]
pub mod cgroup_fs;
#[allow(unused_imports)] // hack/bench includes this module too
pub use cgroup_fs::{cgroup_dir, cgroup_dirs, cgroup_of, cgroup_procs, is_v2, read_cgroup_file};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ttrpc::Code;

pub const RUNTIME: &str = "io.containerd.rust.v2";
pub const NAMESPACE: &str = "default";

pub struct Env {
    pub address: String,
    pub dir: PathBuf,
    pub image: String,
}

/// The private containerd's coordinates; hack/test.sh exports them.
pub fn env() -> Env {
    let get = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            panic!("{k} is not set: run the e2e tests through hack/test.sh, which starts a private containerd")
        })
    };
    Env {
        address: get("CONTAINERD_ADDRESS"),
        dir: PathBuf::from(get("SHIM_TEST_DIR")),
        image: get("TEST_IMAGE"),
    }
}

/// A container id unique to this test run.
pub fn unique_id(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "e2e-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn ctr_cmd(args: &[&str]) -> Command {
    let e = env();
    let bin = std::env::var("CTR_BIN").unwrap_or_else(|_| "ctr".into());
    let mut c = Command::new(bin);
    c.args(["--address", &e.address, "-n", NAMESPACE])
        .args(args);
    c.stdin(Stdio::null());
    c
}

pub fn ctr(args: &[&str]) -> Output {
    ctr_cmd(args).output().expect("run ctr")
}

/// Runs ctr and insists it succeeded; returns stdout.
pub fn ctr_ok(args: &[&str]) -> String {
    let out = ctr(args);
    assert!(
        out.status.success(),
        "ctr {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ctr run --rm --runtime ours IMAGE id cmd...`
pub fn run_rm(id: &str, cmd: &[&str]) -> Output {
    run_rm_with(&[], id, cmd)
}

/// `ctr run --rm --runtime ours FLAGS... IMAGE id cmd...`
pub fn run_rm_with(flags: &[&str], id: &str, cmd: &[&str]) -> Output {
    let image = env().image;
    ctr(&run_args("--rm", flags, &image, id, cmd))
}

/// The words of `ctr run MODE --runtime ours FLAGS... IMAGE id cmd...`.
fn run_args<'a>(
    mode: &'a str,
    flags: &[&'a str],
    image: &'a str,
    id: &'a str,
    cmd: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["run", mode, "--runtime", RUNTIME];
    args.extend_from_slice(flags);
    args.push(image);
    args.push(id);
    args.extend_from_slice(cmd);
    args
}

/// Starts a detached container with no stdio; `extra` goes before the image.
pub fn run_detached(id: &str, extra: &[&str], cmd: &[&str]) {
    let image = env().image;
    let mut flags = vec!["--null-io"];
    flags.extend_from_slice(extra);
    ctr_ok(&run_args("-d", &flags, &image, id, cmd));
}

/// The task's status as `ctr task ls` shows it (None: no task).
pub fn task_status(id: &str) -> Option<String> {
    let out = ctr_ok(&["task", "ls"]);
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id)).then(|| f.get(2).unwrap_or(&"").to_string())
        })
        .next()
}

pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The fds `pid` holds, as `fd -> target`, sorted.
pub fn open_fds(pid: u32) -> Vec<String> {
    let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .map(|e| {
            let target = std::fs::read_link(e.path()).unwrap_or_default();
            format!(
                "{} -> {}",
                e.file_name().to_string_lossy(),
                target.display()
            )
        })
        .collect();
    fds.sort();
    fds
}

/// containerd's log from `offset` on (the shims' own log lines with it,
/// since the private containerd logs at debug level and so runs its shims
/// with -debug).
pub fn containerd_log_since(offset: usize) -> String {
    let log = std::fs::read(env().dir.join("containerd.log")).unwrap();
    String::from_utf8_lossy(&log[offset.min(log.len())..]).into_owned()
}

/// Where containerd's log ends now: an offset for [`containerd_log_since`].
pub fn containerd_log_len() -> usize {
    std::fs::metadata(env().dir.join("containerd.log"))
        .map(|m| m.len() as usize)
        .unwrap_or(0)
}

/// The fds a shim holds for good, as [`open_fds`]: the smallest of reads
/// over 200 ms. A shim opens files for a moment on its own: its cgroup
/// migration primer writes `cgroup.procs` every 4 ms for 50 ms after an
/// exec, so one read may see a file that is about to be closed; a leaked
/// fd is in every read.
pub fn settled_fds(pid: u32) -> Vec<String> {
    let mut least = open_fds(pid);
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(200) {
        std::thread::sleep(Duration::from_millis(3));
        let now = open_fds(pid);
        if now.len() < least.len() {
            least = now;
        }
    }
    least
}

/// Kills (if needed) and removes a task and its container; ignores absence.
pub fn remove(id: &str) {
    let _ = ctr(&["task", "kill", "-s", "SIGKILL", id]);
    wait_until("task to stop", Duration::from_secs(20), || {
        !matches!(
            task_status(id).as_deref(),
            Some("RUNNING") | Some("CREATED")
        )
    });
    let _ = ctr(&["task", "rm", "-f", id]);
    let _ = ctr(&["container", "rm", id]);
}

/// Removes the container when dropped, so a failing test cleans up too.
pub struct Cleanup(pub Vec<String>);
impl Drop for Cleanup {
    fn drop(&mut self) {
        for id in &self.0 {
            remove(id);
        }
    }
}

/// containerd's bundle for a task in our namespace.
pub fn bundle(id: &str) -> PathBuf {
    env()
        .dir
        .join("state/io.containerd.runtime.v2.task")
        .join(NAMESPACE)
        .join(id)
}

/// The shim socket path serving `id` (from the bundle's address file).
pub fn shim_socket(id: &str) -> String {
    let addr = std::fs::read_to_string(bundle(id).join("address")).expect("read address file");
    addr.trim().to_string()
}

/// A ttrpc task client on the shim that serves `id`.
pub fn shim_client(id: &str) -> containerd_shim_protos::TaskClient {
    let client = ttrpc::Client::connect(&shim_socket(id)).expect("connect to shim socket");
    containerd_shim_protos::TaskClient::new(client)
}

pub fn ttrpc_ctx() -> ttrpc::context::Context {
    ttrpc::context::with_timeout(Duration::from_secs(30).as_nanos() as i64)
}

/// The pid of the shim serving `id` (through the task API's Connect).
pub fn shim_pid(id: &str) -> u32 {
    let mut req = containerd_shim_protos::api::ConnectRequest::new();
    req.id = id.to_string();
    shim_client(id)
        .connect(ttrpc_ctx(), &req)
        .expect("Connect")
        .shim_pid
}

/// True while `pid` is a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next();
            state != Some("Z")
        }
        Err(_) => false,
    }
}

/// Everything a container could leave behind on the host, named.
pub fn leftovers(id: &str) -> Vec<String> {
    let mut found = Vec::new();
    let state = Path::new("/run/containerd/rust").join(NAMESPACE);
    for p in [state.join(id), state.join(".bundles").join(id)] {
        if p.exists() {
            found.push(format!("state dir {}", p.display()));
        }
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for line in mountinfo.lines() {
        if line
            .split_whitespace()
            .nth(4)
            .is_some_and(|m| m.contains(&format!("/{id}/")))
        {
            found.push(format!("mount {line}"));
        }
    }
    for p in cgroup_dirs(&format!("/{NAMESPACE}/{id}")) {
        found.push(format!("cgroup {}", p.display()));
    }
    found
}

pub fn assert_no_leftovers(id: &str) {
    // Unmounting and cgroup removal finish within Delete; allow the kernel a
    // moment to let go of a cgroup whose last task just died.
    let start = Instant::now();
    loop {
        let l = leftovers(id);
        if l.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{id} left behind: {l:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn expect_code<T: std::fmt::Debug>(r: ttrpc::Result<T>, code: Code, needle: &str) {
    match r {
        Err(ttrpc::Error::RpcStatus(s)) => {
            assert_eq!(s.code(), code, "wrong code for {:?}", s.message);
            assert!(
                s.message.contains(needle),
                "message {:?} must mention {needle:?}",
                s.message
            );
        }
        other => panic!("expected {code:?} mentioning {needle:?}, got {other:?}"),
    }
}

/// A running and a stopped container served by one shim (a group), so that
/// requests sent straight to that shim can name either.
pub fn running_and_stopped_in_one_shim(tag: &str) -> (String, String, Cleanup) {
    let ann = format!(
        "io.containerd.runc.v2.group={}",
        unique_id(&format!("{tag}pod"))
    );
    let live = unique_id(&format!("{tag}live"));
    let done = unique_id(&format!("{tag}done"));
    let cleanup = Cleanup(vec![live.clone(), done.clone()]);
    run_detached(&live, &["--annotation", &ann], &["sleep", "1000"]);
    run_detached(&done, &["--annotation", &ann], &["true"]);
    wait_until("the short task to stop", Duration::from_secs(10), || {
        task_status(&done).as_deref() == Some("STOPPED")
    });
    (live, done, cleanup)
}

/// `ctr events` running in the background, from `start` to `stop_topics`.
pub struct EventLog(std::process::Child);

impl EventLog {
    pub fn start() -> EventLog {
        let child = ctr_cmd(&["events"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run ctr events");
        // Let the subscription reach containerd before anything happens.
        std::thread::sleep(Duration::from_millis(300));
        EventLog(child)
    }

    /// Stops listening; returns the topics of the events that name `id`.
    pub fn stop_topics(self, id: &str) -> Vec<String> {
        self.stop_lines(id)
            .iter()
            .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("/tasks/")))
            .map(String::from)
            .collect()
    }

    /// Stops listening; returns the lines of the events that name `id`.
    pub fn stop_lines(mut self, id: &str) -> Vec<String> {
        use std::io::Read;
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.0.kill();
        let mut text = String::new();
        if let Some(mut out) = self.0.stdout.take() {
            let _ = out.read_to_string(&mut text);
        }
        let _ = self.0.wait();
        text.lines()
            .filter(|l| l.contains(id) && l.contains("/tasks/"))
            .map(String::from)
            .collect()
    }
}

/// SIGKILLs the shim serving the running container `id`; containerd then
/// runs the shim's `delete` action. Afterwards the container's init is gone,
/// nothing of it is left, and neither is the dead shim's socket.
pub fn kill_the_shim_and_check_cleanup(id: &str) {
    let shim = shim_pid(id);
    let init: u32 = std::fs::read_to_string(bundle(id).join("init.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let socket = shim_socket(id);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // containerd notices, runs `containerd-shim-rust-v2 delete`, and marks the task stopped.
    wait_until(
        "containerd to clean up after the dead shim",
        Duration::from_secs(20),
        || task_status(id).as_deref() != Some("RUNNING"),
    );
    wait_until(
        "the container's init to be killed",
        Duration::from_secs(10),
        || !alive(init),
    );
    remove(id);
    assert_no_leftovers(id);
    // containerd runs the `delete` action asynchronously after it noticed
    // the dead shim; the action removes the socket nobody listens on.
    let path = socket.trim_start_matches("unix://").to_string();
    wait_until(
        &format!("the dead shim's socket {path} to be removed"),
        Duration::from_secs(10),
        || !Path::new(&path).exists(),
    );
}

/// Where the private containerd's shims put their sockets: `DIR/s` for
/// containerd 2.3+, which names it in socket_dir (hack/containerd-up.sh),
/// else containerd's default.
pub fn socket_dir() -> PathBuf {
    PathBuf::from(std::env::var("SHIM_SOCKET_DIR").unwrap_or_else(|_| "/run/containerd/s".into()))
}

// ---- an exec driven through the shim's own API ----

/// A FIFO at `dir/name`, as containerd makes them for a process's stdio.
pub fn fifo(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    p
}

/// Reads the FIFO `path` to its end on a thread of its own (a client's
/// reader): the text it got.
pub fn read_fifo(path: PathBuf) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        use std::io::Read;
        let mut text = String::new();
        let _ = std::fs::File::open(&path)
            .unwrap()
            .read_to_string(&mut text);
        text
    })
}

/// Start of the exec `exec_id` of container `id`: its pid.
pub fn start_exec(shim: &containerd_shim_protos::TaskClient, id: &str, exec_id: &str) -> u32 {
    let mut start = containerd_shim_protos::api::StartRequest::new();
    start.id = id.to_string();
    start.exec_id = exec_id.to_string();
    shim.start(ttrpc_ctx(), &start).expect("start the exec").pid
}

/// Wait for the exec: its exit status.
pub fn wait_exec(shim: &containerd_shim_protos::TaskClient, id: &str, exec_id: &str) -> u32 {
    let mut wait = containerd_shim_protos::api::WaitRequest::new();
    wait.id = id.to_string();
    wait.exec_id = exec_id.to_string();
    shim.wait(ttrpc_ctx(), &wait)
        .expect("wait for the exec")
        .exit_status
}

/// Delete of the exec, which must succeed.
pub fn delete_exec(shim: &containerd_shim_protos::TaskClient, id: &str, exec_id: &str) {
    let mut del = containerd_shim_protos::api::DeleteRequest::new();
    del.id = id.to_string();
    del.exec_id = exec_id.to_string();
    shim.delete(ttrpc_ctx(), &del).expect("delete the exec");
}

/// A running container (`sleep`) with an exec request ready for the shim's
/// API: its stdout (and, if asked, stdin) are FIFOs in a directory of the
/// test's, removed on drop with the container.
pub struct ExecSetup {
    pub id: String,
    pub shim: containerd_shim_protos::TaskClient,
    pub req: containerd_shim_protos::api::ExecProcessRequest,
    pub stdin: Option<PathBuf>,
    pub stdout: PathBuf,
    dir: PathBuf,
    _cleanup: Cleanup,
}

impl ExecSetup {
    pub fn new(tag: &str, exec_id: &str, args: &[&str], with_stdin: bool) -> ExecSetup {
        let id = unique_id(tag);
        let cleanup = Cleanup(vec![id.clone()]);
        run_detached(&id, &[], &["sleep", "1000"]);
        let dir = std::env::temp_dir().join(unique_id(&format!("{tag}-fifos")));
        std::fs::create_dir_all(&dir).unwrap();
        let stdin = with_stdin.then(|| fifo(&dir, "in"));
        let stdout = fifo(&dir, "out");
        let mut spec = containerd_shim_protos::protobuf::well_known_types::any::Any::new();
        spec.type_url = "types.containerd.io/opencontainers/runtime-spec/1/Process".into();
        spec.value = serde_json::to_vec(&serde_json::json!({
            "args": args, "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}
        }))
        .unwrap();
        let mut req = containerd_shim_protos::api::ExecProcessRequest::new();
        req.id = id.clone();
        req.exec_id = exec_id.into();
        req.spec = Some(spec).into();
        req.stdout = stdout.display().to_string();
        if let Some(p) = &stdin {
            req.stdin = p.display().to_string();
        }
        ExecSetup {
            shim: shim_client(&id),
            id,
            req,
            stdin,
            stdout,
            dir,
            _cleanup: cleanup,
        }
    }
}

impl Drop for ExecSetup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
