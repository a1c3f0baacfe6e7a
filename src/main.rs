//! containerd-shim-rust-v2: a containerd shim v2 that runs containers
//! through an embedded OCI runtime (youki's libcontainer).
//!
//! Flow: containerd -> ttrpc -> `service` -> `container` / `process` ->
//! `runtime` backend; `reaper` turns SIGCHLD into exits, `events` carries
//! them back to containerd; `io` owns the stdio FIFOs.
#![deny(unsafe_code)]

use containerd_shim_rust_v2::{cli, cmd, logger, node, runtime};
use std::process::ExitCode;

fn main() -> ExitCode {
    let flags = match cli::parse(std::env::args().skip(1)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("containerd-shim-rust-v2: {e}");
            return ExitCode::from(2);
        }
    };
    if flags.version {
        println!("containerd-shim-rust-v2:");
        println!("  Version:  {}", env!("CARGO_PKG_VERSION"));
        println!("  Revision: {}", env!("SHIM_REVISION"));
        println!("  Runtime:  libcontainer (embedded)");
        return ExitCode::SUCCESS;
    }
    if flags.info {
        // Before anything else: -info starts nothing and touches no state.
        return match cmd::info::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("containerd-shim-rust-v2: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let result = match flags.action.as_deref() {
        None => cmd::serve::run(&flags),
        Some("start") => {
            logger::to_stderr(flags.debug);
            cmd::start::run(&flags)
        }
        Some("delete") => {
            logger::to_stderr(flags.debug);
            cmd::delete::run(&flags)
        }
        Some(action @ ("install" | "uninstall" | "check")) => {
            logger::to_stderr(flags.debug);
            match cli::parse_node_flags(action, &flags.rest, action != "check") {
                Ok(flags) if action == "install" => node::install::run(&flags),
                Ok(flags) if action == "uninstall" => node::uninstall::run(&flags),
                Ok(flags) => node::check::run(&flags),
                Err(e) => {
                    eprintln!("containerd-shim-rust-v2: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        Some("oci-helper") => return ExitCode::from(runtime::helper::main(&flags.rest) as u8),
        Some(other) => Err(format!("unknown action {other:?}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("containerd-shim-rust-v2: {e}");
            ExitCode::FAILURE
        }
    }
}
