//! The command line containerd uses to run a shim: Go-style flags
//! (`-namespace ns`, `-debug`, `--id=x`) and an optional action word
//! (`start`, `delete`). Without an action the process serves the task API.

use std::path::PathBuf;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Flags {
    pub namespace: String,
    pub id: String,
    /// containerd's grpc address: part of the socket name hash.
    pub address: String,
    pub publish_binary: String,
    pub bundle: Option<PathBuf>,
    pub socket: Option<String>,
    pub debug: bool,
    pub version: bool,
    /// `-info` (containerd 2.2+): print RuntimeInfo and exit.
    pub info: bool,
    pub action: Option<String>,
    /// Arguments after the action word (used by the internal runtime helper).
    pub rest: Vec<String>,
}

pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Flags, String> {
    let mut flags = Flags::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        if flags.action.is_some() {
            flags.rest.push(arg);
            continue;
        }
        let Some(stripped) = arg.strip_prefix('-') else {
            flags.action = Some(arg);
            continue;
        };
        let stripped = stripped.strip_prefix('-').unwrap_or(stripped);
        let (name, inline) = match stripped.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (stripped, None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .ok_or_else(|| format!("flag -{name} needs a value")),
            }
        };
        match name {
            "namespace" => flags.namespace = value(name)?,
            "id" => flags.id = value(name)?,
            "address" => flags.address = value(name)?,
            "publish-binary" => flags.publish_binary = value(name)?,
            "bundle" => flags.bundle = Some(PathBuf::from(value(name)?)),
            "socket" => flags.socket = Some(value(name)?),
            "debug" => flags.debug = parse_bool(inline.as_deref())?,
            "v" | "version" => flags.version = parse_bool(inline.as_deref())?,
            "info" => flags.info = parse_bool(inline.as_deref())?,
            other => return Err(format!("flag provided but not defined: -{other}")),
        }
    }
    Ok(flags)
}

/// The flags of the node commands (`install`, `uninstall`, `check`), read
/// from the words after the action: `--config PATH`, `--prefix DIR`,
/// `--handler NAME`, `--dry-run`, with one or two dashes and `=` or a
/// separate word for values, as Go's flag package reads them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct NodeFlags {
    pub config: Option<PathBuf>,
    pub prefix: Option<PathBuf>,
    pub handler: Option<String>,
    pub dry_run: bool,
}

/// `action` names the command in error messages; `allow_dry_run` is false
/// for `check`, which changes nothing anyway.
pub fn parse_node_flags(
    action: &str,
    args: &[String],
    allow_dry_run: bool,
) -> Result<NodeFlags, String> {
    let mut flags = NodeFlags::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let Some(stripped) = arg.strip_prefix('-') else {
            return Err(format!("{action}: unexpected argument {arg:?}"));
        };
        let stripped = stripped.strip_prefix('-').unwrap_or(stripped);
        let (name, inline) = match stripped.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (stripped, None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            let v = match &inline {
                Some(v) => v.clone(),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("{action}: flag -{name} needs a value"))?,
            };
            if v.is_empty() {
                return Err(format!("{action}: flag -{name} needs a non-empty value"));
            }
            Ok(v)
        };
        match name {
            "config" => flags.config = Some(PathBuf::from(value(name)?)),
            "prefix" => flags.prefix = Some(PathBuf::from(value(name)?)),
            "handler" => flags.handler = Some(value(name)?),
            "dry-run" if allow_dry_run => flags.dry_run = parse_bool(inline.as_deref())?,
            other => return Err(format!("{action}: flag provided but not defined: -{other}")),
        }
    }
    Ok(flags)
}

fn parse_bool(v: Option<&str>) -> Result<bool, String> {
    match v {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(format!("invalid boolean value {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Flags, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_containerd_start_command_line() {
        let f = p(&[
            "-namespace",
            "k8s.io",
            "-address",
            "/run/containerd/containerd.sock",
            "-publish-binary",
            "/usr/bin/containerd",
            "-id",
            "abc",
            "-debug",
            "start",
        ])
        .unwrap();
        assert_eq!(f.namespace, "k8s.io");
        assert_eq!(f.address, "/run/containerd/containerd.sock");
        assert_eq!(f.publish_binary, "/usr/bin/containerd");
        assert_eq!(f.id, "abc");
        assert!(f.debug);
        assert_eq!(f.action.as_deref(), Some("start"));
    }

    #[test]
    fn accepts_double_dash_and_inline_values() {
        let f = p(&[
            "--namespace=default",
            "-bundle=/b",
            "-debug=false",
            "delete",
        ])
        .unwrap();
        assert_eq!(f.namespace, "default");
        assert_eq!(f.bundle, Some(PathBuf::from("/b")));
        assert!(!f.debug);
        assert_eq!(f.action.as_deref(), Some("delete"));
    }

    #[test]
    fn version_flag() {
        assert!(p(&["-v"]).unwrap().version);
    }

    #[test]
    fn rejects_unknown_flags_and_missing_values() {
        assert!(p(&["-bogus"]).unwrap_err().contains("-bogus"));
        assert!(p(&["-id"]).unwrap_err().contains("-id needs a value"));
    }

    #[test]
    fn keeps_arguments_after_the_action() {
        let f = p(&["oci-helper", "create", "--id", "x"]).unwrap();
        assert_eq!(f.action.as_deref(), Some("oci-helper"));
        assert_eq!(f.rest, vec!["create", "--id", "x"]);
    }

    fn node(action: &str, args: &[&str], dry: bool) -> Result<NodeFlags, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse_node_flags(action, &args, dry)
    }

    #[test]
    fn parses_node_command_flags() {
        let f = node(
            "install",
            &[
                "--config",
                "/c.toml",
                "-prefix=/opt/bin",
                "--handler=fast",
                "--dry-run",
            ],
            true,
        )
        .unwrap();
        assert_eq!(f.config, Some(PathBuf::from("/c.toml")));
        assert_eq!(f.prefix, Some(PathBuf::from("/opt/bin")));
        assert_eq!(f.handler.as_deref(), Some("fast"));
        assert!(f.dry_run);
        assert_eq!(node("uninstall", &[], true).unwrap(), NodeFlags::default());
    }

    #[test]
    fn node_flags_name_the_bad_input() {
        let e = node("check", &["--dry-run"], false).unwrap_err();
        assert!(e.contains("check") && e.contains("-dry-run"), "{e}");
        let e = node("install", &["--config"], true).unwrap_err();
        assert!(e.contains("-config needs a value"), "{e}");
        let e = node("install", &["--prefix="], true).unwrap_err();
        assert!(e.contains("-prefix needs a non-empty value"), "{e}");
        let e = node("install", &["stray"], true).unwrap_err();
        assert!(e.contains("unexpected argument \"stray\""), "{e}");
    }
}
