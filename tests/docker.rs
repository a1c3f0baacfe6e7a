//! End-to-end through Docker Engine: the docker CLI talks to a private
//! dockerd (hack/docker-up.sh), which has the private containerd of
//! hack/containerd-up.sh start containerd-shim-rust-v2 by its runtime name
//! (`docker run --runtime io.containerd.rust.v2`). runc is not on
//! containerd's PATH, so the shim's embedded runtime does all the work.
//!
//! What Docker sends differs from ctr: the spec's `root.path` is dockerd's
//! own overlay mount (absolute), Create carries no rootfs mounts, no runtime
//! options come, and the spec has Docker's default seccomp profile and
//! capability set.

mod common;

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{stderr, stdout, wait_until, RUNTIME};

/// `docker run` flags every test uses: the test image is loaded, not pulled,
/// and the private dockerd has no network but `none`.
const RUN: &[&str] = &["--pull", "never", "--network", "none"];

fn var(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| {
        panic!("{k} is not set: start a private dockerd with hack/docker-up.sh and source DIR/docker/env (hack/test.sh does)")
    })
}

fn namespace() -> String {
    var("DOCKER_NAMESPACE")
}

fn image() -> String {
    var("TEST_IMAGE")
}

fn docker_cmd(args: &[&str]) -> Command {
    // DOCKER_HOST and DOCKER_CONFIG come from the environment.
    let mut c = Command::new(var("DOCKER_BIN"));
    c.args(args).stdin(Stdio::null());
    c
}

fn docker(args: &[&str]) -> Output {
    docker_cmd(args).output().expect("run docker")
}

fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?} failed ({}): {}",
        out.status,
        stderr(&out)
    );
    stdout(&out)
}

/// A container name unique to this test run.
fn unique_name(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "dock-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// `docker run [extra] --runtime ours IMAGE cmd...` with the given name.
fn run_args<'a>(name: &'a str, extra: &[&'a str], image: &'a str, cmd: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "--name", name, "--runtime", RUNTIME];
    args.extend_from_slice(RUN);
    args.extend_from_slice(extra);
    args.push(image);
    args.extend_from_slice(cmd);
    args
}

/// `docker rm -f` when dropped, so a failing test cleans up too.
struct Removed(String);
impl Drop for Removed {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.0]);
    }
}

/// The full container id (containerd's container and task id).
fn container_id(name: &str) -> String {
    docker_ok(&["inspect", "-f", "{{.Id}}", name])
        .trim()
        .to_string()
}

/// Pids of shim processes started for `id` (`containerd-shim-rust-v2 ... -id <id>`).
fn shim_pids(id: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_shim = args
            .first()
            .is_some_and(|a| a.ends_with(b"containerd-shim-rust-v2"));
        let for_id = args
            .windows(2)
            .any(|w| (w[0] == b"-id" || w[0] == b"--id") && w[1] == id.as_bytes());
        if is_shim && for_id && common::alive(pid) {
            pids.push(pid);
        }
    }
    pids
}

/// Everything the container `id` could leave on the host, named: its shim,
/// the shim's state, containerd's bundle, its cgroups (cgroupfs driver,
/// parent /docker), any mount naming it, and dockerd's rootfs mount
/// (`merged`, the spec's absolute root.path).
fn leftovers(id: &str, merged: &Path) -> Vec<String> {
    let mut found: Vec<String> = shim_pids(id)
        .into_iter()
        .map(|p| format!("shim process {p}"))
        .collect();
    let ns = namespace();
    let state = Path::new("/run/containerd/rust").join(&ns);
    let bundle = PathBuf::from(var("SHIM_TEST_DIR"))
        .join("state/io.containerd.runtime.v2.task")
        .join(&ns)
        .join(id);
    for p in [state.join(id), state.join(".bundles").join(id), bundle] {
        if p.exists() {
            found.push(format!("state dir {}", p.display()));
        }
    }
    for p in common::cgroup_dirs(&format!("/docker/{id}")) {
        found.push(format!("cgroup {}", p.display()));
    }
    let merged = merged.to_string_lossy();
    for line in std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
    {
        let point = line.split_whitespace().nth(4).unwrap_or("");
        if point.contains(id) || point == merged {
            found.push(format!("mount {line}"));
        }
    }
    found
}

fn assert_no_leftovers(id: &str, merged: &Path) {
    // The shim exits right after containerd's Shutdown; give it a moment.
    let start = Instant::now();
    loop {
        let l = leftovers(id, merged);
        if l.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "container {id} left behind: {l:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts a detached container running `cmd`; returns its id and dockerd's
/// rootfs mount of it.
fn start_detached(name: &str, cmd: &[&str]) -> (String, PathBuf) {
    let image = image();
    docker_ok(&run_args(name, &["-d"], &image, cmd));
    let id = container_id(name);
    let merged = docker_ok(&["inspect", "-f", "{{.GraphDriver.Data.MergedDir}}", name]);
    (id, PathBuf::from(merged.trim()))
}

/// The OCI spec dockerd handed to containerd, as the shim got it in its bundle.
fn bundle_spec(id: &str) -> serde_json::Value {
    let path = PathBuf::from(var("SHIM_TEST_DIR"))
        .join("state/io.containerd.runtime.v2.task")
        .join(namespace())
        .join(id)
        .join("config.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn run_reports_the_exit_code_and_leaves_nothing_after_rm() {
    let image = image();
    for code in [0, 3] {
        let name = unique_name("exit");
        let _rm = Removed(name.clone());
        let script = format!("echo out-{code}; exit {code}");
        let out = docker(&run_args(&name, &[], &image, &["sh", "-c", &script]));
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
        assert_eq!(stdout(&out), format!("out-{code}\n"));
        let id = container_id(&name);
        let merged = docker_ok(&["inspect", "-f", "{{.GraphDriver.Data.MergedDir}}", &name]);
        assert_eq!(
            docker_ok(&[
                "inspect",
                "-f",
                "{{.State.ExitCode}} {{.HostConfig.Runtime}}",
                &name
            ])
            .trim(),
            format!("{code} {RUNTIME}")
        );
        docker_ok(&["rm", "-f", &name]);
        assert_no_leftovers(&id, Path::new(merged.trim()));
    }
    // A missing program: `docker run` exits 127, as with runc.
    for program in ["/no/such/binary", "nosuchcommand"] {
        let name = unique_name("missing");
        let _rm = Removed(name.clone());
        let out = docker(&run_args(&name, &[], &image, &[program]));
        assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
        assert!(stderr(&out).contains(program), "{}", stderr(&out));
        let id = container_id(&name);
        docker_ok(&["rm", "-f", &name]);
        assert_no_leftovers(&id, Path::new("/nonexistent"));
    }
}

#[test]
fn the_daemon_json_alias_runs_the_shim_too() {
    // hack/docker-up.sh registers `"rust": {"runtimeType": "io.containerd.rust.v2"}`.
    let name = unique_name("alias");
    let _rm = Removed(name.clone());
    let image = image();
    let mut args = vec!["run", "-d", "--name", &name, "--runtime", "rust"];
    args.extend_from_slice(RUN);
    args.extend_from_slice(&[&image, "sleep", "1000"]);
    docker_ok(&args);
    let id = container_id(&name);
    let merged = PathBuf::from(
        docker_ok(&["inspect", "-f", "{{.GraphDriver.Data.MergedDir}}", &name]).trim(),
    );
    assert_eq!(
        shim_pids(&id).len(),
        1,
        "one containerd-shim-rust-v2 serves the running container"
    );
    // The shim ran the container in dockerd's mounted rootfs, an absolute
    // root.path; Create brought no rootfs mounts of its own.
    let spec = bundle_spec(&id);
    assert_eq!(spec["root"]["path"], merged.to_string_lossy().as_ref());
    assert!(
        merged.join("bin/busybox").exists(),
        "dockerd's rootfs mount {} is the image's",
        merged.display()
    );
    docker_ok(&["rm", "-f", &name]);
    assert_no_leftovers(&id, &merged);
}

/// Capability names in bit order (linux/capability.h).
const CAPS: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The bit mask of a spec capability list (["CAP_CHOWN", ...]).
fn cap_mask(list: &serde_json::Value) -> u64 {
    let list = list.as_array().map(Vec::as_slice).unwrap_or(&[]);
    list.iter()
        .map(|c| {
            let c = c.as_str().unwrap();
            let name = c.strip_prefix("CAP_").unwrap_or(c);
            let bit = CAPS
                .iter()
                .position(|n| *n == name)
                .unwrap_or_else(|| panic!("unknown capability {c}"));
            1u64 << bit
        })
        .fold(0, |a, b| a | b)
}

/// A field of /proc/<pid>/status as printed by the container.
fn status_field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {key} in {status}"))
        .trim()
}

#[test]
fn dockers_default_seccomp_profile_and_capabilities_are_applied() {
    let name = unique_name("sec");
    let _rm = Removed(name.clone());
    let (id, merged) = start_detached(&name, &["sleep", "1000"]);
    let spec = bundle_spec(&id);
    let status = docker_ok(&["exec", &name, "cat", "/proc/1/status"]);

    // Docker's default capability set (moby oci/caps.DefaultCapabilities):
    // the spec asks for it, and the container runs with exactly the spec's
    // sets (CapEff from process.capabilities.effective, and so on). Their
    // mask is the well-known 00000000a80425fb.
    let caps = &spec["process"]["capabilities"];
    let mut effective: Vec<&str> = caps["effective"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    effective.sort_unstable();
    let mut default = [
        "CAP_AUDIT_WRITE",
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_MKNOD",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_RAW",
        "CAP_SETFCAP",
        "CAP_SETGID",
        "CAP_SETPCAP",
        "CAP_SETUID",
        "CAP_SYS_CHROOT",
    ];
    default.sort_unstable();
    assert_eq!(effective, default, "Docker's default capabilities");
    assert_eq!(cap_mask(&caps["effective"]), 0xa80425fb);
    for (field, set) in [
        ("CapEff", "effective"),
        ("CapPrm", "permitted"),
        ("CapBnd", "bounding"),
        ("CapInh", "inheritable"),
        ("CapAmb", "ambient"),
    ] {
        assert_eq!(
            status_field(&status, field),
            format!("{:016x}", cap_mask(&caps[set])),
            "{field} must be the spec's {set} set"
        );
    }
    assert_eq!(
        status_field(&status, "NoNewPrivs"),
        if spec["process"]["noNewPrivileges"] == true {
            "1"
        } else {
            "0"
        }
    );

    // Docker's default seccomp profile: the spec carries it, the init is in
    // filter mode with one filter, and a call the profile denies (unshare,
    // allowed only with CAP_SYS_ADMIN) fails, while it succeeds in the same
    // image with seccomp=unconfined: the profile, not the missing
    // capability, is what denies it.
    assert_eq!(spec["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(status_field(&status, "Seccomp"), "2");
    assert_eq!(status_field(&status, "Seccomp_filters"), "1");
    let image = image();
    // (security options, Seccomp: mode, exit code of `unshare -U true`)
    let cases: [(&[&str], &str, i32); 2] = [
        (&[], "2", 1),
        (&["--security-opt", "seccomp=unconfined"], "0", 0),
    ];
    for (security, mode, code) in cases {
        let probe = unique_name("unshare");
        let _rm_probe = Removed(probe.clone());
        let mut extra = vec!["--rm"];
        extra.extend_from_slice(security);
        let out = docker(&run_args(
            &probe,
            &extra,
            &image,
            &[
                "sh",
                "-c",
                "grep Seccomp: /proc/self/status; exec unshare -U true",
            ],
        ));
        assert_eq!(
            stdout(&out).split_whitespace().collect::<Vec<_>>(),
            ["Seccomp:", mode],
            "{security:?}"
        );
        assert_denied_by_seccomp(&out, code, &format!("{security:?}"));
    }

    docker_ok(&["rm", "-f", &name]);
    assert_no_leftovers(&id, &merged);
}

/// `unshare -U true` ended with `code`: 0, or 1 with the EPERM a seccomp
/// profile's SCMP_ACT_ERRNO gives.
fn assert_denied_by_seccomp(out: &Output, code: i32, what: &str) {
    assert_eq!(out.status.code(), Some(code), "{what}: {}", stderr(out));
    if code != 0 {
        assert!(
            stderr(out).contains("Operation not permitted"),
            "{what}: {}",
            stderr(out)
        );
    }
}

#[test]
fn exec_runs_under_the_containers_seccomp_profile_with_its_own_capabilities() {
    // libcontainer leaves the profile out of an exec's spec, so the shim
    // loads it itself; without no_new_privs that takes CAP_SYS_ADMIN, kept
    // through libcontainer's capability drop and dropped after loading.
    // (run options, exec options, Seccomp: mode, NoNewPrivs, exit code of
    // `unshare -U true`)
    let cases: [(&[&str], &[&str], &str, &str, i32); 4] = [
        (&[], &[], "2", "0", 1),
        (&[], &["-u", "1000"], "2", "0", 1),
        (&["--security-opt", "no-new-privileges"], &[], "2", "1", 1),
        (&["--security-opt", "seccomp=unconfined"], &[], "0", "0", 0),
    ];
    let image = image();
    for (run, exec, mode, nnp, code) in cases {
        let name = unique_name("xsec");
        let _rm = Removed(name.clone());
        let mut extra = vec!["-d"];
        extra.extend_from_slice(run);
        docker_ok(&run_args(&name, &extra, &image, &["sleep", "1000"]));
        let init = docker_ok(&["exec", &name, "cat", "/proc/1/status"]);
        let with = |cmd: &[&str]| {
            let mut args = vec!["exec"];
            args.extend_from_slice(exec);
            args.push(&name);
            args.extend_from_slice(cmd);
            docker(&args)
        };
        let out = with(&["cat", "/proc/self/status"]);
        assert!(out.status.success(), "{run:?} {exec:?}: {}", stderr(&out));
        let status = stdout(&out);
        let what = format!("{run:?} exec {exec:?}");
        assert_eq!(status_field(&status, "Seccomp"), mode, "{what}");
        assert_eq!(
            status_field(&status, "Seccomp_filters"),
            if mode == "2" { "1" } else { "0" },
            "{what}: exactly the container's one filter"
        );
        assert_eq!(status_field(&status, "NoNewPrivs"), nnp, "{what}");
        // What kept SYS_ADMIN to load the filter is gone again: the bounding
        // set is the container's, and a root exec has the init's sets.
        assert_eq!(
            status_field(&status, "CapBnd"),
            status_field(&init, "CapBnd"),
            "{what}"
        );
        let sys_admin = cap_mask(&serde_json::json!(["CAP_SYS_ADMIN"]));
        for field in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
            // An exec keeps SYS_ADMIN only until its filter is loaded.
            let mask = u64::from_str_radix(status_field(&status, field), 16).unwrap();
            assert_eq!(mask & sys_admin, 0, "{what}: {field} {mask:x}");
            let expected = if exec.is_empty() {
                status_field(&init, field)
            } else {
                // A non-root exec loses its permitted and effective sets at
                // execve (no ambient capabilities, no file capabilities).
                "0000000000000000"
            };
            assert_eq!(status_field(&status, field), expected, "{what}: {field}");
        }
        assert_denied_by_seccomp(&with(&["unshare", "-U", "true"]), code, &what);
        docker_ok(&["rm", "-f", &name]);
    }
}

#[test]
fn exec_reports_its_exit_code_and_output() {
    let name = unique_name("exec");
    let _rm = Removed(name.clone());
    let (id, merged) = start_detached(&name, &["sleep", "1000"]);
    let out = docker(&[
        "exec",
        &name,
        "sh",
        "-c",
        "echo to-stdout; echo to-stderr >&2; exit 5",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(stdout(&out), "to-stdout\n");
    assert_eq!(stderr(&out), "to-stderr\n");
    // A missing program: 127, as with runc (dockerd reads runc's words in
    // the error; the docker CLI prints an exec's start error on stdout).
    for (program, why) in [
        ("/no/such/binary", "no such file or directory"),
        ("nosuchcommand", "executable file not found in $PATH"),
    ] {
        let out = docker(&["exec", &name, program]);
        assert_eq!(
            out.status.code(),
            Some(127),
            "{}{}",
            stdout(&out),
            stderr(&out)
        );
        let said = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            said.contains(program) && said.contains(why),
            "the error names {program} and why: {said}"
        );
    }
    // The container is unharmed.
    assert_eq!(docker_ok(&["exec", &name, "echo", "still"]), "still\n");
    docker_ok(&["rm", "-f", &name]);
    assert_no_leftovers(&id, &merged);
}

#[test]
fn stop_kills_an_init_that_ignores_sigterm_after_the_timeout() {
    let name = unique_name("stop");
    let _rm = Removed(name.clone());
    // sh traps TERM to nothing, so only the SIGKILL after -t ends it.
    let (id, merged) = start_detached(
        &name,
        &[
            "sh",
            "-c",
            "trap '' TERM; echo ready; while :; do sleep 1; done",
        ],
    );
    wait_until("the trap to be set", Duration::from_secs(10), || {
        docker_ok(&["logs", &name]).contains("ready")
    });
    let start = Instant::now();
    docker_ok(&["stop", "-t", "2", &name]);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(15),
        "docker stop -t 2 took {took:?}"
    );
    assert_eq!(
        docker_ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}",
            &name
        ])
        .trim(),
        "exited 137 false"
    );
    // A stopped container keeps no shim, state or mount (the task is deleted).
    assert_no_leftovers(&id, &merged);
    docker_ok(&["rm", "-f", &name]);
    assert_no_leftovers(&id, &merged);
}

#[test]
fn logs_keep_stdout_and_stderr_apart_and_complete() {
    let name = unique_name("logs");
    let _rm = Removed(name.clone());
    let image = image();
    let out = docker(&run_args(
        &name,
        &["-d"],
        &image,
        &[
            "sh",
            "-c",
            "echo to-stderr >&2; seq 1 20000; echo to-stderr-2 >&2",
        ],
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    let id = container_id(&name);
    let merged = docker_ok(&["inspect", "-f", "{{.GraphDriver.Data.MergedDir}}", &name]);
    wait_until("the container to exit", Duration::from_secs(20), || {
        docker_ok(&["inspect", "-f", "{{.State.Status}}", &name]).trim() == "exited"
    });
    let out = docker(&["logs", &name]);
    assert!(out.status.success(), "{}", stderr(&out));
    let expected: String = (1..=20000).map(|i| format!("{i}\n")).collect();
    assert!(stdout(&out) == expected, "stdout lost or mixed lines");
    assert_eq!(stderr(&out), "to-stderr\nto-stderr-2\n");
    docker_ok(&["rm", "-f", &name]);
    assert_no_leftovers(&id, Path::new(merged.trim()));
}

/// Runs docker with its stdin, stdout and stderr on a fresh pty of the given
/// size, as at a terminal; returns the exit code and what the pty printed.
fn docker_in_a_pty((rows, cols): (u16, u16), args: &[&str]) -> (Option<i32>, String) {
    let size = nix::pty::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
    let slave = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup pty slave"));
    let mut child = docker_cmd(args)
        .stdin(slave(&pty.slave))
        .stdout(slave(&pty.slave))
        .stderr(slave(&pty.slave))
        .spawn()
        .expect("run docker");
    // Only the child holds the slave now: reading the master ends (EIO)
    // once docker exits.
    drop(pty.slave);
    let mut master = std::fs::File::from(pty.master);
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("docker {args:?} in a pty did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().unwrap();
    (status.code(), String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn run_and_exec_with_a_terminal_get_a_pty_of_the_clients_size() {
    let name = unique_name("tty");
    let _rm = Removed(name.clone());
    let image = image();
    let (code, out) = docker_in_a_pty(
        (33, 77),
        &run_args(
            &name,
            &["-it"],
            &image,
            &["sh", "-c", "stty size; tty; exit 4"],
        ),
    );
    assert_eq!(code, Some(4), "{out:?}");
    let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    assert_eq!(lines.first(), Some(&"33 77"), "window size: {out:?}");
    assert!(
        lines.get(1).is_some_and(|l| l.starts_with("/dev/pts/")),
        "tty must print a terminal: {out:?}"
    );
    let id = container_id(&name);
    let merged = docker_ok(&["inspect", "-f", "{{.GraphDriver.Data.MergedDir}}", &name]);
    docker_ok(&["rm", "-f", &name]);
    assert_no_leftovers(&id, Path::new(merged.trim()));

    let name = unique_name("ttyexec");
    let _rm = Removed(name.clone());
    let (id, merged) = start_detached(&name, &["sleep", "1000"]);
    let (code, out) = docker_in_a_pty(
        (21, 99),
        &["exec", "-it", &name, "sh", "-c", "stty size; tty; exit 6"],
    );
    assert_eq!(code, Some(6), "{out:?}");
    let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    assert_eq!(lines.first(), Some(&"21 99"), "window size: {out:?}");
    assert!(
        lines.get(1).is_some_and(|l| l.starts_with("/dev/pts/")),
        "tty must print a terminal: {out:?}"
    );
    docker_ok(&["rm", "-f", &name]);
    assert_no_leftovers(&id, &merged);
}

#[test]
fn rm_f_of_a_running_container_leaves_nothing() {
    let name = unique_name("rmf");
    let _rm = Removed(name.clone());
    let (id, merged) = start_detached(&name, &["sleep", "1000"]);
    // Something to leave behind: a shim, its state, a cgroup, the rootfs mount.
    assert_eq!(shim_pids(&id).len(), 1, "a shim serves {id}");
    assert!(
        !leftovers(&id, &merged).is_empty(),
        "a running container must show up in the leftover check"
    );
    let exec = docker_cmd(&["exec", &name, "sleep", "1000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut exec = ChildGuard(exec);
    wait_until("the exec to run", Duration::from_secs(10), || {
        docker_ok(&["top", &name]).matches("sleep 1000").count() == 2
    });
    docker_ok(&["rm", "-f", &name]);
    let status = exec.0.wait().unwrap();
    assert!(!status.success(), "the exec ends with its container");
    assert_no_leftovers(&id, &merged);
}

/// Kills the child when dropped.
struct ChildGuard(std::process::Child);
impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first cgroup file of `id` (cgroupfs driver, parent /docker) that
/// exists among the v1 `v1` and the v2 `v2` names.
fn cgroup_file(id: &str, v1: &str, v2: &str) -> PathBuf {
    let root = Path::new("/sys/fs/cgroup");
    [
        root.join(v1.replace("{}", id)),
        root.join(v2.replace("{}", id)),
    ]
    .into_iter()
    .find(|p| p.exists())
    .unwrap_or_else(|| panic!("neither /sys/fs/cgroup/{v1} nor {v2} exists for {id}"))
}

#[test]
fn top_pause_update_and_stats_reach_the_shim() {
    let name = unique_name("ops");
    let _rm = Removed(name.clone());
    let (id, merged) = start_detached(&name, &["sleep", "1000"]);
    // docker top: the task's Pids.
    let top = docker_ok(&["top", &name]);
    assert!(top.contains("sleep 1000"), "{top}");
    // docker pause / unpause: Pause and Resume freeze the cgroup.
    let freezer = cgroup_file(
        &id,
        "freezer/docker/{}/freezer.state",
        "docker/{}/cgroup.freeze",
    );
    let frozen = || {
        let s = std::fs::read_to_string(&freezer).unwrap();
        matches!(s.trim(), "FROZEN" | "1")
    };
    docker_ok(&["pause", &name]);
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.State.Status}}", &name]).trim(),
        "paused"
    );
    wait_until("the cgroup to freeze", Duration::from_secs(5), frozen);
    docker_ok(&["unpause", &name]);
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.State.Status}}", &name]).trim(),
        "running"
    );
    assert!(!frozen(), "thawed after unpause");
    assert_eq!(docker_ok(&["exec", &name, "echo", "awake"]), "awake\n");
    // docker update: Update writes the new limit.
    docker_ok(&["update", "--memory", "64m", "--memory-swap", "128m", &name]);
    let limit = cgroup_file(
        &id,
        "memory/docker/{}/memory.limit_in_bytes",
        "docker/{}/memory.max",
    );
    assert_eq!(std::fs::read_to_string(&limit).unwrap().trim(), "67108864");
    // docker stats: Stats' metrics, decoded by dockerd.
    let stats = docker_ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.PIDs}} {{.MemUsage}}",
        &name,
    ]);
    let fields: Vec<&str> = stats.split_whitespace().collect();
    assert_eq!(fields.first(), Some(&"1"), "one process: {stats}");
    assert_eq!(fields.last(), Some(&"64MiB"), "the updated limit: {stats}");
    docker_ok(&["rm", "-f", &name]);
    assert_no_leftovers(&id, &merged);
}
