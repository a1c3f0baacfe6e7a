//! `start`: find or launch the shim that serves this container's group and
//! print its address. containerd waits for this process to exit, so the
//! server is a separate, daemonized process in a session of its own.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::address::{group_key, socket_path, to_address, SOCKET_DIR};
use crate::bootstrap;
use crate::cli::Flags;
use crate::socket_file;

pub fn run(flags: &Flags) -> Result<(), String> {
    crate::id::validate("container", &flags.id).map_err(|e| e.to_string())?;
    if flags.namespace.is_empty() {
        return Err("-namespace is required".into());
    }
    let bundle = super::bundle_dir(flags).map_err(|e| format!("bundle: {e}"))?;
    let mut stdin = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut stdin);
    let input = bootstrap::parse_stdin(&stdin).map_err(|e| e.to_string())?;
    let major = bootstrap::containerd_major(&input, &flags.publish_binary);

    let annotations = super::bundle_annotations(&bundle)?;
    let group = group_key(&annotations, &flags.id);
    let dir = input.socket_dir.as_deref().unwrap_or(Path::new(SOCKET_DIR));
    let path = socket_path(dir, &flags.address, &flags.namespace, group);
    let address = to_address(&path);

    let listener = match socket_file::bind_or_join(dir, &path)? {
        Some(l) => l,
        None => {
            // A live shim already serves this group (the pod's shim).
            write_file(&bundle.join("address"), &address)?;
            return print_reply(&bootstrap::reply(&address, &input, major));
        }
    };
    let pid = match launch(flags, input.debug, &bundle, &path, &listener) {
        Ok(pid) => pid,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
    };
    if let Err(e) = place_shim(pid, &input.options) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    write_file(&bundle.join("address"), &address)?;
    write_file(&bundle.join("shim.pid"), &pid.to_string())?;
    print_reply(&bootstrap::reply(&address, &input, major))
}

/// The reply, exactly these bytes: 2.3 parses a protobuf reply as it is.
fn print_reply(bytes: &[u8]) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|_| out.flush())
        .map_err(|e| format!("write the reply: {e}"))
}

fn launch(
    flags: &Flags,
    debug: bool,
    bundle: &Path,
    socket: &Path,
    listener: &UnixListener,
) -> Result<u32, String> {
    let exe = std::env::current_exe().map_err(|e| format!("locate shim binary: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args([
        "-namespace",
        &flags.namespace,
        "-id",
        &flags.id,
        "-address",
        &flags.address,
    ]);
    if !flags.publish_binary.is_empty() {
        cmd.args(["-publish-binary", &flags.publish_binary]);
    }
    cmd.arg("-socket").arg(socket);
    if flags.debug || debug {
        cmd.arg("-debug");
    }
    // containerd reads our stdout and stderr until they close: the server
    // must not inherit them.
    cmd.current_dir(bundle)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    crate::handover::with_fd3(&mut cmd, listener.as_raw_fd(), true);
    let child = cmd
        .spawn()
        .map_err(|e| format!("launch shim server: {e}"))?;
    Ok(child.id())
}

fn write_file(path: &Path, content: &str) -> Result<(), String> {
    std::fs::write(path, content).map_err(|e| format!("write {}: {e}", path.display()))
}

/// Puts the new shim where containerd-shim-runc-v2 puts itself: in the
/// ShimCgroup the runtime options name, and one step above containerd's own
/// OOM score, so the kernel's OOM killer takes containers, then the shim,
/// before containerd (raising a score needs no privilege).
fn place_shim(pid: u32, options: &crate::options::ShimOptions) -> Result<(), String> {
    if let Some(cg) = &options.shim_cgroup {
        crate::cgroup::add_process(cg, pid).map_err(|e| format!("shim_cgroup: {e}"))?;
    }
    let parent = std::os::unix::process::parent_id();
    let score = std::fs::read_to_string(format!("/proc/{parent}/oom_score_adj"))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .unwrap_or(0);
    let ours = (score + 1).min(1000);
    std::fs::write(format!("/proc/{pid}/oom_score_adj"), ours.to_string())
        .map_err(|e| format!("set the shim's oom_score_adj to {ours}: {e}"))
}
