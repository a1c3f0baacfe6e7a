//! The kernel's own record of OOM kills, from its log (`/dev/kmsg`): for
//! each kill the OOM killer logs `oom-kill:...,task_memcg=<cgroup>,...`
//! before it sends the SIGKILL. A cgroup's `memory.events` says the same,
//! but only while the cgroup exists, and systemd removes an emptied scope
//! at once: an OOM that kills a scope's last process can be gone from
//! `memory.events` before the watcher reads it. The log still has it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;

use nix::errno::Errno;

const KMSG: &str = "/dev/kmsg";

/// A reader of the kernel log from the moment it was opened.
pub struct OomLog {
    file: File,
}

impl OomLog {
    /// Opens the kernel log at its end (older records are not ours), or
    /// None where it cannot be read (no CAP_SYSLOG, no /dev/kmsg).
    pub fn open() -> Option<OomLog> {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(KMSG)
            .map_err(|e| log::debug!("OOM watcher: no kernel log ({KMSG}: {e})"))
            .ok()?;
        file.seek(SeekFrom::End(0))
            .map_err(|e| log::debug!("OOM watcher: seek to the end of {KMSG}: {e}"))
            .ok()?;
        Some(OomLog { file })
    }

    /// The cgroups (paths below the root, `/system.slice/x.scope`) of the
    /// tasks the OOM killer has killed since the last call, one entry per
    /// kill.
    pub fn drain(&mut self) -> Vec<String> {
        let mut kills = Vec::new();
        // One record per read; a record is at most about 1 KiB of text.
        let mut buf = [0u8; 8192];
        loop {
            match self.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if let Some(cg) = task_memcg(&String::from_utf8_lossy(&buf[..n])) {
                        kills.push(cg.to_string());
                    }
                }
                // Records were overwritten before they were read: go on
                // with the oldest one left.
                Err(e) if e.raw_os_error() == Some(Errno::EPIPE as i32) => {}
                Err(e) if e.raw_os_error() == Some(Errno::EINTR as i32) => {}
                Err(e) if e.raw_os_error() == Some(Errno::EAGAIN as i32) => break,
                Err(e) => {
                    log::debug!("OOM watcher: read {KMSG}: {e}");
                    break;
                }
            }
        }
        kills
    }
}

/// The killed task's cgroup in a kernel log record
/// (`<prefix>;oom-kill:constraint=...,task_memcg=/a/b,task=...`), None for
/// any other record. That is the cgroup whose `memory.events` counts the
/// kill (the victim's, also when the limit hit was its parent's).
fn task_memcg(record: &str) -> Option<&str> {
    let message = record.split_once(';').map_or(record, |(_, m)| m);
    let fields = message.strip_prefix("oom-kill:")?;
    fields
        .trim_end()
        .split(',')
        .find_map(|f| f.strip_prefix("task_memcg="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_killed_tasks_cgroup_in_an_oom_kill_record() {
        let record = "6,1234,5678901,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),\
                      cpuset=/,mems_allowed=0,oom_memcg=/kubepods.slice/pod1.slice,\
                      task_memcg=/kubepods.slice/pod1.slice/cri-containerd-c1.scope,task=tail,\
                      pid=1639,uid=0\n";
        assert_eq!(
            task_memcg(record),
            Some("/kubepods.slice/pod1.slice/cri-containerd-c1.scope")
        );
        for other in [
            "3,1,2,-;Memory cgroup out of memory: Killed process 1639 (tail)\n",
            "6,5,6,-;something oom-kill:task_memcg=/x\n",
            "",
        ] {
            assert_eq!(task_memcg(other), None, "{other:?}");
        }
    }

    #[test]
    fn root_reads_the_log() {
        if nix::unistd::geteuid().is_root() && std::path::Path::new(KMSG).exists() {
            let mut log = OomLog::open().expect("root opens the kernel log");
            // Only OOM kills come out (the other tests here cause some).
            for cg in log.drain() {
                assert!(cg.starts_with('/'), "{cg}");
            }
        }
    }
}
