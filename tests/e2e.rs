//! End-to-end: a real containerd (private, started by hack/test.sh) runs
//! real containers through containerd-shim-rust-v2.

mod common;
mod resources;
mod robust;
mod soak;
mod systemd;

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use containerd_shim_protos::api;
use ttrpc::Code;

#[test]
fn output_arrives_from_an_image_container() {
    let id = unique_id("hello");
    let out = run_rm(&id, &["echo", "hello from rust"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello from rust\n");
    assert_no_leftovers(&id);
}

#[test]
fn output_arrives_from_a_rootfs_container() {
    let id = unique_id("rootfs");
    let rootfs = std::env::temp_dir().join(&id);
    for d in ["bin", "proc", "dev", "sys", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for applet in ["sh", "echo", "cat"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    let root = rootfs.display().to_string();
    let out = ctr(&[
        "run",
        "--rm",
        "--runtime",
        RUNTIME,
        "--rootfs",
        &root,
        &id,
        "sh",
        "-c",
        "echo from-rootfs; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "from-rootfs\n");
    assert_no_leftovers(&id);
    // The shim did not unmount or remove the user's own rootfs.
    assert!(rootfs.join("bin/busybox").exists());
    std::fs::remove_dir_all(rootfs).unwrap();
}

#[test]
fn seccomp_is_enforced() {
    let id = unique_id("seccomp");
    let out = run_rm_with(
        &["--seccomp"],
        &id,
        &["grep", "Seccomp:", "/proc/self/status"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // 2 = SECCOMP_MODE_FILTER: the spec's profile is loaded.
    assert_eq!(
        stdout(&out).split_whitespace().collect::<Vec<_>>(),
        ["Seccomp:", "2"]
    );
    assert_no_leftovers(&id);
}

#[test]
fn exit_codes_are_reported() {
    for code in [0, 7] {
        let id = unique_id("exit");
        let out = run_rm(&id, &["sh", "-c", &format!("exit {code}")]);
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
        assert_no_leftovers(&id);
    }
}

/// Starts `ctr run --rm` in the background, waits until the task runs.
fn spawn_run(id: &str, cmd: &[&str]) -> std::process::Child {
    let image = env().image;
    let mut args = vec!["run", "--rm", "--runtime", RUNTIME, image.as_str(), id];
    args.extend_from_slice(cmd);
    let child = ctr_cmd(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("task to run", Duration::from_secs(20), || {
        task_status(id).as_deref() == Some("RUNNING")
    });
    child
}

#[test]
fn sigkill_gives_137() {
    let id = unique_id("kill");
    let child = spawn_run(&id, &["sleep", "1000"]);
    ctr_ok(&["task", "kill", "-s", "SIGKILL", &id]);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    assert_no_leftovers(&id);
}

#[test]
fn init_exits_143_when_it_traps_sigterm_and_ignores_it_otherwise() {
    let id = unique_id("term");
    let child = spawn_run(
        &id,
        &[
            "sh",
            "-c",
            "trap 'echo got-term; exit 143' TERM; echo ready; while true; do sleep 0.05; done",
        ],
    );
    // pid 1 of the container drops a signal it has no handler for: the
    // SIGTERM goes only once the trap is set, which "ready" follows.
    let mut child = child;
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut reader, &mut first).unwrap();
    assert_eq!(first, "ready\n");
    ctr_ok(&["task", "kill", "-s", "SIGTERM", &id]);
    let mut rest = String::new();
    let reading = std::thread::spawn(move || reader.read_to_string(&mut rest).map(|_| rest));
    wait_until(
        "the trapped SIGTERM to end ctr run",
        Duration::from_secs(20),
        || child.try_wait().unwrap().is_some(),
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert_eq!(reading.join().unwrap().unwrap(), "got-term\n");

    // Without a handler, pid 1 of the container does not die of SIGTERM.
    let id2 = unique_id("noterm");
    let child = spawn_run(&id2, &["sleep", "1000"]);
    ctr_ok(&["task", "kill", "-s", "SIGTERM", &id2]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(task_status(&id2).as_deref(), Some("RUNNING"));
    ctr_ok(&["task", "kill", "-s", "SIGKILL", &id2]);
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(137));
    assert_no_leftovers(&id);
    assert_no_leftovers(&id2);
}

/// The first `len` bytes of `seq 1 N`: line numbers, so a lost or doubled
/// chunk anywhere shows.
fn seq_output(len: usize) -> String {
    let mut out = String::new();
    let mut n = 1u64;
    while out.len() < len {
        out.push_str(&n.to_string());
        out.push('\n');
        n += 1;
    }
    out.truncate(len);
    out
}

#[test]
fn ten_million_bytes_of_stdout_arrive_exactly() {
    let id = unique_id("bulk");
    // A non-repeating-per-block pattern: line numbers, so a lost or doubled
    // chunk anywhere shows.
    let out = run_rm(&id, &["sh", "-c", "seq 1 2000000 | head -c 10000000"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = seq_output(10_000_000);
    let first_diff = out
        .stdout
        .iter()
        .zip(expected.as_bytes())
        .position(|(a, b)| a != b);
    assert_eq!(
        (out.stdout.len(), first_diff),
        (10_000_000, None),
        "stdout differs from the pattern (length, first differing offset)"
    );
    assert_no_leftovers(&id);
}

#[test]
fn a_pod_shares_one_shim_which_exits_after_its_last_container() {
    let pod = unique_id("pod");
    let (a, b, c) = (unique_id("pod-a"), unique_id("pod-b"), unique_id("solo"));
    let _cleanup = Cleanup(vec![a.clone(), b.clone(), c.clone()]);
    let ann = format!("io.kubernetes.cri.sandbox-id={pod}");
    run_detached(&a, &["--annotation", &ann], &["sleep", "1000"]);
    run_detached(&b, &["--annotation", &ann], &["sleep", "1000"]);
    run_detached(&c, &[], &["sleep", "1000"]);
    let (pa, pb, pc) = (shim_pid(&a), shim_pid(&b), shim_pid(&c));
    assert_eq!(pa, pb, "containers of one pod must share a shim");
    assert_ne!(pa, pc, "a container outside the pod gets its own shim");
    assert_eq!(shim_socket(&a), shim_socket(&b));

    remove(&a);
    assert!(alive(pb), "the pod's shim must outlive its first container");
    assert_eq!(task_status(&b).as_deref(), Some("RUNNING"));
    remove(&b);
    wait_until("the pod's shim to exit", Duration::from_secs(10), || {
        !alive(pa)
    });
    let sock = shim_socket_path_gone(&pod);
    assert!(sock, "the pod's socket must be removed");
    remove(&c);
    wait_until("the solo shim to exit", Duration::from_secs(10), || {
        !alive(pc)
    });
    for id in [&a, &b, &c] {
        assert_no_leftovers(id);
    }
}

/// True once no shim socket serves the group any more (its file is gone).
fn shim_socket_path_gone(group: &str) -> bool {
    use sha2::Digest;
    let e = env();
    let key = format!("{}/{}/{}", e.address, NAMESPACE, group);
    let hex: String = sha2::Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let path = socket_dir().join(hex);
    let start = std::time::Instant::now();
    while path.exists() {
        if start.elapsed() > Duration::from_secs(10) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

#[test]
fn no_runc_is_needed() {
    let id = unique_id("norunc");
    let _cleanup = Cleanup(vec![id.clone()]);
    run_detached(&id, &[], &["sleep", "1000"]);
    let pid = shim_pid(&id);
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let path = environ
        .split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(b"PATH="))
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .unwrap_or_default();
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let runc = std::path::Path::new(dir).join("runc");
        assert!(
            !runc.exists(),
            "runc is reachable on the shim's PATH: {}",
            runc.display()
        );
    }
    assert_eq!(task_status(&id).as_deref(), Some("RUNNING"));
}

#[test]
fn the_shim_is_a_daemon_with_a_private_filesystem_socket() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let id = unique_id("daemon");
    let _cleanup = Cleanup(vec![id.clone()]);
    run_detached(&id, &[], &["sleep", "1000"]);
    let pid = shim_pid(&id);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // fields: state ppid pgrp session ...
    let (pgrp, session): (u32, u32) = (fields[2].parse().unwrap(), fields[3].parse().unwrap());
    assert_eq!(session, pid, "the shim must lead its own session");
    assert_eq!(pgrp, pid, "the shim must lead its own process group");
    let socket = shim_socket(&id);
    let path = socket.strip_prefix("unix://").expect("a unix:// address");
    assert!(
        std::path::Path::new(path).parent() == Some(socket_dir().as_path()),
        "{socket} is not in {}",
        socket_dir().display()
    );
    let meta = std::fs::metadata(path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // The container's init is reparented to the shim, its subreaper.
    let init: u32 = std::fs::read_to_string(bundle(&id).join("init.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let init_stat = std::fs::read_to_string(format!("/proc/{init}/stat")).unwrap();
    let ppid: u32 = init_stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(ppid, pid, "the container's init must be the shim's child");
}

#[test]
fn start_answers_each_containerd_in_its_own_form() {
    let id = unique_id("bootstrap");
    let _cleanup = Cleanup(vec![id.clone()]);
    run_detached(&id, &[], &["sleep", "1000"]);
    let version =
        std::env::var("CONTAINERD_VERSION").expect("CONTAINERD_VERSION from containerd-up.sh");
    let major: u32 = version.split('.').next().unwrap().parse().unwrap();
    let minor: u32 = version.split('.').nth(1).unwrap().parse().unwrap();
    let address = std::fs::read_to_string(bundle(&id).join("address")).unwrap();
    // containerd 2.3 names the socket's directory in BootstrapParams'
    // socket_dir, here one of the test's own (hack/containerd-up.sh).
    let dir = socket_dir();
    if (major, minor) >= (2, 3) {
        let own = std::path::Path::new(&env().dir).join("s");
        assert_eq!(
            dir,
            own,
            "containerd {version} was given socket_dir {}",
            own.display()
        );
    }
    assert!(
        address.starts_with(&format!("unix://{}/", dir.display())),
        "{address} is not in {}",
        dir.display()
    );
    // containerd records what it made of our reply in bootstrap.json (1.7+).
    let recorded = std::fs::read_to_string(bundle(&id).join("bootstrap.json")).ok();
    match (major, recorded) {
        (1, None) => {}
        (1, Some(json)) => assert!(json.contains("\"version\":2"), "{json}"),
        (_, Some(json)) => {
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(
                v["version"], 3,
                "containerd {version} must speak task API v3: {json}"
            );
            assert_eq!(v["protocol"], "ttrpc");
            assert_eq!(v["address"], address.trim());
        }
        (_, None) => panic!("containerd {version} wrote no bootstrap.json"),
    }
}

#[test]
fn a_missing_binary_is_named_and_leaves_nothing_behind() {
    let id = unique_id("nope");
    let out = run_rm(&id, &["/bin/nope"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/bin/nope"),
        "error must name the path: {}",
        stderr(&out)
    );
    assert_eq!(task_status(&id), None);
    assert_no_leftovers(&id);
}

#[test]
fn twenty_concurrent_creates_in_one_pod_succeed() {
    let pod = unique_id("pod20");
    let ann = format!("io.kubernetes.cri.sandbox-id={pod}");
    let ids: Vec<String> = (0..20).map(|i| unique_id(&format!("c20-{i}"))).collect();
    let _cleanup = Cleanup(ids.clone());
    let handles: Vec<_> = ids
        .iter()
        .map(|id| {
            let (id, ann) = (id.clone(), ann.clone());
            std::thread::spawn(move || {
                run_detached(&id, &["--annotation", &ann], &["sleep", "1000"]);
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a concurrent create failed");
    }
    let shim = shim_pid(&ids[0]);
    for id in &ids {
        assert_eq!(task_status(id).as_deref(), Some("RUNNING"), "{id}");
        assert_eq!(shim_pid(id), shim, "{id} is not in the pod's shim");
    }
}

#[test]
fn events_report_the_lifecycle_with_pid_and_status() {
    let id = unique_id("events");
    let mut events = ctr_cmd(&["events"]).stdout(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = run_rm(&id, &["sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5));
    std::thread::sleep(Duration::from_millis(300));
    events.kill().unwrap();
    let mut text = String::new();
    events
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let _ = events.wait();
    let mine: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(&id) && l.contains("/tasks/"))
        .collect();
    let topics: Vec<&str> = mine
        .iter()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("/tasks/")))
        .collect();
    assert_eq!(
        topics,
        [
            "/tasks/create",
            "/tasks/start",
            "/tasks/exit",
            "/tasks/delete"
        ],
        "{text}"
    );
    let exit = mine.iter().find(|l| l.contains("/tasks/exit")).unwrap();
    assert!(exit.contains("\"exit_status\":5"), "{exit}");
    let create = mine[0];
    let pid = create
        .split("\"pid\":")
        .nth(1)
        .unwrap()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap();
    assert!(
        exit.contains(&format!("\"pid\":{pid}")),
        "exit must carry the init pid {pid}: {exit}"
    );
}

#[test]
fn the_delete_action_cleans_up_after_a_killed_shim() {
    let id = unique_id("deadshim");
    let _cleanup = Cleanup(vec![id.clone()]);
    run_detached(&id, &[], &["sleep", "1000"]);
    kill_the_shim_and_check_cleanup(&id);
}

// ---- bad input, sent straight to the shim's socket ----

// Bad input sent straight to the shim's socket: tests/robust (a table).

// ---- the command line containerd uses ----

fn shim_binary() -> &'static str {
    env!("CARGO_BIN_EXE_containerd-shim-rust-v2")
}

#[test]
fn dash_v_prints_the_version_and_revision() {
    let out = std::process::Command::new(shim_binary())
        .arg("-v")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains(&format!("Version:  {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    let rev = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Revision: "))
        .unwrap();
    assert!(
        rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit()),
        "revision {rev:?}"
    );
}

#[test]
fn the_delete_action_prints_a_delete_response_for_a_dead_shim() {
    use containerd_shim_protos::protobuf::Message;
    let id = unique_id("delact");
    let bundle = std::env::temp_dir().join(&id);
    std::fs::create_dir_all(bundle.join("rootfs")).unwrap();
    std::fs::write(
        bundle.join("config.json"),
        r#"{"ociVersion":"1.0.2","annotations":{}}"#,
    )
    .unwrap();
    std::fs::write(bundle.join("init.pid"), "4242").unwrap();
    let e = env();
    let out = std::process::Command::new(shim_binary())
        .args([
            "-namespace",
            NAMESPACE,
            "-address",
            &e.address,
            "-id",
            &id,
            "-bundle",
        ])
        .arg(&bundle)
        .arg("delete")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let resp =
        api::DeleteResponse::parse_from_bytes(&out.stdout).expect("a protobuf DeleteResponse");
    assert_eq!(resp.exit_status, 137);
    assert_eq!(resp.pid, 4242);
    assert!(resp.exited_at.seconds > 0);
    assert_no_leftovers(&id);
    std::fs::remove_dir_all(bundle).unwrap();
}

#[test]
fn start_refuses_a_bad_id_and_a_missing_namespace() {
    let out = std::process::Command::new(shim_binary())
        .args([
            "-namespace",
            NAMESPACE,
            "-id",
            "../x",
            "-address",
            "/tmp/x.sock",
            "start",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("container id"), "{}", stderr(&out));
    assert!(
        out.stdout.is_empty(),
        "start must print nothing but an address"
    );
    let out = std::process::Command::new(shim_binary())
        .args(["-id", "ok", "start"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("-namespace"), "{}", stderr(&out));
}

// ---- exec ----

#[test]
fn exec_output_exit_code_and_a_missing_binary() {
    let id = unique_id("exec");
    let _cleanup = Cleanup(vec![id.clone()]);
    run_detached(&id, &[], &["sleep", "1000"]);
    let out = ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        &id,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "out\n");
    assert!(stderr(&out).contains("err"), "{}", stderr(&out));

    let out = ctr(&["task", "exec", "--exec-id", "e2", &id, "/bin/nope"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/bin/nope"),
        "the error must name the binary: {}",
        stderr(&out)
    );
    // The container is unharmed and still takes execs.
    assert_eq!(task_status(&id).as_deref(), Some("RUNNING"));
    let out = ctr(&["task", "exec", "--exec-id", "e3", &id, "echo", "still here"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "still here\n");
}

#[test]
fn exec_processes_are_listed_with_their_exec_id() {
    let id = unique_id("execps");
    let _cleanup = Cleanup(vec![id.clone()]);
    run_detached(&id, &[], &["sleep", "1000"]);
    let mut exec = ctr_cmd(&["task", "exec", "--exec-id", "sleeper", &id, "sleep", "1000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the exec to show in ps", Duration::from_secs(10), || {
        // ctr 1.6 prints `ExecID:sleeper`, 1.7 and 2.x `exec_id:"sleeper"`.
        let ps = ctr_ok(&["task", "ps", &id]);
        ps.contains("ExecID:sleeper") || ps.contains("exec_id:\"sleeper\"")
    });
    ctr_ok(&["task", "kill", "--exec-id", "sleeper", "-s", "SIGKILL", &id]);
    assert_eq!(exec.wait().unwrap().code(), Some(137));
}

fn exec_request(id: &str, exec_id: &str, args: &[&str]) -> api::ExecProcessRequest {
    let mut spec = containerd_shim_protos::protobuf::well_known_types::any::Any::new();
    spec.type_url = "types.containerd.io/opencontainers/runtime-spec/1/Process".into();
    spec.value = serde_json::to_vec(&serde_json::json!({
        "args": args, "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}
    }))
    .unwrap();
    let mut r = api::ExecProcessRequest::new();
    r.id = id.into();
    r.exec_id = exec_id.into();
    r.spec = Some(spec).into();
    r
}

#[test]
fn exec_requests_get_the_status_codes_containerd_expects() {
    let (live, done, _cleanup) = running_and_stopped_in_one_shim("exec");
    let shim = shim_client(&live);
    shim.exec(ttrpc_ctx(), &exec_request(&live, "x1", &["sleep", "1000"]))
        .expect("first exec");
    expect_code(
        shim.exec(ttrpc_ctx(), &exec_request(&live, "x1", &["true"])),
        Code::ALREADY_EXISTS,
        "x1",
    );
    expect_code(
        shim.exec(ttrpc_ctx(), &exec_request(&done, "x2", &["true"])),
        Code::FAILED_PRECONDITION,
        "stopped",
    );
    expect_code(
        shim.exec(ttrpc_ctx(), &exec_request(&live, "../x", &["true"])),
        Code::INVALID_ARGUMENT,
        "exec id",
    );
    let mut bad = exec_request(&live, "x3", &["true"]);
    bad.spec.as_mut().unwrap().value = b"not json".to_vec();
    expect_code(
        shim.exec(ttrpc_ctx(), &bad),
        Code::INVALID_ARGUMENT,
        "not a valid OCI process",
    );
    let mut state = api::StateRequest::new();
    state.id = live.clone();
    state.exec_id = "nope".into();
    expect_code(
        shim.state(ttrpc_ctx(), &state),
        Code::NOT_FOUND,
        "exec nope",
    );
    // The never-started exec can be deleted; the live container is unharmed.
    let mut del = api::DeleteRequest::new();
    del.id = live.clone();
    del.exec_id = "x1".into();
    shim.delete(ttrpc_ctx(), &del)
        .expect("delete a created exec");
    assert_eq!(task_status(&live).as_deref(), Some("RUNNING"));
}

#[test]
fn a_hundred_execs_leave_the_shims_fds_where_they_were() {
    let id = unique_id("execfd");
    let _cleanup = Cleanup(vec![id.clone()]);
    run_detached(&id, &[], &["sleep", "1000"]);
    let pid = shim_pid(&id);
    let out = ctr(&["task", "exec", "--exec-id", "warmup", &id, "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = settled_fds(pid);
    for i in 0..100 {
        let exec_id = format!("e{i}");
        let out = ctr(&["task", "exec", "--exec-id", &exec_id, &id, "true"]);
        assert!(out.status.success(), "exec {i}: {}", stderr(&out));
    }
    let after = settled_fds(pid);
    assert!(
        after.len() <= before.len(),
        "shim fds grew over 100 execs from {before:#?} to {after:#?}"
    );
}

#[test]
fn exec_events_carry_the_exec_id() {
    let id = unique_id("execev");
    let _cleanup = Cleanup(vec![id.clone()]);
    run_detached(&id, &[], &["sleep", "1000"]);
    let mut events = ctr_cmd(&["events"]).stdout(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = ctr(&[
        "task",
        "exec",
        "--exec-id",
        "ev1",
        &id,
        "sh",
        "-c",
        "exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4));
    std::thread::sleep(Duration::from_millis(300));
    events.kill().unwrap();
    let mut text = String::new();
    events
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let _ = events.wait();
    let mine: Vec<&str> = text.lines().filter(|l| l.contains(&id)).collect();
    let topics: Vec<&str> = mine
        .iter()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("/tasks/")))
        .collect();
    assert_eq!(
        topics,
        ["/tasks/exec-added", "/tasks/exec-started", "/tasks/exit"],
        "{text}"
    );
    let exit = mine.iter().find(|l| l.contains("/tasks/exit")).unwrap();
    assert!(
        exit.contains("\"id\":\"ev1\"") && exit.contains("\"exit_status\":4"),
        "{exit}"
    );
}

// ---- log URIs ----

#[test]
fn file_log_uri_receives_ten_million_bytes_exactly() {
    let id = unique_id("logfile");
    let log = std::env::temp_dir().join(format!("{id}/out.log"));
    let uri = format!("file://{}", log.display());
    let out = run_rm_with(
        &["--log-uri", &uri],
        &id,
        &[
            "sh",
            "-c",
            "seq 1 2000000 | head -c 10000000; echo to-stderr >&2",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read(&log).unwrap();
    let mut expected = seq_output(10_000_000);
    expected.push_str("to-stderr\n");
    assert_eq!(text.len(), expected.len());
    assert!(
        text == expected.as_bytes(),
        "the log file differs from what the container wrote"
    );
    assert_no_leftovers(&id);
    std::fs::remove_dir_all(log.parent().unwrap()).unwrap();
}

/// A logging program for `binary://` URIs in `dir`: runs `before_ready`,
/// closes fd 5 (its readiness pipe), then copies fd 3 (stdout) to the path
/// in its second argument and fd 4 (stderr) to that path + ".err".
fn logger_script(dir: &std::path::Path, name: &str, before_ready: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\n# fd 3: stdout, fd 4: stderr, fd 5: readiness\n\
             PATH=/usr/bin:/bin\nout=$2\n{before_ready}\nexec 5>&-\n\
             cat <&3 > \"$out\" &\ncat <&4 > \"$out.err\" &\nwait\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn binary_log_uri_starts_the_logger_with_the_output() {
    let id = unique_id("logbin");
    let dir = std::env::temp_dir().join(&id);
    std::fs::create_dir_all(&dir).unwrap();
    let logger = logger_script(
        &dir,
        "logger.sh",
        "echo \"$CONTAINER_ID $CONTAINER_NAMESPACE\" > \"$out.env\"",
    );
    let out_path = dir.join("out");
    let uri = format!("binary://{}?out={}", logger.display(), out_path.display());
    let out = run_rm_with(
        &["--log-uri", &uri],
        &id,
        &["sh", "-c", "echo hello logger; echo oops >&2"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&out_path).unwrap(),
        "hello logger\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("out.err")).unwrap(),
        "oops\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("out.env")).unwrap(),
        format!("{id} {NAMESPACE}\n")
    );

    // A logger that cannot start is a clear Create error.
    let id2 = unique_id("logbad");
    let out = run_rm_with(
        &["--log-uri", "binary:///nonexistent/logger"],
        &id2,
        &["true"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/nonexistent/logger"),
        "{}",
        stderr(&out)
    );
    assert_no_leftovers(&id);
    assert_no_leftovers(&id2);
    std::fs::remove_dir_all(dir).unwrap();
}

/// `binary-v2://` (containerd 2.3's scheme, passed on unchanged by every
/// containerd): the same fds, but readiness is a byte written to fd 5; a
/// logger that only closes fd 5 is refused, as containerd-shim-runc-v2 2.3
/// refuses it.
#[test]
fn binary_v2_log_uri_wants_a_ready_byte() {
    let id = unique_id("logbin2");
    let dir = std::env::temp_dir().join(&id);
    std::fs::create_dir_all(&dir).unwrap();
    let good = logger_script(&dir, "ready.sh", "printf '\\0' >&5");
    let silent = logger_script(&dir, "silent.sh", ":");
    let out_path = dir.join("out");
    let uri = format!("binary-v2://{}?out={}", good.display(), out_path.display());
    let out = run_rm_with(
        &["--log-uri", &uri],
        &id,
        &["sh", "-c", "echo v2; echo e2 >&2"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "v2\n");
    assert_eq!(
        std::fs::read_to_string(dir.join("out.err")).unwrap(),
        "e2\n"
    );

    let id2 = unique_id("logbin2-silent");
    let uri = format!(
        "binary-v2://{}?out={}",
        silent.display(),
        dir.join("out2").display()
    );
    let out = run_rm_with(&["--log-uri", &uri], &id2, &["true"]);
    assert!(
        !out.status.success(),
        "a logger that never called ready was taken"
    );
    assert!(
        stderr(&out).contains("did not call ready"),
        "{}",
        stderr(&out)
    );
    assert_no_leftovers(&id);
    assert_no_leftovers(&id2);
    std::fs::remove_dir_all(dir).unwrap();
}

// ---- stdin ----

/// Runs ctr with `input` on its stdin, closed a moment after the task exists
/// (ctr 1.6 forwards end of input only once the task was created).
#[test]
fn stdin_reaches_run_and_exec_intact() {
    let id = unique_id("stdin");
    let image = env().image;
    // ctr sends CloseIO (the container's EOF) only once it has the process,
    // so the input ends once the task exists (a create takes seconds on a
    // slow node).
    let out = ctr_feeding_stdin(
        &["run", "--rm", "--runtime", RUNTIME, &image, &id, "cat"],
        b"data\n".to_vec(),
        || task_status(&id).is_some(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "data\n");

    // 1 MB through stdin, counted and checksummed inside the container.
    let payload: Vec<u8> = (0..1_048_576u32).map(|i| b'a' + (i % 26) as u8).collect();
    let expected = format!("{}\n", payload.len());
    let id2 = unique_id("stdin1m");
    let out = ctr_feeding_stdin(
        &[
            "run",
            "--rm",
            "--runtime",
            RUNTIME,
            &image,
            &id2,
            "wc",
            "-c",
        ],
        payload.clone(),
        || task_status(&id2).is_some(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), expected.trim());

    let id3 = unique_id("stdinexec");
    let _cleanup = Cleanup(vec![id3.clone()]);
    run_detached(&id3, &[], &["sleep", "1000"]);
    // ctr has the exec once it runs: a second process in the container.
    let out = ctr_feeding_stdin(
        &["task", "exec", "--exec-id", "in", &id3, "wc", "-c"],
        payload,
        || {
            ctr(&["task", "ps", &id3])
                .stdout
                .split(|b| *b == b'\n')
                .filter(|l| l.first().is_some_and(u8::is_ascii_digit))
                .count()
                >= 2
        },
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), expected.trim());
    assert_no_leftovers(&id);
    assert_no_leftovers(&id2);
}

/// Pseudo-random bytes (xorshift), different for each seed.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs ctr with `input` on its stdin, which it closes once `present`
/// says the task or exec process exists and all of it is written: ctr calls
/// CloseIO when its stdin ends, but only once it has the process, and
/// otherwise never (its own race, not the shim's).
fn ctr_feeding_stdin(
    args: &[&str],
    input: Vec<u8>,
    present: impl Fn() -> bool,
) -> std::process::Output {
    use std::io::Write;
    let mut child = ctr_cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
        stdin
    });
    let start = std::time::Instant::now();
    while !present() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    // A moment for ctr to take the process it was just given, then the end
    // of input as soon as the last byte is written: ctr sends CloseIO right
    // behind it, while the input is still in the FIFO and in the shim.
    std::thread::sleep(Duration::from_millis(50));
    drop(writer.join().unwrap());
    child.wait_with_output().unwrap()
}

/// Every byte a client writes into stdin reaches the process, in order,
/// however the end of input, CloseIO, the process's start and the copy
/// fall in time: 50 rounds of `ctr run` and of `ctr task exec`, each with
/// 1 MB and with 64 KiB of random input, checksummed in the container by a
/// process that pauses before the last part (so CloseIO comes while that
/// part is in flight: the shim before this fix dropped it),
/// while a busy loop per core keeps the machine loaded (and 4 rounds run at
/// once). Alone (--ignored), since the load would slow the other tests.
#[test]
#[ignore = "loads every core: hack/test.sh runs it alone, after the suite (--ignored)"]
fn stdin_arrives_whole_under_load() {
    const ROUNDS: usize = 50;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let hogs: Vec<std::process::Child> = (0..cores)
        .map(|_| {
            std::process::Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .spawn()
                .unwrap()
        })
        .collect();
    let holder = unique_id("stdin-load");
    let _cleanup = Cleanup(vec![holder.clone()]);
    run_detached(&holder, &[], &["sleep", "100000"]);
    let image = env().image;
    let failures = std::sync::Mutex::new(Vec::<String>::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| loop {
                let round = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if round >= ROUNDS * 4 {
                    return;
                }
                let size = if round % 2 == 0 { 1_000_000 } else { 64 * 1024 };
                let input = random_bytes(size, round as u64 + 1);
                let want = sha256_hex(&input);
                // The process reads all but the last `rest` bytes, stops
                // reading for a moment, then reads the rest: the client
                // writes that rest into the FIFO, ends its input and sends
                // CloseIO while it is still in the FIFO and in the shim.
                let rest = if size > 100_000 { 150_000 } else { 30_000 };
                let script = format!(
                    "dd bs={} count=1 iflag=fullblock of=/tmp/h{round} 2>/dev/null; sleep 0.3; \
                     cat /tmp/h{round} - | sha256sum; rm -f /tmp/h{round}",
                    size - rest
                );
                let (what, out) = if (round / 2) % 2 == 0 {
                    let id = unique_id("stdin-run");
                    let out = ctr_feeding_stdin(
                        &[
                            "run",
                            "--rm",
                            "--runtime",
                            RUNTIME,
                            &image,
                            &id,
                            "sha256sum",
                        ],
                        input,
                        || task_status(&id).is_some(),
                    );
                    assert_no_leftovers(&id);
                    (format!("ctr run {id}"), out)
                } else {
                    let exec_id = format!("in{round}");
                    let out = ctr_feeding_stdin(
                        &[
                            "task",
                            "exec",
                            "--exec-id",
                            &exec_id,
                            &holder,
                            "sh",
                            "-c",
                            &script,
                        ],
                        input,
                        || {
                            ctr(&["task", "ps", &holder])
                                .stdout
                                .windows(exec_id.len())
                                .any(|w| w == exec_id.as_bytes())
                        },
                    );
                    (format!("ctr task exec {exec_id}"), out)
                };
                let got = stdout(&out);
                if !out.status.success() || got.split_whitespace().next() != Some(want.as_str()) {
                    failures.lock().unwrap().push(format!(
                        "{what}, {size} bytes: want {want}, got {got:?} ({}; {})",
                        out.status,
                        stderr(&out).trim()
                    ));
                }
            });
        }
    });
    for mut h in hogs {
        let _ = h.kill();
        let _ = h.wait();
    }
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} rounds lost or changed stdin:\n{}",
        failures.len(),
        ROUNDS * 4,
        failures.join("\n")
    );
}

// ---- terminals ----

/// Runs a ctr command inside a pseudo-terminal (util-linux `script`), as a
/// user at a terminal would.
fn ctr_in_a_pty(args: &[&str]) -> std::process::Output {
    ctr_in_a_pty_of_size((24, 80), args)
}

/// The same, with the terminal set to `rows` x `cols` first.
fn ctr_in_a_pty_of_size((rows, cols): (u16, u16), args: &[&str]) -> std::process::Output {
    let e = env();
    let bin = std::env::var("CTR_BIN").unwrap_or_else(|_| "ctr".into());
    let mut line = format!(
        "stty rows {rows} cols {cols}; {bin} --address {} -n {NAMESPACE}",
        e.address
    );
    for a in args {
        line.push_str(&format!(" '{}'", a.replace('\'', "'\\''")));
    }
    std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("run script")
}

#[test]
fn run_and_exec_with_a_terminal_get_a_pty() {
    let id = unique_id("tty");
    let image = env().image;
    let out = ctr_in_a_pty(&[
        "run",
        "-t",
        "--rm",
        "--runtime",
        RUNTIME,
        &image,
        &id,
        "sh",
        "-c",
        "tty; exit 6",
    ]);
    assert_eq!(out.status.code(), Some(6), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("/dev/pts/"),
        "tty must print a terminal: {:?}",
        stdout(&out)
    );
    assert_no_leftovers(&id);

    let id2 = unique_id("ttyexec");
    let _cleanup = Cleanup(vec![id2.clone()]);
    run_detached(&id2, &[], &["sleep", "1000"]);
    let pid = shim_pid(&id2);
    let fds = || open_fds(pid).len();
    let before = settled_fds(pid).len();
    let out = ctr_in_a_pty(&["task", "exec", "-t", "--exec-id", "t1", &id2, "tty"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("/dev/pts/"), "{:?}", stdout(&out));
    // ResizePty: ctr sends its terminal's size once the process started
    // (ctr sets no consoleSize, so the first moment may still be 0x0, with
    // runc as with us); `stty size` inside sees it.
    let out = ctr_in_a_pty_of_size(
        (33, 77),
        &[
            "task",
            "exec",
            "-t",
            "--exec-id",
            "t2",
            &id2,
            "sh",
            "-c",
            "sleep 1; stty size",
        ],
    );
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("33 77"),
        "resize not seen: {:?}",
        stdout(&out)
    );
    // The pty master and the console socket are gone with the process.
    wait_until("the shim to close the pty", Duration::from_secs(5), || {
        fds() <= before
    });
}

#[test]
fn close_io_ends_stdin_while_the_client_keeps_its_fifo_open() {
    use std::io::Write;
    let x = ExecSetup::new("closeio", "cat", &["cat"], true);
    x.shim.exec(ttrpc_ctx(), &x.req).expect("exec");
    start_exec(&x.shim, &x.id, "cat");
    // Like a client: hold the stdin FIFO open, write, and never close it.
    let mut writer = std::fs::OpenOptions::new()
        .write(true)
        .open(x.stdin.as_ref().unwrap())
        .unwrap();
    writer.write_all(b"through stdin\n").unwrap();
    let reader = read_fifo(x.stdout.clone());
    std::thread::sleep(Duration::from_millis(300));
    let mut close = api::CloseIORequest::new();
    close.id = x.id.clone();
    close.exec_id = "cat".into();
    close.stdin = true;
    x.shim.close_io(ttrpc_ctx(), &close).expect("CloseIO");
    let status = wait_exec(&x.shim, &x.id, "cat");
    assert_eq!(status, 0, "cat exits once its stdin is closed");
    assert_eq!(reader.join().unwrap(), "through stdin\n");
    delete_exec(&x.shim, &x.id, "cat");
    drop(writer);
}

/// An Exec request with `terminal = true` whose process spec says false
/// (containerd's Go client sends that: `cio.WithTerminal`) runs on a pty,
/// as with containerd-shim-runc-v2: the request decides.
#[test]
fn an_exec_gets_the_terminal_its_request_asks_for() {
    // ExecSetup's spec has no "terminal": false, as the Go client sends it.
    let script = "tty; test -t 1 && echo is-a-terminal";
    let mut x = ExecSetup::new("execpty", "tty", &["sh", "-c", script], false);
    x.req.terminal = true;
    x.shim
        .exec(ttrpc_ctx(), &x.req)
        .expect("Exec with terminal = true and a spec without one");
    let reader = read_fifo(x.stdout.clone());
    start_exec(&x.shim, &x.id, "tty");
    let status = wait_exec(&x.shim, &x.id, "tty");
    let text = reader.join().unwrap();
    assert_eq!(status, 0, "{text}");
    assert!(text.contains("/dev/pts/"), "not on a pty: {text:?}");
    assert!(text.contains("is-a-terminal"), "{text:?}");
    delete_exec(&x.shim, &x.id, "tty");
}

/// An exec reaped while its output is still open (a background child holds
/// its stdout, so the shim keeps draining, up to 2 s): State says STOPPED
/// with the exit status at once, and Kill answers NotFound, as with
/// containerd-shim-runc-v2; Wait and the exit event still come after the
/// output.
#[test]
fn state_and_kill_see_the_exit_at_once_while_output_drains() {
    // The background sleep outlasts any slowness of a loaded machine (the
    // check below needs it alive); Wait gives up on the output after 2 s,
    // and the container's removal ends it.
    let script = "echo started; sleep 31 & exit 3";
    let x = ExecSetup::new("reaped", "bg", &["sh", "-c", script], false);
    x.shim.exec(ttrpc_ctx(), &x.req).expect("exec");
    let reader = read_fifo(x.stdout.clone());
    let pid = start_exec(&x.shim, &x.id, "bg");
    // The shell's background child holds the output once it is `sleep 31`:
    // before its exec it may still be a forked shell (on a slow node, such
    // as user-mode-linux, for longer than the shell takes to exit).
    let sleeping = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .any(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == b"sleep\x0031\x00"))
    };
    wait_until("the background sleep", Duration::from_secs(10), sleeping);
    // Wait returns once the output is out or its 2 s limit passed: while
    // it has not, the State and Kill below are inside the window.
    let waiter = {
        let (shim, id) = (x.shim.clone(), x.id.clone());
        std::thread::spawn(move || wait_exec(&shim, &id, "bg"))
    };
    // Reaped: the pid is gone (a zombie would still take signal 0).
    wait_until("the exec to be reaped", Duration::from_secs(10), || {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_err()
    });
    let mut state = api::StateRequest::new();
    state.id = x.id.clone();
    state.exec_id = "bg".into();
    let st = x.shim.state(ttrpc_ctx(), &state).expect("State");
    let mut kill = api::KillRequest::new();
    kill.id = x.id.clone();
    kill.exec_id = "bg".into();
    kill.signal = 15;
    let killed = x.shim.kill(ttrpc_ctx(), &kill);
    assert!(
        sleeping() && !waiter.is_finished(),
        "the check came too late: Wait had returned or the output was no longer held open"
    );
    assert_eq!(
        (st.status.enum_value(), st.exit_status),
        (Ok(containerd_shim_protos::types::task::Status::STOPPED), 3),
        "{st:?}"
    );
    expect_code(killed, Code::NOT_FOUND, "already finished");
    assert_eq!(waiter.join().unwrap(), 3);
    delete_exec(&x.shim, &x.id, "bg");
    assert!(reader.join().unwrap().starts_with("started"));
}

/// An image of 61 layers (hack/build-image.sh, EXTRA_LAYERS=60): with this
/// test containerd's snapshot paths the overlay's options exceed a page, and
/// the container must still run, every layer in its rootfs.
#[test]
fn an_image_of_sixty_one_layers_runs() {
    let tar = std::env::temp_dir().join(unique_id("layered.tar"));
    let name = "localhost/containerd-shim-rust-v2/layered:61";
    let built = std::process::Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/hack/build-image.sh"))
        .arg(&tar)
        .arg(name)
        .env("EXTRA_LAYERS", "60")
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", stderr(&built));
    ctr_ok(&["images", "import", &tar.display().to_string()]);
    let _ = std::fs::remove_file(&tar);
    let id = unique_id("layers");
    let out = ctr(&[
        "run",
        "--rm",
        "--runtime",
        RUNTIME,
        name,
        &id,
        "sh",
        "-c",
        "ls /layers | wc -l; cat /layers/59",
    ]);
    let _ = ctr(&["images", "rm", name]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "60\n59\n");
    assert_no_leftovers(&id);
}

/// `linux.rootfsPropagation` rshared and rslave with a bind mount of the
/// same propagation (Kubernetes' `mountPropagation: Bidirectional` and
/// `HostToContainer`): a mount made on the host below the bind source shows
/// in the container in both modes; one made in the container shows on the
/// host with rshared only.
#[test]
fn rshared_and_rslave_propagate_as_runc_does() {
    let sh = |script: &str| {
        let st = std::process::Command::new("sh")
            .args(["-c", script])
            .status()
            .unwrap();
        assert!(st.success(), "{script}");
    };
    for (mode, back_to_host) in [("rshared", true), ("rslave", false)] {
        let id = unique_id(&format!("prop-{mode}"));
        let _cleanup = Cleanup(vec![id.clone()]);
        let host = env().dir.join(&id);
        let h = host.display().to_string();
        // The source is a shared mount of its own, as kubelet's pod volumes are.
        sh(&format!(
            "mkdir -p {h} && mount --bind {h} {h} && mount --make-shared {h}"
        ));
        let mount = format!("type=bind,src={h},dst=/p,options=rbind:{mode}");
        run_detached(
            &id,
            &[
                "--privileged",
                "--rootfs-propagation",
                mode,
                "--mount",
                &mount,
            ],
            &["sleep", "1000"],
        );
        sh(&format!(
            "mkdir {h}/fromhost && mount -t tmpfs tmpfs {h}/fromhost && touch {h}/fromhost/marker"
        ));
        let seen = ctr(&[
            "task",
            "exec",
            "--exec-id",
            "look",
            &id,
            "test",
            "-e",
            "/p/fromhost/marker",
        ]);
        let made = ctr(&[
            "task",
            "exec",
            "--exec-id",
            "make",
            &id,
            "sh",
            "-c",
            "mkdir /p/fromct && mount -t tmpfs tmpfs /p/fromct && touch /p/fromct/marker",
        ]);
        let back = host.join("fromct/marker").exists();
        ctr_ok(&["task", "kill", "-s", "SIGKILL", &id]);
        wait_until("the task to stop", Duration::from_secs(10), || {
            task_status(&id).as_deref() == Some("STOPPED")
        });
        sh(&format!(
            "umount {h}/fromct 2>/dev/null; umount {h}/fromhost; umount {h}; rm -rf {h}"
        ));
        assert!(
            seen.status.success(),
            "{mode}: the host's mount is not in the container"
        );
        assert!(made.status.success(), "{mode}: {}", stderr(&made));
        assert_eq!(
            back, back_to_host,
            "{mode}: the container's mount on the host"
        );
    }
}

// ---- what -info says the runtime does ----

/// `-info` (what containerd 2.2+ runs before it creates a task) prints a
/// RuntimeInfo protobuf naming the shim and the embedded runtime's features,
/// starts nothing and leaves no state; with containerd 2.2+, `ctr plugins
/// inspect-runtime` shows the same.
#[test]
fn dash_info_prints_the_runtime_features() {
    use containerd_shim_protos::protobuf::Message;
    use containerd_shim_protos::types::introspection::RuntimeInfo;
    let out = std::process::Command::new(shim_binary())
        .arg("-info")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    let info = RuntimeInfo::parse_from_bytes(&out.stdout).unwrap();
    assert_eq!(info.name, RUNTIME);
    assert_eq!(info.version.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        info.features.type_url,
        "types.containerd.io/opencontainers/runtime-spec/1/features/Features"
    );
    let features: serde_json::Value = serde_json::from_slice(&info.features.value).unwrap();
    assert!(
        features["mountOptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "rro"),
        "{features}"
    );

    let version = std::env::var("CONTAINERD_VERSION").unwrap_or_default();
    let mut v = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    if (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (2, 2) {
        let text = ctr_ok(&["plugins", "inspect-runtime", "--runtime", RUNTIME]);
        let shown: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(shown["Name"], RUNTIME, "{text}");
        assert_eq!(shown["Features"], features, "{text}");
        assert_eq!(
            shown["Features"]["linux"]["mountExtensions"]["idmap"]["enabled"], false,
            "{text}"
        );
    }
}

/// `rro` (what -info promises and the CRI plugin asks for with kubelet's
/// recursiveReadOnly): a mount below the bind mount is read-only too, where
/// plain `ro` leaves it writable.
#[test]
fn a_recursive_read_only_bind_mount_is_read_only_below_too() {
    let id = unique_id("rro");
    let host = env().dir.join(&id);
    let sub = host.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&sub)
        .status()
        .unwrap();
    assert!(ok.success());
    let script = "for f in /data/top /data/sub/below; do \
                  if touch $f 2>/dev/null; then echo wrote $f; else echo refused $f; fi; done";
    let run = |opts: &str, tag: &str| {
        let mount = format!("type=bind,src={},dst=/data,options={opts}", host.display());
        let cid = unique_id(tag);
        let out = run_rm_with(&["--mount", &mount], &cid, &["sh", "-c", script]);
        assert!(out.status.success(), "{opts}: {}", stderr(&out));
        assert_no_leftovers(&cid);
        stdout(&out)
    };
    let rro = run("rbind:rro", "rro-r");
    let ro = run("rbind:ro", "rro-ro");
    let _ = std::process::Command::new("umount").arg(&sub).status();
    std::fs::remove_dir_all(&host).unwrap();
    assert_eq!(rro, "refused /data/top\nrefused /data/sub/below\n");
    // Plain ro is not recursive: the tmpfs below stays writable.
    assert_eq!(ro, "refused /data/top\nwrote /data/sub/below\n");
}
