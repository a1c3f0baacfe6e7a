//! Changing a running container's resources (the task service's Update,
//! Kubernetes' in-place resize): memory limit, reservation and swap, cpu
//! shares, quota and period, cpuset cpus and mems, the pids limit, hugetlb
//! limits, the block io weight and, on v2, any `unified` key, written to its
//! cgroup the way runc's cgroup drivers write them.

use std::path::Path;

use containerd_shim_protos::protobuf::well_known_types::any::Any;
use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use super::fs::{read_optional, read_u64, write};
use super::{Cgroup, Layout};
use crate::error::{Error, Result};

/// The type URL containerd gives the resources of an UpdateTaskRequest
/// (JSON of the runtime spec's LinuxResources).
pub const RESOURCES_TYPE: &str = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";

/// The LinuxResources in an UpdateTaskRequest's `resources`; InvalidArgument
/// for another type URL or JSON that does not parse.
pub fn parse_resources(any: &Any) -> Result<LinuxResources> {
    if any.type_url != RESOURCES_TYPE {
        return Err(Error::InvalidArgument(format!(
            "update: resources of type {:?}, want {RESOURCES_TYPE:?}",
            any.type_url
        )));
    }
    serde_json::from_slice(&any.value)
        .map_err(|e| Error::InvalidArgument(format!("update: invalid LinuxResources JSON: {e}")))
}

/// Applies `resources` to the container's cgroup at `cgroups_path`. Unset
/// (or 0) values are left as they are; -1 means unlimited. NotFound when the
/// cgroup does not exist.
pub fn update(cgroups_path: &str, resources: &LinuxResources) -> Result<()> {
    apply(&Cgroup::on_host(cgroups_path)?, resources)
}

/// Applies `r` to `cg`.
fn apply(cg: &Cgroup, r: &LinuxResources) -> Result<()> {
    if let Some(cpu) = r.cpu() {
        set_cpuset(&cg.dir("cpuset"), cpu)?;
    }
    if let Some(memory) = r.memory() {
        match cg.layout {
            Layout::V1 => v1_memory(&cg.dir("memory"), memory)?,
            Layout::V2 => v2_memory(&cg.dir("memory"), memory)?,
        }
    }
    if let Some(cpu) = r.cpu() {
        match cg.layout {
            Layout::V1 => v1_cpu(&cg.dir("cpu"), cpu)?,
            Layout::V2 => v2_cpu(&cg.dir("cpu"), cpu)?,
        }
    }
    if let Some(pids) = r.pids() {
        set_pids(&cg.dir("pids"), pids)?;
    }
    for h in r.hugepage_limits().iter().flatten() {
        set_hugetlb(cg, h.page_size(), h.limit())?;
    }
    if let Some(weight) = r.block_io().as_ref().and_then(|b| b.weight()) {
        set_io_weight(cg, weight)?;
    }
    // Last, so that a key here wins over the field it overlaps, as in runc.
    // Devices, network and rdma are the create's alone (runc's update
    // leaves them too; containerd's CRI plugin sends the devices of the
    // whole spec with every resize).
    if let Some(unified) = r.unified() {
        set_unified(cg, unified)?;
    }
    Ok(())
}

/// The hugetlb limit of `page_size` pages (`2MB`, `1GB`): v1's
/// hugetlb.<size>.limit_in_bytes, v2's hugetlb.<size>.max. A size the
/// kernel has no file for is InvalidArgument naming it.
fn set_hugetlb(cg: &Cgroup, page_size: &str, limit: i64) -> Result<()> {
    let bad = || {
        Error::InvalidArgument(format!(
            "update: hugepage size {page_size:?} is not one this kernel has"
        ))
    };
    if page_size.is_empty() || !page_size.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(bad());
    }
    let dir = cg.dir("hugetlb");
    let (file, value) = match cg.layout {
        Layout::V1 => (
            format!("hugetlb.{page_size}.limit_in_bytes"),
            limit.to_string(),
        ),
        Layout::V2 => (
            format!("hugetlb.{page_size}.max"),
            v2_limit(limit).unwrap_or_else(|| "0".into()),
        ),
    };
    if !dir.join(&file).exists() {
        return Err(bad());
    }
    write(&dir.join(file), &value)
}

/// The block io weight [10, 1000]: v1's blkio.weight (or the BFQ
/// scheduler's blkio.bfq.weight); v2's io.bfq.weight as is, else io.weight
/// [1, 10000] converted as runc does.
fn set_io_weight(cg: &Cgroup, weight: u16) -> Result<()> {
    if weight == 0 {
        return Ok(());
    }
    let (dir, candidates) = match cg.layout {
        Layout::V1 => (
            cg.dir("blkio"),
            [
                ("blkio.weight", weight as u64),
                ("blkio.bfq.weight", weight as u64),
            ],
        ),
        Layout::V2 => (
            cg.dir("io"),
            [
                ("io.bfq.weight", weight as u64),
                ("io.weight", blkio_to_io_weight(weight)),
            ],
        ),
    };
    let Some((file, value)) = candidates.into_iter().find(|(f, _)| dir.join(f).exists()) else {
        return Err(Error::InvalidArgument(format!(
            "update: blockIO weight {weight}: the io controller has no weight file in {}",
            dir.display()
        )));
    };
    write(&dir.join(file), &value.to_string())
}

/// blkio.weight [10, 1000] as io.weight [1, 10000], linearly (runc's
/// conversion).
fn blkio_to_io_weight(weight: u16) -> u64 {
    let w = u64::from(weight.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// The `unified` map, written file by file (v2 only). A key must name a
/// controller's file of the container's cgroup (`memory.high`,
/// `cpu.idle`), never a path or a cgroup core file; anything else is
/// InvalidArgument naming the key.
fn set_unified(cg: &Cgroup, unified: &std::collections::HashMap<String, String>) -> Result<()> {
    if unified.is_empty() {
        return Ok(());
    }
    if cg.layout != Layout::V2 {
        let mut keys: Vec<&String> = unified.keys().collect();
        keys.sort();
        return Err(Error::InvalidArgument(format!(
            "update: unified resources {keys:?} need cgroup v2, and this host's cgroups are v1"
        )));
    }
    let dir = cg.dir("");
    let mut keys: Vec<(&String, &String)> = unified.iter().collect();
    keys.sort();
    for (key, _) in &keys {
        let (controller, name) = key.split_once('.').unwrap_or(("", ""));
        let valid = !controller.is_empty()
            && !name.is_empty()
            && controller != "cgroup"
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_');
        if !valid {
            return Err(Error::InvalidArgument(format!(
                "update: unified key {key:?} is not a controller file (<controller>.<name>)"
            )));
        }
        if !dir.join(key).exists() {
            return Err(Error::InvalidArgument(format!(
                "update: unified key {key:?}: no such file in the container's cgroup {} (is \
                 the controller enabled?)",
                dir.display()
            )));
        }
    }
    for (key, value) in keys {
        write(&dir.join(key), value).map_err(|e| match e {
            Error::Io { .. } if is_errno(&e, libc::EINVAL) || is_errno(&e, libc::ERANGE) => {
                Error::InvalidArgument(format!("update: unified {key} = {value:?}: {e}"))
            }
            other => other,
        })?;
    }
    Ok(())
}

/// Writes `value` to `dir/file` unless it is 0 (unset).
fn write_nonzero(dir: &Path, file: &str, value: impl Into<i128>) -> Result<()> {
    let value = value.into();
    if value == 0 {
        return Ok(());
    }
    write(&dir.join(file), &value.to_string())
}

/// Whether `e` is an io error with `errno` (EINVAL: the kernel refused the
/// value; ENOENT: no such file).
fn is_errno(e: &Error, errno: i32) -> bool {
    matches!(e, Error::Io { source, .. } if source.raw_os_error() == Some(errno))
}

/// cpuset.cpus and cpuset.mems (same files on v1 and v2).
fn set_cpuset(dir: &Path, cpu: &LinuxCpu) -> Result<()> {
    for (file, value) in [("cpuset.cpus", cpu.cpus()), ("cpuset.mems", cpu.mems())] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            write(&dir.join(file), v)?;
        }
    }
    Ok(())
}

/// pids.max (same file on v1 and v2): 0 or less is no limit, as
/// libcontainer has it when it creates the cgroup.
fn set_pids(dir: &Path, pids: &LinuxPids) -> Result<()> {
    let limit = match pids.limit() {
        n if n > 0 => n.to_string(),
        _ => "max".to_string(),
    };
    write(&dir.join("pids.max"), &limit)
}

// ---- cgroup v1 ----

/// memory.limit_in_bytes, memory.memsw.limit_in_bytes (the spec's swap is
/// memory+swap, as on v1) and memory.soft_limit_in_bytes.
fn v1_memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    let memsw = "memory.memsw.limit_in_bytes";
    // Unlimited memory with swap unset means unlimited swap too (when the
    // kernel accounts swap at all).
    if limit == -1 && swap == 0 && dir.join(memsw).exists() {
        swap = -1;
    }
    let set_limit = || write_nonzero(dir, "memory.limit_in_bytes", limit);
    let set_swap = || write_nonzero(dir, memsw, swap);
    // The kernel keeps memsw >= memory at every step: raise memsw first when
    // it grows past the current memory limit, otherwise lower memory first.
    let current = if limit != 0 && swap != 0 {
        read_u64(&dir.join("memory.limit_in_bytes"), u64::MAX)?
    } else {
        None
    };
    match current {
        Some(current) if swap_first(current, swap) => {
            set_swap()?;
            set_limit()?;
        }
        _ => {
            set_limit()?;
            set_swap()?;
        }
    }
    write_nonzero(
        dir,
        "memory.soft_limit_in_bytes",
        m.reservation().unwrap_or(0),
    )
}

/// Whether memsw must be written before memory when the current memory
/// limit is `current` and the new memsw limit `swap` (-1: unlimited).
fn swap_first(current: u64, swap: i64) -> bool {
    swap == -1 || current < swap as u64
}

/// cpu.shares, cpu.cfs_period_us and cpu.cfs_quota_us.
fn v1_cpu(dir: &Path, cpu: &LinuxCpu) -> Result<()> {
    write_nonzero(dir, "cpu.shares", cpu.shares().unwrap_or(0))?;
    let quota = cpu.quota().unwrap_or(0);
    let period = cpu.period().unwrap_or(0);
    // A shorter period can be refused (EINVAL) while the old quota would
    // exceed the parent's; then it goes in again after the new quota.
    let mut period_after_quota = false;
    if let Err(e) = write_nonzero(dir, "cpu.cfs_period_us", period) {
        if quota == 0 || !is_errno(&e, libc::EINVAL) {
            return Err(e);
        }
        period_after_quota = true;
    }
    write_nonzero(dir, "cpu.cfs_quota_us", quota)?;
    if period_after_quota {
        write_nonzero(dir, "cpu.cfs_period_us", period)?;
    }
    Ok(())
}

// ---- cgroup v2 ----

/// A v1-style limit as v2 writes it: None for 0 (unset), `max` for -1.
fn v2_limit(value: i64) -> Option<String> {
    match value {
        0 => None,
        -1 => Some("max".to_string()),
        n => Some(n.to_string()),
    }
}

/// memory.swap.max, memory.max and memory.low.
fn v2_memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let memsw = m.swap().unwrap_or(0);
    let swap = v2_swap(memsw, limit)?;
    // Swap equal to memory (memsw == memory) disables swap.
    let swap_value = match swap {
        0 if memsw > 0 => Some("0".to_string()),
        n => v2_limit(n),
    };
    if let Some(v) = swap_value {
        if let Err(e) = write(&dir.join("memory.swap.max"), &v) {
            // No swap accounting: nothing to lift or to disable.
            if !(is_errno(&e, libc::ENOENT) && (v == "max" || v == "0")) {
                return Err(e);
            }
        }
    }
    if let Some(v) = v2_limit(limit) {
        write(&dir.join("memory.max"), &v)?;
    }
    if let Some(v) = v2_limit(m.reservation().unwrap_or(0)) {
        write(&dir.join("memory.low"), &v)?;
    }
    Ok(())
}

/// The spec's swap (memory+swap) as v2's swap alone, as runc converts it.
fn v2_swap(memsw: i64, memory: i64) -> Result<i64> {
    // Unlimited memory with swap unset: unlimited swap too, as on v1.
    if memory == -1 && memsw == 0 {
        return Ok(-1);
    }
    if memsw == -1 || memsw == 0 {
        return Ok(memsw);
    }
    if memory == 0 || memory == -1 {
        return Err(Error::InvalidArgument(format!(
            "update: memory swap limit {memsw} needs a memory limit (memory limit is {memory})"
        )));
    }
    if memory < 0 {
        return Err(Error::InvalidArgument(format!(
            "update: invalid memory limit {memory}"
        )));
    }
    if memsw < memory {
        return Err(Error::InvalidArgument(format!(
            "update: memory+swap limit {memsw} is below the memory limit {memory}"
        )));
    }
    Ok(memsw - memory)
}

/// cpu.weight (from shares) and cpu.max (`quota period`).
fn v2_cpu(dir: &Path, cpu: &LinuxCpu) -> Result<()> {
    if let Some(shares) = cpu.shares().filter(|s| *s != 0) {
        write(
            &dir.join("cpu.weight"),
            &shares_to_weight(shares).to_string(),
        )?;
    }
    let quota = cpu.quota().unwrap_or(0);
    let period = cpu.period().unwrap_or(0);
    if quota == 0 && period == 0 {
        return Ok(());
    }
    let max = match quota {
        q if q > 0 => q.to_string(),
        q if q < 0 => "max".to_string(),
        // Only the period changes: keep the quota there is.
        _ => current_quota(dir)?,
    };
    let value = match period {
        0 => max,
        p => format!("{max} {p}"),
    };
    write(&dir.join("cpu.max"), &value)
}

/// The quota half of cpu.max (`max` when unlimited or unreadable).
fn current_quota(dir: &Path) -> Result<String> {
    let text = read_optional(&dir.join("cpu.max"))?.unwrap_or_default();
    Ok(text.split_whitespace().next().unwrap_or("max").to_string())
}

/// cgroup v1 cpu.shares [2, 262144] mapped linearly onto cgroup v2
/// cpu.weight [1, 10000], as runc converts them.
fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

#[cfg(test)]
mod tests {
    use super::super::fixture::Root;
    use super::*;

    fn resources(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    fn apply_to(root: &Root, layout: Layout, json: &str) -> Result<()> {
        let cg = Cgroup::existing(root.path(), layout, "/default/c1").unwrap();
        apply(&cg, &resources(json))
    }

    /// A v1 container cgroup with the files update writes.
    fn v1_root() -> Root {
        let r = Root::v1("upd1");
        for f in [
            "memory/default/c1/memory.limit_in_bytes",
            "memory/default/c1/memory.memsw.limit_in_bytes",
            "memory/default/c1/memory.soft_limit_in_bytes",
            "cpu/default/c1/cpu.shares",
            "cpu/default/c1/cpu.cfs_period_us",
            "cpu/default/c1/cpu.cfs_quota_us",
            "cpuset/default/c1/cpuset.cpus",
            "cpuset/default/c1/cpuset.mems",
            "pids/default/c1/pids.max",
        ] {
            r.write(f, "9223372036854771712\n");
        }
        r
    }

    /// A v2 container cgroup with the files update writes.
    fn v2_root() -> Root {
        let r = Root::v2("upd2");
        for (f, v) in [
            ("memory.max", "max\n"),
            ("memory.low", "0\n"),
            ("memory.swap.max", "max\n"),
            ("cpu.weight", "100\n"),
            ("cpu.max", "max 100000\n"),
            ("cpuset.cpus", "\n"),
            ("cpuset.mems", "\n"),
            ("pids.max", "max\n"),
            ("memory.high", "max\n"),
            ("hugetlb.2MB.max", "max\n"),
            ("io.weight", "default 100\n"),
        ] {
            r.write(&format!("default/c1/{f}"), v);
        }
        r
    }

    #[test]
    fn parses_resources_from_an_any() {
        let mut any = Any::new();
        any.type_url = RESOURCES_TYPE.to_string();
        any.value = br#"{"memory":{"limit":8388608},"pids":{"limit":10}}"#.to_vec();
        let r = parse_resources(&any).unwrap();
        assert_eq!(r.memory().unwrap().limit(), Some(8388608));
        assert_eq!(r.pids().unwrap().limit(), 10);

        any.value = b"{not json".to_vec();
        let err = parse_resources(&any).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        assert!(
            err.to_string().contains("invalid LinuxResources JSON"),
            "{err}"
        );

        any.type_url = "types.containerd.io/opencontainers/runtime-spec/1/Process".into();
        let err = parse_resources(&any).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        assert!(err.to_string().contains("runtime-spec/1/Process"), "{err}");
    }

    #[test]
    fn updates_v1_limits() {
        let r = v1_root();
        apply_to(
            &r,
            Layout::V1,
            r#"{"memory":{"limit":8388608,"reservation":4194304,"swap":16777216},
                "cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0-1","mems":"0"},
                "pids":{"limit":32}}"#,
        )
        .unwrap();
        let m = "memory/default/c1/memory";
        assert_eq!(r.read(&format!("{m}.limit_in_bytes")), "8388608");
        assert_eq!(r.read(&format!("{m}.memsw.limit_in_bytes")), "16777216");
        assert_eq!(r.read(&format!("{m}.soft_limit_in_bytes")), "4194304");
        assert_eq!(r.read("cpu/default/c1/cpu.shares"), "512");
        assert_eq!(r.read("cpu/default/c1/cpu.cfs_quota_us"), "50000");
        assert_eq!(r.read("cpu/default/c1/cpu.cfs_period_us"), "100000");
        assert_eq!(r.read("cpuset/default/c1/cpuset.cpus"), "0-1");
        assert_eq!(r.read("cpuset/default/c1/cpuset.mems"), "0");
        assert_eq!(r.read("pids/default/c1/pids.max"), "32");
    }

    #[test]
    fn leaves_unset_v1_values_alone() {
        let r = v1_root();
        apply_to(
            &r,
            Layout::V1,
            r#"{"memory":{"limit":1048576},"cpu":{"quota":-1}}"#,
        )
        .unwrap();
        let untouched = "9223372036854771712\n";
        assert_eq!(r.read("memory/default/c1/memory.limit_in_bytes"), "1048576");
        assert_eq!(
            r.read("memory/default/c1/memory.memsw.limit_in_bytes"),
            untouched
        );
        assert_eq!(
            r.read("memory/default/c1/memory.soft_limit_in_bytes"),
            untouched
        );
        assert_eq!(r.read("cpu/default/c1/cpu.cfs_quota_us"), "-1");
        assert_eq!(r.read("cpu/default/c1/cpu.shares"), untouched);
        assert_eq!(r.read("cpu/default/c1/cpu.cfs_period_us"), untouched);
        assert_eq!(r.read("cpuset/default/c1/cpuset.cpus"), untouched);
        assert_eq!(r.read("pids/default/c1/pids.max"), untouched);
    }

    #[test]
    fn unlimited_v1_memory_lifts_swap_only_where_swap_is_accounted() {
        let r = v1_root();
        apply_to(&r, Layout::V1, r#"{"memory":{"limit":-1}}"#).unwrap();
        assert_eq!(r.read("memory/default/c1/memory.limit_in_bytes"), "-1");
        assert_eq!(
            r.read("memory/default/c1/memory.memsw.limit_in_bytes"),
            "-1"
        );

        std::fs::remove_file(
            r.path()
                .join("memory/default/c1/memory.memsw.limit_in_bytes"),
        )
        .unwrap();
        apply_to(&r, Layout::V1, r#"{"memory":{"limit":-1}}"#).unwrap();
        assert!(!r
            .path()
            .join("memory/default/c1/memory.memsw.limit_in_bytes")
            .exists());
    }

    #[test]
    fn orders_v1_memory_and_swap_writes() {
        // Raising memsw above the current memory limit: memsw first.
        assert!(swap_first(8 << 20, 32 << 20));
        assert!(swap_first(8 << 20, -1));
        // Lowering: memory first, so that memsw never falls below it.
        assert!(!swap_first(64 << 20, 32 << 20));
    }

    #[test]
    fn pids_zero_or_less_is_no_limit() {
        let r = v2_root();
        for (json, want) in [
            (r#"{"pids":{"limit":5}}"#, "5"),
            (r#"{"pids":{"limit":-1}}"#, "max"),
            (r#"{"pids":{}}"#, "max"),
        ] {
            apply_to(&r, Layout::V2, json).unwrap();
            assert_eq!(r.read("default/c1/pids.max"), want, "{json}");
        }
    }

    #[test]
    fn updates_v2_hugetlb_io_weight_and_unified_keys() {
        let r = v2_root();
        apply_to(
            &r,
            Layout::V2,
            r#"{"hugepageLimits":[{"pageSize":"2MB","limit":4194304}],
                "blockIO":{"weight":500},
                "memory":{"limit":8388608},
                "unified":{"memory.high":"6291456","memory.max":"9437184"}}"#,
        )
        .unwrap();
        let c = "default/c1";
        assert_eq!(r.read(&format!("{c}/hugetlb.2MB.max")), "4194304");
        // blkio weight 500 as io.weight: 1 + 490 * 9999 / 990.
        assert_eq!(r.read(&format!("{c}/io.weight")), "4950");
        assert_eq!(r.read(&format!("{c}/memory.high")), "6291456");
        // The unified key wins over the field it overlaps.
        assert_eq!(r.read(&format!("{c}/memory.max")), "9437184");
    }

    #[test]
    fn refuses_unknown_keys_naming_them() {
        let r = v2_root();
        for (json, needle) in [
            (
                r#"{"unified":{"memory.nonexistent":"1"}}"#,
                "\"memory.nonexistent\"",
            ),
            (r#"{"unified":{"../../etc.x":"1"}}"#, "\"../../etc.x\""),
            (r#"{"unified":{"cgroup.procs":"1"}}"#, "\"cgroup.procs\""),
            (r#"{"unified":{"nodot":"1"}}"#, "\"nodot\""),
            (
                r#"{"hugepageLimits":[{"pageSize":"3MB","limit":1}]}"#,
                "\"3MB\"",
            ),
            (
                r#"{"hugepageLimits":[{"pageSize":"../x","limit":1}]}"#,
                "\"../x\"",
            ),
        ] {
            let e = apply_to(&r, Layout::V2, json).unwrap_err();
            assert!(matches!(e, Error::InvalidArgument(_)), "{json}: {e}");
            assert!(e.to_string().contains(needle), "{json}: {e}");
        }
        let v1 = v1_root();
        let e = apply_to(&v1, Layout::V1, r#"{"unified":{"memory.high":"1"}}"#).unwrap_err();
        assert!(e.to_string().contains("need cgroup v2"), "{e}");
        // Devices in an update (containerd's CRI plugin sends the spec's)
        // are left alone, as runc's update leaves them.
        apply_to(
            &r,
            Layout::V2,
            r#"{"devices":[{"allow":false,"access":"rwm"}]}"#,
        )
        .unwrap();
    }

    #[test]
    fn updates_v2_limits() {
        let r = v2_root();
        apply_to(
            &r,
            Layout::V2,
            r#"{"memory":{"limit":8388608,"reservation":4194304,"swap":16777216},
                "cpu":{"shares":1024,"quota":50000,"period":100000,"cpus":"1","mems":"0"},
                "pids":{"limit":32}}"#,
        )
        .unwrap();
        let c = "default/c1";
        assert_eq!(r.read(&format!("{c}/memory.max")), "8388608");
        assert_eq!(r.read(&format!("{c}/memory.low")), "4194304");
        // v2 swap is swap alone: memsw - memory.
        assert_eq!(r.read(&format!("{c}/memory.swap.max")), "8388608");
        assert_eq!(r.read(&format!("{c}/cpu.weight")), "39");
        assert_eq!(r.read(&format!("{c}/cpu.max")), "50000 100000");
        assert_eq!(r.read(&format!("{c}/cpuset.cpus")), "1");
        assert_eq!(r.read(&format!("{c}/cpuset.mems")), "0");
        assert_eq!(r.read(&format!("{c}/pids.max")), "32");
    }

    #[test]
    fn converts_v2_swap_and_cpu_values() {
        let r = v2_root();
        let c = "default/c1";
        apply_to(&r, Layout::V2, r#"{"memory":{"limit":-1}}"#).unwrap();
        assert_eq!(r.read(&format!("{c}/memory.max")), "max");
        assert_eq!(r.read(&format!("{c}/memory.swap.max")), "max");
        // memsw == memory: no swap at all.
        apply_to(
            &r,
            Layout::V2,
            r#"{"memory":{"limit":1048576,"swap":1048576}}"#,
        )
        .unwrap();
        assert_eq!(r.read(&format!("{c}/memory.swap.max")), "0");
        // Unlimited quota keeps the period given.
        apply_to(&r, Layout::V2, r#"{"cpu":{"quota":-1,"period":50000}}"#).unwrap();
        assert_eq!(r.read(&format!("{c}/cpu.max")), "max 50000");
        // Only a period: the quota there is stays.
        r.write(&format!("{c}/cpu.max"), "20000 100000\n");
        apply_to(&r, Layout::V2, r#"{"cpu":{"period":200000}}"#).unwrap();
        assert_eq!(r.read(&format!("{c}/cpu.max")), "20000 200000");

        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(1 << 20), 10_000);
    }

    #[test]
    fn refuses_impossible_v2_swap_limits() {
        let r = v2_root();
        let err = apply_to(
            &r,
            Layout::V2,
            r#"{"memory":{"limit":2097152,"swap":1048576}}"#,
        )
        .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        assert!(
            err.to_string()
                .contains("1048576 is below the memory limit 2097152"),
            "{err}"
        );
        let err = apply_to(&r, Layout::V2, r#"{"memory":{"swap":1048576}}"#).unwrap_err();
        assert!(err.to_string().contains("needs a memory limit"), "{err}");
        // Nothing was written.
        assert_eq!(r.read("default/c1/memory.max"), "max\n");
    }

    #[test]
    fn v2_without_swap_accounting_skips_lifting_swap() {
        let r = v2_root();
        std::fs::remove_file(r.path().join("default/c1/memory.swap.max")).unwrap();
        apply_to(&r, Layout::V2, r#"{"memory":{"limit":-1}}"#).unwrap();
        assert_eq!(r.read("default/c1/memory.max"), "max");
        // A real swap limit cannot be skipped.
        let err = apply_to(
            &r,
            Layout::V2,
            r#"{"memory":{"limit":1048576,"swap":2097152}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("memory.swap.max"), "{err}");
    }

    #[test]
    fn a_missing_controller_file_is_an_error_naming_it() {
        let r = v1_root();
        std::fs::remove_dir_all(r.path().join("pids")).unwrap();
        let err = apply_to(&r, Layout::V1, r#"{"pids":{"limit":3}}"#).unwrap_err();
        assert!(
            err.to_string().contains("pids/default/c1/pids.max"),
            "{err}"
        );
    }

    /// On a real v2 memory cgroup: the limit, swap alone, the reservation
    /// and a unified key reach the kernel's files.
    #[test]
    fn updates_a_real_memory_cgroup() {
        let Some(cg) = super::super::fixture::RealCgroup::create("memory", "update") else {
            return;
        };
        if cg.layout == Layout::V1 {
            return updates_a_real_v1_memory_cgroup(cg);
        }
        let read = |f: &str| {
            std::fs::read_to_string(cg.dir.join(f))
                .unwrap()
                .trim()
                .to_string()
        };
        let json = r#"{"memory":{"limit":16777216,"swap":33554432,"reservation":8388608},
                       "unified":{"memory.high":"12582912"}}"#;
        update(&cg.path, &resources(json)).unwrap();
        assert_eq!(read("memory.max"), "16777216");
        assert_eq!(read("memory.low"), "8388608");
        assert_eq!(read("memory.high"), "12582912");
        if cg.dir.join("memory.swap.max").exists() {
            assert_eq!(read("memory.swap.max"), "16777216");
        }
        update(&cg.path, &resources(r#"{"memory":{"limit":-1}}"#)).unwrap();
        assert_eq!(read("memory.max"), "max");
        let e = update(&cg.path, &resources(r#"{"unified":{"memory.nope":"1"}}"#)).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    }

    /// On a real v1 memory cgroup, where the kernel refuses memsw below
    /// memory: raising and lowering both limits needs the right order.
    fn updates_a_real_v1_memory_cgroup(cg: super::super::fixture::RealCgroup) {
        if !cg.dir.join("memory.memsw.limit_in_bytes").exists() {
            super::super::fixture::skip("no swap accounting (memory.memsw.*) on this host");
            return;
        }
        let read = |f: &str| {
            std::fs::read_to_string(cg.dir.join(f))
                .unwrap()
                .trim()
                .to_string()
        };
        let mib = |n: i64| n << 20;
        for (limit, swap) in [(16, 32), (8, 8), (64, 128)] {
            let json = format!(
                r#"{{"memory":{{"limit":{},"swap":{},"reservation":{}}}}}"#,
                mib(limit),
                mib(swap),
                mib(limit / 2)
            );
            update(&cg.path, &resources(&json)).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert_eq!(
                read("memory.limit_in_bytes"),
                mib(limit).to_string(),
                "{json}"
            );
            assert_eq!(
                read("memory.memsw.limit_in_bytes"),
                mib(swap).to_string(),
                "{json}"
            );
            assert_eq!(
                read("memory.soft_limit_in_bytes"),
                mib(limit / 2).to_string(),
                "{json}"
            );
        }
        update(&cg.path, &resources(r#"{"memory":{"limit":-1}}"#)).unwrap();
        let unlimited = read("memory.limit_in_bytes");
        assert!(unlimited.parse::<u64>().unwrap() > 1 << 62, "{unlimited}");
        assert_eq!(read("memory.memsw.limit_in_bytes"), unlimited);
    }

    #[test]
    fn a_missing_cgroup_is_not_found() {
        let err = update("/shim-test-no-such-cgroup/c1", &resources("{}")).unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err}");
        assert!(
            err.to_string().contains("/shim-test-no-such-cgroup/c1"),
            "{err}"
        );
    }
}
