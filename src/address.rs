//! Which shim serves a container, and where its socket lives.
//!
//! Containers of one pod carry the same group annotation and therefore hash to
//! the same socket: the second `start` finds the first shim listening there.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Annotation runc's shim uses to group containers into one shim.
pub const GROUP_ANNOTATION: &str = "io.containerd.runc.v2.group";
/// Annotation containerd's CRI plugin puts on every container of a pod.
pub const SANDBOX_ANNOTATION: &str = "io.kubernetes.cri.sandbox-id";
/// Directory of shim sockets unless containerd names another (2.3's
/// `socket_dir`); only root can write it.
pub const SOCKET_DIR: &str = "/run/containerd/s";

/// The key that decides which shim serves a container.
pub fn group_key<'a>(annotations: &'a HashMap<String, String>, id: &'a str) -> &'a str {
    [GROUP_ANNOTATION, SANDBOX_ANNOTATION]
        .iter()
        .find_map(|k| annotations.get(*k).filter(|v| !v.is_empty()))
        .map(String::as_str)
        .unwrap_or(id)
}

/// `<dir>/<sha256(address/namespace/group)>`, as containerd's Go shims
/// name it; a filesystem socket, never an abstract one.
pub fn socket_path(dir: &Path, containerd_address: &str, namespace: &str, group: &str) -> PathBuf {
    let joined = format!("{containerd_address}/{namespace}/{group}");
    let digest = Sha256::digest(joined.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    dir.join(hex)
}

/// The socket path of a `unix://` address (what `start` wrote into the
/// bundle's `address` file).
pub fn path_of(address: &str) -> Option<PathBuf> {
    address
        .trim()
        .strip_prefix("unix://")
        .filter(|p| p.starts_with('/'))
        .map(PathBuf::from)
}

/// The address printed to containerd and written to the bundle.
pub fn to_address(path: &Path) -> String {
    format!("unix://{}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn group_annotation_wins_over_sandbox_id() {
        let a = ann(&[(SANDBOX_ANNOTATION, "pod"), (GROUP_ANNOTATION, "grp")]);
        assert_eq!(group_key(&a, "c1"), "grp");
    }

    #[test]
    fn sandbox_id_groups_a_pod() {
        let a = ann(&[(SANDBOX_ANNOTATION, "pod")]);
        assert_eq!(group_key(&a, "c1"), "pod");
        assert_eq!(group_key(&a, "c2"), "pod");
    }

    #[test]
    fn falls_back_to_the_container_id() {
        assert_eq!(group_key(&ann(&[]), "c1"), "c1");
        assert_eq!(group_key(&ann(&[(SANDBOX_ANNOTATION, "")]), "c1"), "c1");
    }

    #[test]
    fn socket_path_is_a_stable_hash_under_the_socket_dir() {
        let dir = Path::new(SOCKET_DIR);
        let p = socket_path(dir, "/run/containerd/containerd.sock", "default", "c1");
        // sha256("/run/containerd/containerd.sock/default/c1")
        let expected = Sha256::digest(b"/run/containerd/containerd.sock/default/c1");
        let hex: String = expected.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(p, Path::new(SOCKET_DIR).join(hex));
        assert_eq!(p.file_name().unwrap().len(), 64);
        assert_eq!(
            p,
            socket_path(dir, "/run/containerd/containerd.sock", "default", "c1")
        );
        let other = socket_path(
            Path::new("/srv/s"),
            "/run/containerd/containerd.sock",
            "default",
            "c1",
        );
        assert_eq!(other, Path::new("/srv/s").join(p.file_name().unwrap()));
    }

    #[test]
    fn socket_path_differs_by_namespace_address_and_group() {
        let d = Path::new(SOCKET_DIR);
        let base = socket_path(d, "/a.sock", "ns", "g");
        assert_ne!(base, socket_path(d, "/b.sock", "ns", "g"));
        assert_ne!(base, socket_path(d, "/a.sock", "ns2", "g"));
        assert_ne!(base, socket_path(d, "/a.sock", "ns", "g2"));
    }

    #[test]
    fn address_is_a_unix_url() {
        assert_eq!(
            to_address(Path::new("/run/containerd/s/ab")),
            "unix:///run/containerd/s/ab"
        );
        assert_eq!(
            path_of("unix:///run/x/ab\n"),
            Some(PathBuf::from("/run/x/ab"))
        );
        assert_eq!(path_of("/run/x/ab"), None);
        assert_eq!(path_of("unix://relative"), None);
    }
}
