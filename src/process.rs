//! One process of a container (its init, or an exec) and the state machine
//! containerd drives it through: created -> running -> stopped, then deleted.

use std::sync::Mutex;

use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::io::{ProcessIo, StdioPaths};
use crate::locked::Locked;
use crate::reaper::Exit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Stopped,
}

#[derive(Debug)]
struct State {
    pid: u32,
    status: Status,
    exit: Option<Exit>,
    /// Start is running: an exit that arrives now waits for its event.
    starting: bool,
    /// An exit arrived during Start; its event is published after TaskStart.
    held_exit: bool,
    deleting: bool,
}

pub struct Process {
    /// The exec id, or the container id for the init process.
    pub id: String,
    pub stdio: StdioPaths,
    state: Mutex<State>,
    exited: watch::Sender<Option<Exit>>,
    io: Mutex<ProcessIo>,
}

/// What the caller must publish after a state change.
#[derive(Debug, PartialEq)]
pub enum ExitEvent {
    /// Publish the exit now.
    Now(Exit),
    /// Start is still running: the exit is published when it ends.
    Held,
}

impl Process {
    pub fn new(id: String, pid: u32, stdio: StdioPaths, io: ProcessIo) -> Self {
        Process {
            id,
            stdio,
            state: Mutex::new(State {
                pid,
                status: Status::Created,
                exit: None,
                starting: false,
                held_exit: false,
                deleting: false,
            }),
            exited: watch::channel(None).0,
            io: Mutex::new(io),
        }
    }

    /// Records the pid of an exec process, known once it started.
    pub fn set_pid(&self, pid: u32) {
        self.state.locked().pid = pid;
    }

    /// Installs the stdio copies of an exec process, opened at its start.
    pub fn set_io(&self, io: ProcessIo) {
        *self.io.locked() = io;
    }

    pub fn pid(&self) -> u32 {
        self.state.locked().pid
    }

    pub fn status(&self) -> Status {
        self.state.locked().status
    }

    pub fn exit(&self) -> Option<Exit> {
        self.state.locked().exit
    }

    /// Start may run once, from created.
    pub fn begin_start(&self) -> Result<u32> {
        let mut s = self.state.locked();
        match (s.status, s.starting) {
            (Status::Created, false) if !s.deleting => {
                s.starting = true;
                Ok(s.pid)
            }
            (Status::Created, _) => Err(Error::FailedPrecondition(format!(
                "process {} is already being started or deleted",
                self.id
            ))),
            (Status::Running, _) => Err(Error::FailedPrecondition(format!(
                "cannot start process {}: it is already running",
                self.id
            ))),
            (Status::Stopped, _) => Err(Error::FailedPrecondition(format!(
                "cannot start process {}: it has already exited",
                self.id
            ))),
        }
    }

    /// Ends Start. Returns the exit whose event was held back, if any: the
    /// caller publishes it after TaskStart, so containerd sees them in order.
    pub fn end_start(&self, started: bool) -> Option<Exit> {
        let mut s = self.state.locked();
        s.starting = false;
        if started && s.status == Status::Created {
            s.status = Status::Running;
        }
        if std::mem::take(&mut s.held_exit) {
            s.exit
        } else {
            None
        }
    }

    /// Start failed before anything ran (an exec whose binary is missing):
    /// the process is stopped with status 255, and no exit event is due.
    pub fn fail_start(&self) {
        let exit = Exit {
            status: 255,
            at: std::time::SystemTime::now(),
        };
        {
            let mut s = self.state.locked();
            s.starting = false;
            s.status = Status::Stopped;
            s.exit = Some(exit);
        }
        self.exited.send_replace(Some(exit));
    }

    /// Records the process's exit (from the reaper).
    /// The process was reaped: State says STOPPED with its exit status and
    /// Kill answers NotFound from now on, as containerd-shim-runc-v2 answers
    /// them, while its output may still be draining. Wait and the exit event
    /// come with `set_exited`, once the output is out.
    pub fn mark_reaped(&self, exit: Exit) {
        let mut s = self.state.locked();
        s.status = Status::Stopped;
        s.exit = Some(exit);
    }

    pub fn set_exited(&self, exit: Exit) -> ExitEvent {
        let event = {
            let mut s = self.state.locked();
            s.status = Status::Stopped;
            s.exit = Some(exit);
            if s.starting {
                s.held_exit = true;
                ExitEvent::Held
            } else {
                ExitEvent::Now(exit)
            }
        };
        self.exited.send_replace(Some(exit));
        event
    }

    /// The pid to signal; a process that has exited is NotFound.
    pub fn signal_target(&self) -> Result<u32> {
        let s = self.state.locked();
        match s.status {
            Status::Stopped => Err(Error::NotFound(format!(
                "process {} already finished",
                self.id
            ))),
            // An exec that has not started has no pid: never signal pid 0.
            _ if s.pid == 0 => Err(Error::FailedPrecondition(format!(
                "process {} has not been started",
                self.id
            ))),
            _ => Ok(s.pid),
        }
    }

    /// Delete may run once, on a created or stopped process.
    pub fn begin_delete(&self) -> Result<Status> {
        let mut s = self.state.locked();
        if s.deleting {
            return Err(Error::FailedPrecondition(format!(
                "process {} is already being deleted",
                self.id
            )));
        }
        if s.starting || s.status == Status::Running {
            return Err(Error::FailedPrecondition(format!(
                "cannot delete process {}: it is running; stop it first",
                self.id
            )));
        }
        s.deleting = true;
        Ok(s.status)
    }

    /// Lets a failed Delete be tried again.
    pub fn abort_delete(&self) {
        self.state.locked().deleting = false;
    }

    /// Resolves once the process has exited.
    pub async fn wait(&self) -> Exit {
        let mut rx = self.exited.subscribe();
        loop {
            if let Some(exit) = *rx.borrow_and_update() {
                return exit;
            }
            if rx.changed().await.is_err() {
                // The sender lives as long as the process: unreachable in
                // practice, but never report a made-up exit.
                std::future::pending::<()>().await;
            }
        }
    }

    pub fn resize(&self, cols: u32, rows: u32) -> Result<()> {
        self.io.locked().resize(cols, rows)
    }

    pub fn close_stdin(&self) {
        self.io.locked().close_stdin();
    }

    /// Resolves once the process's output has been copied out.
    pub fn io_drained(&self) -> watch::Receiver<bool> {
        self.io.locked().drained()
    }

    /// Takes the stdio copies out, to drain them.
    pub fn take_io(&self) -> ProcessIo {
        std::mem::take(&mut *self.io.locked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn p() -> Process {
        Process::new("c".into(), 42, StdioPaths::default(), ProcessIo::default())
    }

    fn exit(status: u32) -> Exit {
        Exit {
            status,
            at: SystemTime::now(),
        }
    }

    #[test]
    fn runs_the_normal_lifecycle() {
        let p = p();
        assert_eq!(p.status(), Status::Created);
        assert_eq!(p.begin_start().unwrap(), 42);
        assert_eq!(p.end_start(true), None);
        assert_eq!(p.status(), Status::Running);
        assert!(matches!(
            p.begin_delete(),
            Err(Error::FailedPrecondition(_))
        ));
        assert_eq!(p.set_exited(exit(3)), ExitEvent::Now(p.exit().unwrap()));
        assert_eq!(p.status(), Status::Stopped);
        assert_eq!(p.begin_delete().unwrap(), Status::Stopped);
        assert!(matches!(
            p.begin_delete(),
            Err(Error::FailedPrecondition(_))
        ));
    }

    #[test]
    fn a_reaped_process_is_stopped_at_once_and_waited_for_after_its_output() {
        let p = p();
        p.begin_start().unwrap();
        p.end_start(true);
        p.mark_reaped(exit(9));
        assert_eq!(p.status(), Status::Stopped);
        assert_eq!(p.exit().unwrap().status, 9);
        assert!(matches!(p.signal_target(), Err(Error::NotFound(_))));
        // Wait is still pending: the exit is reported with set_exited.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let pending =
                tokio::time::timeout(std::time::Duration::from_millis(20), p.wait()).await;
            assert!(pending.is_err(), "Wait returned before set_exited");
        });
        assert!(matches!(p.set_exited(p.exit().unwrap()), ExitEvent::Now(_)));
        assert_eq!(rt.block_on(p.wait()).status, 9);
    }

    #[test]
    fn start_twice_and_start_after_exit_are_refused() {
        let p = p();
        p.begin_start().unwrap();
        assert!(matches!(p.begin_start(), Err(Error::FailedPrecondition(_))));
        p.end_start(true);
        let e = p.begin_start().unwrap_err();
        assert!(e.to_string().contains("already running"), "{e}");
        p.set_exited(exit(0));
        let e = p.begin_start().unwrap_err();
        assert!(e.to_string().contains("already exited"), "{e}");
    }

    #[test]
    fn an_exit_during_start_is_held_until_start_ends() {
        let p = p();
        p.begin_start().unwrap();
        assert_eq!(p.set_exited(exit(7)), ExitEvent::Held);
        let held = p.end_start(true).expect("held exit is handed back");
        assert_eq!(held.status, 7);
        // stays stopped: the exit won, even though start succeeded
        assert_eq!(p.status(), Status::Stopped);
    }

    #[test]
    fn kill_after_exit_is_not_found() {
        let p = p();
        assert_eq!(p.signal_target().unwrap(), 42);
        p.set_exited(exit(137));
        assert!(matches!(p.signal_target(), Err(Error::NotFound(_))));
    }

    #[test]
    fn a_created_process_can_be_deleted() {
        let p = p();
        assert_eq!(p.begin_delete().unwrap(), Status::Created);
        assert!(matches!(p.begin_start(), Err(Error::FailedPrecondition(_))));
        p.abort_delete();
        p.begin_delete().unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn wait_returns_the_exit_even_if_it_came_first() {
        let p = p();
        p.set_exited(exit(9));
        assert_eq!(p.wait().await.status, 9);
    }
}
