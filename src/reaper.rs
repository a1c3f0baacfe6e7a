//! The shim is the child subreaper of everything it starts: the OCI runtime
//! helper, every container init (reparented to us when the helper exits) and
//! anything orphaned inside a container without its own pid namespace.
//!
//! This module is the only place that calls `waitpid`. SIGCHLD wakes one loop
//! that reaps every exited child and hands each status to whoever waits for
//! that pid. An exit that arrives before anyone asked for it (a helper that
//! died at once, an init killed before Start returned) is kept until claimed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::locked::Locked;
use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::oneshot;

/// How long an unclaimed exit is kept (exits of orphans nobody asks about).
const UNCLAIMED_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The exit code, or 128 + signal number for a signal death.
    pub status: u32,
    pub at: SystemTime,
}

#[derive(Default)]
struct Inner {
    waiters: HashMap<i32, oneshot::Sender<Exit>>,
    unclaimed: HashMap<i32, (Exit, Instant)>,
}

#[derive(Clone, Default)]
pub struct Reaper {
    inner: Arc<Mutex<Inner>>,
}

impl Reaper {
    /// Makes this process the child subreaper and starts the SIGCHLD loop.
    /// Call before spawning any child, inside the tokio runtime.
    pub fn start() -> std::io::Result<Self> {
        nix::sys::prctl::set_child_subreaper(true).map_err(std::io::Error::from)?;
        let mut sigchld = signal(SignalKind::child())?;
        let reaper = Reaper::default();
        let r = reaper.clone();
        tokio::spawn(async move {
            loop {
                r.reap_all();
                if sigchld.recv().await.is_none() {
                    break;
                }
            }
        });
        Ok(reaper)
    }

    /// A receiver that resolves with `pid`'s exit. Register right after the
    /// pid is known; an exit reaped earlier is delivered from the backlog.
    pub fn subscribe(&self, pid: i32) -> oneshot::Receiver<Exit> {
        let (tx, rx) = oneshot::channel();
        let mut inner = self.inner.locked();
        match inner.unclaimed.remove(&pid) {
            Some((exit, _)) => {
                let _ = tx.send(exit);
            }
            None => {
                inner.waiters.insert(pid, tx);
            }
        }
        rx
    }

    /// Waits, at most `limit`, for the exit status of a child the caller
    /// just spawned (a runtime helper or an external runtime). A child that
    /// overruns is SIGKILLed (its exit is reaped later) and None returned.
    pub async fn wait_bounded(&self, pid: u32, limit: std::time::Duration) -> Option<u32> {
        match tokio::time::timeout(limit, self.subscribe(pid as i32)).await {
            Ok(Ok(exit)) => Some(exit.status),
            // The reaper lives as long as the shim: a dropped sender means
            // it is shutting down, and nothing will run after this.
            Ok(Err(_)) => None,
            Err(_) => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
                None
            }
        }
    }

    fn reap_all(&self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => self.deliver(pid.as_raw(), code as u32),
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    self.deliver(pid.as_raw(), 128 + sig as u32)
                }
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
                Ok(_) => continue,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    log::warn!("waitpid: {e}");
                    return;
                }
            }
        }
    }

    fn deliver(&self, pid: i32, status: u32) {
        let exit = Exit {
            status,
            at: SystemTime::now(),
        };
        log::debug!("reaped pid {pid} with status {status}");
        let mut inner = self.inner.locked();
        if let Some(tx) = inner.waiters.remove(&pid) {
            if tx.send(exit).is_ok() {
                return;
            }
        }
        let now = Instant::now();
        inner
            .unclaimed
            .retain(|_, (_, seen)| now.duration_since(*seen) < UNCLAIMED_TTL);
        inner.unclaimed.insert(pid, (exit, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exit_reaped_before_subscription_is_not_lost() {
        let r = Reaper::default();
        r.deliver(4242, 7);
        let mut rx = r.subscribe(4242);
        assert_eq!(rx.try_recv().unwrap().status, 7);
        // claimed once only
        let mut again = r.subscribe(4242);
        assert!(again.try_recv().is_err());
    }

    #[test]
    fn a_subscriber_receives_the_exit() {
        let r = Reaper::default();
        let mut rx = r.subscribe(99);
        assert!(rx.try_recv().is_err());
        r.deliver(99, 137);
        assert_eq!(rx.try_recv().unwrap().status, 137);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn reaps_a_real_child_and_reports_signal_deaths() {
        // The only unit test that spawns a child: reap_all waits for any pid,
        // so the Reaper, not `child.wait()`, reaps it.
        let r = Reaper::default();
        #[allow(clippy::zombie_processes)]
        let child = std::process::Command::new("sh")
            .args(["-c", "kill -TERM $$"])
            .spawn()
            .unwrap();
        let mut rx = r.subscribe(child.id() as i32);
        let exit = loop {
            r.reap_all();
            if let Ok(e) = rx.try_recv() {
                break e;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert_eq!(exit.status, 128 + 15);
    }
}
