//! Everything the shim does with a container's cgroup: which processes it
//! holds, its statistics, freezing, resource updates and OOM notices.
//! libcontainer creates and removes the cgroup; the shim reads and changes
//! its files in-process (nothing here forks).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

mod freezer;
mod fs;
mod kmsg;
mod location;
mod oom;
mod primer;
mod stats;
mod systemd_unit;
pub mod update;

pub use freezer::{freeze, thaw};
pub use location::{driver_for, resolve, Driver};
pub use oom::OomWatcher;
pub use primer::{keep_primed, migrations as primer_migrations, prime_for};
pub use stats::metrics;
pub use systemd_unit::set_unit_properties;
pub use update::{parse_resources, update};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// v1 hierarchies to look in, in order; any one lists the same processes.
const V1_CONTROLLERS: [&str; 8] = [
    "pids", "memory", "cpu", "freezer", "devices", "cpuacct", "cpuset", "blkio",
];

/// How the cgroup tree is mounted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One hierarchy per controller (`/sys/fs/cgroup/memory/...`). Hybrid
    /// hosts, whose cgroup2 tree sits unused at `unified/`, count as v1.
    V1,
    /// The unified hierarchy mounted at the root itself.
    V2,
}

impl Layout {
    /// The layout of the tree mounted at `root`: v2 when `root` itself is a
    /// cgroup2 hierarchy (it has `cgroup.controllers`), otherwise v1.
    pub fn of(root: &Path) -> Layout {
        if root.join("cgroup.controllers").exists() {
            Layout::V2
        } else {
            Layout::V1
        }
    }
}

/// The cgroup path that `/proc/<pid>/cgroup` text gives for `controller`'s
/// v1 hierarchy, or for the unified hierarchy when `controller` is "".
fn path_in<'a>(proc_cgroup: &'a str, controller: &str) -> Option<&'a str> {
    // Lines are `hierarchy-id:controller,list:path`; v2's list is empty.
    proc_cgroup.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, list, path) = (f.next()?, f.next()?, f.next()?);
        list.split(',').any(|c| c == controller).then_some(path)
    })
}

/// The layout of this host's `/sys/fs/cgroup`.
#[cfg(test)]
pub fn layout() -> Layout {
    Layout::of(Path::new(CGROUP_ROOT))
}

/// Where one container's cgroup lives under a cgroup root: the host's
/// `/sys/fs/cgroup`, or a fixture directory in tests.
#[derive(Clone, Debug)]
struct Cgroup {
    root: PathBuf,
    layout: Layout,
    /// The cgroups path relative to the root of each hierarchy.
    rel: PathBuf,
}

impl Cgroup {
    /// The cgroup at `cgroups_path` (as in the spec, `/default/c1`) under
    /// `root`, which is mounted with `layout`.
    fn new(root: &Path, layout: Layout, cgroups_path: &str) -> Cgroup {
        Cgroup {
            root: root.to_path_buf(),
            layout,
            rel: PathBuf::from(cgroups_path.trim_start_matches('/')),
        }
    }

    /// The cgroup at `cgroups_path` on this host, which must exist.
    fn on_host(cgroups_path: &str) -> Result<Cgroup> {
        let root = Path::new(CGROUP_ROOT);
        Cgroup::existing(root, Layout::of(root), cgroups_path)
    }

    /// The cgroup at `cgroups_path` under `root`; NotFound naming the path
    /// when no hierarchy has it.
    fn existing(root: &Path, layout: Layout, cgroups_path: &str) -> Result<Cgroup> {
        let cg = Cgroup::new(root, layout, cgroups_path);
        if cg.exists() {
            Ok(cg)
        } else {
            Err(Error::NotFound(format!(
                "cgroup {cgroups_path} not found under {}",
                root.display()
            )))
        }
    }

    /// The directory holding `controller`'s files: `root/controller/path` on
    /// v1, `root/path` for every controller on v2.
    fn dir(&self, controller: &str) -> PathBuf {
        match self.layout {
            Layout::V1 => self.root.join(controller).join(&self.rel),
            Layout::V2 => self.root.join(&self.rel),
        }
    }

    /// Whether the cgroup exists (on v1: in at least one hierarchy).
    fn exists(&self) -> bool {
        match self.layout {
            Layout::V1 => V1_CONTROLLERS.iter().any(|c| self.dir(c).is_dir()),
            Layout::V2 => self.dir("").is_dir(),
        }
    }

    /// The cgroup's `cgroup.procs` (on v1: in the first hierarchy that has
    /// the cgroup).
    fn procs_file(&self) -> Option<PathBuf> {
        let dirs: Vec<PathBuf> = match self.layout {
            Layout::V1 => V1_CONTROLLERS.iter().map(|c| self.dir(c)).collect(),
            Layout::V2 => vec![self.dir("")],
        };
        dirs.into_iter()
            .map(|d| d.join("cgroup.procs"))
            .find(|p| p.exists())
    }
}

/// The pids in the container's cgroup (empty if it is gone).
pub fn procs(cgroups_path: &str) -> Vec<u32> {
    procs_under(Path::new(CGROUP_ROOT), cgroups_path)
}

fn procs_under(root: &Path, cgroups_path: &str) -> Vec<u32> {
    Cgroup::new(root, Layout::of(root), cgroups_path)
        .procs_file()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Moves `pid` into the existing cgroup at `cgroups_path` (on v1: in every
/// hierarchy that has it). The ShimCgroup runtime option puts the shim there.
pub fn add_process(cgroups_path: &str, pid: u32) -> Result<()> {
    add_process_under(Path::new(CGROUP_ROOT), cgroups_path, pid)
}

fn add_process_under(root: &Path, cgroups_path: &str, pid: u32) -> Result<()> {
    let cg = Cgroup::new(root, Layout::of(root), cgroups_path);
    let dirs: Vec<PathBuf> = match cg.layout {
        Layout::V1 => V1_CONTROLLERS.iter().map(|c| cg.dir(c)).collect(),
        Layout::V2 => vec![cg.dir("")],
    };
    let dirs: Vec<PathBuf> = dirs.into_iter().filter(|d| d.is_dir()).collect();
    if dirs.is_empty() {
        return Err(Error::NotFound(format!(
            "cgroup {cgroups_path} does not exist under {}",
            root.display()
        )));
    }
    for d in dirs {
        fs::write(&d.join("cgroup.procs"), &pid.to_string())?;
    }
    Ok(())
}

/// Fixture cgroup trees for the unit tests of this module.
#[cfg(test)]
mod fixture {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A temporary directory standing in for `/sys/fs/cgroup`; removed on
    /// drop.
    pub struct Root(PathBuf);

    impl Root {
        /// A fresh, empty v1 root (no `cgroup.controllers`).
        pub fn v1(tag: &str) -> Root {
            static SEQ: AtomicU32 = AtomicU32::new(0);
            let n = SEQ.fetch_add(1, Ordering::Relaxed);
            let d = std::env::temp_dir().join(format!("shim-cg-{tag}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            Root(d)
        }

        /// A fresh v2 root (it has `cgroup.controllers`).
        pub fn v2(tag: &str) -> Root {
            let r = Root::v1(tag);
            r.write("cgroup.controllers", "cpu io memory pids\n");
            r
        }

        pub fn path(&self) -> &Path {
            &self.0
        }

        /// Writes `text` to `rel` under the root, creating directories.
        pub fn write(&self, rel: &str, text: &str) {
            let p = self.0.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }

        /// The contents of `rel` under the root.
        pub fn read(&self, rel: &str) -> String {
            std::fs::read_to_string(self.0.join(rel)).unwrap()
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Says why a test on the host's real cgroups cannot run here, or,
    /// with SHIM_REAL_CGROUP_TESTS=1 (hack/test.sh sets it on its v1 host
    /// and on the cgroup v2 node), fails it: there, a skipped check would
    /// be a hole.
    pub fn skip(why: &str) {
        if std::env::var("SHIM_REAL_CGROUP_TESTS").as_deref() == Ok("1") {
            panic!("SHIM_REAL_CGROUP_TESTS=1, but {why}");
        }
        eprintln!("skipped, {why} (SHIM_REAL_CGROUP_TESTS=1 makes this a failure)");
    }

    /// A real cgroup of this host, made for one test: in one v1 hierarchy,
    /// or on v2 in the unified one with the controller enabled; on drop,
    /// whatever it still holds is killed and it is removed.
    pub struct RealCgroup {
        /// Its directory, `/sys/fs/cgroup/<controller>/<path>` on v1,
        /// `/sys/fs/cgroup/<path>` on v2.
        pub dir: PathBuf,
        /// Its cgroups path, as a spec names it.
        pub path: String,
        /// The layout it was made on.
        pub layout: super::Layout,
    }

    impl RealCgroup {
        /// A new cgroup with `controller` (a v1 hierarchy's name; on v2,
        /// `freezer` is the core's cgroup.freeze). Where that cannot be (not
        /// root, no such hierarchy or controller) it says why and returns
        /// None, or with SHIM_REAL_CGROUP_TESTS=1 fails the test.
        pub fn create(controller: &str, tag: &str) -> Option<RealCgroup> {
            let root = Path::new(super::CGROUP_ROOT);
            let layout = super::layout();
            let hierarchy = match layout {
                super::Layout::V1 => root.join(controller),
                super::Layout::V2 => root.to_path_buf(),
            };
            let v2_enabled = || {
                controller == "freezer"
                    || std::fs::read_to_string(root.join("cgroup.subtree_control"))
                        .is_ok_and(|c| c.split_whitespace().any(|c| c == controller))
            };
            let missing = if !nix::unistd::geteuid().is_root() {
                Some("the tests do not run as root".to_string())
            } else if layout == super::Layout::V1 && !hierarchy.join("cgroup.procs").exists() {
                Some(format!(
                    "no v1 {controller} hierarchy at {}",
                    hierarchy.display()
                ))
            } else if layout == super::Layout::V2 && !v2_enabled() {
                Some(format!(
                    "the v2 controller {controller} is not enabled in {}/cgroup.subtree_control",
                    root.display()
                ))
            } else {
                None
            };
            if let Some(why) = missing {
                skip(&why);
                return None;
            }
            static SEQ: AtomicU32 = AtomicU32::new(0);
            let n = SEQ.fetch_add(1, Ordering::Relaxed);
            let path = format!("/shim-test-{tag}-{}-{n}", std::process::id());
            let dir = hierarchy.join(path.trim_start_matches('/'));
            std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
            Some(RealCgroup { dir, path, layout })
        }

        /// Runs the shell command `command` inside the cgroup: the shell
        /// joins it, then execs the command.
        pub fn spawn(&self, command: &str) -> std::process::Child {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "echo $$ > {}/cgroup.procs && exec {command}",
                    self.dir.display()
                ))
                .spawn()
                .unwrap()
        }

        /// Writes `value` to the cgroup's `file`.
        pub fn write(&self, file: &str, value: &str) {
            let p = self.dir.join(file);
            std::fs::write(&p, value)
                .unwrap_or_else(|e| panic!("write {value} to {}: {e}", p.display()));
        }

        /// Kills what the cgroup holds and removes it, retrying while the
        /// kernel still counts exiting tasks (EBUSY), for up to 5 s.
        pub fn remove(&mut self) -> std::io::Result<()> {
            // Frozen tasks die only once thawed.
            let freezer_state = self.dir.join("freezer.state");
            if freezer_state.exists() {
                let _ = std::fs::write(freezer_state, "THAWED");
            }
            let freeze = self.dir.join("cgroup.freeze");
            if freeze.exists() {
                let _ = std::fs::write(freeze, "0");
            }
            let mut tries = 0;
            loop {
                for pid in std::fs::read_to_string(self.dir.join("cgroup.procs"))
                    .unwrap_or_default()
                    .lines()
                {
                    if let Ok(pid) = pid.trim().parse() {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::SIGKILL,
                        );
                    }
                }
                match std::fs::remove_dir(&self.dir) {
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 500 => {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                    other => return other,
                }
            }
        }
    }

    impl Drop for RealCgroup {
        fn drop(&mut self) {
            if let Err(e) = self.remove() {
                eprintln!("could not remove test cgroup {}: {e}", self.dir.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::Root;
    use super::*;

    #[test]
    fn a_process_joins_every_v1_hierarchy_that_has_the_cgroup() {
        let root = Root::v1("add");
        root.write("memory/shims/a/cgroup.procs", "");
        root.write("pids/shims/a/cgroup.procs", "");
        add_process_under(root.path(), "/shims/a", 42).unwrap();
        assert_eq!(root.read("memory/shims/a/cgroup.procs"), "42");
        assert_eq!(root.read("pids/shims/a/cgroup.procs"), "42");
        let e = add_process_under(root.path(), "/shims/none", 42).unwrap_err();
        assert!(
            matches!(e, Error::NotFound(_)) && e.to_string().contains("/shims/none"),
            "{e}"
        );
    }

    #[test]
    fn reads_v1_procs_from_the_first_mounted_controller() {
        let root = Root::v1("procs1");
        root.write("memory/default/c1/cgroup.procs", "12\n34\n");
        assert_eq!(procs_under(root.path(), "/default/c1"), vec![12, 34]);
        assert!(procs_under(root.path(), "/default/gone").is_empty());
    }

    #[test]
    fn reads_v2_procs_from_the_unified_tree() {
        let root = Root::v2("procs2");
        root.write("default/c1/cgroup.procs", "7\n");
        assert_eq!(procs_under(root.path(), "default/c1"), vec![7]);
    }

    #[test]
    fn tells_the_layouts_apart() {
        assert_eq!(Layout::of(Root::v1("lay1").path()), Layout::V1);
        assert_eq!(Layout::of(Root::v2("lay2").path()), Layout::V2);
        // A hybrid host: cgroup2 only below unified/.
        let hybrid = Root::v1("hybrid");
        hybrid.write("unified/cgroup.controllers", "");
        hybrid.write("memory/cgroup.procs", "1\n");
        assert_eq!(Layout::of(hybrid.path()), Layout::V1);
    }

    #[test]
    fn a_hybrid_host_counts_as_v1() {
        // The development host is hybrid: v1 controllers, plus a cgroup2
        // tree without controllers at unified/.
        if Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists() {
            assert_eq!(layout(), Layout::V1);
        }
    }

    #[test]
    fn a_missing_cgroup_is_not_found_naming_it() {
        let root = Root::v1("missing");
        root.write("memory/default/c1/memory.stat", "");
        assert!(Cgroup::existing(root.path(), Layout::V1, "/default/c1").is_ok());
        let err = Cgroup::existing(root.path(), Layout::V1, "/default/nope").unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err}");
        assert!(err.to_string().contains("/default/nope"), "{err}");
        let v2 = Root::v2("missing2");
        let err = Cgroup::existing(v2.path(), Layout::V2, "/default/nope").unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err}");
    }
}
