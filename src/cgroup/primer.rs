//! Starts the kernel's wait for a cgroup migration before the runtime needs
//! one.
//!
//! Every write to a `cgroup.procs` file takes the kernel's global
//! `cgroup_threadgroup_rwsem` for writing, and when no migration happened in
//! about the last grace period, taking it first waits for an RCU grace
//! period: 7.6-15.6 ms on the development host (HZ=250), against 0.13 ms for
//! a write within ~15 ms of the previous one (unless the host's cgroups are
//! mounted with `favordynmods`). Each container create and each exec makes
//! such a write on its critical path: libcontainer's intermediate process, or
//! runc, joins the container's cgroup.
//!
//! So while a Create or an exec's Start is being prepared, the shim starts
//! and then keeps up that state itself, from a blocking thread: every few
//! milliseconds it moves itself into the cgroup it is already in, a
//! migration that changes nothing. When the runtime's own write comes, the
//! grace period has passed (or is under way) and it waits only for what is
//! left of it. One thread serves all the requests in flight; it stops when
//! none is left.
//!
//! Each of those writes also takes the lock that every fork and exit on the
//! node takes for reading. That cost to other processes was measured (a
//! fork loop beside the primer, and while 20 containers start) and is
//! within the noise (docs/performance.md), so the primer is on unless a
//! container's runtime options say `CgroupPrimer = false`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{path_in, Layout, CGROUP_ROOT, V1_CONTROLLERS};
use crate::error::{Error, Result};
use crate::locked::Locked;

/// Time between two primer migrations: well inside the ~10 ms for which the
/// kernel keeps the passed grace period after a write.
const INTERVAL: Duration = Duration::from_millis(4);

struct State {
    /// Requests holding a [`Primed`].
    held: usize,
    /// Keep going until then even if nothing is held (Exec until its Start).
    until: Option<Instant>,
    running: bool,
    /// The host refused the migration once: do not try again.
    refused: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    held: 0,
    until: None,
    running: false,
    refused: false,
});

/// Migrations made since the process started (the benchmark reads it).
static MIGRATIONS: AtomicU64 = AtomicU64::new(0);

/// How many no-op migrations the primer has made in this process.
pub fn migrations() -> u64 {
    MIGRATIONS.load(Ordering::Relaxed)
}

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE.locked()
}

/// Keeps the kernel's migration path warm while this guard lives.
#[must_use = "the primer stops when the guard is dropped"]
pub struct Primed(());

impl Drop for Primed {
    fn drop(&mut self) {
        state().held -= 1;
    }
}

/// Keeps the migration path warm until the guard is dropped: hold it across
/// the runtime call that joins a cgroup. `why` names the request (logged).
pub fn keep_primed(why: &str) -> Primed {
    log::debug!("cgroup migration primer held for {why}");
    let mut s = state();
    s.held += 1;
    run(&mut s);
    Primed(())
}

/// Keeps the migration path warm for `how_long` without a guard: from an
/// Exec to the Start that follows it. `why` names the request (logged).
pub fn prime_for(how_long: Duration, why: &str) {
    log::debug!("cgroup migration primer held for {why}");
    let mut s = state();
    let until = Instant::now() + how_long;
    s.until = Some(s.until.map_or(until, |u| u.max(until)));
    run(&mut s);
}

fn wanted(s: &State) -> bool {
    !s.refused && (s.held > 0 || s.until.is_some_and(|u| Instant::now() < u))
}

/// Starts the primer thread unless it runs (or the host refused it).
fn run(s: &mut State) {
    if s.running || !wanted(s) {
        return;
    }
    s.running = true;
    log::debug!("cgroup migration primer starts");
    tokio::task::spawn_blocking(|| {
        let root = Path::new(CGROUP_ROOT);
        let layout = Layout::of(root);
        let mut migrations = 0u32;
        loop {
            let result = migrate_self(root, layout);
            let mut s = state();
            match result {
                Ok(()) => {
                    migrations += 1;
                    MIGRATIONS.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    log::debug!("cgroup migration primer refused: {e}");
                    s.refused = true;
                }
            }
            if !wanted(&s) {
                s.running = false;
                log::debug!("cgroup migration primer stops after {migrations} migrations");
                return;
            }
            drop(s);
            std::thread::sleep(INTERVAL);
        }
    });
}

/// Moves this process into the cgroup it is in (read from
/// /proc/self/cgroup just before the write: the shim may have been moved
/// since), in one hierarchy under `root`, which is mounted with `layout`.
fn migrate_self(root: &Path, layout: Layout) -> Result<()> {
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| Error::io("read /proc/self/cgroup", e))?;
    let procs = own_procs_file(root, layout, &own)?;
    super::fs::write(&procs, &std::process::id().to_string())
}

/// The `cgroup.procs` of the cgroup that `/proc/self/cgroup` text `own`
/// places the process in: on v1 in the first of [`V1_CONTROLLERS`] that
/// is listed, on v2 in the unified hierarchy.
fn own_procs_file(root: &Path, layout: Layout, own: &str) -> Result<PathBuf> {
    let found = match layout {
        Layout::V1 => V1_CONTROLLERS.iter().find_map(|c| {
            path_in(own, c).map(|path| root.join(c).join(path.trim_start_matches('/')))
        }),
        Layout::V2 => path_in(own, "").map(|path| root.join(path.trim_start_matches('/'))),
    };
    found
        .map(|dir| dir.join("cgroup.procs"))
        .ok_or_else(|| Error::NotFound(format!("no {layout:?} hierarchy in /proc/self/cgroup")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "9:name=systemd:/\n8:pids:/\n4:memory:/shims/a\n\
                          2:cpuacct:/\n1:cpu:/\n0::/\n";

    #[test]
    fn v1_uses_the_first_listed_controller_and_the_process_s_own_path() {
        let root = Path::new("/r");
        let own = "4:memory:/shims/a\n2:cpu,cpuacct:/x\n0::/\n";
        assert_eq!(
            own_procs_file(root, Layout::V1, own).unwrap(),
            PathBuf::from("/r/memory/shims/a/cgroup.procs")
        );
        assert_eq!(
            own_procs_file(root, Layout::V1, HYBRID).unwrap(),
            PathBuf::from("/r/pids/cgroup.procs")
        );
    }

    #[test]
    fn v2_uses_the_unified_line() {
        let own = "0::/system.slice/containerd.service\n";
        assert_eq!(
            own_procs_file(Path::new("/r"), Layout::V2, own).unwrap(),
            PathBuf::from("/r/system.slice/containerd.service/cgroup.procs")
        );
    }

    #[test]
    fn no_matching_hierarchy_is_not_found() {
        let err = own_procs_file(Path::new("/r"), Layout::V2, "4:memory:/a\n").unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err}");
        let err = own_procs_file(Path::new("/r"), Layout::V1, "0::/\n").unwrap_err();
        assert!(err.to_string().contains("V1"), "{err}");
    }

    /// On the real host: the primer's migration succeeds and leaves the
    /// process in the cgroups it was in.
    #[test]
    fn migrating_self_changes_no_cgroup() {
        let before = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        migrate_self(Path::new(CGROUP_ROOT), super::super::layout()).unwrap();
        assert_eq!(
            std::fs::read_to_string("/proc/self/cgroup").unwrap(),
            before
        );
    }

    /// The primer thread runs while a guard or a lease is held, and ends
    /// once neither is left.
    #[tokio::test(flavor = "current_thread")]
    async fn the_primer_runs_while_held_and_then_stops() {
        let running = || state().running;
        let wait_stopped = || async {
            for _ in 0..200 {
                if !running() {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            false
        };
        let before = migrations();
        let guard = keep_primed("a test");
        assert!(running());
        prime_for(Duration::from_millis(20), "a test");
        drop(guard);
        assert!(
            wait_stopped().await,
            "the primer kept running after its lease"
        );
        assert_eq!(state().held, 0);
        assert!(!state().refused, "this host refused the no-op migration");
        assert!(migrations() > before, "the primer made no migration");
    }
}
