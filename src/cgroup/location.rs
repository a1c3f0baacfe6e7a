//! Where a container's cgroup really is, from the spec's `cgroupsPath` and
//! the cgroup driver: a cgroupfs path is the directory itself; a systemd
//! path (`slice:prefix:name`) is a transient unit `<prefix>-<name>.scope`
//! in that slice, whose directory systemd derives from the slice's name
//! (`a-b.slice` lives in `/a.slice/a-b.slice`), as runc and libcgroups do.
//! Everything that reads or writes the cgroup afterwards (stats, OOM,
//! freezer, update, kill-all, ps) uses the resolved path.

use crate::error::{Error, Result};

/// Who makes the container's cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// The runtime makes the directory itself.
    Cgroupfs,
    /// systemd makes a transient scope, asked over D-Bus.
    Systemd,
}

/// The slice systemd's driver puts a unit in when the path names none
/// (runc's and libcgroups' default for a system instance).
const DEFAULT_SLICE: &str = "system.slice";

/// Whether `path` has the systemd driver's form, `slice:prefix:name`: not
/// absolute, three fields, the first empty or a slice. containerd's CRI
/// plugin sends it whenever the kubelet's cgroup parent is a slice.
pub fn is_systemd_form(path: &str) -> bool {
    let fields: Vec<&str> = path.split(':').collect();
    !path.starts_with('/')
        && fields.len() == 3
        && (fields[0].is_empty() || fields[0].ends_with(".slice"))
        && !fields[2].is_empty()
}

/// The driver for `path`: systemd when the runtime options ask for it
/// (`SystemdCgroup`) or the path has its form.
pub fn driver_for(path: &str, systemd_cgroup: bool) -> Driver {
    if systemd_cgroup || is_systemd_form(path) {
        Driver::Systemd
    } else {
        Driver::Cgroupfs
    }
}

/// The cgroup's path below the root of the hierarchy (`/default/c1`,
/// `/kubepods.slice/kubepods-pod1.slice/cri-containerd-c1.scope`).
/// InvalidArgument naming the path when the driver cannot take it, with
/// runc's wording for a cgroupfs path given to the systemd driver.
pub fn resolve(path: &str, driver: Driver) -> Result<String> {
    match driver {
        Driver::Cgroupfs => Ok(path.to_string()),
        Driver::Systemd => {
            if !is_systemd_form(path) {
                return Err(Error::InvalidArgument(format!(
                    "expected cgroupsPath to be of format \"slice:prefix:name\" for systemd \
                     cgroups, got {path:?} instead"
                )));
            }
            let mut fields = path.splitn(3, ':');
            let (slice, prefix, name) = (
                fields.next().unwrap_or_default(),
                fields.next().unwrap_or_default(),
                fields.next().unwrap_or_default(),
            );
            let slice = if slice.is_empty() {
                DEFAULT_SLICE
            } else {
                slice
            };
            let parent = expand_slice(slice)
                .map_err(|why| Error::InvalidArgument(format!("cgroupsPath {path:?}: {why}")))?;
            Ok(format!("{parent}/{}", unit_name(prefix, name)))
        }
    }
}

/// The unit systemd makes for `prefix` and `name`: the name itself when it
/// is a slice, else a scope.
pub fn unit_name(prefix: &str, name: &str) -> String {
    if name.ends_with(".slice") {
        name.to_string()
    } else {
        format!("{prefix}-{name}.scope")
    }
}

/// The directory of `slice` below the root: `-.slice` is the root itself,
/// `a-b-c.slice` is `/a.slice/a-b.slice/a-b-c.slice`.
fn expand_slice(slice: &str) -> std::result::Result<String, String> {
    let bad = || format!("invalid slice name {slice:?}");
    let stem = slice.strip_suffix(".slice").ok_or_else(bad)?;
    if stem.is_empty() || slice.contains('/') {
        return Err(bad());
    }
    if stem == "-" {
        return Ok(String::new());
    }
    let mut dir = String::new();
    let mut prefix = String::new();
    for part in stem.split('-') {
        if part.is_empty() {
            return Err(bad());
        }
        prefix = if prefix.is_empty() {
            part.to_string()
        } else {
            format!("{prefix}-{part}")
        };
        dir.push('/');
        dir.push_str(&prefix);
        dir.push_str(".slice");
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_the_systemd_form_from_cgroupfs_paths() {
        for p in [
            "kubepods-burstable-pod1.slice:cri-containerd:c1",
            "system.slice:docker:abc",
            ":ctr:c1",
        ] {
            assert!(is_systemd_form(p), "{p}");
        }
        for p in [
            "/default/c1",
            "default/c1",
            "/a:b:c",
            "a:b:c",
            "x.slice:p:",
            "a.slice:b",
        ] {
            assert!(!is_systemd_form(p), "{p}");
        }
    }

    #[test]
    fn the_driver_follows_the_option_or_the_form() {
        assert_eq!(driver_for("/default/c1", false), Driver::Cgroupfs);
        assert_eq!(driver_for("/default/c1", true), Driver::Systemd);
        assert_eq!(driver_for("system.slice:p:c1", false), Driver::Systemd);
    }

    #[test]
    fn resolves_slices_as_systemd_names_their_directories() {
        let cases = [
            (
                "kubepods-burstable-pod1.slice:cri-containerd:c1",
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-c1.scope",
            ),
            ("kubepods.slice:cri-containerd:c2", "/kubepods.slice/cri-containerd-c2.scope"),
            ("system.slice:docker:abc", "/system.slice/docker-abc.scope"),
            (":ctr:c1", "/system.slice/ctr-c1.scope"),
            ("-.slice:p:c1", "/p-c1.scope"),
            ("test.slice:p:inner.slice", "/test.slice/inner.slice"),
        ];
        for (path, want) in cases {
            assert_eq!(resolve(path, Driver::Systemd).unwrap(), want, "{path}");
        }
        assert_eq!(
            resolve("/default/c1", Driver::Cgroupfs).unwrap(),
            "/default/c1"
        );
    }

    #[test]
    fn refuses_what_systemd_cannot_take_naming_it() {
        let e = resolve("/default/c1", Driver::Systemd).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
        assert!(
            e.to_string().contains("slice:prefix:name") && e.to_string().contains("/default/c1")
        );
        for bad in ["a--b.slice:p:c", "-a.slice:p:c"] {
            let e = resolve(bad, Driver::Systemd).unwrap_err();
            assert!(e.to_string().contains("invalid slice name"), "{bad}: {e}");
        }
    }
}
