//! The embedded OCI runtime, helper side: the only code that calls youki's
//! libcontainer. It runs in a fresh single-threaded process (`oci-helper`
//! action) or in the short-lived `delete` action, never in the serving shim.

use std::io::Write;
use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::error::LibcontainerError;
use libcontainer::syscall::syscall::SyscallType;
use serde::{Deserialize, Serialize};

use oci_spec::runtime::{Process, Spec};

use super::exec_seccomp::ExecSeccomp;
use super::executor::ShimExecutor;
use crate::error::chain;

/// The helper's answer, one JSON line on fd 3.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Reply {
    Created { pid: u32 },
    Error { error: String },
    Done { done: bool },
}

#[derive(Debug, Default)]
struct Args {
    verb: String,
    root: PathBuf,
    id: String,
    bundle: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    process: Option<PathBuf>,
    console_socket: Option<PathBuf>,
    no_pivot: bool,
    /// The container's cgroup is a systemd scope (cgroupsPath
    /// `slice:prefix:name`), made over D-Bus.
    systemd: bool,
    force: bool,
}

fn parse(rest: &[String]) -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = rest.iter();
    a.verb = it.next().cloned().ok_or("missing verb")?;
    while let Some(flag) = it.next() {
        let mut val = || it.next().cloned().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--root" => a.root = val()?.into(),
            "--id" => a.id = val()?,
            "--bundle" => a.bundle = Some(val()?.into()),
            "--pid-file" => a.pid_file = Some(val()?.into()),
            "--process" => a.process = Some(val()?.into()),
            "--console-socket" => a.console_socket = Some(val()?.into()),
            "--no-pivot" => a.no_pivot = true,
            "--systemd" => a.systemd = true,
            "--force" => a.force = true,
            other => return Err(format!("unknown helper flag {other}")),
        }
    }
    if a.id.is_empty() || a.root.as_os_str().is_empty() {
        return Err("--root and --id are required".into());
    }
    Ok(a)
}

/// Entry point of the `oci-helper` action. Returns the process exit code.
pub fn main(rest: &[String]) -> i32 {
    // A panic message must not land in the container's stderr (fd 2).
    std::panic::set_hook(Box::new(|info| {
        reply(&Reply::Error {
            error: format!("runtime helper panicked: {info}"),
        });
    }));
    let result = parse(rest).and_then(|a| match a.verb.as_str() {
        "create" => create(&a).map(|pid| Reply::Created { pid }),
        "start" => start(&a.root, &a.id).map(|_| Reply::Done { done: true }),
        "exec" => exec(&a).map(|pid| Reply::Created { pid }),
        "delete" => delete(&a.root, &a.id, a.force).map(|_| Reply::Done { done: true }),
        other => Err(format!("unknown helper verb {other}")),
    });
    let (msg, code) = match result {
        Ok(r) => (r, 0),
        Err(error) => (Reply::Error { error }, 1),
    };
    reply(&msg);
    code
}

fn reply(r: &Reply) {
    // fd 3 is the reply pipe (see runtime::spawn); reopening it through
    // /proc avoids adopting a raw fd.
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/fd/3")
    {
        let mut line = serde_json::to_vec(r).unwrap_or_default();
        line.push(b'\n');
        let _ = f.write_all(&line);
    }
}

fn lc_err(what: &str, e: LibcontainerError) -> String {
    format!("{what}: {}", chain(&e))
}

fn create(a: &Args) -> Result<u32, String> {
    let bundle = a.bundle.as_ref().ok_or("create needs --bundle")?;
    let mut builder = ContainerBuilder::new(a.id.clone(), SyscallType::Linux)
        .with_root_path(&a.root)
        .map_err(|e| lc_err("runtime root", e))?;
    if let Some(p) = &a.pid_file {
        builder = builder
            .with_pid_file(Some(p))
            .map_err(|e| lc_err("pid file", e))?;
    }
    let container = builder
        .with_console_socket(a.console_socket.as_ref())
        .with_executor(ShimExecutor::default())
        .validate_id()
        .map_err(|e| lc_err("container id", e))?
        .as_init(bundle)
        .with_systemd(a.systemd)
        .with_detach(true)
        .with_no_pivot(a.no_pivot)
        .build()
        .map_err(|e| lc_err("create container", e))?;
    container
        .pid()
        .map(|p| p.as_raw() as u32)
        .ok_or_else(|| "libcontainer created the container but reported no pid".to_string())
}

/// Runs the process spec in `--process` inside the container; libcontainer
/// returns once the process has exec'd (or failed to).
fn exec(a: &Args) -> Result<u32, String> {
    let process = a.process.as_ref().ok_or("exec needs --process")?;
    let seccomp = exec_seccomp(a, process)?;
    let pid = ContainerBuilder::new(a.id.clone(), SyscallType::Linux)
        .with_root_path(&a.root)
        .map_err(|e| lc_err("runtime root", e))?
        .with_console_socket(a.console_socket.as_ref())
        .with_executor(ShimExecutor::for_exec(seccomp))
        .as_tenant()
        .with_process(Some(process))
        .with_detach(true)
        .build()
        .map_err(|e| lc_err("exec", e))?;
    Ok(pid.as_raw() as u32)
}

/// The container's seccomp filter for the exec in `process_file`, which is
/// rewritten when the process must keep CAP_SYS_ADMIN to load it
/// (exec_seccomp.rs says why).
fn exec_seccomp(a: &Args, process_file: &Path) -> Result<Option<ExecSeccomp>, String> {
    let container = Container::load(a.root.join(&a.id)).map_err(|e| lc_err("load container", e))?;
    let config = container.bundle().join("config.json");
    let spec = Spec::load(&config).map_err(|e| format!("read {}: {e}", config.display()))?;
    let read =
        std::fs::read(process_file).map_err(|e| format!("read {}: {e}", process_file.display()))?;
    let mut process: Process = serde_json::from_slice(&read)
        .map_err(|e| format!("parse {}: {e}", process_file.display()))?;
    let seccomp = super::exec_seccomp::prepare(&spec, &mut process)?;
    if seccomp.as_ref().is_some_and(ExecSeccomp::widened) {
        let json = serde_json::to_vec(&process).map_err(|e| format!("encode process: {e}"))?;
        std::fs::write(process_file, json)
            .map_err(|e| format!("write {}: {e}", process_file.display()))?;
    }
    Ok(seccomp)
}

fn start(root: &Path, id: &str) -> Result<(), String> {
    let mut c = Container::load(root.join(id)).map_err(|e| lc_err("load container", e))?;
    c.start().map_err(|e| lc_err("start container", e))
}

/// Deletes the container's runtime state; a container that is already gone
/// is not an error. Also used by the shim's `delete` action.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<(), String> {
    let dir = root.join(id);
    if !dir.exists() {
        return Ok(());
    }
    let mut c = match Container::load(dir.clone()) {
        Ok(c) => c,
        Err(e) => {
            // A half-created container may have no state file: remove the dir.
            std::fs::remove_dir_all(&dir).map_err(|re| {
                format!(
                    "{}; remove {}: {re}",
                    lc_err("load container", e),
                    dir.display()
                )
            })?;
            return Ok(());
        }
    };
    c.delete(force).map_err(|e| lc_err("delete container", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_helper_arguments() {
        let a = parse(&s(&[
            "create",
            "--root",
            "/r",
            "--id",
            "c",
            "--bundle",
            "/b",
            "--pid-file",
            "/b/init.pid",
            "--no-pivot",
        ]))
        .unwrap();
        assert_eq!(a.verb, "create");
        assert_eq!(a.root, PathBuf::from("/r"));
        assert_eq!(a.bundle, Some(PathBuf::from("/b")));
        assert!(a.no_pivot && !a.force);
        assert!(parse(&s(&["start", "--id", "c"])).is_err());
        assert!(parse(&s(&["start", "--root", "/r", "--id", "c", "--bogus"])).is_err());
    }

    #[test]
    fn replies_round_trip() {
        for r in [
            Reply::Created { pid: 42 },
            Reply::Error {
                error: "no such file".into(),
            },
            Reply::Done { done: true },
        ] {
            let text = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<Reply>(&text).unwrap(), r);
        }
    }
}
