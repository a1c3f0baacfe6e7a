//! How `start` talks to each containerd. containerd 1.6 and 1.7 know task
//! API v2 only and expect a plain address on stdout; containerd 2.0-2.2 take
//! a JSON bootstrap reply naming task API version 3 (and fall back to v2 for
//! a plain address). On stdin, containerd up to 2.2 sends the runtime options
//! as a protobuf Any; 2.3 sends `BootstrapParams` (containerd's version, log
//! level, the directory for the shim's socket, the options as an extension)
//! and takes a `BootstrapResult` protobuf back (no newline: it parses the
//! bytes as they are). Nothing on the command line says which stdin came:
//! the bytes do (`parse_stdin`).

use std::path::{Path, PathBuf};

use containerd_shim_protos::bootstrap_api::{BootstrapParams, BootstrapResult, LogLevel};
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::Message;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::options::{self, ShimOptions};

/// Where `containerd --version` answers are cached, keyed by binary.
const VERSION_CACHE: &str = "/run/containerd/rust/.containerd-version";

/// What `start` read on stdin.
#[derive(Debug, Default, PartialEq)]
pub struct StartInput {
    /// The runtime options, decoded and validated (defaults when none came).
    pub options: ShimOptions,
    /// containerd's version, when it said so (bootstrap parameters).
    pub containerd_version: Option<String>,
    /// Whether stdin held bootstrap parameters (containerd 2.3+), which
    /// asks for a `BootstrapResult` reply.
    pub bootstrap: bool,
    /// Where containerd wants the shim's socket (2.3's `socket_dir`).
    pub socket_dir: Option<PathBuf>,
    /// containerd logs at debug or trace level (2.3's `log_level`).
    pub debug: bool,
}

/// Tells the two stdin forms apart. Both are protobuf messages whose fields 1
/// and 2 are strings/bytes, so the shape decides: an Any has no field above 2
/// and a dotted type name; anything else is bootstrap parameters.
pub fn parse_stdin(bytes: &[u8]) -> Result<StartInput> {
    if bytes.is_empty() {
        return Ok(StartInput::default());
    }
    if let Ok(any) = Any::parse_from_bytes(bytes) {
        let plain_any = any.special_fields.unknown_fields().iter().next().is_none();
        if plain_any && any.type_url.contains('.') {
            return Ok(StartInput {
                options: ShimOptions::decode(Some(&any))?,
                ..StartInput::default()
            });
        }
    }
    let params = BootstrapParams::parse_from_bytes(bytes).map_err(|e| {
        Error::InvalidArgument(format!(
            "stdin is neither runtime options nor bootstrap parameters: {e}"
        ))
    })?;
    // Extensions may carry other things: take the first of an options type.
    let option_any = params
        .extensions
        .iter()
        .filter_map(|ext| ext.value.as_ref())
        .find(|any| options::is_known_type(&any.type_url));
    let socket_dir = match params.socket_dir.as_deref() {
        None | Some("") => None,
        Some(dir) => Some(socket_dir(dir)?),
    };
    let level = params.log_level.value();
    Ok(StartInput {
        options: ShimOptions::decode(option_any)?,
        containerd_version: Some(params.containerd_version).filter(|v| !v.is_empty()),
        bootstrap: true,
        socket_dir,
        debug: level <= LogLevel::LOG_LEVEL_DEBUG as i32,
    })
}

/// The longest socket directory that leaves room for `/<64 hex digits>` in
/// a unix socket's 108-byte path (containerd allows 42 bytes).
const MAX_SOCKET_DIR: usize = 107 - 65;

/// Checks containerd's `socket_dir`: absolute, without `..`, short enough.
fn socket_dir(dir: &str) -> Result<PathBuf> {
    let path = Path::new(dir);
    if !path.is_absolute()
        || path
            .components()
            .any(|c| c == std::path::Component::ParentDir)
    {
        return Err(Error::InvalidArgument(format!(
            "socket_dir {dir:?} must be an absolute path without \"..\""
        )));
    }
    if dir.len() > MAX_SOCKET_DIR {
        return Err(Error::InvalidArgument(format!(
            "socket_dir {dir:?} is longer than {MAX_SOCKET_DIR} bytes: a socket in it would not fit a unix socket path"
        )));
    }
    Ok(path.to_path_buf())
}

/// The major version in `containerd --version` output or a bare version:
/// "containerd github.com/containerd/containerd/v2 2.1.9+unknown" -> 2,
/// "containerd github.com/containerd/containerd 1.6.20~ds1 ..." -> 1.
pub fn major_version(text: &str) -> Option<u32> {
    let version = match text.split_whitespace().collect::<Vec<_>>().as_slice() {
        [_, _, v, ..] => *v,
        [v] => *v,
        _ => return None,
    };
    version
        .trim_start_matches('v')
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// containerd's major version: from the bootstrap parameters, else from
/// `<publish binary> --version`, cached per binary (path, size, mtime).
pub fn containerd_major(input: &StartInput, publish_binary: &str) -> Option<u32> {
    if let Some(v) = &input.containerd_version {
        return major_version(v);
    }
    if publish_binary.is_empty() {
        return None;
    }
    let meta = std::fs::metadata(publish_binary).ok()?;
    let stamp = format!(
        "{} {}",
        meta.len(),
        meta.modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos()
    );
    let key: String = Sha256::digest(publish_binary.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    let cache = Path::new(VERSION_CACHE).join(key);
    if let Ok(text) = std::fs::read_to_string(&cache) {
        if let Some(rest) = text.strip_prefix(&stamp) {
            return major_version(rest.trim());
        }
    }
    let out = std::process::Command::new(publish_binary)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let major = major_version(&text)?;
    let _ = std::fs::create_dir_all(VERSION_CACHE);
    let _ = std::fs::write(&cache, format!("{stamp} {text}"));
    Some(major)
}

/// What `start` prints: a `BootstrapResult` protobuf to a containerd that
/// sent bootstrap parameters (2.3+), the JSON bootstrap reply to any other
/// 2.x, the plain address to 1.x (and when the version is unknown: every
/// version takes it).
pub fn reply(address: &str, input: &StartInput, containerd_major: Option<u32>) -> Vec<u8> {
    if input.bootstrap {
        let mut r = BootstrapResult::new();
        r.version = 3;
        r.address = address.to_string();
        r.protocol = "ttrpc".to_string();
        // A message of three set fields always encodes.
        return r.write_to_bytes().unwrap_or_default();
    }
    match containerd_major {
        Some(major) if major >= 2 => serde_json::json!({
            "version": 3,
            "address": address,
            "protocol": "ttrpc",
        })
        .to_string()
        .into_bytes(),
        _ => address.as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim_protos::bootstrap_api::Extension;
    use containerd_shim_protos::shim::oci::Options;

    #[test]
    fn reads_containerd_version_strings() {
        assert_eq!(
            major_version("containerd github.com/containerd/containerd/v2 2.1.9+unknown"),
            Some(2)
        );
        assert_eq!(
            major_version("containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+b1"),
            Some(1)
        );
        assert_eq!(major_version("v2.3.0"), Some(2));
        assert_eq!(major_version("1.7.24"), Some(1));
        assert_eq!(major_version("garbage"), None);
    }

    #[test]
    fn replies_as_each_containerd_understands() {
        let addr = "unix:///run/containerd/s/abc";
        let legacy = StartInput::default();
        assert_eq!(reply(addr, &legacy, Some(1)), addr.as_bytes());
        assert_eq!(reply(addr, &legacy, None), addr.as_bytes());
        let v: serde_json::Value = serde_json::from_slice(&reply(addr, &legacy, Some(2))).unwrap();
        assert_eq!(v["version"], 3);
        assert_eq!(v["address"], addr);
        assert_eq!(v["protocol"], "ttrpc");
        // 2.3 sent bootstrap parameters: a BootstrapResult, nothing after it.
        let boot = StartInput {
            bootstrap: true,
            ..StartInput::default()
        };
        let bytes = reply(addr, &boot, Some(2));
        let r = BootstrapResult::parse_from_bytes(&bytes).unwrap();
        assert_eq!(
            (r.version, r.address.as_str(), r.protocol.as_str()),
            (3, addr, "ttrpc")
        );
        assert_ne!(bytes.last(), Some(&b'\n'));
    }

    #[test]
    fn bootstrap_parameters_name_the_socket_dir_and_the_log_level() {
        let mut p = BootstrapParams::new();
        p.instance_id = "c1".into();
        p.containerd_version = "v2.3.4".into();
        p.containerd_ttrpc_address = "/run/containerd/containerd.sock.ttrpc".into();
        p.socket_dir = Some("/tmp/ctr-x/s".into());
        p.log_level = LogLevel::LOG_LEVEL_TRACE.into();
        let input = parse_stdin(&p.write_to_bytes().unwrap()).unwrap();
        assert!(input.bootstrap && input.debug);
        assert_eq!(input.socket_dir.as_deref(), Some(Path::new("/tmp/ctr-x/s")));
        p.log_level = LogLevel::LOG_LEVEL_INFO.into();
        p.socket_dir = None;
        let input = parse_stdin(&p.write_to_bytes().unwrap()).unwrap();
        assert!(!input.debug);
        assert_eq!(input.socket_dir, None);
        for bad in ["relative/s", "/run/../etc", &format!("/{}", "d".repeat(60))] {
            p.socket_dir = Some(bad.to_string());
            let e = parse_stdin(&p.write_to_bytes().unwrap()).unwrap_err();
            assert!(e.to_string().contains("socket_dir"), "{bad}: {e}");
        }
    }

    fn options_any() -> Any {
        let mut o = Options::new();
        o.no_pivot_root = true;
        let mut any = Any::new();
        any.type_url = options::RUNC_OPTIONS.into();
        any.value = o.write_to_bytes().unwrap();
        any
    }

    #[test]
    fn stdin_may_hold_runtime_options() {
        let input = parse_stdin(&options_any().write_to_bytes().unwrap()).unwrap();
        assert!(input.options.no_pivot_root);
        assert_eq!(input.containerd_version, None);
        assert!(!input.bootstrap);
        assert_eq!(parse_stdin(&[]).unwrap(), StartInput::default());
    }

    #[test]
    fn stdin_may_hold_bootstrap_parameters() {
        let mut p = BootstrapParams::new();
        p.instance_id = "c1".into();
        p.namespace = "default".into();
        p.containerd_version = "2.3.0".into();
        let mut ext = Extension::new();
        ext.value = Some(options_any()).into();
        p.extensions.push(ext);
        let input = parse_stdin(&p.write_to_bytes().unwrap()).unwrap();
        assert_eq!(input.containerd_version.as_deref(), Some("2.3.0"));
        assert!(input.options.no_pivot_root);
        assert_eq!(containerd_major(&input, ""), Some(2));
    }

    fn create_options_any() -> Any {
        let mut o = options::CreateOptions::new();
        o.no_new_keyring = true;
        o.shim_cgroup = "/shims".into();
        let mut any = Any::new();
        any.type_url = format!("type.googleapis.com/{}", options::CREATE_OPTIONS);
        any.value = o.write_to_bytes().unwrap();
        any
    }

    #[test]
    fn stdin_may_hold_create_options() {
        let input = parse_stdin(&create_options_any().write_to_bytes().unwrap()).unwrap();
        assert!(input.options.no_new_keyring);
        assert_eq!(input.options.shim_cgroup.as_deref(), Some("/shims"));
    }

    #[test]
    fn bootstrap_extensions_may_hold_create_options_after_other_things() {
        let mut p = BootstrapParams::new();
        p.instance_id = "c1".into();
        p.containerd_version = "2.3.0".into();
        let mut other = Any::new();
        other.type_url = "example.Unrelated".into();
        let mut ext = Extension::new();
        ext.value = Some(other).into();
        p.extensions.push(ext);
        let mut ext = Extension::new();
        ext.value = Some(create_options_any()).into();
        p.extensions.push(ext);
        let input = parse_stdin(&p.write_to_bytes().unwrap()).unwrap();
        assert!(input.options.no_new_keyring);
    }

    #[test]
    fn invalid_options_on_stdin_name_their_field() {
        let mut o = Options::new();
        o.root = "relative/root".into();
        let mut any = Any::new();
        any.type_url = options::RUNC_OPTIONS.into();
        any.value = o.write_to_bytes().unwrap();
        let err = parse_stdin(&any.write_to_bytes().unwrap()).unwrap_err();
        assert!(
            err.to_string().starts_with("root \"relative/root\""),
            "{err}"
        );
    }

    #[test]
    fn bootstrap_parameters_with_a_dotted_id_are_not_taken_for_options() {
        let mut p = BootstrapParams::new();
        p.instance_id = "web.1".into();
        p.containerd_version = "2.3.1".into();
        let input = parse_stdin(&p.write_to_bytes().unwrap()).unwrap();
        assert_eq!(input.containerd_version.as_deref(), Some("2.3.1"));
    }

    #[test]
    fn garbage_on_stdin_is_invalid() {
        assert!(parse_stdin(&[0xff, 0xff, 0xff]).is_err());
    }
}
