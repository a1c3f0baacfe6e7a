//! Side-by-side benchmark: containerd-shim-runc-v2 (A, the Go shim with runc)
//! against containerd-shim-rust-v2 (B), on the same private containerd, in
//! one run. Each metric is measured in pairs, A and B alternating which goes
//! first; the report gives median/min/max of each and the median of the
//! per-pair ratios B/A.
//!
//! Run it through hack/bench.sh, which starts the private containerd (with
//! runc and the Go shim on its PATH) and exports its coordinates.
//! Usage: bench [--pairs N] [--only WORD[,WORD...]] [--a-runtime NAME]
//!              [--sides primer|primer-off]
//! `--a-runtime` puts another runtime on side A in place of the Go shim: an
//! earlier build of this shim (hack/bench.sh's BENCH_A_BINARY), so that a
//! change is measured side by side with the build before it.
//! `--sides primer` compares this shim with itself instead: A with its cgroup
//! migration primer off, B with it on (the CgroupPrimer runtime option);
//! `--sides primer-off` has it off on both sides, the control that shows
//! how far the ratios scatter when nothing differs.
//! `--pairs N` sets every metric's pair count (default: per metric, see
//! `pairs` below); `--only` runs the metrics whose name, or the name of one
//! of whose figures, contains one of the words. At the end nothing of the
//! benchmark may be left (see cleanup.rs).

#[path = "../../tests/common/mod.rs"]
mod common;

mod cleanup;
mod events;
mod host_cost;
mod scale;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{ctr, ctr_cmd, ctr_ok};
use containerd_shim_protos::api;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::Message;

const GO: &str = "io.containerd.runc.v2";
const RUST: &str = "io.containerd.rust.v2";
/// The output metrics write this much: 100 MiB in 1 MiB writes.
const WRITE_MIB: u64 = 100;

/// Whether a figure is a time or a size (lower is better) or a rate
/// (higher is better).
#[derive(Clone, Copy)]
pub enum Unit {
    Ms,
    MBps,
    MiB,
    /// Events per second (higher is better).
    PerS,
    /// Microseconds (lower is better).
    Us,
}

/// One figure a metric's run yields; `""` names it after the metric.
pub struct Figure {
    name: &'static str,
    unit: Unit,
}

pub const fn fig(name: &'static str, unit: Unit) -> Figure {
    Figure { name, unit }
}

/// The figure of a metric that yields one time / one rate.
const ONE_MS: &[Figure] = &[fig("", Unit::Ms)];
const ONE_MBPS: &[Figure] = &[fig("", Unit::MBps)];

struct Metric {
    name: &'static str,
    /// What one run yields, in this order: one report row each.
    figures: &'static [Figure],
    /// Pairs when `--pairs` does not say.
    pairs: usize,
    /// One unrecorded round of each shim first (skipped for the metrics
    /// that start tens of containers per run: the run itself is long).
    warm: bool,
    /// Only with `--sides` (this shim against itself).
    sides_only: bool,
    /// One measurement of one shim; `tag` makes container ids unique.
    run: fn(&Shim, &str) -> Vec<f64>,
}

/// One side of the comparison.
pub struct Shim {
    pub runtime: &'static str,
    /// Its word in container ids and the report: go, base, rust, or off
    /// and on (`--sides primer`).
    pub short: &'static str,
    /// A runtime options file (TOML) ctr passes with every container:
    /// `--runtime-config-path`.
    config: Option<String>,
    /// A long-running container of this shim, for the exec metrics.
    long_running: String,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some(host_cost::FORK_LOOP) => return host_cost::fork_loop(),
        Some(host_cost::HOLD_PRIMER) => return host_cost::hold_primer(),
        _ => {}
    }
    let mut pairs: Option<usize> = None;
    let mut only: Option<Vec<String>> = None;
    let mut a_runtime = GO.to_string();
    // Some(b): this shim on both sides, CgroupPrimer false on A and b on B.
    let mut primer_sides: Option<bool> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--pairs" => {
                pairs = Some(
                    it.next()
                        .and_then(|v| v.parse().ok())
                        .filter(|n| *n > 0)
                        .expect("--pairs N (N >= 1)"),
                )
            }
            "--only" => {
                only = Some(
                    it.next()
                        .expect("--only METRICS")
                        .split(',')
                        .map(String::from)
                        .collect(),
                )
            }
            "--a-runtime" => a_runtime = it.next().expect("--a-runtime NAME").clone(),
            "--sides" => {
                primer_sides = match it.next().map(String::as_str) {
                    Some("primer") => Some(true),
                    Some("primer-off") => Some(false),
                    other => panic!("--sides primer|primer-off, not {other:?}"),
                }
            }
            "--bench" => {} // cargo passes this to bench targets
            other => panic!("unknown argument {other}"),
        }
    }
    let metrics = [
        Metric {
            name: "exec /bin/true, shim API (Exec+Start+Wait+Delete)",
            figures: ONE_MS,
            pairs: 15,
            warm: true,
            sides_only: false,
            run: |s, t| vec![exec_via_shim_api(s, t)],
        },
        Metric {
            name: "ctr task exec /bin/true",
            figures: ONE_MS,
            pairs: 15,
            warm: true,
            sides_only: false,
            run: |s, t| vec![exec_via_ctr(s, t)],
        },
        Metric {
            name: "ctr run --rm /bin/true (cold start)",
            figures: ONE_MS,
            pairs: 15,
            warm: true,
            sides_only: false,
            run: |s, t| vec![cold_run(s, t)],
        },
        Metric {
            name: "100 MiB write through file:// (container's view)",
            figures: ONE_MBPS,
            pairs: 15,
            warm: true,
            sides_only: false,
            run: |s, t| vec![file_throughput(s, t)],
        },
        Metric {
            name: "100 MiB write to a file in the container's rootfs (no shim in the path: the ceiling)",
            figures: ONE_MBPS,
            pairs: 15,
            warm: true,
            sides_only: false,
            run: |s, t| vec![rootfs_file_throughput(s, t)],
        },
        Metric {
            name: "100 MiB write through FIFOs to ctr (container's view)",
            figures: ONE_MBPS,
            pairs: 15,
            warm: true,
            sides_only: false,
            run: |s, t| vec![fifo_throughput(s, t)],
        },
        Metric {
            name: "exit event: SIGKILL of the init from the host until /tasks/exit reaches `ctr events`",
            figures: ONE_MS,
            pairs: 15,
            warm: true,
            sides_only: false,
            run: |s, t| vec![events::exit_latency(s, t)],
        },
        Metric {
            name: "20 containers, one shim each: parallel start, shim memory, parallel delete",
            figures: scale::SEPARATE_FIGURES,
            pairs: 9,
            warm: false,
            sides_only: false,
            run: scale::separate_shims,
        },
        Metric {
            name: "host cost: an unrelated process's fork+exit while 20 containers start at once, one shim each",
            figures: host_cost::FIGURES,
            pairs: 9,
            warm: false,
            sides_only: false,
            run: host_cost::during_parallel_start,
        },
        Metric {
            name: "host cost of the primer alone: an unrelated process's fork+exit beside it (--sides only)",
            figures: host_cost::PRIMER_ALONE_FIGURES,
            pairs: 15,
            warm: false,
            sides_only: true,
            run: host_cost::beside_the_primer_alone,
        },
        Metric {
            name: "pod shim growth: 1, 10 and 50 containers in one shim (group annotation)",
            figures: scale::POD_FIGURES,
            pairs: 5,
            warm: false,
            sides_only: false,
            run: scale::pod_growth,
        },
    ];
    let shims = if let Some(b_primer) = primer_sides {
        println!(
            "A = containerd-shim-rust-v2 with CgroupPrimer = false, B = the same with \
             CgroupPrimer = {b_primer} (runtime options files); order alternating per pair"
        );
        [
            Shim::new(RUST, "off", "bench-a", Some(primer_config(false))),
            Shim::new(
                RUST,
                if b_primer { "on" } else { "off" },
                "bench-rust",
                Some(primer_config(b_primer)),
            ),
        ]
    } else {
        let a_runtime: &'static str = Box::leak(a_runtime.into_boxed_str());
        let a_short = if a_runtime == GO { "go" } else { "base" };
        let a_name = if a_runtime == GO {
            "containerd-shim-runc-v2 + runc".to_string()
        } else {
            format!("runtime {a_runtime}")
        };
        println!("A = {a_name}, B = containerd-shim-rust-v2; order alternating per pair");
        [
            Shim::new(a_runtime, a_short, "bench-a", None),
            Shim::new(RUST, "rust", "bench-rust", None),
        ]
    };
    for m in &metrics {
        if m.sides_only && primer_sides.is_none() {
            continue;
        }
        if let Some(o) = &only {
            let named = |w: &String| {
                m.name.contains(w.as_str()) || m.figures.iter().any(|f| f.name.contains(w.as_str()))
            };
            if !o.iter().any(named) {
                continue;
            }
        }
        let pairs = pairs.unwrap_or(m.pairs);
        let started = Instant::now();
        if m.warm {
            (m.run)(&shims[0], "warm");
            (m.run)(&shims[1], "warm");
        }
        let mut a = Vec::new();
        let mut b = Vec::new();
        for i in 0..pairs {
            let tag = format!("{i}");
            if i % 2 == 0 {
                a.push((m.run)(&shims[0], &tag));
                b.push((m.run)(&shims[1], &tag));
            } else {
                b.push((m.run)(&shims[1], &tag));
                a.push((m.run)(&shims[0], &tag));
            }
        }
        report(m, pairs, started, &a, &b, &shims);
    }
    for s in &shims {
        common::remove(&s.long_running);
        if let Some(config) = &s.config {
            let _ = std::fs::remove_file(config);
        }
    }
    cleanup::check_nothing_left();
}

impl Shim {
    fn new(runtime: &'static str, short: &'static str, id: &str, config: Option<String>) -> Shim {
        common::remove(id);
        let shim = Shim {
            runtime,
            short,
            config,
            long_running: id.to_string(),
        };
        scale::start(&shim, id, &[]);
        shim
    }

    /// Whether this side runs the cgroup migration primer (`--sides` only).
    pub fn primer_on(&self) -> bool {
        self.short == "on"
    }

    /// `ctr run --rm` on this side's runtime, then `rest`.
    fn run_rm_args<'a>(&'a self, rest: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["run", "--rm"];
        args.extend(self.runtime_args());
        args.extend_from_slice(rest);
        args
    }

    /// Runs `ctr run --rm ... rest` to its end; a failure ends the benchmark.
    fn run_rm(&self, rest: &[&str]) -> std::process::Output {
        let out = ctr(&self.run_rm_args(rest));
        assert!(
            out.status.success(),
            "{}: {}",
            self.runtime,
            common::stderr(&out)
        );
        out
    }

    /// ctr's flags that pick this side's runtime (and its options file).
    pub fn runtime_args(&self) -> Vec<&str> {
        let mut args = vec!["--runtime", self.runtime];
        if let Some(config) = &self.config {
            args.extend(["--runtime-config-path", config.as_str()]);
        }
        args
    }
}

/// A runtime options file that sets CgroupPrimer: what containerd's CRI
/// plugin passes from a runtime's `options` table, here through ctr's
/// `--runtime-config-path`.
fn primer_config(on: bool) -> String {
    let path = std::env::temp_dir().join(format!("bench-primer-{on}.toml"));
    std::fs::write(&path, format!("CgroupPrimer = {on}\n")).expect("write the options file");
    path.display().to_string()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|x, y| x.total_cmp(y));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn report(
    m: &Metric,
    pairs: usize,
    started: Instant,
    a: &[Vec<f64>],
    b: &[Vec<f64>],
    shims: &[Shim; 2],
) {
    println!(
        "\n{} ({pairs} pairs, {:.0} s)",
        m.name,
        started.elapsed().as_secs_f64()
    );
    for (k, f) in m.figures.iter().enumerate() {
        let a: Vec<f64> = a.iter().map(|r| r[k]).collect();
        let b: Vec<f64> = b.iter().map(|r| r[k]).collect();
        let ratios: Vec<f64> = a.iter().zip(&b).map(|(x, y)| y / x).collect();
        let (unit, better) = match f.unit {
            Unit::Ms => ("ms", "lower is better"),
            Unit::MBps => ("MB/s", "higher is better"),
            Unit::MiB => ("MiB", "lower is better"),
            Unit::PerS => ("/s", "higher is better"),
            Unit::Us => ("us", "lower is better"),
        };
        let stats = |v: &[f64]| {
            let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
            let max = v.iter().cloned().fold(0.0, f64::max);
            format!(
                "median {:8.1}  min {:8.1}  max {:8.1} {unit}",
                median(v),
                min,
                max
            )
        };
        if f.name.is_empty() {
            println!("  ({better})");
        } else {
            println!("  {} ({better})", f.name);
        }
        println!("    A {:<4} {}", shims[0].short, stats(&a));
        println!("    B {:<4} {}", shims[1].short, stats(&b));
        let lowest = ratios.iter().cloned().fold(f64::INFINITY, f64::min);
        let highest = ratios.iter().cloned().fold(0.0, f64::max);
        println!(
            "    B/A per-pair ratio: median {:.2}  (min {lowest:.2}, max {highest:.2})",
            median(&ratios)
        );
    }
}

pub fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// The container's own process spec with other args: what containerd sends.
fn process_spec(container: &str, args: &[&str]) -> Any {
    let config = common::bundle(container).join("config.json");
    let text = std::fs::read_to_string(&config).expect("read config.json");
    let mut spec: serde_json::Value = serde_json::from_str(&text).expect("parse config.json");
    let mut process = spec["process"].take();
    process["args"] = serde_json::json!(args);
    process["terminal"] = serde_json::json!(false);
    let mut any = Any::new();
    any.type_url = "types.containerd.io/opencontainers/runtime-spec/1/Process".into();
    any.value = serde_json::to_vec(&process).unwrap();
    any
}

/// One call of task API v2 (what containerd 1.x and the Go shim speak).
fn call<Resp: Message>(client: &ttrpc::Client, method: &str, req: &impl Message) -> Resp {
    let mut r = ttrpc::proto::Request::new();
    r.service = "containerd.task.v2.Task".into();
    r.method = method.into();
    r.payload = req.write_to_bytes().expect("encode request");
    r.timeout_nano = Duration::from_secs(30).as_nanos() as i64;
    let res = client
        .request(r)
        .unwrap_or_else(|e| panic!("{method}: {e:?}"));
    Resp::parse_from_bytes(&res.payload).expect("decode response")
}

/// Exec, Start, Wait and Delete of `/bin/true` sent straight to the shim's
/// socket, no stdio: the shim's own time, without ctr and containerd.
fn exec_via_shim_api(s: &Shim, tag: &str) -> f64 {
    let client = ttrpc::Client::connect(&common::shim_socket(&s.long_running))
        .expect("connect to the shim's socket");
    let exec_id = format!("api-{tag}");
    let spec = process_spec(&s.long_running, &["/bin/true"]);
    let id = s.long_running.clone();
    let start = Instant::now();
    let mut req = api::ExecProcessRequest::new();
    req.id = id.clone();
    req.exec_id = exec_id.clone();
    req.spec = Some(spec).into();
    let _: api::Empty = call(&client, "Exec", &req);
    let mut st = api::StartRequest::new();
    st.id = id.clone();
    st.exec_id = exec_id.clone();
    let _: api::StartResponse = call(&client, "Start", &st);
    let mut w = api::WaitRequest::new();
    w.id = id.clone();
    w.exec_id = exec_id.clone();
    let status = call::<api::WaitResponse>(&client, "Wait", &w).exit_status;
    let mut d = api::DeleteRequest::new();
    d.id = id;
    d.exec_id = exec_id;
    let _: api::DeleteResponse = call(&client, "Delete", &d);
    let t = ms(start);
    assert_eq!(
        status, 0,
        "{}: exec of /bin/true exited {status}",
        s.runtime
    );
    t
}

fn exec_via_ctr(s: &Shim, tag: &str) -> f64 {
    let exec_id = format!("ctr-{tag}");
    let start = Instant::now();
    ctr_ok(&[
        "task",
        "exec",
        "--exec-id",
        &exec_id,
        &s.long_running,
        "/bin/true",
    ]);
    ms(start)
}

fn cold_run(s: &Shim, tag: &str) -> f64 {
    let id = format!("bench-cold-{}-{tag}", short(s));
    cleanup::created(&id);
    let image = common::env().image;
    let start = Instant::now();
    s.run_rm(&[&image, &id, "/bin/true"]);
    ms(start)
}

fn short(s: &Shim) -> &'static str {
    s.short
}

/// The container writes 100 MiB to stdout with dd (1 MiB writes) and prints
/// the microsecond timestamps around it; the rate it sees is the rate the
/// shim drains its pipe at (the writer blocks while the pipe is full).
const WRITER: &str = "s=$(echo | ts %.s); dd if=/dev/zero bs=1M count=100 2>/dev/null; \
                      e=$(echo | ts %.s); echo \"T $s $e\"";

fn rate_from_tail(output_tail: &str, what: &str) -> f64 {
    let line = output_tail
        .lines()
        .rev()
        .find_map(|l| l.trim_start_matches('\0').strip_prefix("T "))
        .unwrap_or_else(|| panic!("{what}: no timestamp line in {output_tail:?}"));
    let t: Vec<f64> = line
        .split_whitespace()
        .map(|x| x.parse().expect("timestamp"))
        .collect();
    (WRITE_MIB << 20) as f64 / (t[1] - t[0]) / 1e6
}

fn file_throughput(s: &Shim, tag: &str) -> f64 {
    let id = format!("bench-file-{}-{tag}", short(s));
    cleanup::created(&id);
    let log = std::env::temp_dir().join(format!("{id}.log"));
    let _ = std::fs::remove_file(&log);
    let uri = format!("file://{}", log.display());
    let image = common::env().image;
    s.run_rm(&["--log-uri", &uri, &image, &id, "sh", "-c", WRITER]);
    let data = std::fs::read(&log).expect("read log file");
    let _ = std::fs::remove_file(&log);
    assert!(
        data.len() as u64 > WRITE_MIB << 20,
        "{}: only {} bytes reached {}",
        s.runtime,
        data.len(),
        log.display()
    );
    let tail = String::from_utf8_lossy(&data[data.len() - 200..]).into_owned();
    rate_from_tail(&tail, s.runtime)
}

/// The same write straight into a file of the container's own rootfs: what
/// the page cache allows without any pipe or shim, for comparison.
fn rootfs_file_throughput(s: &Shim, tag: &str) -> f64 {
    let id = format!("bench-rootfs-{}-{tag}", short(s));
    cleanup::created(&id);
    let image = common::env().image;
    let script = WRITER.replace("2>/dev/null", "of=/tmp/out 2>/dev/null");
    let out = s.run_rm(&[&image, &id, "sh", "-c", &script]);
    rate_from_tail(&common::stdout(&out), s.runtime)
}

fn fifo_throughput(s: &Shim, tag: &str) -> f64 {
    let id = format!("bench-fifo-{}-{tag}", short(s));
    cleanup::created(&id);
    let image = common::env().image;
    let mut child = ctr_cmd(&s.run_rm_args(&[&image, &id, "sh", "-c", WRITER]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ctr");
    let mut out = child.stdout.take().unwrap();
    let mut total = 0u64;
    let mut tail = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = out.read(&mut buf).expect("read ctr stdout");
        if n == 0 {
            break;
        }
        total += n as u64;
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 4096 {
            tail.drain(..tail.len() - 200);
        }
    }
    let status = child.wait().expect("wait for ctr");
    assert!(status.success(), "{}: ctr run failed", s.runtime);
    assert!(
        total > WRITE_MIB << 20,
        "{}: only {total} bytes arrived",
        s.runtime
    );
    rate_from_tail(&String::from_utf8_lossy(&tail), s.runtime)
}
