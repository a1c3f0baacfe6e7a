//! Exit-event latency: how long after a container's init dies containerd's
//! event subscribers see its /tasks/exit.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{common, scale, short, Shim};

/// `ctr events` is started first; the container's own /tasks/start arriving
/// proves the subscription is live. Then the init is SIGKILLed from the host
/// and the clock runs until the /tasks/exit line naming it is read from
/// ctr's stdout (ctr prints each event unbuffered). ctr's and containerd's
/// share of that path is the same for both shims.
pub fn exit_latency(s: &Shim, tag: &str) -> f64 {
    let id = format!("bench-exit-{}-{tag}", short(s));
    let mut events = common::ctr_cmd(&["events"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run ctr events");
    let out = events.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    let names_id = |l: &str| l.contains(&format!("\"container_id\":\"{id}\""));
    scale::start(s, &id, &[]);
    let until = |topic: &str, deadline: Instant| -> (Instant, String) {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((at, l)) if l.contains(topic) && names_id(&l) => return (at, l),
                Ok(_) => continue,
                Err(e) => panic!("{}: no {topic} event for {id}: {e}", s.runtime),
            }
        }
    };
    until("/tasks/start", Instant::now() + Duration::from_secs(10));
    let pid = scale::task_pid(&id);
    let killed = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL the container's init");
    let (arrived, line) = until("/tasks/exit", Instant::now() + Duration::from_secs(10));
    let latency = arrived.duration_since(killed).as_secs_f64() * 1000.0;
    assert!(
        line.contains("\"exit_status\":137"),
        "{}: exit event without status 137: {line}",
        s.runtime
    );
    let _ = events.kill();
    let _ = events.wait();
    drop(rx);
    reader.join().expect("events reader");
    scale::delete(&id);
    latency
}
