//! What 20 containers starting at once cost the rest of the node.
//!
//! Every cgroup migration (a pid written into a `cgroup.procs`) takes the
//! kernel's global `cgroup_threadgroup_rwsem` for writing, and every fork
//! and every exit on the node takes it for reading. So an unrelated process
//! forks and reaps a child in a loop (fork, the child's `_exit`, `waitpid`),
//! and its rate and its slowest rounds are read while the 20 containers
//! start, each with a shim of its own, and in the second just before.
//!
//! The loop is this bench binary run again with [`FORK_LOOP`] as its only
//! argument. Each line the bench writes to its stdin asks for the figures
//! since the previous line; it exits when its stdin closes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::wait::waitpid;
use nix::unistd::ForkResult;

use crate::scale::{self, SEPARATE};
use crate::{fig, ms, Figure, Shim, Unit};

/// The argument that makes the bench binary the fork loop.
pub const FORK_LOOP: &str = "--fork-loop";
/// The argument that makes the bench binary hold the shim's primer.
pub const HOLD_PRIMER: &str = "--hold-primer";
/// How long the fork loop is read beside the primer alone.
const ALONE: Duration = Duration::from_secs(3);
/// The quiet second whose rate is the reference.
const IDLE: Duration = Duration::from_secs(1);

pub const FIGURES: &[Figure] = &[
    fig(
        "fork+exit rate of an unrelated process while the 20 start (first `ctr run -d` until all RUNNING)",
        Unit::PerS,
    ),
    fig("its 99th percentile fork+exit while they start", Unit::Us),
    fig("its slowest fork+exit while they start", Unit::Us),
    fig("its fork+exit rate in the quiet second before", Unit::PerS),
    fig(
        "parallel start: 20 `ctr run -d` at once, until `ctr task ls` shows all 20 RUNNING",
        Unit::Ms,
    ),
];

pub const PRIMER_ALONE_FIGURES: &[Figure] = &[
    fig(
        "fork+exit rate of an unrelated process, 3 s beside a process holding the primer (B on) or not (A)",
        Unit::PerS,
    ),
    fig("its 99th percentile fork+exit", Unit::Us),
    fig("its slowest fork+exit", Unit::Us),
];

/// The primer's own cost, nothing else running: the fork loop for 3 s,
/// beside a process that holds the shim's primer (the shim's own code,
/// `cgroup::keep_primed`) on a side whose CgroupPrimer is true, and beside
/// nothing on the other. The worst case for the node: a shim's primer runs
/// only while one of its creates or execs is being prepared.
pub fn beside_the_primer_alone(s: &Shim, _tag: &str) -> Vec<f64> {
    let holder = s.primer_on().then(PrimerHolder::start);
    let mut forker = Forker::start();
    std::thread::sleep(Duration::from_millis(200));
    forker.sample(); // its own start-up
    std::thread::sleep(ALONE);
    let alone = forker.sample();
    drop(forker);
    if let Some(h) = holder {
        let made = h.stop();
        // One every 4 ms at most; a third of that shows it kept going.
        let least = ALONE.as_millis() as u64 / 12;
        assert!(
            made >= least,
            "the primer made {made} migrations in {ALONE:?}, expected at least {least}"
        );
    }
    vec![alone.rate, alone.p99_us, alone.max_us]
}

/// 20 containers, one shim each, started at once while the fork loop runs;
/// then deleted (not timed).
pub fn during_parallel_start(s: &Shim, tag: &str) -> Vec<f64> {
    let ids: Vec<String> = (0..SEPARATE)
        .map(|i| format!("bench-host-{}-{tag}-{i}", s.short))
        .collect();
    let mut forker = Forker::start();
    std::thread::sleep(Duration::from_millis(200));
    forker.sample(); // its own start-up
    std::thread::sleep(IDLE);
    let idle = forker.sample();
    let t = Instant::now();
    scale::parallel(&ids, SEPARATE, |id| scale::start(s, id, &[]));
    scale::wait_running(&ids);
    let started = ms(t);
    let busy = forker.sample();
    drop(forker);
    let shims: Vec<u32> = ids.iter().map(|id| scale::shim_pid(id)).collect();
    scale::parallel(&ids, SEPARATE, scale::delete);
    scale::wait_gone(&ids, &shims);
    vec![busy.rate, busy.p99_us, busy.max_us, idle.rate, started]
}

/// What the fork loop did in one window.
struct Sample {
    /// Rounds per second.
    rate: f64,
    p99_us: f64,
    max_us: f64,
}

/// The fork loop, a child process of the bench.
struct Forker {
    child: Child,
    asks: ChildStdin,
    answers: BufReader<ChildStdout>,
}

impl Forker {
    fn start() -> Forker {
        let exe = std::env::current_exe().expect("the bench binary's path");
        let mut child = Command::new(exe)
            .arg(FORK_LOOP)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the fork loop");
        let asks = child.stdin.take().unwrap();
        let answers = BufReader::new(child.stdout.take().unwrap());
        Forker {
            child,
            asks,
            answers,
        }
    }

    /// The figures since the previous sample (or the start).
    fn sample(&mut self) -> Sample {
        writeln!(self.asks).expect("ask the fork loop");
        let mut line = String::new();
        self.answers
            .read_line(&mut line)
            .expect("read the fork loop");
        let f: Vec<f64> = line
            .split_whitespace()
            .map(|v| v.parse().expect("a number from the fork loop"))
            .collect();
        assert_eq!(f.len(), 4, "fork loop said {line:?}");
        assert!(f[0] > 0.0, "the fork loop made no round in {} s", f[1]);
        Sample {
            rate: f[0] / f[1],
            p99_us: f[2],
            max_us: f[3],
        }
    }
}

impl Drop for Forker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process (this bench binary) that holds the shim's cgroup migration
/// primer until its stdin closes.
struct PrimerHolder {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl PrimerHolder {
    fn start() -> PrimerHolder {
        let exe = std::env::current_exe().expect("the bench binary's path");
        let mut child = Command::new(exe)
            .arg(HOLD_PRIMER)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the primer holder");
        let stdin = child.stdin.take();
        PrimerHolder { child, stdin }
    }

    /// Ends it; the migrations its primer made.
    fn stop(mut self) -> u64 {
        drop(self.stdin.take());
        let mut out = String::new();
        BufReader::new(self.child.stdout.take().unwrap())
            .read_line(&mut out)
            .expect("read the primer holder");
        let status = self.child.wait().expect("wait for the primer holder");
        assert!(status.success(), "primer holder: {status}");
        out.trim()
            .parse()
            .unwrap_or_else(|_| panic!("primer holder said {out:?}"))
    }
}

impl Drop for PrimerHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The primer holder's body: holds the primer while its stdin is open,
/// then prints the number of migrations it made.
pub fn hold_primer() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let held = containerd_shim_rust_v2::cgroup::keep_primed("the benchmark");
        tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
            .await
            .expect("wait for stdin")
            .expect("read stdin");
        drop(held);
    });
    println!("{}", containerd_shim_rust_v2::cgroup::primer_migrations());
}

/// The rounds' durations (ns) since the window began.
struct Window {
    began: Instant,
    rounds: Vec<u32>,
}

/// The fork loop's body: forks and reaps until its stdin closes; prints
/// `rounds seconds p99_us max_us` for each line read.
pub fn fork_loop() {
    let window = Arc::new(Mutex::new(Window {
        began: Instant::now(),
        rounds: Vec::with_capacity(1 << 16),
    }));
    let answering = window.clone();
    std::thread::spawn(move || {
        let mut out = std::io::stdout();
        for line in std::io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
            let (secs, mut rounds) = {
                let mut w = answering.lock().unwrap();
                let secs = w.began.elapsed().as_secs_f64();
                w.began = Instant::now();
                (secs, std::mem::take(&mut w.rounds))
            };
            rounds.sort_unstable();
            let pick = |q: f64| {
                rounds
                    .get(((rounds.len() as f64 - 1.0) * q).round() as usize)
                    .map_or(0.0, |ns| f64::from(*ns) / 1000.0)
            };
            writeln!(out, "{} {secs} {} {}", rounds.len(), pick(0.99), pick(1.0))
                .and_then(|()| out.flush())
                .expect("answer the bench");
        }
        std::process::exit(0);
    });
    loop {
        let t = Instant::now();
        // SAFETY: the child calls only _exit, which is async-signal-safe,
        // so forking this multithreaded process is sound.
        match unsafe { nix::unistd::fork() }.expect("fork") {
            // SAFETY: _exit ends the child at once, touching no state it
            // shares with the parent's other threads.
            ForkResult::Child => unsafe { libc::_exit(0) },
            ForkResult::Parent { child } => {
                waitpid(child, None).expect("waitpid");
            }
        }
        let ns = u32::try_from(t.elapsed().as_nanos()).unwrap_or(u32::MAX);
        window.lock().unwrap().rounds.push(ns);
    }
}
