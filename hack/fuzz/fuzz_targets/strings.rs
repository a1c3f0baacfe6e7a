//! Strings the shim builds paths or commands from: stdio URIs and
//! container / exec ids. An id that validates never escapes a directory.
#![no_main]

use containerd_shim_rust_v2::{id, log_uri};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = log_uri::parse(s);
    if id::validate("container", s).is_ok() {
        assert!(!s.is_empty() && s != "." && s != "..", "{s:?} validated");
        assert!(!s.contains('/') && !s.contains('\0'), "{s:?} validated");
    }
});
