//! Freezing and thawing a container's cgroup (the task service's Pause and
//! Resume). Both block the calling thread until the kernel reports the new
//! state, for a bounded time (about five seconds): call them through
//! `spawn_blocking` from the async service.

use std::path::Path;
use std::time::Duration;

use super::fs::{flat_keyed, read, write};
use super::{Cgroup, Layout};
use crate::error::{Error, Result};

/// How long to wait for the kernel to finish freezing or thawing.
#[derive(Clone, Copy, Debug)]
struct Wait {
    /// How many times to check the state.
    tries: u32,
    /// The pause between two checks.
    interval: Duration,
}

/// About five seconds; freezing usually takes a few milliseconds.
const WAIT: Wait = Wait {
    tries: 500,
    interval: Duration::from_millis(10),
};

/// Freezes every process in the container's cgroup at `cgroups_path`;
/// returns once the kernel reports the cgroup frozen.
pub fn freeze(cgroups_path: &str) -> Result<()> {
    set_frozen(&Cgroup::on_host(cgroups_path)?, true, WAIT)
}

/// Thaws the container's cgroup at `cgroups_path`; returns once the kernel
/// reports it thawed.
pub fn thaw(cgroups_path: &str) -> Result<()> {
    set_frozen(&Cgroup::on_host(cgroups_path)?, false, WAIT)
}

/// Freezes (`frozen`) or thaws `cg`, waiting at most `wait`.
fn set_frozen(cg: &Cgroup, frozen: bool, wait: Wait) -> Result<()> {
    let what = if frozen { "freeze" } else { "thaw" };
    let dir = cg.dir("freezer");
    let reached = match cg.layout {
        Layout::V1 => v1_set(&dir, frozen, wait)?,
        Layout::V2 => v2_set(&dir, frozen, wait)?,
    };
    if reached {
        Ok(())
    } else {
        Err(Error::Other(format!(
            "cgroup {} did not {what} within {:?}",
            dir.display(),
            wait.interval * wait.tries
        )))
    }
}

/// v1: writes FROZEN or THAWED to freezer.state (again on every check, as
/// runc does, so that processes forked meanwhile get frozen too) until it
/// reads back that state rather than FREEZING.
fn v1_set(dir: &Path, frozen: bool, wait: Wait) -> Result<bool> {
    let file = dir.join("freezer.state");
    let want = if frozen { "FROZEN" } else { "THAWED" };
    poll(wait, || {
        write(&file, want)?;
        match read(&file)?.trim() {
            s if s == want => Ok(true),
            "FREEZING" => Ok(false),
            other => Err(Error::Other(format!(
                "{}: unexpected state {other:?} after writing {want}",
                file.display()
            ))),
        }
    })
}

/// v2: writes 1 or 0 to cgroup.freeze, then waits until cgroup.events
/// says `frozen 1` or `frozen 0`.
fn v2_set(dir: &Path, frozen: bool, wait: Wait) -> Result<bool> {
    let want = u64::from(frozen);
    write(&dir.join("cgroup.freeze"), &want.to_string())?;
    let events = dir.join("cgroup.events");
    poll(wait, || {
        let text = read(&events)?;
        match flat_keyed(&text).get("frozen") {
            Some(v) => Ok(*v == want),
            None => Err(Error::Other(format!(
                "{}: no \"frozen\" line",
                events.display()
            ))),
        }
    })
}

/// Calls `check` until it returns true, at most `wait.tries` times with
/// `wait.interval` in between; false when it never did.
fn poll(wait: Wait, mut check: impl FnMut() -> Result<bool>) -> Result<bool> {
    for i in 0..wait.tries {
        if i > 0 {
            std::thread::sleep(wait.interval);
        }
        if check()? {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::super::fixture::Root;
    use super::*;

    const QUICK: Wait = Wait {
        tries: 3,
        interval: Duration::from_millis(1),
    };

    fn cgroup(root: &Root, layout: Layout) -> Cgroup {
        Cgroup::existing(root.path(), layout, "/default/c1").unwrap()
    }

    #[test]
    fn freezes_and_thaws_v1() {
        let r = Root::v1("frz1");
        r.write("freezer/default/c1/freezer.state", "THAWED\n");
        let cg = cgroup(&r, Layout::V1);
        set_frozen(&cg, true, QUICK).unwrap();
        assert_eq!(r.read("freezer/default/c1/freezer.state"), "FROZEN");
        set_frozen(&cg, false, QUICK).unwrap();
        assert_eq!(r.read("freezer/default/c1/freezer.state"), "THAWED");
    }

    #[test]
    fn v1_without_a_freezer_names_the_file() {
        let r = Root::v1("frz1-none");
        r.write("memory/default/c1/memory.stat", "");
        let err = set_frozen(&cgroup(&r, Layout::V1), true, QUICK).unwrap_err();
        assert!(
            err.to_string().contains("freezer/default/c1/freezer.state"),
            "{err}"
        );
    }

    #[test]
    fn freezes_and_thaws_v2_once_cgroup_events_agree() {
        let r = Root::v2("frz2");
        r.write("default/c1/cgroup.freeze", "0\n");
        r.write("default/c1/cgroup.events", "populated 1\nfrozen 1\n");
        let cg = cgroup(&r, Layout::V2);
        set_frozen(&cg, true, QUICK).unwrap();
        assert_eq!(r.read("default/c1/cgroup.freeze"), "1");

        // The kernel still says frozen: thawing times out, naming the cgroup.
        let err = set_frozen(&cg, false, QUICK).unwrap_err().to_string();
        assert_eq!(r.read("default/c1/cgroup.freeze"), "0");
        assert!(err.contains("default/c1 did not thaw within 3ms"), "{err}");

        r.write("default/c1/cgroup.events", "populated 1\nfrozen 0\n");
        set_frozen(&cg, false, QUICK).unwrap();
    }

    #[test]
    fn v2_cgroup_events_without_frozen_is_an_error() {
        let r = Root::v2("frz2-bad");
        r.write("default/c1/cgroup.freeze", "0\n");
        r.write("default/c1/cgroup.events", "populated 1\n");
        let err = set_frozen(&cgroup(&r, Layout::V2), true, QUICK).unwrap_err();
        assert!(
            err.to_string()
                .contains("cgroup.events: no \"frozen\" line"),
            "{err}"
        );
    }

    #[test]
    fn polls_until_the_state_is_reached_or_the_tries_run_out() {
        let mut calls = 0;
        assert!(poll(QUICK, || {
            calls += 1;
            Ok(calls == 2)
        })
        .unwrap());
        assert_eq!(calls, 2);
        calls = 0;
        assert!(!poll(QUICK, || {
            calls += 1;
            Ok(false)
        })
        .unwrap());
        assert_eq!(calls, 3);
    }

    /// A real cgroup (v1: its freezer hierarchy; v2: cgroup.freeze)
    /// holding a sleeping process.
    #[test]
    fn freezes_and_thaws_a_real_cgroup() {
        let Some(cg) = super::super::fixture::RealCgroup::create("freezer", "freeze") else {
            return;
        };
        let mut child = cg.spawn("sleep 30");
        let pid = child.id().to_string();
        let procs = cg.dir.join("cgroup.procs");
        let joined = poll(WAIT, || Ok(read(&procs)?.lines().any(|l| l == pid))).unwrap();
        assert!(joined, "{pid} never joined {}", cg.dir.display());
        let (file, frozen, thawed) = match cg.layout {
            Layout::V1 => ("freezer.state", "FROZEN", "THAWED"),
            // v2: cgroup.events says whether the tasks have stopped.
            Layout::V2 => ("cgroup.events", "frozen 1", "frozen 0"),
        };
        let state = || {
            let text = read(&cg.dir.join(file)).unwrap();
            match cg.layout {
                Layout::V1 => text.trim().to_string(),
                Layout::V2 => text
                    .lines()
                    .find(|l| l.starts_with("frozen "))
                    .unwrap_or_default()
                    .to_string(),
            }
        };

        freeze(&cg.path).unwrap();
        assert_eq!(state(), frozen);
        thaw(&cg.path).unwrap();
        assert_eq!(state(), thawed);
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_missing_cgroup_is_not_found() {
        let err = freeze("/shim-test-no-such-cgroup/c1").unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err}");
        assert!(
            err.to_string().contains("/shim-test-no-such-cgroup/c1"),
            "{err}"
        );
    }
}
