//! `delete`: containerd runs this after a shim died. Force-delete the
//! container from the runtime's state (killing what is left), unmount its
//! rootfs, remove a dead socket, and print a DeleteResponse.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::SystemTime;

use containerd_shim_protos::api::DeleteResponse;
use containerd_shim_protos::protobuf::Message;

use crate::address::{group_key, path_of, socket_path, SOCKET_DIR};
use crate::cli::Flags;
use crate::events::timestamp;
use crate::mount;
use crate::runtime::helper;

/// 128 + SIGKILL: what containerd records for a task whose shim died.
const KILLED: u32 = 137;

pub fn run(flags: &Flags) -> Result<(), String> {
    crate::id::validate("container", &flags.id).map_err(|e| e.to_string())?;
    let bundle = super::bundle_dir(flags).map_err(|e| format!("bundle: {e}"))?;
    let root = super::state_root(&flags.namespace);
    match crate::runtime::runc::delete_recorded(&bundle, &flags.id) {
        Ok(true) => {}
        // This action is a fresh single-threaded process: libcontainer may run here.
        Ok(false) => {
            if let Err(e) = helper::delete(&root, &flags.id, true) {
                log::warn!("force delete {}: {e}", flags.id);
            }
        }
        Err(e) => log::warn!("force delete {} in its external runtime: {e}", flags.id),
    }
    let _ = std::fs::remove_dir_all(root.join(".bundles").join(&flags.id));
    mount::unmount_all(&bundle.join("rootfs"));

    // Where `start` put the socket (it wrote the address into the bundle:
    // containerd 2.3 may have named another directory), else where it
    // would have.
    let recorded = std::fs::read_to_string(bundle.join("address"))
        .ok()
        .and_then(|a| path_of(&a));
    let path = recorded.or_else(|| {
        let annotations = super::bundle_annotations(&bundle).ok()?;
        let group = group_key(&annotations, &flags.id);
        Some(socket_path(
            Path::new(SOCKET_DIR),
            &flags.address,
            &flags.namespace,
            group,
        ))
    });
    if let Some(path) = path {
        if path.exists() && UnixStream::connect(&path).is_err() {
            let _ = std::fs::remove_file(&path);
        }
    }

    let pid = std::fs::read_to_string(bundle.join("init.pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let mut resp = DeleteResponse::new();
    resp.pid = pid;
    resp.exit_status = KILLED;
    resp.exited_at = Some(timestamp(SystemTime::now())).into();
    let bytes = resp.write_to_bytes().map_err(|e| e.to_string())?;
    std::io::stdout()
        .write_all(&bytes)
        .map_err(|e| format!("write response: {e}"))
}
