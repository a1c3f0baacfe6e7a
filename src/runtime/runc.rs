//! An external OCI runtime as the backend: a binary with runc's command line
//! (runc itself, or crun/youki), the runtime options' BinaryName.
//!
//! Every call runs `<binary> --root <root> --log <file> --log-format json
//! [--systemd-cgroup] <verb> ...` and waits for it through the reaper, the
//! shim's only waitpid caller (never `Child::wait`). `create` and `exec`
//! hand the container's stdio to the runtime on fds 0-2, as the embedded
//! backend does; the runtime forks the container's process and exits, and
//! that process is reparented to the shim, the subreaper. Its pid comes from
//! the pid file. Other verbs get /dev/null and files for stdout and stderr
//! (files, not pipes: nothing can block on a full pipe or on a descendant
//! that keeps one open). A failed call is an error carrying the runtime's
//! own message: the last error in its JSON log, else its stderr.
//!
//! The scratch files (logs, outputs, pid files of execs, process and
//! resources JSON) are dot files in the runtime root, one set per call,
//! removed when the call ends: runc only ever looks at directories there.

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use oci_spec::runtime::LinuxResources;

use super::{signal_directly, CreateOpts, ExecOpts, KillTarget, Runtime};
use crate::error::{Error, IoContext, Result};
use crate::io::dev_null;
use crate::options::{self, ShimOptions};
use crate::reaper::Reaper;
use containerd_shim_protos::protobuf::well_known_types::any::Any;

/// Where the runtime keeps its state by default, one root per namespace
/// (the same place containerd-shim-runc-v2 uses).
pub const DEFAULT_ROOT: &str = "/run/containerd/runc";
/// A runtime call that takes longer than this is killed and fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Tells apart the scratch files of calls that run at the same time.
static CALL_SEQ: AtomicU64 = AtomicU64::new(0);

pub struct Runc {
    binary: PathBuf,
    /// The binary's file name, for messages ("runc create failed: ...").
    name: String,
    root: PathBuf,
    systemd_cgroup: bool,
    no_new_keyring: bool,
    reaper: Reaper,
}

/// The runtime's default root for `namespace`.
pub fn default_root(namespace: &str) -> PathBuf {
    Path::new(DEFAULT_ROOT).join(namespace)
}

/// The bundle file that names the external runtime of a container.
const RECORD: &str = "external-runtime.json";

/// For the `delete` action: if the bundle's container ran on an external
/// runtime, force-deletes it there (`<binary> --root <root> delete --force`)
/// and returns true. That action is a short-lived process of its own, no
/// subreaper, so waiting for the child directly is right there.
pub fn delete_recorded(bundle: &Path, id: &str) -> std::result::Result<bool, String> {
    let Ok(text) = std::fs::read_to_string(bundle.join(RECORD)) else {
        return Ok(false);
    };
    let record: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{RECORD}: {e}"))?;
    let (Some(binary), Some(root)) = (record["binary"].as_str(), record["root"].as_str()) else {
        return Err(format!("{RECORD} names no binary and root: {text}"));
    };
    let out = Command::new(binary)
        .args(["--root", root, "delete", "--force", id])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("run {binary} delete: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && !stderr.contains("does not exist") {
        return Err(format!("{binary} delete --force {id}: {}", stderr.trim()));
    }
    Ok(true)
}

/// Files removed when dropped.
#[derive(Default)]
struct Scratch(Vec<PathBuf>);

impl Drop for Scratch {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// What a call hands the runtime on fds 0-2.
enum CallIo {
    /// The container's stdio (create, exec).
    Container([OwnedFd; 3]),
    /// /dev/null in, stdout and stderr into scratch files.
    Captured,
}

impl Runc {
    /// The backend for containers created with `opts`: the runtime is
    /// `opts.binary_name` (default `runc`, looked up on PATH), its root
    /// `opts.root` (default `/run/containerd/runc/<namespace>`, created
    /// here), and `systemd_cgroup` and `no_new_keyring` apply to every
    /// container it creates. A missing binary is InvalidArgument naming it.
    pub fn new(opts: &ShimOptions, namespace: &str, reaper: Reaper) -> Result<Runc> {
        let wanted = opts
            .binary_name
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "runc".into());
        let binary = options::resolve_binary("binary_name", &wanted)?;
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or(wanted);
        let root = opts.root.clone().unwrap_or_else(|| default_root(namespace));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&root)
            .io_context(|| format!("create runtime root {}", root.display()))?;
        Ok(Runc {
            binary,
            name,
            root,
            systemd_cgroup: opts.systemd_cgroup,
            no_new_keyring: opts.no_new_keyring,
            reaper,
        })
    }

    /// Notes in the bundle which runtime and root hold the container, for
    /// the shim's `delete` action, which runs after the shim died and has
    /// nothing else to go by (the Go shim keeps `options.json` for this).
    pub fn record_in(&self, bundle: &Path) -> Result<()> {
        let record = serde_json::json!({"binary": self.binary, "root": self.root});
        let path = bundle.join(RECORD);
        std::fs::write(&path, record.to_string()).io_context(|| format!("write {}", path.display()))
    }

    /// The runtime's state root (`--root`).
    #[cfg(test)]
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn scratch_path(&self, scratch: &mut Scratch, id: &str, verb: &str, ext: &str) -> PathBuf {
        let seq = CALL_SEQ.fetch_add(1, Ordering::Relaxed);
        let p = self.root.join(format!(
            ".shim.{id}.{verb}.{}.{seq}.{ext}",
            std::process::id()
        ));
        scratch.0.push(p.clone());
        p
    }

    /// Runs `<binary> <globals> <verb> <args>`; returns its stdout (captured
    /// calls only).
    async fn call(&self, verb: &str, id: &str, args: Vec<OsString>, io: CallIo) -> Result<Vec<u8>> {
        let mut scratch = Scratch::default();
        let log = self.scratch_path(&mut scratch, id, verb, "log");
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&log)
            .args(["--log-format", "json"]);
        if self.systemd_cgroup {
            cmd.arg("--systemd-cgroup");
        }
        cmd.arg(verb).args(&args);
        let captured = match io {
            CallIo::Container([stdin, stdout, stderr]) => {
                cmd.stdin(Stdio::from(stdin))
                    .stdout(Stdio::from(stdout))
                    .stderr(Stdio::from(stderr));
                None
            }
            CallIo::Captured => {
                let out = self.scratch_path(&mut scratch, id, verb, "out");
                let err = self.scratch_path(&mut scratch, id, verb, "err");
                let create =
                    |p: &Path| File::create(p).io_context(|| format!("create {}", p.display()));
                cmd.stdin(Stdio::from(dev_null()?))
                    .stdout(create(&out)?)
                    .stderr(create(&err)?);
                Some((out, err))
            }
        };
        // Never waited for here: the reaper collects the runtime's exit.
        let spawned = cmd.spawn();
        // Drops the parent's copies of the child's stdio.
        drop(cmd);
        let pid = spawned
            .io_context(|| format!("start {} {verb}", self.binary.display()))?
            .id();
        let Some(status) = self.reaper.wait_bounded(pid, CALL_TIMEOUT).await else {
            return Err(Error::Runtime(format!(
                "{} {verb} {id} did not finish within {CALL_TIMEOUT:?}",
                self.name
            )));
        };
        let stdout = match &captured {
            Some((out, _)) => std::fs::read(out).unwrap_or_default(),
            None => Vec::new(),
        };
        if status == 0 {
            return Ok(stdout);
        }
        let stderr = match &captured {
            Some((_, err)) => std::fs::read(err).unwrap_or_default(),
            None => Vec::new(),
        };
        let log = std::fs::read(&log).unwrap_or_default();
        let msg = last_error(&log)
            .or_else(|| {
                let text = String::from_utf8_lossy(&stderr).trim().to_string();
                Some(text).filter(|t| !t.is_empty())
            })
            .unwrap_or_else(|| format!("exited with status {status}"));
        // runc already says "runc create failed: ..." itself.
        let prefix = format!("{} {verb}", self.name);
        Err(Error::Runtime(if msg.starts_with(&prefix) {
            msg
        } else {
            format!("{prefix} failed: {msg}")
        }))
    }

    fn read_pid(&self, pid_file: &Path, verb: &str) -> Result<u32> {
        let text = std::fs::read_to_string(pid_file)
            .io_context(|| format!("read {} {verb} pid file {}", self.name, pid_file.display()))?;
        text.trim().parse().map_err(|_| {
            Error::Runtime(format!(
                "{} {verb}: pid file {} holds {:?}, not a pid",
                self.name,
                pid_file.display(),
                text.trim()
            ))
        })
    }

    /// Writes `bytes` to a scratch file for the runtime to read.
    fn scratch_file(
        &self,
        scratch: &mut Scratch,
        id: &str,
        verb: &str,
        bytes: &[u8],
    ) -> Result<PathBuf> {
        let p = self.scratch_path(scratch, id, verb, "json");
        std::fs::write(&p, bytes).io_context(|| format!("write {}", p.display()))?;
        Ok(p)
    }
}

/// The message of the last error (or fatal) line of a runc JSON log.
fn last_error(log: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Line {
        #[serde(default)]
        level: String,
        #[serde(default)]
        msg: String,
    }
    log.split(|b| *b == b'\n')
        .filter_map(|l| serde_json::from_slice::<Line>(l).ok())
        .rfind(|l| (l.level == "error" || l.level == "fatal") && !l.msg.is_empty())
        .map(|l| l.msg)
}

/// Whether a runtime's kill error says the process already exited.
fn is_gone(msg: &str) -> bool {
    [
        "container not running",
        "process already finished",
        "no such process",
    ]
    .iter()
    .any(|m| msg.contains(m))
}

fn os(s: &str) -> OsString {
    s.into()
}

#[async_trait]
impl Runtime for Runc {
    async fn create(&self, opts: CreateOpts) -> Result<u32> {
        let mut args = vec![
            os("--bundle"),
            opts.bundle.clone().into(),
            os("--pid-file"),
            opts.pid_file.clone().into(),
        ];
        if opts.no_pivot_root {
            args.push(os("--no-pivot"));
        }
        if self.no_new_keyring {
            args.push(os("--no-new-keyring"));
        }
        if let Some(sock) = &opts.stdio.console_socket {
            args.extend([os("--console-socket"), sock.clone().into()]);
        }
        args.push(os(&opts.id));
        let stdio = [opts.stdio.stdin, opts.stdio.stdout, opts.stdio.stderr];
        self.call("create", &opts.id, args, CallIo::Container(stdio))
            .await?;
        self.read_pid(&opts.pid_file, "create")
    }

    async fn start(&self, id: &str) -> Result<()> {
        self.call("start", id, vec![os(id)], CallIo::Captured)
            .await
            .map(|_| ())
    }

    async fn exec(&self, opts: ExecOpts) -> Result<u32> {
        let mut scratch = Scratch::default();
        let process = self.scratch_file(&mut scratch, &opts.id, "exec", &opts.process_json)?;
        let pid_file = self.scratch_path(&mut scratch, &opts.id, "exec", "pid");
        let mut args = vec![
            os("--process"),
            process.into(),
            os("--pid-file"),
            pid_file.clone().into(),
            os("--detach"),
        ];
        if let Some(sock) = &opts.stdio.console_socket {
            args.extend([os("--console-socket"), sock.clone().into()]);
        }
        args.push(os(&opts.id));
        let stdio = [opts.stdio.stdin, opts.stdio.stdout, opts.stdio.stderr];
        self.call("exec", &opts.id, args, CallIo::Container(stdio))
            .await?;
        self.read_pid(&pid_file, "exec")
    }

    async fn delete(&self, id: &str, force: bool) -> Result<()> {
        // Already gone (or never created) is not an error, as with the
        // embedded backend.
        if !self.root.join(id).exists() {
            return Ok(());
        }
        let mut args = Vec::new();
        if force {
            args.push(os("--force"));
        }
        args.push(os(id));
        match self.call("delete", id, args, CallIo::Captured).await {
            Err(Error::Runtime(m)) if m.contains("does not exist") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// The init's signals go through `runc kill`, as containerd-shim-runc-v2
    /// sends them; an exec's straight to its pid, as it does too.
    async fn kill(&self, id: &str, target: KillTarget<'_>) -> Result<()> {
        if !target.init {
            return signal_directly(&target);
        }
        let (signal, all) = (target.signal, target.all);
        let mut args = Vec::new();
        if all {
            args.push(os("--all"));
        }
        args.extend([os(id), os(&signal.to_string())]);
        match self.call("kill", id, args, CallIo::Captured).await {
            // As containerd-shim-runc-v2 does: a process that is gone is
            // NotFound, which containerd takes as "already exited".
            Err(Error::Runtime(m)) if is_gone(&m) => Err(Error::NotFound(m)),
            other => other.map(|_| ()),
        }
    }

    async fn pause(&self, id: &str, _cgroups_path: &str) -> Result<()> {
        self.call("pause", id, vec![os(id)], CallIo::Captured)
            .await
            .map(|_| ())
    }

    async fn resume(&self, id: &str, _cgroups_path: &str) -> Result<()> {
        self.call("resume", id, vec![os(id)], CallIo::Captured)
            .await
            .map(|_| ())
    }

    async fn update(
        &self,
        id: &str,
        _cgroups_path: &str,
        resources: &LinuxResources,
    ) -> Result<()> {
        let json = serde_json::to_vec(resources)
            .map_err(|e| Error::InvalidArgument(format!("resources for {id}: {e}")))?;
        let mut scratch = Scratch::default();
        let file = self.scratch_file(&mut scratch, id, "update", &json)?;
        let args = vec![os("--resources"), file.into(), os(id)];
        self.call("update", id, args, CallIo::Captured)
            .await
            .map(|_| ())
    }

    async fn ps(&self, id: &str, _cgroups_path: &str) -> Result<Vec<u32>> {
        let args = vec![os("--format"), os("json"), os(id)];
        let out = self.call("ps", id, args, CallIo::Captured).await?;
        // runc prints `null` for no processes.
        serde_json::from_slice::<Option<Vec<u32>>>(&out)
            .map(Option::unwrap_or_default)
            .map_err(|e| {
                Error::caused(
                    format!(
                        "{} ps {id}: unreadable output {:?}",
                        self.name,
                        String::from_utf8_lossy(&out)
                    ),
                    e,
                )
            })
    }

    /// The container's cgroup, read by the shim (as containerd-shim-runc-v2
    /// reads it, not through `runc events`).
    async fn stats(&self, _id: &str, cgroups_path: &str) -> Result<Any> {
        let path = cgroups_path.to_string();
        super::blocking(move || crate::cgroup::metrics(&path)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Kill of the init (through `runc kill`; pid and cgroup are not used).
    fn init_target(signal: u32, all: bool) -> KillTarget<'static> {
        KillTarget {
            pid: 0,
            name: "init",
            init: true,
            signal,
            all,
            cgroups_path: "",
        }
    }
    use crate::runtime::InitStdio;
    use std::os::unix::fs::PermissionsExt;

    /// Set in a test's own process (see `in_own_process`) to that test's name.
    const OWN_PROCESS: &str = "SHIM_TEST_OWN_PROCESS";

    /// Runs test `name` (this module's) again in a process of its own and
    /// asserts it passed there; false when this already is that process.
    /// Tests that spawn runtimes need one: the reaper makes the process a
    /// child subreaper and reaps with waitpid(-1), which would steal the
    /// children of tests running beside it (and theirs its).
    fn in_own_process(name: &str) -> bool {
        let module = module_path!().split_once("::").map(|(_, m)| m).unwrap();
        let full = format!("{module}::{name}");
        if std::env::var(OWN_PROCESS).as_deref() == Ok(full.as_str()) {
            return false;
        }
        let out = Command::new(std::env::current_exe().unwrap())
            .args([full.as_str(), "--exact", "--nocapture", "--test-threads=1"])
            .env(OWN_PROCESS, &full)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "{full} failed in its own process:\n{text}"
        );
        assert!(text.contains("1 passed"), "{full} did not run:\n{text}");
        true
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("shim-runc-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn stdio_to(stdout: &Path) -> InitStdio {
        InitStdio {
            stdin: dev_null().unwrap(),
            stdout: File::create(stdout).unwrap().into(),
            stderr: dev_null().unwrap(),
            console_socket: None,
        }
    }

    #[test]
    fn a_missing_binary_is_named() {
        let reaper = Reaper::default();
        for name in ["/nonexistent/runc-missing", "no-such-runtime-xyz"] {
            let opts = ShimOptions {
                binary_name: Some(name.into()),
                root: Some(temp_dir("missing")),
                ..Default::default()
            };
            let err = Runc::new(&opts, "default", reaper.clone()).err().unwrap();
            assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
            assert!(
                err.to_string()
                    .starts_with(&format!("binary_name {name:?}")),
                "{err}"
            );
        }
        let _ = std::fs::remove_dir_all(temp_dir("missing"));
    }

    #[test]
    fn reads_the_last_error_of_a_json_log() {
        let log = br#"{"level":"warning","msg":"a warning","time":"t"}
{"level":"error","msg":"first","time":"t"}
not json
{"level":"error","msg":"runc create failed: unable to start container process: exec: \"/nope\": stat /nope: no such file or directory","time":"t"}
{"level":"info","msg":"later info","time":"t"}
"#;
        assert_eq!(
            last_error(log).unwrap(),
            "runc create failed: unable to start container process: exec: \"/nope\": stat /nope: \
             no such file or directory"
        );
        assert_eq!(last_error(b"{\"level\":\"info\",\"msg\":\"x\"}\n"), None);
        assert_eq!(last_error(b""), None);
    }

    /// A stand-in runtime that records its arguments and fails as told.
    fn fake_runtime(dir: &Path) -> PathBuf {
        let args = dir.join("args");
        let script = format!(
            r#"#!/bin/sh
echo "$*" >> {args}
log=; prev=
for a in "$@"; do [ "$prev" = --log ] && log=$a; prev=$a; done
case " $* " in
*" create "*) echo '{{"level":"error","msg":"no such thing","time":"t"}}' >> "$log"; exit 1 ;;
*" kill "*) echo "kill went wrong" >&2; exit 1 ;;
*" start "*) exit 3 ;;
*" ps "*) echo '[11,22]' ;;
esac
exit 0
"#,
            args = args.display()
        );
        let bin = dir.join("fake-runtime");
        std::fs::write(&bin, script).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        bin
    }

    #[tokio::test(flavor = "current_thread")]
    async fn passes_options_as_flags_and_carries_the_runtimes_errors() {
        if in_own_process("passes_options_as_flags_and_carries_the_runtimes_errors") {
            return;
        }
        let dir = temp_dir("flags");
        let bin = fake_runtime(&dir);
        let root = dir.join("root");
        let reaper = Reaper::start().unwrap();
        let opts = ShimOptions {
            binary_name: Some(bin.clone()),
            root: Some(root.clone()),
            no_new_keyring: true,
            systemd_cgroup: true,
            ..Default::default()
        };
        let rt = Runc::new(&opts, "default", reaper).unwrap();
        assert_eq!(rt.root(), root);
        let mut stdio = stdio_to(&dir.join("out"));
        stdio.console_socket = Some(dir.join("console.sock"));
        let err = rt
            .create(CreateOpts {
                id: "c1".into(),
                bundle: dir.join("bundle"),
                pid_file: dir.join("init.pid"),
                no_pivot_root: true,
                systemd: None,
                stdio,
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Runtime(_)), "{err}");
        assert_eq!(err.to_string(), "fake-runtime create failed: no such thing");
        let err = rt.kill("c1", init_target(9, true)).await.unwrap_err();
        assert_eq!(err.to_string(), "fake-runtime kill failed: kill went wrong");
        let err = rt.start("c1").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "fake-runtime start failed: exited with status 3"
        );
        assert_eq!(rt.ps("c1", "").await.unwrap(), vec![11, 22]);
        rt.pause("c1", "").await.unwrap();
        // No state dir: nothing to delete, the runtime is not even asked.
        rt.delete("c1", true).await.unwrap();
        std::fs::create_dir(root.join("c1")).unwrap();
        rt.delete("c1", true).await.unwrap();

        let calls = std::fs::read_to_string(dir.join("args")).unwrap();
        let calls: Vec<String> = calls
            .lines()
            .map(|l| {
                // The log file's name is per call: check its place only.
                let words: Vec<&str> = l.split(' ').collect();
                assert_eq!(words[..3], ["--root", root.to_str().unwrap(), "--log"]);
                assert!(words[3].starts_with(&format!("{}/.shim.c1.", root.display())));
                words[4..].join(" ")
            })
            .collect();
        let d = dir.display();
        assert_eq!(
            calls,
            [
                format!(
                    "--log-format json --systemd-cgroup create --bundle {d}/bundle --pid-file \
                     {d}/init.pid --no-pivot --no-new-keyring --console-socket {d}/console.sock c1"
                ),
                "--log-format json --systemd-cgroup kill --all c1 9".into(),
                "--log-format json --systemd-cgroup start c1".into(),
                "--log-format json --systemd-cgroup ps --format json c1".into(),
                "--log-format json --systemd-cgroup pause c1".into(),
                "--log-format json --systemd-cgroup delete --force c1".into(),
            ]
        );
        // Every scratch file is gone; only the fake state dir is left.
        let left: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [OsString::from("c1")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The real runc, where Debian puts it, else on PATH.
    fn runc_binary() -> PathBuf {
        let debian = Path::new("/usr/sbin/runc");
        if debian.exists() {
            return debian.into();
        }
        options::resolve_binary("binary_name", "runc")
            .expect("runc is needed for this test (hack/install-deps.sh installs it)")
    }

    /// A bundle: a busybox rootfs and `runc spec`'s config.json with `args`,
    /// no terminal, and the cgroups path `cgroup`.
    fn bundle(dir: &Path, rootfs: &Path, args: &[&str], cgroup: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new(runc_binary())
            .arg("spec")
            .arg("--bundle")
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success(), "runc spec failed");
        let path = dir.join("config.json");
        let mut spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        spec["process"]["args"] = serde_json::json!(args);
        spec["process"]["terminal"] = false.into();
        spec["root"]["path"] = rootfs.display().to_string().into();
        spec["linux"]["cgroupsPath"] = cgroup.into();
        std::fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
    }

    fn busybox_rootfs(rootfs: &Path) {
        let bin = rootfs.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy("/bin/busybox", bin.join("busybox"))
            .expect("/bin/busybox (Debian busybox-static) is needed for this test");
        for tool in ["sh", "true", "sleep"] {
            std::os::unix::fs::symlink("busybox", bin.join(tool)).unwrap();
        }
    }

    /// The cgroup's freezer as v1 words: v1's freezer.state, or v2's
    /// cgroup.freeze (1: FROZEN, 0: THAWED).
    fn freezer_state(cgroup: &str) -> String {
        let rel = cgroup.trim_start_matches('/');
        let v2 = crate::cgroup::layout() == crate::cgroup::Layout::V2;
        let p = if v2 {
            Path::new("/sys/fs/cgroup").join(rel).join("cgroup.freeze")
        } else {
            Path::new("/sys/fs/cgroup/freezer")
                .join(rel)
                .join("freezer.state")
        };
        let text =
            std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
        match (v2, text.trim()) {
            (true, "1") => "FROZEN".into(),
            (true, "0") => "THAWED".into(),
            (_, other) => other.to_string(),
        }
    }

    /// Every directory of the cgroup at `path` (one per v1 hierarchy, or
    /// the one on v2) that exists.
    fn cgroup_dirs(path: &str) -> Vec<std::path::PathBuf> {
        let rel = path.trim_start_matches('/');
        let root = Path::new("/sys/fs/cgroup");
        if crate::cgroup::layout() == crate::cgroup::Layout::V2 {
            return [root.join(rel)]
                .into_iter()
                .filter(|p| p.exists())
                .collect();
        }
        std::fs::read_dir(root)
            .unwrap()
            .flatten()
            .map(|h| h.path().join(rel))
            .filter(|p| p.exists())
            .collect()
    }

    /// Force-deletes what a failed test left behind.
    struct Cleanup<'a> {
        root: &'a Path,
        ids: [&'a str; 2],
    }

    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            for id in self.ids {
                if self.root.join(id).exists() {
                    let _ = Command::new(runc_binary())
                        .arg("--root")
                        .arg(self.root)
                        .args(["delete", "--force", id])
                        .status();
                }
            }
        }
    }

    async fn exit_of(reaper: &Reaper, pid: u32) -> u32 {
        tokio::time::timeout(Duration::from_secs(20), reaper.subscribe(pid as i32))
            .await
            .unwrap_or_else(|_| panic!("pid {pid} did not exit"))
            .unwrap()
            .status
    }

    #[tokio::test(flavor = "current_thread")]
    async fn drives_a_container_through_runc() {
        if in_own_process("drives_a_container_through_runc") {
            return;
        }
        let dir = temp_dir("life");
        let rootfs = dir.join("rootfs");
        busybox_rootfs(&rootfs);
        let cgroup = format!("/shim-runc-test-{}", std::process::id());
        let good = dir.join("good");
        bundle(
            &good,
            &rootfs,
            &["sh", "-c", "echo started; exec sleep 1000"],
            &cgroup,
        );
        let bad = dir.join("bad");
        bundle(&bad, &rootfs, &["/nope"], &format!("{cgroup}-bad"));
        let root = dir.join("root");
        let _cleanup = Cleanup {
            root: &root,
            ids: ["good", "bad"],
        };

        // From here on the reaper owns every child of this process.
        let reaper = Reaper::start().unwrap();
        let opts = ShimOptions {
            binary_name: Some(runc_binary()),
            root: Some(root.clone()),
            ..Default::default()
        };
        let rt = Runc::new(&opts, "default", reaper.clone()).unwrap();

        // runc's own message comes back.
        let err = rt
            .create(CreateOpts {
                id: "bad".into(),
                bundle: bad.clone(),
                pid_file: bad.join("init.pid"),
                no_pivot_root: false,
                systemd: None,
                stdio: stdio_to(&bad.join("out")),
            })
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("runc create failed: "), "{msg}");
        assert!(msg.contains("/nope"), "{msg}");
        rt.delete("bad", true).await.unwrap();
        assert!(!root.join("bad").exists());
        let err = rt.start("bad").await.unwrap_err().to_string();
        assert!(err.starts_with("runc start failed: "), "{err}");
        assert!(err.contains("does not exist"), "{err}");

        // create: the init waits, stdout on the file given as fd 1.
        let out = good.join("out");
        let pid = rt
            .create(CreateOpts {
                id: "good".into(),
                bundle: good.clone(),
                pid_file: good.join("init.pid"),
                no_pivot_root: false,
                systemd: None,
                stdio: stdio_to(&out),
            })
            .await
            .unwrap();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        assert!(root.join("good").is_dir());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "");

        rt.start("good").await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&out).unwrap() != "started\n" {
            assert!(std::time::Instant::now() < deadline, "no output from init");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(rt.ps("good", "").await.unwrap().contains(&pid));

        // exec: its exit status reaches the reaper.
        let process = serde_json::json!({
            "args": ["sh", "-c", "exit 7"],
            "cwd": "/",
            "env": ["PATH=/bin"],
            "user": {"uid": 0, "gid": 0},
        });
        let epid = rt
            .exec(ExecOpts {
                id: "good".into(),
                exec_id: "e1".into(),
                process_json: serde_json::to_vec(&process).unwrap(),
                stdio: stdio_to(&good.join("exec.out")),
            })
            .await
            .unwrap();
        assert_ne!(epid, pid);
        assert_eq!(exit_of(&reaper, epid).await, 7);

        rt.pause("good", "").await.unwrap();
        assert_eq!(freezer_state(&cgroup), "FROZEN");
        rt.resume("good", "").await.unwrap();
        assert_eq!(freezer_state(&cgroup), "THAWED");

        let resources: LinuxResources = serde_json::from_str(r#"{"pids": {"limit": 42}}"#).unwrap();
        rt.update("good", "", &resources).await.unwrap();
        let pids_max = cgroup_dirs(&cgroup)
            .into_iter()
            .map(|d| d.join("pids.max"))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("no pids.max for {cgroup}"));
        assert_eq!(std::fs::read_to_string(pids_max).unwrap().trim(), "42");

        let exited = reaper.subscribe(pid as i32);
        rt.kill("good", init_target(libc::SIGKILL as u32, false))
            .await
            .unwrap();
        let status = tokio::time::timeout(Duration::from_secs(20), exited)
            .await
            .expect("init did not die")
            .unwrap()
            .status;
        assert_eq!(status, 128 + libc::SIGKILL as u32);
        let err = rt
            .kill("good", init_target(libc::SIGTERM as u32, false))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err}");
        assert!(rt.ps("good", "").await.unwrap().is_empty());

        rt.delete("good", false).await.unwrap();
        assert!(!root.join("good").exists(), "state dir left");
        for cg in [cgroup.clone(), format!("{cgroup}-bad")] {
            let left = cgroup_dirs(&cg);
            assert!(left.is_empty(), "cgroups left: {left:?}");
        }
        // Deleting again is not an error; no scratch file is left.
        rt.delete("good", true).await.unwrap();
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
