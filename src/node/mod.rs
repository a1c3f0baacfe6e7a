//! The node tools: what puts the shim on a node and checks it, run by an
//! operator, never by containerd. `install` copies the binary next to
//! containerd and adds the runtime handler to containerd's config (any
//! config version, 2 to 4, edited in place with comments kept), `uninstall`
//! undoes it, `check` says what the host offers (containerd, cgroups,
//! seccomp, the handler). They share one binary with the shim
//! (docs/architecture.md says why) but no code with its serving path.

pub mod check;
mod config_file;
mod containerd_config;
mod error;
mod host_containerd;
pub mod install;
mod line_diff;
mod target;
pub mod uninstall;
