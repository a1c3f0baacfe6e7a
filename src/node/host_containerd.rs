//! The containerd of this host, as the node commands see it: its binary on
//! `PATH`, its version (`containerd --version`), where its config and the
//! shim binary live by default, and how to restart it.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::containerd_config::ConfigVersion;

pub const DEFAULT_CONFIG: &str = "/etc/containerd/config.toml";
/// Where the shim goes when no containerd is found on PATH.
pub const FALLBACK_PREFIX: &str = "/usr/local/bin";
pub const DEFAULT_HANDLER: &str = "rust";
pub const SHIM_BINARY: &str = "containerd-shim-rust-v2";

/// The first executable `name` on `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[derive(Debug, Clone)]
pub struct Containerd {
    pub binary: PathBuf,
    /// "2.1.9", from `containerd --version`'s line (without the
    /// distribution's suffix).
    pub version: String,
    pub major: u32,
}

impl Containerd {
    /// The minor version ("2.3.4" -> 3; 0 when unreadable).
    pub fn minor(&self) -> u32 {
        self.version
            .split('.')
            .nth(1)
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }

    /// The config format this containerd writes by default.
    pub fn config_version(&self) -> Option<ConfigVersion> {
        ConfigVersion::for_containerd(self.major, self.minor())
    }

    /// Whether this containerd reads a config of `version`.
    pub fn reads(&self, version: ConfigVersion) -> bool {
        (self.major, self.minor()) >= version.oldest_reader()
    }
}

/// containerd on PATH and its version; `Err` says why it is unknown.
pub fn detect() -> Result<Containerd, String> {
    let binary = find_on_path("containerd").ok_or("no containerd on PATH")?;
    query(&binary)
}

/// The version of a given containerd binary.
pub fn query(binary: &Path) -> Result<Containerd, String> {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .map_err(|e| format!("{} --version: {e}", binary.display()))?;
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        return Err(format!(
            "{} --version failed ({}): {}",
            binary.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let (version, major) = parse_version(&line).ok_or_else(|| {
        format!(
            "{} --version: cannot read a version in {line:?}",
            binary.display()
        )
    })?;
    Ok(Containerd {
        binary: binary.to_path_buf(),
        version,
        major,
    })
}

/// "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1" ->
/// ("1.6.20", 1).
pub fn parse_version(line: &str) -> Option<(String, u32)> {
    let major = crate::bootstrap::major_version(line)?;
    let word = line.split_whitespace().nth(2)?.trim_start_matches('v');
    let version: String = word
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let version = version.trim_end_matches('.').to_string();
    (!version.is_empty()).then_some((version, major))
}

/// The command that restarts containerd on this host, for the user to run:
/// the node commands never restart it themselves (running containers keep
/// running across a restart, but the moment is the operator's choice).
pub fn restart_hint() -> &'static str {
    if Path::new("/run/systemd/system").is_dir() {
        "systemctl restart containerd"
    } else {
        "restart containerd the way it is supervised here (no systemd running), e.g. `service containerd restart`"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_version_lines_of_the_three_releases() {
        for (line, want, major) in [
            (
                "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3",
                "1.6.20",
                1,
            ),
            (
                "containerd github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6+deb13u1",
                "1.7.24",
                1,
            ),
            (
                "containerd github.com/containerd/containerd/v2 2.1.9+unknown ",
                "2.1.9",
                2,
            ),
            ("containerd containerd.io v1.7.27 05044ec0a9a7", "1.7.27", 1),
        ] {
            assert_eq!(
                parse_version(line),
                Some((want.to_string(), major)),
                "{line}"
            );
        }
        assert_eq!(parse_version("containerd"), None);
        assert_eq!(parse_version("containerd x y"), None);
    }

    #[test]
    fn finds_executables_on_path_only() {
        // sh is on every PATH this runs with; a directory named like a
        // binary is not a match.
        assert!(find_on_path("sh").is_some());
        assert!(find_on_path("no-such-binary-containerd-shim-test").is_none());
    }
}
