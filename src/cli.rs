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
            other => return Err(format!("flag provided but not defined: -{other}")),
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
}
