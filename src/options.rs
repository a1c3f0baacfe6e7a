//! Runtime options containerd sends: in Create's `options` and on the stdin
//! of `start` (or inside its bootstrap parameters), as a protobuf Any. Three
//! messages can arrive, and all become one [`ShimOptions`]:
//!
//! - `containerd.runc.v1.Options`: runtimes configured with runc's options
//!   type, and containerd's client helpers for runtimes named
//!   `io.containerd.runc*`;
//! - `containerd.linux.runc.CreateOptions`: the same client helpers
//!   (`WithNoPivotRoot`, `WithNoNewKeyring`, `WithShimCgroup`,
//!   `WithUIDOwner`/`WithGIDOwner`) for every other runtime name, so `ctr run
//!   --runtime io.containerd.rust.v2 --no-pivot` sends this one;
//! - `runtimeoptions.v1.Options`: containerd's CRI plugin for a runtime type
//!   it has no options type for (ours), pointing at a TOML file.
//!
//! (`containerd.linux.runc.RuncOptions`, the v1 linux runtime's options, is
//! read too: its fields map onto the same ones.)

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::Message;
use containerd_shim_protos::shim::oci::Options;

use crate::error::{Error, Result};

/// Generated at build time from protos/ (see build.rs).
/// The allows are the generated files' own (build.rs strips inner attributes).
#[allow(
    unknown_lints,
    clippy::all,
    unused_attributes,
    dead_code,
    missing_docs,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    trivial_casts,
    unused_results,
    unused_mut
)]
mod protos {
    pub mod runctypes {
        include!(concat!(env!("OUT_DIR"), "/protos/runctypes.rs"));
    }
    pub mod runtimeoptions {
        include!(concat!(env!("OUT_DIR"), "/protos/runtimeoptions.rs"));
    }
}

pub use protos::runctypes::{CreateOptions, RuncOptions};
pub use protos::runtimeoptions::Options as RuntimeOptions;

pub const RUNC_OPTIONS: &str = "containerd.runc.v1.Options";
pub const CREATE_OPTIONS: &str = "containerd.linux.runc.CreateOptions";
pub const RUNC_V1_OPTIONS: &str = "containerd.linux.runc.RuncOptions";
pub const RUNTIME_OPTIONS: &str = "runtimeoptions.v1.Options";

/// Every options type the shim reads.
pub const KNOWN_TYPES: [&str; 4] = [
    RUNC_OPTIONS,
    CREATE_OPTIONS,
    RUNC_V1_OPTIONS,
    RUNTIME_OPTIONS,
];

/// Where systemd, when it runs as init, says so (sd_booted(3)).
pub const SYSTEMD_RUNNING: &str = "/run/systemd/system";
/// The PATH to search when the shim has none (runc's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The runtime options the shim honours, whichever message they came in.
/// Everything here has been validated by [`ShimOptions::decode`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShimOptions {
    /// Create the container with MS_MOVE instead of pivot_root.
    pub no_pivot_root: bool,
    /// Do not give the container a session keyring of its own.
    pub no_new_keyring: bool,
    /// An existing cgroup (absolute, no `..`) to move the shim into.
    pub shim_cgroup: Option<String>,
    /// Owner of the stdio pipes the shim makes for the container's processes.
    pub io_uid: u32,
    pub io_gid: u32,
    /// An external OCI runtime (runc CLI compatible) to use instead of the
    /// embedded one: the absolute path of the executable, resolved on PATH
    /// at decode time when the options named a bare binary.
    pub binary_name: Option<PathBuf>,
    /// The runtime's state root (absolute, no `..`).
    pub root: Option<PathBuf>,
    /// Let systemd manage the cgroups (transient scopes), for the embedded
    /// runtime and runc alike. Only with a running systemd: decode refuses
    /// it otherwise.
    pub systemd_cgroup: bool,
    /// Keep the kernel's cgroup migration path warm while a create or an
    /// exec is prepared (`CgroupPrimer` in a TOML options file; see
    /// crate::cgroup's primer). None: the default, [`PRIMER_BY_DEFAULT`].
    pub cgroup_primer: Option<bool>,
}

/// Whether the cgroup migration primer runs when the options do not say:
/// docs/performance.md has the host-wide cost it was chosen on.
pub const PRIMER_BY_DEFAULT: bool = true;

impl ShimOptions {
    /// Whether creates and execs under these options run the primer.
    pub fn primer(&self) -> bool {
        self.cgroup_primer.unwrap_or(PRIMER_BY_DEFAULT)
    }
}

/// The type name of an Any, without the optional `type.googleapis.com/` host.
fn type_name(any: &Any) -> &str {
    type_name_of(&any.type_url)
}

fn type_name_of(type_url: &str) -> &str {
    type_url.rsplit('/').next().unwrap_or_default()
}

/// Whether `type_url` (with or without its host) names an options type the
/// shim reads.
pub fn is_known_type(type_url: &str) -> bool {
    KNOWN_TYPES.contains(&type_name_of(type_url))
}

/// What decoding looks at on the machine; tests put fakes here.
struct Host<'a> {
    systemd_running: &'a Path,
    path_var: Option<OsString>,
}

impl Host<'_> {
    fn real() -> Host<'static> {
        Host {
            systemd_running: Path::new(SYSTEMD_RUNNING),
            path_var: std::env::var_os("PATH"),
        }
    }
}

fn parse<M: Message>(any: &Any) -> Result<M> {
    M::parse_from_bytes(&any.value).map_err(|e| {
        Error::InvalidArgument(format!("malformed {} runtime options: {e}", type_name(any)))
    })
}

/// `Some(s)` for a non-empty string.
fn set(s: String) -> Option<String> {
    Some(s).filter(|s| !s.is_empty())
}

impl ShimOptions {
    /// Decodes and validates the options; none at all (absent or empty Any)
    /// means the defaults. Errors are InvalidArgument naming the type or the
    /// field at fault (FailedPrecondition for systemd_cgroup without systemd).
    pub fn decode(any: Option<&Any>) -> Result<ShimOptions> {
        Self::decode_on(any, &Host::real())
    }

    fn decode_on(any: Option<&Any>, host: &Host) -> Result<ShimOptions> {
        // The fields runc's Options and the older CreateOptions share, under
        // the same names (two generated types, no common trait).
        macro_rules! shared_fields {
            ($o:expr) => {
                ShimOptions {
                    no_pivot_root: $o.no_pivot_root,
                    no_new_keyring: $o.no_new_keyring,
                    shim_cgroup: set($o.shim_cgroup.clone()),
                    io_uid: $o.io_uid,
                    io_gid: $o.io_gid,
                    ..Default::default()
                }
            };
        }
        let Some(any) = any.filter(|a| !a.type_url.is_empty() || !a.value.is_empty()) else {
            return Ok(ShimOptions::default());
        };
        // (raw binary name, raw root, the rest)
        let (binary, root, mut opts) = match type_name(any) {
            RUNC_OPTIONS => {
                let o: Options = parse(any)?;
                let opts = ShimOptions {
                    systemd_cgroup: o.systemd_cgroup,
                    ..shared_fields!(o)
                };
                (o.binary_name, o.root, opts)
            }
            CREATE_OPTIONS => {
                let o: CreateOptions = parse(any)?;
                let opts = shared_fields!(o);
                (String::new(), String::new(), opts)
            }
            RUNC_V1_OPTIONS => {
                let o: RuncOptions = parse(any)?;
                let opts = ShimOptions {
                    systemd_cgroup: o.systemd_cgroup,
                    ..Default::default()
                };
                (o.runtime, o.runtime_root, opts)
            }
            RUNTIME_OPTIONS => {
                let o: RuntimeOptions = parse(any)?;
                if !o.config_path.is_empty() {
                    let text = std::fs::read_to_string(&o.config_path).map_err(|e| {
                        Error::InvalidArgument(format!(
                            "{RUNTIME_OPTIONS} config_path {:?}: {e}",
                            o.config_path
                        ))
                    })?;
                    from_toml(&text, &format!("config_path {:?}", o.config_path))?
                } else if !o.config_body.is_empty() {
                    let text = String::from_utf8(o.config_body).map_err(|_| {
                        Error::InvalidArgument(format!(
                            "{RUNTIME_OPTIONS} config_body is not UTF-8 TOML"
                        ))
                    })?;
                    from_toml(&text, "config_body")?
                } else {
                    (String::new(), String::new(), ShimOptions::default())
                }
            }
            other => {
                return Err(Error::InvalidArgument(format!(
                    "unsupported runtime options type {other:?} (expected one of {})",
                    KNOWN_TYPES.join(", ")
                )))
            }
        };
        if let Some(cg) = &opts.shim_cgroup {
            check_absolute("shim_cgroup", cg)?;
        }
        if !root.is_empty() {
            check_absolute("root", &root)?;
            opts.root = Some(PathBuf::from(root));
        }
        if !binary.is_empty() {
            opts.binary_name = Some(resolve_binary_in(
                "binary_name",
                &binary,
                host.path_var.as_deref(),
            )?);
        }
        if opts.systemd_cgroup && !host.systemd_running.is_dir() {
            return Err(Error::FailedPrecondition(format!(
                "systemd_cgroup: systemd is not running ({} does not exist); give the \
                 containers cgroupfs paths and leave SystemdCgroup unset",
                host.systemd_running.display()
            )));
        }
        Ok(opts)
    }
}

/// Reads runtime options from TOML, as containerd's CRI plugin writes them
/// from a runtime's `options` table: the `containerd.runc.v1.Options` field
/// names (`BinaryName`, `Root`, `SystemdCgroup`, `NoPivotRoot`, ...), matched
/// without regard to case as containerd's TOML decoder does. Returns
/// (binary name, root, the rest), like the protobuf forms.
fn from_toml(text: &str, source: &str) -> Result<(String, String, ShimOptions)> {
    let bad = |why: String| Error::InvalidArgument(format!("{RUNTIME_OPTIONS} {source}: {why}"));
    let doc: toml_edit::DocumentMut = text.parse().map_err(|e| bad(format!("not TOML: {e}")))?;
    let (mut binary, mut root, mut opts) = (String::new(), String::new(), ShimOptions::default());
    for (key, item) in doc.iter() {
        let value = item
            .as_value()
            .ok_or_else(|| bad(format!("{key} must be a value, not a table")))?;
        let text = || {
            value
                .as_str()
                .map(String::from)
                .ok_or_else(|| bad(format!("{key} must be a string")))
        };
        let flag = || {
            value
                .as_bool()
                .ok_or_else(|| bad(format!("{key} must be true or false")))
        };
        let id = || {
            value
                .as_integer()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad(format!("{key} must be a uid/gid number")))
        };
        match key.to_ascii_lowercase().as_str() {
            "binaryname" => binary = text()?,
            "root" => root = text()?,
            "shimcgroup" => opts.shim_cgroup = set(text()?),
            "systemdcgroup" => opts.systemd_cgroup = flag()?,
            "nopivotroot" => opts.no_pivot_root = flag()?,
            "nonewkeyring" => opts.no_new_keyring = flag()?,
            "iouid" => opts.io_uid = id()?,
            "iogid" => opts.io_gid = id()?,
            // This shim's own: not a field of runc's Options.
            "cgroupprimer" => opts.cgroup_primer = Some(flag()?),
            // Checkpointing is not supported here (no CRIU): accepted, unused.
            "criupath" | "criuimagepath" | "criuworkpath" => {
                text()?;
            }
            _ => return Err(bad(format!("unknown option {key}"))),
        }
    }
    Ok((binary, root, opts))
}

/// An absolute path with no `..` component (nor NUL byte).
fn check_absolute(field: &str, value: &str) -> Result<()> {
    let bad = |why: &str| Error::InvalidArgument(format!("{field} {value:?}: {why}"));
    if !value.starts_with('/') {
        return Err(bad("must be an absolute path"));
    }
    if value.contains('\0') {
        return Err(bad("must not contain a NUL byte"));
    }
    if Path::new(value)
        .components()
        .any(|c| c == Component::ParentDir)
    {
        return Err(bad("must not contain .."));
    }
    Ok(())
}

/// [`resolve_binary_in`] on the shim's PATH.
pub fn resolve_binary(field: &str, name: &str) -> Result<PathBuf> {
    resolve_binary_in(field, name, std::env::var_os("PATH").as_deref())
}

/// The executable `name` stands for: an absolute path as it is, a bare name
/// looked up on `path_var` (the shim's PATH, as runc's caller would).
/// Checked at decode time, so that a missing runtime fails Create (or
/// `start`) with its name rather than a later exec. Errors are
/// InvalidArgument naming `field` and `name`.
fn resolve_binary_in(field: &str, name: &str, path_var: Option<&OsStr>) -> Result<PathBuf> {
    let bad = |why: String| Error::InvalidArgument(format!("{field} {name:?}: {why}"));
    if name.contains('\0') {
        return Err(bad("must not contain a NUL byte".into()));
    }
    if name.contains('/') {
        if !name.starts_with('/') {
            return Err(bad(
                "must be a bare name (looked up on PATH) or an absolute path".into(),
            ));
        }
        let path = PathBuf::from(name);
        return match executable(&path) {
            Ok(()) => Ok(path),
            Err(why) => Err(bad(why)),
        };
    }
    let search = path_var
        .filter(|p| !p.is_empty())
        .unwrap_or(OsStr::new(DEFAULT_PATH));
    // Only absolute PATH entries: a relative one would depend on the cwd.
    std::env::split_paths(search)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|p| executable(p).is_ok())
        .ok_or_else(|| {
            bad(format!(
                "no executable of that name on PATH ({})",
                search.to_string_lossy()
            ))
        })
}

/// Ok for a regular file with an execute bit; else why not.
fn executable(path: &Path) -> std::result::Result<(), String> {
    match std::fs::metadata(path) {
        Err(e) => Err(format!("{}: {e}", path.display())),
        Ok(m) if !m.is_file() => Err(format!("{} is not a regular file", path.display())),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => {
            Err(format!("{} is not executable", path.display()))
        }
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_of(m: &dyn containerd_shim_protos::protobuf::MessageDyn, url: &str) -> Any {
        let mut a = Any::new();
        a.type_url = url.into();
        a.value = m.write_to_bytes_dyn().unwrap();
        a
    }

    /// A host without systemd and with `dir` as the whole PATH.
    struct Fake {
        dir: PathBuf,
    }

    impl Fake {
        fn new(tag: &str) -> Fake {
            let dir = std::env::temp_dir().join(format!("shim-opts-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("bin")).unwrap();
            Fake { dir }
        }

        fn host(&self) -> Host<'_> {
            Host {
                systemd_running: Path::new("/nonexistent/run/systemd/system"),
                path_var: Some(self.dir.join("bin").into_os_string()),
            }
        }

        fn with_systemd(&self) -> Host<'_> {
            Host {
                systemd_running: &self.dir,
                ..self.host()
            }
        }

        /// An executable `bin/<name>`.
        fn tool(&self, name: &str, mode: u32) -> PathBuf {
            let p = self.dir.join("bin").join(name);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p
        }
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn invalid(r: Result<ShimOptions>) -> String {
        match r {
            Err(Error::InvalidArgument(m)) => m,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn no_options_are_the_defaults() {
        assert_eq!(ShimOptions::decode(None).unwrap(), ShimOptions::default());
        assert_eq!(
            ShimOptions::decode(Some(&Any::new())).unwrap(),
            ShimOptions::default()
        );
    }

    #[test]
    fn decodes_runc_options_with_or_without_type_host() {
        let fake = Fake::new("runc");
        let runc = fake.tool("runc", 0o755);
        let mut o = Options::new();
        o.no_pivot_root = true;
        o.no_new_keyring = true;
        o.shim_cgroup = "/shims/a".into();
        o.io_uid = 1000;
        o.io_gid = 1001;
        o.binary_name = "runc".into();
        o.root = "/run/x".into();
        o.criu_image_path = "/ignored/criu".into();
        let want = ShimOptions {
            no_pivot_root: true,
            no_new_keyring: true,
            shim_cgroup: Some("/shims/a".into()),
            io_uid: 1000,
            io_gid: 1001,
            binary_name: Some(runc.clone()),
            root: Some("/run/x".into()),
            systemd_cgroup: false,
            cgroup_primer: None,
        };
        for url in [
            RUNC_OPTIONS,
            "type.googleapis.com/containerd.runc.v1.Options",
        ] {
            let got = ShimOptions::decode_on(Some(&any_of(&o, url)), &fake.host()).unwrap();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn decodes_create_options_with_or_without_type_host() {
        let mut o = CreateOptions::new();
        o.no_pivot_root = true;
        o.no_new_keyring = true;
        o.shim_cgroup = "/shims/b".into();
        o.io_uid = 2000;
        o.io_gid = 2001;
        o.criu_image_path = "/ignored".into();
        o.empty_namespaces = vec!["network".into()];
        let want = ShimOptions {
            no_pivot_root: true,
            no_new_keyring: true,
            shim_cgroup: Some("/shims/b".into()),
            io_uid: 2000,
            io_gid: 2001,
            ..Default::default()
        };
        for url in [
            CREATE_OPTIONS,
            "type.googleapis.com/containerd.linux.runc.CreateOptions",
        ] {
            assert_eq!(ShimOptions::decode(Some(&any_of(&o, url))).unwrap(), want);
        }
        // What `ctr run --no-pivot` sends for a non-runc runtime name.
        let mut ctr = CreateOptions::new();
        ctr.no_pivot_root = true;
        let got = ShimOptions::decode(Some(&any_of(&ctr, CREATE_OPTIONS))).unwrap();
        assert!(got.no_pivot_root && !got.no_new_keyring);
    }

    #[test]
    fn decodes_the_v1_runtimes_runc_options() {
        let fake = Fake::new("v1");
        let crun = fake.tool("crun", 0o755);
        let mut o = RuncOptions::new();
        o.runtime = "crun".into();
        o.runtime_root = "/run/crun".into();
        let got = ShimOptions::decode_on(Some(&any_of(&o, RUNC_V1_OPTIONS)), &fake.host()).unwrap();
        assert_eq!(got.binary_name, Some(crun));
        assert_eq!(got.root, Some(PathBuf::from("/run/crun")));
    }

    #[test]
    fn cri_runtime_options_without_a_config_are_the_defaults() {
        let mut o = RuntimeOptions::new();
        o.type_url = "io.containerd.rust.v1.Options".into();
        for url in [
            RUNTIME_OPTIONS,
            "type.googleapis.com/runtimeoptions.v1.Options",
        ] {
            assert_eq!(
                ShimOptions::decode(Some(&any_of(&o, url))).unwrap(),
                ShimOptions::default()
            );
        }
        o.config_path = "/nonexistent/rust.toml".into();
        let msg = invalid(ShimOptions::decode(Some(&any_of(&o, RUNTIME_OPTIONS))));
        assert!(
            msg.contains("config_path") && msg.contains("/nonexistent/rust.toml"),
            "{msg}"
        );
    }

    #[test]
    fn cri_runtime_options_read_their_toml() {
        let path = std::env::temp_dir().join(format!("shim-opts-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "# the runtime's options table\nBinaryName = \"/bin/true\"\nroot = \"/run/r\"\n\
             NoPivotRoot = true\nIoUid = 1000\nIoGid = 1001\nShimCgroup = \"/shims\"\n",
        )
        .unwrap();
        let mut o = RuntimeOptions::new();
        o.config_path = path.display().to_string();
        let got = ShimOptions::decode(Some(&any_of(&o, RUNTIME_OPTIONS))).unwrap();
        assert_eq!(
            got,
            ShimOptions {
                binary_name: Some("/bin/true".into()),
                root: Some("/run/r".into()),
                no_pivot_root: true,
                io_uid: 1000,
                io_gid: 1001,
                shim_cgroup: Some("/shims".into()),
                ..Default::default()
            }
        );
        // containerd 2.x sends the table itself as config_body.
        let mut body = RuntimeOptions::new();
        body.config_body = b"NoNewKeyring = true\n".to_vec();
        let got = ShimOptions::decode(Some(&any_of(&body, RUNTIME_OPTIONS))).unwrap();
        assert!(got.no_new_keyring);
        assert_eq!(
            got.primer(),
            PRIMER_BY_DEFAULT,
            "no CgroupPrimer: the default"
        );
        for (toml, want) in [
            ("CgroupPrimer = false\n", false),
            ("cgroupprimer = true\n", true),
        ] {
            body.config_body = toml.as_bytes().to_vec();
            let got = ShimOptions::decode(Some(&any_of(&body, RUNTIME_OPTIONS))).unwrap();
            assert_eq!(
                (got.cgroup_primer, got.primer()),
                (Some(want), want),
                "{toml:?}"
            );
        }
        for (toml, needle) in [
            ("Bogus = 1\n", "unknown option Bogus"),
            ("CgroupPrimer = 1\n", "CgroupPrimer must be true or false"),
            (
                "NoPivotRoot = \"yes\"\n",
                "NoPivotRoot must be true or false",
            ),
            ("IoUid = -1\n", "IoUid must be a uid/gid number"),
            ("Root = \"relative\"\n", "root"),
            ("not = [toml\n", "not TOML"),
        ] {
            std::fs::write(&path, toml).unwrap();
            let msg = invalid(ShimOptions::decode(Some(&any_of(&o, RUNTIME_OPTIONS))));
            assert!(msg.contains(needle), "{toml:?}: {msg}");
        }
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn rejects_unknown_types_and_garbage() {
        let msg = invalid(ShimOptions::decode(Some(&any_of(
            &Options::new(),
            "example.Other",
        ))));
        assert!(msg.contains("example.Other"), "{msg}");
        for url in KNOWN_TYPES {
            let mut bad = Any::new();
            bad.type_url = url.into();
            bad.value = vec![0xff, 0xff, 0xff];
            let msg = invalid(ShimOptions::decode(Some(&bad)));
            assert!(msg.contains("malformed") && msg.contains(url), "{msg}");
        }
    }

    #[test]
    fn knows_its_types_with_or_without_host() {
        assert!(is_known_type(CREATE_OPTIONS));
        assert!(is_known_type(
            "type.googleapis.com/containerd.runc.v1.Options"
        ));
        assert!(!is_known_type("containerd.runc.v1.Other"));
        assert!(!is_known_type(""));
    }

    #[test]
    fn each_validation_error_names_its_field() {
        let fake = Fake::new("fields");
        let runc = |f: &dyn Fn(&mut Options)| {
            let mut o = Options::new();
            f(&mut o);
            ShimOptions::decode_on(Some(&any_of(&o, RUNC_OPTIONS)), &fake.host())
        };
        for (cg, why) in [
            ("shims/a", "absolute"),
            ("/shims/../a", ".."),
            ("/a\0b", "NUL"),
        ] {
            let msg = invalid(runc(&|o| o.shim_cgroup = cg.into()));
            assert!(msg.starts_with("shim_cgroup "), "{msg}");
            assert!(msg.contains(why), "{msg}");
        }
        let mut create = CreateOptions::new();
        create.shim_cgroup = "relative".into();
        let msg = invalid(ShimOptions::decode(Some(&any_of(&create, CREATE_OPTIONS))));
        assert!(msg.starts_with("shim_cgroup \"relative\""), "{msg}");

        for (root, why) in [("run/x", "absolute"), ("/run/../etc", "..")] {
            let msg = invalid(runc(&|o| o.root = root.into()));
            assert!(msg.starts_with("root "), "{msg}");
            assert!(msg.contains(why), "{msg}");
        }

        fake.tool("not-exec", 0o644);
        for (bin, why) in [
            ("no-such-runtime", "no executable of that name on PATH"),
            ("not-exec", "no executable of that name on PATH"),
            ("bin/runc", "bare name"),
            ("/nonexistent/runc", "No such file"),
            ("/tmp", "not a regular file"),
        ] {
            let msg = invalid(runc(&|o| o.binary_name = bin.into()));
            assert!(msg.starts_with(&format!("binary_name {bin:?}")), "{msg}");
            assert!(msg.contains(why), "{msg}");
        }
        let abs = fake.dir.join("bin/not-exec").display().to_string();
        let msg = invalid(runc(&|o| o.binary_name = abs.clone()));
        assert!(msg.contains("not executable"), "{msg}");
    }

    #[test]
    fn systemd_cgroup_needs_a_running_systemd() {
        let fake = Fake::new("systemd");
        fake.tool("runc", 0o755);
        for binary in ["runc", ""] {
            let mut o = Options::new();
            o.systemd_cgroup = true;
            o.binary_name = binary.into();
            let any = any_of(&o, RUNC_OPTIONS);
            match ShimOptions::decode_on(Some(&any), &fake.host()) {
                Err(Error::FailedPrecondition(m)) => {
                    assert!(
                        m.starts_with("systemd_cgroup: systemd is not running"),
                        "{m}"
                    )
                }
                other => panic!("expected FailedPrecondition, got {other:?}"),
            }
            // The embedded runtime ("") takes it as well as runc.
            let got = ShimOptions::decode_on(Some(&any), &fake.with_systemd()).unwrap();
            assert!(got.systemd_cgroup, "{binary:?}");
        }
    }

    #[test]
    fn resolves_bare_names_on_the_real_path() {
        // `sh` is on every PATH this shim runs with.
        let sh =
            resolve_binary_in("binary_name", "sh", std::env::var_os("PATH").as_deref()).unwrap();
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{}", sh.display());
    }
}
