//! containerd-shim-rust-v2: a containerd shim v2 that runs containers
//! through an embedded OCI runtime (youki's libcontainer).
//!
//! Flow: containerd -> ttrpc -> `service` -> `container` / `process` ->
//! `runtime` backend; `reaper` turns SIGCHLD into exits, `events` carries
//! them back to containerd; `io` owns the stdio FIFOs.
//!
//! The binary (src/main.rs) is the product; the library exists so that the
//! fuzz targets (hack/fuzz) reach the decoders of untrusted input.
#![deny(unsafe_code)]

pub mod address;
pub mod bootstrap;
pub mod capabilities;
pub mod cgroup;
pub mod cli;
pub mod cmd;
pub mod container;
pub mod error;
pub mod events;
pub mod handover;
pub mod id;
pub mod io;
pub mod locked;
pub mod log_uri;
pub mod logger;
pub mod mount;
pub mod node;
pub mod options;
pub mod process;
pub mod reaper;
pub mod runtime;
pub mod service;
pub mod socket_file;
pub mod sys;
