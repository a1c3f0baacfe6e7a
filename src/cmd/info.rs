//! `-info`: what containerd 2.2+ asks every runtime other than runc's before
//! it creates a task (and the CRI plugin at start-up, `ctr plugins
//! inspect-runtime` on demand): a `containerd.types.RuntimeInfo` protobuf on
//! stdout with the shim's name and version, the runtime options it was given
//! (an Any on stdin, echoed back once they validate) and the OCI runtime
//! features of the runtime that would run the container. Nothing is started
//! and no state is touched.
//!
//! The features are the embedded runtime's own (`embedded_features`; each
//! field is explained in docs/compatibility.md), or, with `BinaryName` in the
//! options, the external runtime's `features` output passed on as it is.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::{Message, MessageField};
use containerd_shim_protos::types::introspection::{RuntimeInfo, RuntimeVersion};
use serde_json::{json, Value};

use crate::options::ShimOptions;

/// The runtime's name, as containerd names this shim.
pub const NAME: &str = "io.containerd.rust.v2";
/// The type URL containerd registers for runtime-spec's features.Features.
pub const FEATURES_TYPE_URL: &str =
    "types.containerd.io/opencontainers/runtime-spec/1/features/Features";

pub fn run() -> Result<(), String> {
    let mut stdin = Vec::new();
    std::io::stdin()
        .read_to_end(&mut stdin)
        .map_err(|e| format!("read the runtime options on stdin: {e}"))?;
    let info = runtime_info(&stdin)?;
    let bytes = info
        .write_to_bytes()
        .map_err(|e| format!("encode RuntimeInfo: {e}"))?;
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes)
        .and_then(|_| out.flush())
        .map_err(|e| format!("write RuntimeInfo: {e}"))
}

/// The answer for the runtime options `stdin` (a protobuf Any, or nothing).
pub fn runtime_info(stdin: &[u8]) -> Result<RuntimeInfo, String> {
    let options = if stdin.is_empty() {
        None
    } else {
        Some(
            Any::parse_from_bytes(stdin)
                .map_err(|e| format!("the runtime options on stdin are not a protobuf Any: {e}"))?,
        )
    };
    let decoded =
        ShimOptions::decode(options.as_ref()).map_err(|e| format!("runtime options: {e}"))?;
    let features = match &decoded.binary_name {
        Some(binary) => external_features(binary)?,
        None => serde_json::to_vec(&embedded_features()).map_err(|e| e.to_string())?,
    };
    let mut version = RuntimeVersion::new();
    version.version = env!("CARGO_PKG_VERSION").to_string();
    version.revision = env!("SHIM_REVISION").to_string();
    let mut any = Any::new();
    any.type_url = FEATURES_TYPE_URL.to_string();
    any.value = features;
    let mut info = RuntimeInfo::new();
    info.name = NAME.to_string();
    info.version = MessageField::some(version);
    info.options = options.into();
    info.features = MessageField::some(any);
    Ok(info)
}

/// `<binary> features`, as the external runtime reports itself (runc 1.1+).
fn external_features(binary: &Path) -> Result<Vec<u8>, String> {
    let out = Command::new(binary)
        .arg("features")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{} features: {e}", binary.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} features: {}: {}",
            binary.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice::<Value>(&out.stdout)
        .map_err(|e| format!("{} features printed no JSON: {e}", binary.display()))?;
    Ok(out.stdout)
}

/// What the embedded runtime (youki's libcontainer, as this shim drives it)
/// supports. Each entry is something it does, not something it accepts and
/// ignores: libcontainer skips the `idmap`/`ridmap` mount options without
/// mapping anything, so they are not listed and idmapped mounts are off.
pub fn embedded_features() -> Value {
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": oci_spec::runtime::VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": crate::capabilities::NAMES.as_slice(),
            "cgroup": { "v1": true, "v2": true, "systemd": true, "systemdUser": false },
            "seccomp": {
                "enabled": true,
                "actions": [
                    "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                    "SCMP_ACT_TRAP",
                ],
                "operators": [
                    "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                    "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE",
                ],
                "archs": SECCOMP_ARCHS,
                "knownFlags": SECCOMP_FLAGS,
                "supportedFlags": SECCOMP_FLAGS,
            },
            "apparmor": { "enabled": true },
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": true },
            "mountExtensions": { "idmap": { "enabled": false } },
        },
        "annotations": {
            "io.github.youki.libcontainer.version": env!("LIBCONTAINER_VERSION"),
            "io.containerd.rust.v2.version": env!("CARGO_PKG_VERSION"),
        },
    })
}

/// The mount options libcontainer turns into mount flags (rootfs/utils.rs
/// `parse_mount`) and the recursive ones it applies with mount_setattr(2)
/// (`MountRecursive`).
const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "slave",
    "strictatime",
    "suid",
    "sync",
    "unbindable",
];

/// The architectures libcontainer's seccomp maps to libseccomp's.
const SECCOMP_ARCHS: &[&str] = &[
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
];

const SECCOMP_FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim_protos::shim::oci::Options;

    fn features_of(info: &RuntimeInfo) -> Value {
        assert_eq!(info.features.type_url, FEATURES_TYPE_URL);
        serde_json::from_slice(&info.features.value).unwrap()
    }

    #[test]
    fn without_options_it_names_the_shim_and_the_embedded_features() {
        let info = runtime_info(&[]).unwrap();
        assert_eq!(info.name, NAME);
        assert_eq!(info.version.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(info.version.revision, env!("SHIM_REVISION"));
        assert!(info.options.is_none());
        let f = features_of(&info);
        assert_eq!(f, embedded_features());
        let mount = f["mountOptions"].as_array().unwrap();
        assert!(mount.iter().any(|o| o == "rro"), "{mount:?}");
        assert!(!mount.iter().any(|o| o == "idmap" || o == "ridmap"));
        assert_eq!(f["linux"]["mountExtensions"]["idmap"]["enabled"], false);
        assert_eq!(f["linux"]["capabilities"].as_array().unwrap().len(), 41);
        // The Go shim's features parse into runtime-spec's struct: so do ours.
        let typed: oci_spec::runtime::Features = serde_json::from_value(f).unwrap();
        assert_eq!(typed.oci_version_min(), "1.0.0");
    }

    #[test]
    fn options_are_validated_and_echoed() {
        let mut o = Options::new();
        o.no_pivot_root = true;
        let mut any = Any::new();
        any.type_url = crate::options::RUNC_OPTIONS.into();
        any.value = o.write_to_bytes().unwrap();
        let info = runtime_info(&any.write_to_bytes().unwrap()).unwrap();
        assert_eq!(info.options.type_url, any.type_url);
        assert_eq!(info.options.value, any.value);

        let mut bad = Options::new();
        bad.root = "relative".into();
        any.value = bad.write_to_bytes().unwrap();
        let e = runtime_info(&any.write_to_bytes().unwrap()).unwrap_err();
        assert!(e.starts_with("runtime options: root \"relative\""), "{e}");
        assert!(runtime_info(&[0xff, 0xff]).is_err());
    }

    #[test]
    fn an_external_runtime_reports_its_own_features() {
        let dir = std::env::temp_dir().join(format!("shim-info-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fake = dir.join("fake-runc");
        std::fs::write(
            &fake,
            "#!/bin/sh\n[ \"$1\" = features ] && echo '{\"ociVersionMin\":\"1.0.0\",\"ociVersionMax\":\"1.2.0\"}'\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut o = Options::new();
        o.binary_name = fake.display().to_string();
        let mut any = Any::new();
        any.type_url = crate::options::RUNC_OPTIONS.into();
        any.value = o.write_to_bytes().unwrap();
        let info = runtime_info(&any.write_to_bytes().unwrap()).unwrap();
        assert_eq!(features_of(&info)["ociVersionMax"], "1.2.0");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
