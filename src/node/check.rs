//! `containerd-shim-rust-v2 check [--config PATH] [--prefix DIR] [--handler NAME]`:
//! what this host offers the shim, one `PASS` / `WARN` / `FAIL` line each.
//!
//! FAIL (blocking: containers cannot run; the exit status is 1): no cgroup
//! hierarchy mounted, a missing mnt/pid/net/ipc/uts namespace, no
//! CAP_SYS_ADMIN (mounts and namespaces need it), a config containerd would
//! not parse. Everything else is a WARN with its consequence: an overlay
//! filesystem missing from /proc/filesystems (it may be a module loaded on
//! first mount; only the overlayfs snapshotter needs it), no seccomp (a spec
//! with a profile fails), missing cgroup controllers (their limits fail),
//! missing capabilities other than CAP_SYS_ADMIN (e.g. CAP_SYS_RESOURCE:
//! lowering an oom_score_adj fails), user/cgroup namespaces, containerd not
//! found or of an untested version, the shim binary or the handler not
//! installed (`install` fixes both).

use std::fmt;
use std::path::Path;

use super::config_file;
use super::containerd_config::{self, RUNTIME_TYPE};
use super::target::Target;
use crate::cli::NodeFlags;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Pass,
    Warn,
    Fail,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Pass => "PASS",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub topic: &'static str,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.level, self.topic, self.message)
    }
}

fn finding(level: Level, topic: &'static str, message: impl Into<String>) -> Finding {
    Finding {
        level,
        topic,
        message: message.into(),
    }
}

pub fn run(flags: &NodeFlags) -> Result<(), String> {
    let target = Target::resolve(flags).map_err(|e| e.to_string())?;
    let findings = check(&target);
    for f in &findings {
        println!("{f}");
    }
    let count = |l: Level| findings.iter().filter(|f| f.level == l).count();
    let (pass, warn, fail) = (count(Level::Pass), count(Level::Warn), count(Level::Fail));
    println!("check: {pass} passed, {warn} warnings, {fail} blocking");
    if fail > 0 {
        return Err(format!(
            "check: {fail} blocking problem(s), see the FAIL lines"
        ));
    }
    Ok(())
}

pub fn check(t: &Target) -> Vec<Finding> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let mut out = vec![];
    out.push(kernel(&read("/proc/sys/kernel/osrelease")));
    out.extend(cgroups(
        &read("/proc/self/mounts"),
        &read("/proc/cgroups"),
        |mnt| std::fs::read_to_string(Path::new(mnt).join("cgroup.controllers")).ok(),
    ));
    let status = read("/proc/self/status");
    out.push(seccomp(
        &status,
        &read("/proc/sys/kernel/seccomp/actions_avail"),
    ));
    out.push(overlay(&read("/proc/filesystems")));
    out.extend(namespaces(
        |ns| Path::new("/proc/self/ns").join(ns).exists(),
        read("/proc/sys/user/max_user_namespaces").trim(),
    ));
    out.extend(capabilities(
        &status,
        read("/proc/sys/kernel/cap_last_cap").trim(),
    ));
    out.push(containerd(t));
    out.push(shim_binary(t));
    out.extend(handler(t));
    out
}

fn kernel(release: &str) -> Finding {
    match release.trim() {
        "" => finding(
            Level::Warn,
            "kernel",
            "cannot read /proc/sys/kernel/osrelease",
        ),
        r => finding(Level::Pass, "kernel", format!("release {r}")),
    }
}

/// The cgroup layout from /proc/self/mounts: v1 hierarchies (type `cgroup`),
/// a v2 one (type `cgroup2`), or both (hybrid: libcontainer then drives the
/// v1 hierarchies, as runc does). v1 controllers come from /proc/cgroups
/// (enabled and attached to a hierarchy), v2 ones from cgroup.controllers.
pub fn cgroups(
    mounts: &str,
    proc_cgroups: &str,
    v2_controllers: impl Fn(&str) -> Option<String>,
) -> Vec<Finding> {
    let mut v1 = vec![];
    let mut v2 = vec![];
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            [_, mnt, "cgroup", ..] => v1.push(mnt.to_string()),
            [_, mnt, "cgroup2", ..] => v2.push(mnt.to_string()),
            _ => {}
        }
    }
    let v1_controllers: Vec<&str> = proc_cgroups
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(
            |l| match l.split_whitespace().collect::<Vec<_>>().as_slice() {
                [name, hierarchy, _, "1"] if *hierarchy != "0" => Some(*name),
                _ => None,
            },
        )
        .collect();
    let v2_desc = |mnt: &str| {
        let c = v2_controllers(mnt).unwrap_or_default();
        let c = c.split_whitespace().collect::<Vec<_>>();
        if c.is_empty() {
            format!("cgroup2 at {mnt} with no controllers")
        } else {
            format!("cgroup2 at {mnt} with controllers {}", c.join(","))
        }
    };
    let missing = |have: &[&str], need: &[&'static str]| -> Vec<&'static str> {
        need.iter().copied().filter(|n| !have.contains(n)).collect()
    };
    let mut out = vec![];
    let v1_need: &[&'static str] = &["cpu", "memory", "pids", "freezer", "devices"];
    match (v1.is_empty(), v2.first()) {
        (true, None) => out.push(finding(
            Level::Fail,
            "cgroups",
            "no cgroup hierarchy mounted (neither cgroup nor cgroup2 in /proc/self/mounts): containers cannot be created",
        )),
        (true, Some(mnt)) => {
            let c = v2_controllers(mnt).unwrap_or_default();
            let have: Vec<&str> = c.split_whitespace().collect();
            out.push(finding(Level::Pass, "cgroups", format!("v2 (unified): {}", v2_desc(mnt))));
            let gone = missing(&have, &["cpu", "memory", "pids", "io"]);
            if !gone.is_empty() {
                out.push(finding(
                    Level::Warn,
                    "cgroup controllers",
                    format!("{} not enabled at {mnt}: limits of those kinds fail", gone.join(",")),
                ));
            }
        }
        (false, v2_mount) => {
            let mode = match v2_mount {
                Some(mnt) => format!("hybrid: v1 hierarchies in use, and {}", v2_desc(mnt)),
                None => "v1 (legacy)".to_string(),
            };
            out.push(finding(
                Level::Pass,
                "cgroups",
                format!("{mode}; v1 controllers: {}", v1_controllers.join(",")),
            ));
            let gone = missing(&v1_controllers, v1_need);
            if !gone.is_empty() {
                out.push(finding(
                    Level::Warn,
                    "cgroup controllers",
                    format!(
                        "v1 {} not mounted: their limits (and pause, for freezer) fail",
                        gone.join(",")
                    ),
                ));
            }
        }
    }
    out
}

/// The kernel has seccomp when /proc/self/status has a `Seccomp:` field;
/// filters (what OCI profiles use) when it lists filter actions.
pub fn seccomp(status: &str, actions: &str) -> Finding {
    let field = status
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .map(str::trim);
    match field {
        None => finding(
            Level::Warn,
            "seccomp",
            "not in this kernel (no Seccomp field in /proc/self/status): a spec with a seccomp profile fails",
        ),
        Some(mode) if actions.split_whitespace().any(|a| a == "errno") => finding(
            Level::Pass,
            "seccomp",
            format!("supported (this process: mode {mode}; filter actions: {})", actions.trim()),
        ),
        Some(_) => finding(
            Level::Warn,
            "seccomp",
            "no filter support (/proc/sys/kernel/seccomp/actions_avail lacks errno): seccomp profiles fail",
        ),
    }
}

pub fn overlay(filesystems: &str) -> Finding {
    if filesystems
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"))
    {
        finding(Level::Pass, "overlayfs", "overlay is in /proc/filesystems")
    } else {
        finding(
            Level::Warn,
            "overlayfs",
            "overlay is not in /proc/filesystems (a module may load on first use: `modprobe overlay`); \
             containerd's default snapshotter overlayfs needs it",
        )
    }
}

pub fn namespaces(exists: impl Fn(&str) -> bool, max_user_namespaces: &str) -> Vec<Finding> {
    let mut out = vec![];
    let (have, missing): (Vec<&str>, Vec<&str>) =
        ["mnt", "pid", "net", "ipc", "uts", "user", "cgroup"]
            .iter()
            .partition(|ns| exists(ns));
    let blocking: Vec<&str> = missing
        .iter()
        .copied()
        .filter(|ns| !matches!(*ns, "user" | "cgroup"))
        .collect();
    if !blocking.is_empty() {
        out.push(finding(
            Level::Fail,
            "namespaces",
            format!(
                "{} missing in /proc/self/ns: containers cannot be isolated",
                blocking.join(",")
            ),
        ));
    } else {
        out.push(finding(
            Level::Pass,
            "namespaces",
            format!("{} available", have.join(",")),
        ));
    }
    for ns in missing
        .iter()
        .filter(|ns| matches!(**ns, "user" | "cgroup"))
    {
        out.push(finding(
            Level::Warn,
            "namespaces",
            format!("no {ns} namespace: specs that ask for one fail"),
        ));
    }
    if exists("user") && max_user_namespaces == "0" {
        out.push(finding(
            Level::Warn,
            "namespaces",
            "user namespaces disabled (/proc/sys/user/max_user_namespaces is 0): specs with a user namespace fail",
        ));
    }
    out
}

fn cap_name(bit: u32) -> String {
    crate::capabilities::NAMES
        .get(bit as usize)
        .map_or_else(|| format!("cap_{bit}"), |n| n.to_string())
}

/// The names of the capabilities in a CapEff mask.
pub fn decode_caps(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|b| mask & (1 << b) != 0)
        .map(cap_name)
        .collect()
}

/// CapEff of /proc/self/status against every capability the kernel knows
/// (0..=cap_last_cap).
pub fn capabilities(status: &str, cap_last_cap: &str) -> Vec<Finding> {
    let Some(mask) = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
    else {
        return vec![finding(
            Level::Warn,
            "capabilities",
            "no CapEff in /proc/self/status",
        )];
    };
    let last: u32 = cap_last_cap
        .parse()
        .unwrap_or(crate::capabilities::NAMES.len() as u32 - 1)
        .min(63);
    let held = decode_caps(mask);
    let missing: Vec<u32> = (0..=last).filter(|b| mask & (1 << b) == 0).collect();
    let mut out = vec![finding(
        if missing.is_empty() {
            Level::Pass
        } else {
            Level::Warn
        },
        "capabilities",
        format!(
            "{} of {} effective{}: {}",
            held.len(),
            last + 1,
            if missing.is_empty() {
                String::new()
            } else {
                format!(
                    " (missing {})",
                    missing
                        .iter()
                        .map(|b| cap_name(*b))
                        .collect::<Vec<_>>()
                        .join(",")
                )
            },
            if held.is_empty() {
                "none".to_string()
            } else {
                held.join(",")
            }
        ),
    )];
    for bit in missing {
        let name = cap_name(bit);
        match name.as_str() {
            "CAP_SYS_ADMIN" => out.push(finding(
                Level::Fail,
                "capabilities",
                "no CAP_SYS_ADMIN: the runtime cannot mount a rootfs or create namespaces",
            )),
            "CAP_SYS_RESOURCE" => out.push(finding(
                Level::Warn,
                "capabilities",
                "no CAP_SYS_RESOURCE: lowering oom_score_adj fails, so a container asking for a lower \
                 oom_score_adj than the shim's (containerd's + 1) fails to start (kubelet gives \
                 Guaranteed pods -997; set `restrict_oom_score_adj = true` in the CRI plugin's config), \
                 and rlimits above the hard limit cannot be set",
            )),
            _ => {}
        }
    }
    out
}

fn containerd(t: &Target) -> Finding {
    match &t.containerd {
        Ok(c) => {
            let supported = (c.major == 1 && c.minor() >= 6) || c.major == 2;
            finding(
                if supported { Level::Pass } else { Level::Warn },
                "containerd",
                format!(
                    "{} at {}{}",
                    c.version,
                    c.binary.display(),
                    if supported {
                        ""
                    } else {
                        " (untested: 1.6, 1.7 and 2.x are supported)"
                    }
                ),
            )
        }
        Err(why) => finding(Level::Warn, "containerd", why.clone()),
    }
}

fn shim_binary(t: &Target) -> Finding {
    let shim = t.shim_path();
    if shim.is_file() {
        finding(
            Level::Pass,
            "shim binary",
            format!("{} is there", shim.display()),
        )
    } else {
        finding(
            Level::Warn,
            "shim binary",
            format!("{} is not there (run `install`)", shim.display()),
        )
    }
}

fn handler(t: &Target) -> Vec<Finding> {
    let topic = "handler";
    let path = t.config.display();
    let text = match config_file::read(&t.config) {
        Ok(Some(text)) => text,
        Ok(None) => {
            return vec![finding(
                Level::Warn,
                topic,
                format!(
                    "{path} does not exist: containerd runs with its defaults, which have no handler {:?} (run `install`)",
                    t.handler
                ),
            )]
        }
        Err(e) => return vec![finding(Level::Warn, topic, e.to_string())],
    };
    let doc = match text.parse::<toml_edit::DocumentMut>() {
        Ok(d) => d,
        Err(e) => {
            return vec![finding(
                Level::Fail,
                topic,
                format!("{path} is not valid TOML, containerd will not start with it: {e}"),
            )]
        }
    };
    let fallback = t.containerd.as_ref().ok().and_then(|c| c.config_version());
    let version = match containerd_config::version_of(&doc, &t.config, fallback) {
        Ok((v, _)) => v,
        Err(e) => return vec![finding(Level::Warn, topic, e.to_string())],
    };
    let mut out = vec![
        match containerd_config::handler_runtime_type(&doc, version, &t.handler) {
            Some(Some(rt)) if rt == RUNTIME_TYPE => finding(
                Level::Pass,
                topic,
                format!(
                    "{} in {path} (version {})",
                    version.table_name(&t.handler),
                    version.number()
                ),
            ),
            Some(other) => finding(
                Level::Warn,
                topic,
                format!(
                    "{} in {path} has runtime_type {other:?}, not {RUNTIME_TYPE:?}",
                    version.table_name(&t.handler)
                ),
            ),
            None => finding(
                Level::Warn,
                topic,
                format!(
                    "no {} in {path} (run `install`)",
                    version.table_name(&t.handler)
                ),
            ),
        },
    ];
    for id in containerd_config::disabled_cri_plugins(&doc, version) {
        out.push(finding(
            Level::Warn,
            topic,
            format!("{path}: `disabled_plugins` lists {id:?}: the CRI plugin, and every handler, is off"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTS: &str = "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\n\
        cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n\
        cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n\
        cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0\n\
        cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n";
    const PROC_CGROUPS: &str = "#subsys_name\thierarchy\tnum_cgroups\tenabled\n\
        cpu\t1\t3\t1\nmemory\t4\t111\t1\npids\t8\t3\t1\nhugetlb\t0\t2\t1\nfreezer\t6\t3\t0\n";

    #[test]
    fn tells_the_three_cgroup_layouts_apart() {
        let f = cgroups(HYBRID_MOUNTS, PROC_CGROUPS, |_| Some("hugetlb\n".into()));
        assert_eq!(f[0].level, Level::Pass);
        assert!(f[0].message.starts_with("hybrid: v1 hierarchies in use, and cgroup2 at /sys/fs/cgroup/unified with controllers hugetlb; v1 controllers: cpu,memory,pids"), "{}", f[0]);
        // freezer is disabled, devices absent.
        assert_eq!(f[1].level, Level::Warn);
        assert!(f[1].message.contains("freezer,devices"), "{}", f[1]);

        let v2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n";
        let f = cgroups(v2, "", |m| {
            (m == "/sys/fs/cgroup").then(|| "cpuset cpu io memory pids\n".into())
        });
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].to_string(), "PASS cgroups: v2 (unified): cgroup2 at /sys/fs/cgroup with controllers cpuset,cpu,io,memory,pids");

        let v1 = HYBRID_MOUNTS
            .lines()
            .filter(|l| !l.contains("cgroup2"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(cgroups(&v1, PROC_CGROUPS, |_| None)[0]
            .message
            .starts_with("v1 (legacy);"));

        let none = cgroups("proc /proc proc rw 0 0\n", "", |_| None);
        assert_eq!(none[0].level, Level::Fail);
    }

    #[test]
    fn decodes_capabilities_and_flags_the_ones_that_matter() {
        // This build machine's CapEff: everything but CAP_SYS_RESOURCE (24).
        let status = "Name:\tx\nCapEff:\t000001fffeffffff\n";
        let f = capabilities(status, "40");
        assert_eq!(f[0].level, Level::Warn);
        assert!(
            f[0].message
                .starts_with("40 of 41 effective (missing CAP_SYS_RESOURCE): CAP_CHOWN,"),
            "{}",
            f[0]
        );
        assert!(f[0].message.ends_with("CAP_CHECKPOINT_RESTORE"), "{}", f[0]);
        assert_eq!(f[1].level, Level::Warn);
        assert!(
            f[1].message.contains("lowering oom_score_adj fails"),
            "{}",
            f[1]
        );
        assert_eq!(f.len(), 2);

        let f = capabilities("CapEff:\t0000000000000000\n", "40");
        assert!(f
            .iter()
            .any(|x| x.level == Level::Fail && x.message.contains("CAP_SYS_ADMIN")));
        assert_eq!(
            capabilities("CapEff:\t000001ffffffffff\n", "40")[0].level,
            Level::Pass
        );
        assert_eq!(decode_caps(0b101), vec!["CAP_CHOWN", "CAP_DAC_READ_SEARCH"]);
    }

    #[test]
    fn seccomp_overlay_and_namespaces() {
        assert_eq!(
            seccomp("Seccomp:\t0\n", "kill_process errno allow").level,
            Level::Pass
        );
        assert_eq!(seccomp("Name: x\n", "").level, Level::Warn);
        assert_eq!(overlay("nodev\tproc\nnodev\toverlay\n").level, Level::Pass);
        assert_eq!(overlay("nodev\tproc\n").level, Level::Warn);
        let all = namespaces(|_| true, "100");
        assert_eq!(
            all,
            vec![finding(
                Level::Pass,
                "namespaces",
                "mnt,pid,net,ipc,uts,user,cgroup available"
            )]
        );
        let no_pid = namespaces(|ns| ns != "pid", "100");
        assert_eq!(no_pid[0].level, Level::Fail);
        let no_user = namespaces(|ns| ns != "user", "0");
        assert_eq!(
            no_user.iter().map(|f| f.level).collect::<Vec<_>>(),
            vec![Level::Pass, Level::Warn]
        );
    }
}
