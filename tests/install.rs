//! End-to-end for the node commands, against a real containerd of the
//! version under test (`CONTAINERD_BIN`, default /usr/bin/containerd;
//! hack/test.sh runs this once per version):
//!
//! 1. `install --config <copy of containerd config default> --prefix <tmp>
//!    --handler rust-inst` with the shim under test, twice (the second run
//!    changes nothing);
//! 2. that config, with every path containerd would touch moved into a
//!    private dir (the knowledge of hack/containerd-up.sh), is loaded by
//!    containerd: `containerd config dump` shows the handler, containerd
//!    starts with the CRI plugin on, the CRI plugin logs its runtimes with
//!    `rust-inst` in them, and a container run with
//!    `--runtime io.containerd.rust.v2` is served by the *installed* copy
//!    (the shim process's /proc/PID/exe) with only the prefix dir added to
//!    containerd's PATH;
//! 3. `uninstall` gives the original file back byte for byte and removes
//!    the binary.
//!
//! What this does not do: a CRI RunPodSandbox through `rust-inst` (that
//! path, with handler `rust`, is tests/api/tests/cri.rs's, against a config
//! hack/containerd-up.sh writes); here the CRI plugin's own log of the
//! runtimes it loaded stands for it.
//!
//! Also: `check` on this host, with expectations read from the host itself.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use toml_edit::{DocumentMut, Item};

const SHIM: &str = env!("CARGO_BIN_EXE_containerd-shim-rust-v2");
const HANDLER: &str = "rust-inst";
const RUNTIME: &str = "io.containerd.rust.v2";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn containerd_bin() -> PathBuf {
    std::env::var_os("CONTAINERD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/containerd"))
}

fn ctr_bin() -> PathBuf {
    if let Some(c) = std::env::var_os("CTR_BIN") {
        return PathBuf::from(c);
    }
    containerd_bin().with_file_name("ctr")
}

fn ok(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the shim with the containerd under test first on PATH, as it is on
/// a node (`install` asks that containerd for its version).
fn shim(args: &[&str]) -> String {
    let dir = containerd_bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(SHIM)
        .args(args)
        .env("PATH", path)
        .stdin(Stdio::null())
        .output()
        .expect("run the shim");
    ok(&format!("containerd-shim-rust-v2 {args:?}"), out)
}

/// "1.6.20" from "containerd github.com/containerd/containerd 1.6.20~ds1 ...".
fn containerd_version(containerd: &Path) -> String {
    let out = ok(
        "containerd --version",
        Command::new(containerd).arg("--version").output().unwrap(),
    );
    let v = out.split_whitespace().nth(2).expect("a version word");
    v.trim_start_matches('v')
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect()
}

fn major(containerd: &Path) -> u32 {
    containerd_version(containerd)
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The handler's runtime_type in a config of `major`'s format.
fn runtime_type_in(doc: &DocumentMut, major: u32, handler: &str) -> Option<String> {
    let plugin = if major >= 2 {
        "io.containerd.cri.v1.runtime"
    } else {
        "io.containerd.grpc.v1.cri"
    };
    doc.get("plugins")?
        .get(plugin)?
        .get("containerd")?
        .get("runtimes")?
        .get(handler)?
        .get("runtime_type")?
        .as_str()
        .map(str::to_string)
}

/// Replaces `key` in the table at `table` if this containerd's defaults
/// have it (plugins and keys differ between versions).
fn set(doc: &mut DocumentMut, table: &[&str], key: &str, value: impl Into<toml_edit::Value>) {
    let mut item: &mut Item = doc.as_item_mut();
    for k in table.iter().chain([&key]) {
        match item.get_mut(k) {
            Some(i) => item = i,
            None => return,
        }
    }
    *item = toml_edit::value(value);
}

/// The installed config with everything containerd would touch on the
/// host moved under `run` (what hack/containerd-up.sh writes by hand): its
/// root, state, temp and sockets; the CRI plugin's stream port, netns
/// mounts, CNI and CDI dirs; opt; NRI (disabled, its socket in `run` too);
/// the image verifier's dir.
fn privatize(installed: &str, run: &Path, major: u32) -> String {
    let mut doc: DocumentMut = installed.parse().unwrap();
    let p = |s: &str| run.join(s).display().to_string();
    for (k, v) in [
        ("root", p("root")),
        ("state", p("state")),
        ("temp", p("tmp")),
    ] {
        doc.insert(k, toml_edit::value(v));
    }
    set(&mut doc, &["grpc"], "address", p("containerd.sock"));
    set(&mut doc, &["ttrpc"], "address", p("containerd.sock.ttrpc"));
    set(&mut doc, &["debug"], "address", p("debug.sock"));
    set(&mut doc, &["debug"], "level", "info");
    set(&mut doc, &["metrics"], "address", "");
    // Version 4 (2.3): the servers are plugins, and the default config
    // imports the host's /etc/containerd/conf.d.
    let server = |name: &'static str| ["plugins", name];
    let grpc = p("containerd.sock");
    set(
        &mut doc,
        &server("io.containerd.server.v1.grpc"),
        "address",
        grpc,
    );
    let ttrpc = p("containerd.sock.ttrpc");
    set(
        &mut doc,
        &server("io.containerd.server.v1.ttrpc"),
        "address",
        ttrpc,
    );
    let debug = p("debug.sock");
    set(
        &mut doc,
        &server("io.containerd.server.v1.debug"),
        "address",
        debug,
    );
    set(
        &mut doc,
        &server("io.containerd.server.v1.metrics"),
        "address",
        "",
    );
    set(&mut doc, &[], "imports", toml_edit::Array::new());
    let cri_runtime = if major >= 2 {
        "io.containerd.cri.v1.runtime"
    } else {
        "io.containerd.grpc.v1.cri"
    };
    set(
        &mut doc,
        &["plugins", "io.containerd.grpc.v1.cri"],
        "stream_server_port",
        "0",
    );
    set(
        &mut doc,
        &["plugins", cri_runtime],
        "netns_mounts_under_state_dir",
        true,
    );
    set(
        &mut doc,
        &["plugins", cri_runtime],
        "restrict_oom_score_adj",
        true,
    );
    let cdi = toml_edit::Array::from_iter([p("cdi")]);
    set(&mut doc, &["plugins", cri_runtime], "cdi_spec_dirs", cdi);
    set(
        &mut doc,
        &["plugins", cri_runtime, "cni"],
        "conf_dir",
        p("cni/net.d"),
    );
    set(
        &mut doc,
        &["plugins", "io.containerd.internal.v1.opt"],
        "path",
        p("opt"),
    );
    let nri = ["plugins", "io.containerd.nri.v1.nri"];
    set(&mut doc, &nri, "disable", true);
    set(&mut doc, &nri, "socket_path", p("nri.sock"));
    set(&mut doc, &nri, "plugin_path", p("nri/plugins"));
    set(&mut doc, &nri, "plugin_config_path", p("nri/conf.d"));
    set(
        &mut doc,
        &["plugins", "io.containerd.image-verifier.v1.bindir"],
        "bin_dir",
        p("opt/image-verifier/bin"),
    );
    let text = doc.to_string();
    for system in [
        "/run/containerd/containerd.sock",
        "/var/lib/containerd",
        "/opt/containerd",
        "/var/run/nri",
        "/etc/cni/net.d",
    ] {
        assert!(
            !text.contains(system),
            "{system} is still in the private config:\n{text}"
        );
    }
    text
}

/// A containerd of our own; dropped: hack/containerd-down.sh on its dir
/// (stops it, kills its shims and containers, unmounts, removes the dir).
struct Daemon {
    dir: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo().join("hack/containerd-down.sh"))
            .arg(&self.dir)
            .status();
    }
}

impl Daemon {
    fn sock(&self) -> String {
        self.dir.join("containerd.sock").display().to_string()
    }

    fn ctr(&self, ns: &str, args: &[&str]) -> Output {
        Command::new(ctr_bin())
            .args(["--address", &self.sock(), "-n", ns])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run ctr")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Live processes whose command line holds `-address <sock>` and whose
/// binary is named like the shim: (pid, /proc/pid/exe).
fn shims_of(sock: &str) -> Vec<(u32, PathBuf)> {
    let mut found = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let named = args
            .first()
            .is_some_and(|a| a.ends_with("containerd-shim-rust-v2"));
        let ours = args.windows(2).any(|w| w[0] == "-address" && w[1] == sock);
        if named && ours {
            if let Ok(exe) = std::fs::read_link(entry.path().join("exe")) {
                found.push((pid, exe));
            }
        }
    }
    found
}

#[test]
fn install_registers_a_handler_containerd_loads_and_uninstall_restores_the_file() {
    let containerd = containerd_bin();
    let major = major(&containerd);
    let scratch =
        Scratch(std::env::temp_dir().join(format!("shim-install-e2e-{}", std::process::id())));
    let dir = scratch.0.clone();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.toml");
    let prefix = dir.join("bin");
    let installed_shim = prefix.join("containerd-shim-rust-v2");
    let original = ok(
        "containerd config default",
        Command::new(&containerd)
            .args(["config", "default"])
            .output()
            .unwrap(),
    );
    std::fs::write(&config, &original).unwrap();
    let cfg = config.display().to_string();
    let pre = prefix.display().to_string();
    let args = ["--config", &cfg, "--prefix", &pre, "--handler", HANDLER];

    // 1. install, twice.
    let out = shim(&[&["install"], &args[..]].concat());
    let version = containerd_version(&containerd);
    assert!(
        out.starts_with(&format!("containerd: {version} (")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "runtimes.{HANDLER}] with runtime_type = \"{RUNTIME}\""
        )),
        "{out}"
    );
    assert!(out.contains("config: backed up the old file to"), "{out}");
    let installed = std::fs::read_to_string(&config).unwrap();
    let doc: DocumentMut = installed.parse().unwrap();
    assert_eq!(
        runtime_type_in(&doc, major, HANDLER).as_deref(),
        Some(RUNTIME),
        "{installed}"
    );
    assert_eq!(
        std::fs::read(&installed_shim).unwrap(),
        std::fs::read(SHIM).unwrap()
    );
    let out = shim(&[&["install"], &args[..]].concat());
    assert!(out.ends_with("nothing to change\n"), "{out}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), installed);
    // check sees both.
    let out = Command::new(SHIM)
        .args([&["check"], &args[..]].concat())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "PASS shim binary: {} is there",
            installed_shim.display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("runtimes.{HANDLER}] in {cfg} (version ")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("PASS handler: ")),
        "{text}"
    );

    // 2. containerd loads it.
    let daemon = Daemon {
        dir: dir.join("run"),
    };
    std::fs::create_dir_all(daemon.dir.join("cni/net.d")).unwrap();
    let private = daemon.dir.join("config.toml");
    std::fs::write(&private, privatize(&installed, &daemon.dir, major)).unwrap();
    let dump = ok(
        "containerd config dump",
        Command::new(&containerd)
            .arg("--config")
            .arg(&private)
            .args(["config", "dump"])
            .output()
            .unwrap(),
    );
    let dumped: DocumentMut = dump.parse().expect("config dump is TOML");
    assert_eq!(
        runtime_type_in(&dumped, major, HANDLER).as_deref(),
        Some(RUNTIME),
        "containerd's own view of the config has no {HANDLER}:\n{dump}"
    );

    let log = std::fs::File::create(daemon.dir.join("containerd.log")).unwrap();
    // The installed copy's dir first, then the PATH cargo gave us (which
    // holds no containerd-shim-rust-v2: checked below through /proc).
    let path = format!("{pre}:{}", std::env::var("PATH").unwrap_or_default());
    let child = Command::new(&containerd)
        .arg("--config")
        .arg(&private)
        .env("PATH", &path)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .expect("start containerd");
    std::fs::write(daemon.dir.join("containerd.pid"), child.id().to_string()).unwrap();
    // Reaped as soon as it exits, so containerd-down does not wait on a zombie.
    let mut child = child;
    std::thread::spawn(move || child.wait());
    wait_until("containerd to answer", Duration::from_secs(20), || {
        daemon.ctr("default", &["version"]).status.success()
    });
    let plugins = ok("ctr plugins ls", daemon.ctr("default", &["plugins", "ls"]));
    assert!(
        plugins.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 3
                && f[0] == "io.containerd.grpc.v1"
                && f[1] == "cri"
                && f.last() == Some(&"ok")
        }),
        "the CRI plugin did not load:\n{plugins}\n{}",
        daemon.log()
    );
    // The CRI plugin logs the config it runs with, runtimes included.
    let mut evidence = String::new();
    wait_until(
        "the CRI plugin's config in the log",
        Duration::from_secs(10),
        || {
            let log = daemon.log();
            match log
                .lines()
                .find(|l| l.contains("cri") && l.contains(HANDLER) && l.contains(RUNTIME))
            {
                Some(l) => {
                    evidence = l.to_string();
                    true
                }
                None => false,
            }
        },
    );
    let at = evidence.find(HANDLER).unwrap();
    println!(
        "CRI plugin log: ...{}...",
        &evidence[at.saturating_sub(200)..(at + 200).min(evidence.len())]
    );

    let tar = std::env::var("TEST_IMAGE_TAR")
        .unwrap_or_else(|_| "/var/cache/containerd-shim-rust-v2/busybox.tar".to_string());
    let image = "docker.io/library/busybox:latest";
    ok(
        "build-image.sh",
        Command::new("bash")
            .arg(repo().join("hack/build-image.sh"))
            .args([&tar, image])
            .output()
            .unwrap(),
    );
    ok(
        "ctr images import",
        daemon.ctr("default", &["images", "import", &tar]),
    );
    let id = format!("inst-e2e-{}", std::process::id());
    ok(
        "ctr run -d",
        daemon.ctr(
            "default",
            &["run", "-d", "--runtime", RUNTIME, image, &id, "sleep", "60"],
        ),
    );
    let sock = daemon.sock();
    let mut shims = vec![];
    wait_until("the shim process", Duration::from_secs(10), || {
        shims = shims_of(&sock);
        !shims.is_empty()
    });
    for (pid, exe) in &shims {
        assert_eq!(
            exe,
            &installed_shim,
            "shim pid {pid} runs {} instead of the installed copy",
            exe.display()
        );
    }
    ok(
        "ctr task kill",
        daemon.ctr("default", &["task", "kill", "-s", "KILL", &id]),
    );
    wait_until("the task to stop", Duration::from_secs(10), || {
        let out = daemon.ctr("default", &["task", "ls"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("STOPPED"))
    });
    ok("ctr task rm", daemon.ctr("default", &["task", "rm", &id]));
    ok(
        "ctr container rm",
        daemon.ctr("default", &["container", "rm", &id]),
    );
    drop(daemon);

    // 3. uninstall.
    let out = shim(&[&["uninstall"], &args[..]].concat());
    assert!(out.contains("restored"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        original,
        "not the original byte for byte"
    );
    assert!(!installed_shim.exists());
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 2, "config.toml and bin/ only: {left:?}");
}

/// The test's temp dir, removed when the test ends, failed or not (after
/// the Daemon inside it, which is declared later and so dropped first).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `check` reports this host's cgroup layout and missing capabilities; the
/// expectation comes from /proc/self/mounts and /proc/self/status.
#[test]
fn check_reports_the_cgroup_layout_and_capabilities_of_this_host() {
    let out = Command::new(SHIM)
        .args(["check", "--config", "/nonexistent/config.toml"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let line = |topic: &str| -> Vec<&str> {
        lines
            .iter()
            .copied()
            .filter(|l| l.get(5..).is_some_and(|r| r.starts_with(topic)))
            .collect()
    };

    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let types: Vec<(&str, &str)> = mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2).then(|| (f[1], f[2]))
        })
        .collect();
    let v1 = types.iter().any(|(_, t)| *t == "cgroup");
    let v2 = types.iter().find(|(_, t)| *t == "cgroup2").map(|(m, _)| *m);
    let cg = line("cgroups: ");
    assert_eq!(cg.len(), 1, "{text}");
    match (v1, v2) {
        (true, Some(m)) => {
            assert!(cg[0].starts_with("PASS cgroups: hybrid"), "{text}");
            assert!(cg[0].contains(&format!("cgroup2 at {m} ")), "{text}");
        }
        (true, None) => assert!(cg[0].starts_with("PASS cgroups: v1 (legacy)"), "{text}"),
        (false, Some(m)) => assert!(
            cg[0].starts_with(&format!("PASS cgroups: v2 (unified): cgroup2 at {m} ")),
            "{text}"
        ),
        (false, None) => assert!(cg[0].starts_with("FAIL cgroups:"), "{text}"),
    }

    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    let sys_resource = cap_eff & (1 << 24) != 0;
    let warned = line("capabilities: no CAP_SYS_RESOURCE");
    if sys_resource {
        assert!(warned.is_empty(), "{text}");
    } else {
        assert_eq!(warned.len(), 1, "{text}");
        assert!(
            warned[0].starts_with("WARN ") && warned[0].contains("lowering oom_score_adj fails"),
            "{text}"
        );
    }
    let caps = line("capabilities: ");
    assert!(
        caps[0].contains(&format!("{} of ", cap_eff.count_ones())),
        "{text}"
    );

    // The config does not exist: a WARN, not a failure; the exit status is 1
    // exactly when a FAIL line is there.
    assert!(
        line("handler: ")[0].starts_with("WARN handler: /nonexistent/config.toml does not exist"),
        "{text}"
    );
    let fails = lines.iter().filter(|l| l.starts_with("FAIL ")).count();
    assert_eq!(out.status.success(), fails == 0, "{text}");
    assert!(text.ends_with(&format!("{fails} blocking\n")), "{text}");
}
