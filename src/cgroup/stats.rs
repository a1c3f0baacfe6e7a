//! A container's statistics, filled the way containerd-shim-runc-v2 fills
//! them (containerd's cgroups library: `cgroup1` controllers' Stat and
//! `cgroup2` Manager.Stat): `io.containerd.cgroups.v1.Metrics` on a v1 host,
//! `io.containerd.cgroups.v2.Metrics` on a v2 host. Controllers and files
//! that are missing are left out (or zero), never an error.

use std::collections::HashMap;
use std::path::Path;

use containerd_shim_protos::cgroups::metrics as v1;
use containerd_shim_protos::cgroups_v2::metrics as v2;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::MessageField;

use super::fs::{flat_keyed, read_optional, read_u64};
use super::{Cgroup, Layout};
use crate::error::Result;

/// Where the kernel lists block devices with their names.
const PARTITIONS: &str = "/proc/partitions";
/// cpuacct.stat counts in USER_HZ ticks, which Linux fixes at 100 a second
/// for userspace on every architecture it runs containers on.
const USER_HZ: u64 = 100;
const NANOS_PER_TICK: u64 = 1_000_000_000 / USER_HZ;

/// The statistics of the container's cgroup at `cgroups_path`, packed in an
/// Any (type URL `io.containerd.cgroups.v1.Metrics` or `...v2.Metrics`).
/// NotFound when the cgroup does not exist.
pub fn metrics(cgroups_path: &str) -> Result<Any> {
    metrics_of(&Cgroup::on_host(cgroups_path)?, Path::new(PARTITIONS))
}

/// The statistics of `cg`; v1 block devices are named from `partitions`.
fn metrics_of(cg: &Cgroup, partitions: &Path) -> Result<Any> {
    Ok(match cg.layout {
        Layout::V1 => {
            let mut m = v1_metrics(cg)?;
            if let Some(blkio) = m.blkio.as_mut() {
                let names = device_names(&read_optional(partitions)?.unwrap_or_default());
                name_devices(blkio, &names);
            }
            crate::events::to_any(&m)
        }
        Layout::V2 => crate::events::to_any(&v2_metrics(cg)?),
    })
}

/// The value of `key` in a flat-keyed file, 0 when absent.
fn get(kv: &HashMap<&str, u64>, key: &str) -> u64 {
    kv.get(key).copied().unwrap_or(0)
}

/// A single-number file, 0 when missing.
fn number(dir: &Path, file: &str, max: u64) -> Result<u64> {
    Ok(read_u64(&dir.join(file), max)?.unwrap_or(0))
}

/// A flat-keyed file, None when missing.
fn keyed(dir: &Path, file: &str) -> Result<Option<String>> {
    read_optional(&dir.join(file))
}

// ---- cgroup v1 ----

fn v1_metrics(cg: &Cgroup) -> Result<v1::Metrics> {
    let mut m = v1::Metrics::new();
    m.pids = MessageField::from_option(v1_pids(&cg.dir("pids"))?);
    m.cpu = MessageField::from_option(v1_cpu(&cg.dir("cpu"), &cg.dir("cpuacct"))?);
    let memory_dir = cg.dir("memory");
    if memory_dir.is_dir() {
        m.memory = MessageField::some(v1_memory(&memory_dir)?);
        m.memory_oom_control = MessageField::from_option(v1_oom_control(&memory_dir)?);
    }
    m.blkio = MessageField::from_option(v1_blkio(&cg.dir("blkio"))?);
    Ok(m)
}

/// pids.current and pids.max (`max`, no limit, reads as 0 on v1).
fn v1_pids(dir: &Path) -> Result<Option<v1::PidsStat>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut s = v1::PidsStat::new();
    s.current = number(dir, "pids.current", 0)?;
    s.limit = number(dir, "pids.max", 0)?;
    Ok(Some(s))
}

/// Usage from cpuacct (nanoseconds), throttling from cpu.stat.
fn v1_cpu(cpu: &Path, cpuacct: &Path) -> Result<Option<v1::CPUStat>> {
    if !cpu.is_dir() && !cpuacct.is_dir() {
        return Ok(None);
    }
    let mut usage = v1::CPUUsage::new();
    usage.total = number(cpuacct, "cpuacct.usage", 0)?;
    if let Some(text) = keyed(cpuacct, "cpuacct.usage_percpu")? {
        usage.per_cpu = text
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
    }
    if let Some(text) = keyed(cpuacct, "cpuacct.stat")? {
        let kv = flat_keyed(&text);
        usage.user = get(&kv, "user") * NANOS_PER_TICK;
        usage.kernel = get(&kv, "system") * NANOS_PER_TICK;
    }
    let mut throttling = v1::Throttle::new();
    if let Some(text) = keyed(cpu, "cpu.stat")? {
        let kv = flat_keyed(&text);
        throttling.periods = get(&kv, "nr_periods");
        throttling.throttled_periods = get(&kv, "nr_throttled");
        throttling.throttled_time = get(&kv, "throttled_time");
    }
    let mut s = v1::CPUStat::new();
    s.usage = MessageField::some(usage);
    s.throttling = MessageField::some(throttling);
    Ok(Some(s))
}

/// memory.stat, and the usage/max/failcnt/limit entries of memory,
/// memory+swap, kernel and kernel TCP memory.
fn v1_memory(dir: &Path) -> Result<v1::MemoryStat> {
    let text = keyed(dir, "memory.stat")?.unwrap_or_default();
    let kv = flat_keyed(&text);
    let g = |key: &str| get(&kv, key);
    let mut s = v1::MemoryStat {
        cache: g("cache"),
        rss: g("rss"),
        rss_huge: g("rss_huge"),
        mapped_file: g("mapped_file"),
        dirty: g("dirty"),
        writeback: g("writeback"),
        pg_pg_in: g("pgpgin"),
        pg_pg_out: g("pgpgout"),
        pg_fault: g("pgfault"),
        pg_maj_fault: g("pgmajfault"),
        inactive_anon: g("inactive_anon"),
        active_anon: g("active_anon"),
        inactive_file: g("inactive_file"),
        active_file: g("active_file"),
        unevictable: g("unevictable"),
        hierarchical_memory_limit: g("hierarchical_memory_limit"),
        hierarchical_swap_limit: g("hierarchical_memsw_limit"),
        total_cache: g("total_cache"),
        total_rss: g("total_rss"),
        total_rss_huge: g("total_rss_huge"),
        total_mapped_file: g("total_mapped_file"),
        total_dirty: g("total_dirty"),
        total_writeback: g("total_writeback"),
        total_pg_pg_in: g("total_pgpgin"),
        total_pg_pg_out: g("total_pgpgout"),
        total_pg_fault: g("total_pgfault"),
        total_pg_maj_fault: g("total_pgmajfault"),
        total_inactive_anon: g("total_inactive_anon"),
        total_active_anon: g("total_active_anon"),
        total_inactive_file: g("total_inactive_file"),
        total_active_file: g("total_active_file"),
        total_unevictable: g("total_unevictable"),
        ..Default::default()
    };
    s.usage = MessageField::some(v1_memory_entry(dir, "memory.")?);
    s.swap = MessageField::some(v1_memory_entry(dir, "memory.memsw.")?);
    s.kernel = MessageField::some(v1_memory_entry(dir, "memory.kmem.")?);
    s.kernel_tcp = MessageField::some(v1_memory_entry(dir, "memory.kmem.tcp.")?);
    Ok(s)
}

/// The four counters of one memory kind, from files starting with `prefix`.
fn v1_memory_entry(dir: &Path, prefix: &str) -> Result<v1::MemoryEntry> {
    let n = |name: &str| number(dir, &format!("{prefix}{name}"), u64::MAX);
    let mut e = v1::MemoryEntry::new();
    e.usage = n("usage_in_bytes")?;
    e.max = n("max_usage_in_bytes")?;
    e.failcnt = n("failcnt")?;
    e.limit = n("limit_in_bytes")?;
    Ok(e)
}

fn v1_oom_control(dir: &Path) -> Result<Option<v1::MemoryOomControl>> {
    Ok(keyed(dir, "memory.oom_control")?.map(|text| {
        let kv = flat_keyed(&text);
        let mut c = v1::MemoryOomControl::new();
        c.oom_kill_disable = get(&kv, "oom_kill_disable");
        c.under_oom = get(&kv, "under_oom");
        c.oom_kill = get(&kv, "oom_kill");
        c
    }))
}

/// The CFQ `*_recursive` counters when the kernel has them and they hold
/// anything, otherwise the `throttle.*` ones (as containerd does).
fn v1_blkio(dir: &Path) -> Result<Option<v1::BlkIOStat>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let read = |name: &str| -> Result<Vec<v1::BlkIOEntry>> {
        let text = keyed(dir, &format!("blkio.{name}"))?.unwrap_or_default();
        Ok(blkio_entries(&text))
    };
    let mut s = v1::BlkIOStat::new();
    if dir.join("blkio.io_serviced_recursive").exists() {
        s.sectors_recursive = read("sectors_recursive")?;
        s.io_service_bytes_recursive = read("io_service_bytes_recursive")?;
        s.io_serviced_recursive = read("io_serviced_recursive")?;
        s.io_queued_recursive = read("io_queued_recursive")?;
        s.io_service_time_recursive = read("io_service_time_recursive")?;
        s.io_wait_time_recursive = read("io_wait_time_recursive")?;
        s.io_merged_recursive = read("io_merged_recursive")?;
        s.io_time_recursive = read("time_recursive")?;
    }
    if blkio_lists(&mut s).iter().all(|l| l.is_empty()) {
        s.io_serviced_recursive = read("throttle.io_serviced")?;
        s.io_service_bytes_recursive = read("throttle.io_service_bytes")?;
    }
    Ok(Some(s))
}

/// Every entry list of a BlkIOStat.
fn blkio_lists(s: &mut v1::BlkIOStat) -> [&mut Vec<v1::BlkIOEntry>; 8] {
    [
        &mut s.io_service_bytes_recursive,
        &mut s.io_serviced_recursive,
        &mut s.io_queued_recursive,
        &mut s.io_service_time_recursive,
        &mut s.io_wait_time_recursive,
        &mut s.io_merged_recursive,
        &mut s.io_time_recursive,
        &mut s.sectors_recursive,
    ]
}

/// Lines `major:minor [op] value` of a blkio file; `Total` lines and lines
/// that do not parse are left out.
fn blkio_entries(text: &str) -> Vec<v1::BlkIOEntry> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split([' ', ':']).filter(|f| !f.is_empty()).collect();
            let (op, value) = match fields.len() {
                3 => ("", fields[2]),
                4 => (fields[2], fields[3]),
                _ => return None,
            };
            let mut e = v1::BlkIOEntry::new();
            e.major = fields[0].parse().ok()?;
            e.minor = fields[1].parse().ok()?;
            e.op = op.to_string();
            e.value = value.parse().ok()?;
            Some(e)
        })
        .collect()
}

/// `/dev/<name>` by (major, minor), from the text of /proc/partitions.
fn device_names(partitions: &str) -> HashMap<(u64, u64), String> {
    partitions
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [major, minor, _blocks, name] = f[..] else {
                return None;
            };
            Some((
                (major.parse().ok()?, minor.parse().ok()?),
                format!("/dev/{name}"),
            ))
        })
        .collect()
}

/// Fills in the device name of every blkio entry whose device is known.
fn name_devices(s: &mut v1::BlkIOStat, names: &HashMap<(u64, u64), String>) {
    for list in blkio_lists(s) {
        for e in list.iter_mut() {
            if let Some(name) = names.get(&(e.major, e.minor)) {
                e.device = name.clone();
            }
        }
    }
}

// ---- cgroup v2 ----

fn v2_metrics(cg: &Cgroup) -> Result<v2::Metrics> {
    let dir = cg.dir("");
    let mut m = v2::Metrics::new();
    if let Some(current) = read_u64(&dir.join("pids.current"), u64::MAX)? {
        let mut p = v2::PidsStat::new();
        p.current = current;
        p.limit = number(&dir, "pids.max", u64::MAX)?;
        m.pids = MessageField::some(p);
    }
    if let Some(text) = keyed(&dir, "cpu.stat")? {
        m.cpu = MessageField::some(v2_cpu(&flat_keyed(&text)));
    }
    if let Some(text) = keyed(&dir, "memory.stat")? {
        m.memory = MessageField::some(v2_memory(&dir, &flat_keyed(&text))?);
    }
    if let Some(text) = keyed(&dir, "memory.events")? {
        let kv = flat_keyed(&text);
        let mut e = v2::MemoryEvents::new();
        e.low = get(&kv, "low");
        e.high = get(&kv, "high");
        e.max = get(&kv, "max");
        e.oom = get(&kv, "oom");
        e.oom_kill = get(&kv, "oom_kill");
        e.oom_group_kill = get(&kv, "oom_group_kill");
        m.memory_events = MessageField::some(e);
    }
    if let Some(text) = keyed(&dir, "io.stat")? {
        let mut io = v2::IOStat::new();
        io.usage = io_entries(&text);
        m.io = MessageField::some(io);
    }
    Ok(m)
}

fn v2_cpu(kv: &HashMap<&str, u64>) -> v2::CPUStat {
    let g = |key: &str| get(kv, key);
    v2::CPUStat {
        usage_usec: g("usage_usec"),
        user_usec: g("user_usec"),
        system_usec: g("system_usec"),
        nr_periods: g("nr_periods"),
        nr_throttled: g("nr_throttled"),
        throttled_usec: g("throttled_usec"),
        nr_bursts: g("nr_bursts"),
        burst_usec: g("burst_usec"),
        ..Default::default()
    }
}

/// memory.stat (`kv`) plus usage, limit and peak of memory and swap (`max`,
/// no limit, reads as u64::MAX as in containerd).
fn v2_memory(dir: &Path, kv: &HashMap<&str, u64>) -> Result<v2::MemoryStat> {
    let g = |key: &str| get(kv, key);
    let n = |file: &str| number(dir, file, u64::MAX);
    Ok(v2::MemoryStat {
        anon: g("anon"),
        file: g("file"),
        kernel_stack: g("kernel_stack"),
        slab: g("slab"),
        sock: g("sock"),
        shmem: g("shmem"),
        file_mapped: g("file_mapped"),
        file_dirty: g("file_dirty"),
        file_writeback: g("file_writeback"),
        anon_thp: g("anon_thp"),
        inactive_anon: g("inactive_anon"),
        active_anon: g("active_anon"),
        inactive_file: g("inactive_file"),
        active_file: g("active_file"),
        unevictable: g("unevictable"),
        slab_reclaimable: g("slab_reclaimable"),
        slab_unreclaimable: g("slab_unreclaimable"),
        pgfault: g("pgfault"),
        pgmajfault: g("pgmajfault"),
        workingset_refault: g("workingset_refault"),
        workingset_activate: g("workingset_activate"),
        workingset_nodereclaim: g("workingset_nodereclaim"),
        pgrefill: g("pgrefill"),
        pgscan: g("pgscan"),
        pgsteal: g("pgsteal"),
        pgactivate: g("pgactivate"),
        pgdeactivate: g("pgdeactivate"),
        pglazyfree: g("pglazyfree"),
        pglazyfreed: g("pglazyfreed"),
        thp_fault_alloc: g("thp_fault_alloc"),
        thp_collapse_alloc: g("thp_collapse_alloc"),
        usage: n("memory.current")?,
        usage_limit: n("memory.max")?,
        max_usage: n("memory.peak")?,
        swap_usage: n("memory.swap.current")?,
        swap_limit: n("memory.swap.max")?,
        swap_max_usage: n("memory.swap.peak")?,
        ..Default::default()
    })
}

/// Lines `major:minor rbytes=.. wbytes=.. rios=.. wios=.. ...` of io.stat.
fn io_entries(text: &str) -> Vec<v2::IOEntry> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (major, minor) = fields.next()?.split_once(':')?;
            let mut e = v2::IOEntry::new();
            e.major = major.parse().ok()?;
            e.minor = minor.parse().ok()?;
            for (key, value) in fields.filter_map(|f| f.split_once('=')) {
                let value = value.parse().unwrap_or(0);
                match key {
                    "rbytes" => e.rbytes = value,
                    "wbytes" => e.wbytes = value,
                    "rios" => e.rios = value,
                    "wios" => e.wios = value,
                    _ => {}
                }
            }
            Some(e)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::fixture::Root;
    use super::*;
    use crate::error::Error;
    use containerd_shim_protos::protobuf::Message;

    fn v1_of(root: &Root, path: &str) -> v1::Metrics {
        let cg = Cgroup::existing(root.path(), Layout::V1, path).unwrap();
        let any = metrics_of(&cg, &root.path().join("partitions")).unwrap();
        assert_eq!(any.type_url, "io.containerd.cgroups.v1.Metrics");
        v1::Metrics::parse_from_bytes(&any.value).unwrap()
    }

    fn v2_of(root: &Root, path: &str) -> v2::Metrics {
        let cg = Cgroup::existing(root.path(), Layout::V2, path).unwrap();
        let any = metrics_of(&cg, &root.path().join("partitions")).unwrap();
        assert_eq!(any.type_url, "io.containerd.cgroups.v2.Metrics");
        v2::Metrics::parse_from_bytes(&any.value).unwrap()
    }

    /// A v1 container cgroup with every controller the shim reads.
    fn full_v1() -> Root {
        let r = Root::v1("stats1");
        let c = "default/c1";
        r.write(
            "partitions",
            "major minor  #blocks  name\n\n 254        0  268435456 vda\n   8       16  1000 sdb\n",
        );
        r.write(&format!("pids/{c}/pids.current"), "3\n");
        r.write(&format!("pids/{c}/pids.max"), "max\n");
        r.write(&format!("cpuacct/{c}/cpuacct.usage"), "581217139000\n");
        r.write(
            &format!("cpuacct/{c}/cpuacct.usage_percpu"),
            "253162150364 328054988636 \n",
        );
        r.write(
            &format!("cpuacct/{c}/cpuacct.stat"),
            "user 49944\nsystem 8177\n",
        );
        r.write(
            &format!("cpu/{c}/cpu.stat"),
            "nr_periods 10\nnr_throttled 2\nthrottled_time 5000\nnr_bursts 0\nburst_time 0\n",
        );
        r.write(
            &format!("memory/{c}/memory.stat"),
            "cache 10248192\nrss 3813376\nrss_huge 2097152\nshmem 9580544\nmapped_file 8077312\n\
             dirty 49152\nwriteback 4096\nswap 0\npgpgin 20822\npgpgout 17389\npgfault 20165\n\
             pgmajfault 7\ninactive_anon 11\nactive_anon 1531904\ninactive_file 49152\n\
             active_file 618496\nunevictable 11862016\nhierarchical_memory_limit 8388608\n\
             hierarchical_memsw_limit 16777216\ntotal_cache 3385806848\ntotal_rss 979787776\n\
             total_rss_huge 1\ntotal_mapped_file 368934912\ntotal_dirty 548798464\n\
             total_writeback 2\ntotal_pgpgin 16001924\ntotal_pgpgout 15258571\n\
             total_pgfault 18314191\ntotal_pgmajfault 1993\ntotal_inactive_anon 975745024\n\
             total_active_anon 1597440\ntotal_inactive_file 2225942528\n\
             total_active_file 1150283776\ntotal_unevictable 11862016\n",
        );
        for (prefix, base) in [
            ("", 100),
            ("memsw.", 200),
            ("kmem.", 300),
            ("kmem.tcp.", 400),
        ] {
            let d = format!("memory/{c}/memory.{prefix}");
            r.write(&format!("{d}usage_in_bytes"), &format!("{}\n", base + 1));
            r.write(
                &format!("{d}max_usage_in_bytes"),
                &format!("{}\n", base + 2),
            );
            r.write(&format!("{d}failcnt"), &format!("{}\n", base + 3));
            r.write(&format!("{d}limit_in_bytes"), &format!("{}\n", base + 4));
        }
        r.write(
            &format!("memory/{c}/memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 1\noom_kill 4\n",
        );
        r
    }

    #[test]
    fn fills_v1_metrics_from_every_controller() {
        let r = full_v1();
        r.write(
            "blkio/default/c1/blkio.io_serviced_recursive",
            "254:0 Read 5\n254:0 Write 6\nTotal 11\n",
        );
        r.write(
            "blkio/default/c1/blkio.io_service_bytes_recursive",
            "254:0 Read 4096\n254:0 Write 8192\n8:16 Sync 1\nTotal 12289\n",
        );
        r.write("blkio/default/c1/blkio.sectors_recursive", "254:0 24\n");
        let m = v1_of(&r, "/default/c1");

        assert_eq!((m.pids.current, m.pids.limit), (3, 0));

        let usage = &m.cpu.usage;
        assert_eq!(usage.total, 581217139000);
        assert_eq!(usage.per_cpu, vec![253162150364, 328054988636]);
        assert_eq!(usage.user, 49944 * 10_000_000);
        assert_eq!(usage.kernel, 8177 * 10_000_000);
        let t = &m.cpu.throttling;
        assert_eq!(
            (t.periods, t.throttled_periods, t.throttled_time),
            (10, 2, 5000)
        );

        let mem = &m.memory;
        assert_eq!(
            (mem.cache, mem.rss, mem.rss_huge),
            (10248192, 3813376, 2097152)
        );
        assert_eq!(
            (mem.mapped_file, mem.dirty, mem.writeback),
            (8077312, 49152, 4096)
        );
        assert_eq!((mem.pg_pg_in, mem.pg_pg_out), (20822, 17389));
        assert_eq!((mem.pg_fault, mem.pg_maj_fault), (20165, 7));
        assert_eq!((mem.inactive_anon, mem.active_anon), (11, 1531904));
        assert_eq!((mem.inactive_file, mem.active_file), (49152, 618496));
        assert_eq!(mem.unevictable, 11862016);
        assert_eq!(mem.hierarchical_memory_limit, 8388608);
        assert_eq!(mem.hierarchical_swap_limit, 16777216);
        assert_eq!(
            (mem.total_cache, mem.total_rss, mem.total_rss_huge),
            (3385806848, 979787776, 1)
        );
        assert_eq!(
            (mem.total_mapped_file, mem.total_dirty),
            (368934912, 548798464)
        );
        assert_eq!(mem.total_writeback, 2);
        assert_eq!(
            (mem.total_pg_pg_in, mem.total_pg_pg_out),
            (16001924, 15258571)
        );
        assert_eq!(
            (mem.total_pg_fault, mem.total_pg_maj_fault),
            (18314191, 1993)
        );
        assert_eq!(
            (mem.total_inactive_anon, mem.total_active_anon),
            (975745024, 1597440)
        );
        assert_eq!(
            (mem.total_inactive_file, mem.total_active_file),
            (2225942528, 1150283776)
        );
        assert_eq!(mem.total_unevictable, 11862016);
        for (entry, base) in [
            (&mem.usage, 100),
            (&mem.swap, 200),
            (&mem.kernel, 300),
            (&mem.kernel_tcp, 400),
        ] {
            assert_eq!(
                (entry.usage, entry.max, entry.failcnt, entry.limit),
                (base + 1, base + 2, base + 3, base + 4)
            );
        }
        let oom = &m.memory_oom_control;
        assert_eq!(
            (oom.oom_kill_disable, oom.under_oom, oom.oom_kill),
            (0, 1, 4)
        );

        let b = &m.blkio;
        let serviced: Vec<_> = b
            .io_serviced_recursive
            .iter()
            .map(|e| (e.device.as_str(), e.major, e.minor, e.op.as_str(), e.value))
            .collect();
        assert_eq!(
            serviced,
            vec![
                ("/dev/vda", 254, 0, "Read", 5),
                ("/dev/vda", 254, 0, "Write", 6)
            ]
        );
        let bytes: Vec<_> = b
            .io_service_bytes_recursive
            .iter()
            .map(|e| (e.device.as_str(), e.op.as_str(), e.value))
            .collect();
        assert_eq!(
            bytes,
            vec![
                ("/dev/vda", "Read", 4096),
                ("/dev/vda", "Write", 8192),
                ("/dev/sdb", "Sync", 1)
            ]
        );
        assert_eq!(b.sectors_recursive[0].op, "");
        assert_eq!(b.sectors_recursive[0].value, 24);
    }

    #[test]
    fn falls_back_to_v1_throttle_counters_without_cfq() {
        let r = full_v1();
        // This host's kernel: no CFQ counters, only throttle.* ones.
        r.write(
            "blkio/default/c1/blkio.throttle.io_serviced",
            "254:0 Read 2\n254:0 Write 3\nTotal 5\n",
        );
        r.write(
            "blkio/default/c1/blkio.throttle.io_service_bytes",
            "254:0 Read 512\nTotal 512\n",
        );
        let m = v1_of(&r, "/default/c1");
        assert_eq!(m.blkio.io_serviced_recursive.len(), 2);
        assert_eq!(m.blkio.io_service_bytes_recursive[0].value, 512);
        assert_eq!(m.blkio.io_service_bytes_recursive[0].device, "/dev/vda");
        // An empty CFQ set also falls back.
        r.write("blkio/default/c1/blkio.io_serviced_recursive", "Total 0\n");
        let m = v1_of(&r, "/default/c1");
        assert_eq!(m.blkio.io_serviced_recursive.len(), 2);
    }

    #[test]
    fn skips_missing_v1_controllers_and_files() {
        let r = Root::v1("stats1-min");
        r.write("memory/default/c1/memory.usage_in_bytes", "4096\n");
        let m = v1_of(&r, "/default/c1");
        assert!(m.pids.is_none() && m.cpu.is_none() && m.blkio.is_none());
        assert!(m.memory_oom_control.is_none());
        assert_eq!(m.memory.usage.usage, 4096);
        // No swap accounting: the entry is there, all zero.
        assert_eq!(m.memory.swap.limit, 0);
        assert_eq!(m.memory.cache, 0);
    }

    #[test]
    fn fills_v2_metrics() {
        let r = Root::v2("stats2");
        let c = "default/c1";
        r.write(&format!("{c}/pids.current"), "4\n");
        r.write(&format!("{c}/pids.max"), "max\n");
        r.write(
            &format!("{c}/cpu.stat"),
            "usage_usec 1000\nuser_usec 600\nsystem_usec 400\nnr_periods 9\nnr_throttled 3\n\
             throttled_usec 77\nnr_bursts 1\nburst_usec 2\n",
        );
        r.write(
            &format!("{c}/memory.stat"),
            "anon 4096\nfile 8192\nkernel_stack 16384\nslab 5\nsock 6\nshmem 7\nfile_mapped 8\n\
             file_dirty 9\nfile_writeback 10\nanon_thp 11\ninactive_anon 12\nactive_anon 13\n\
             inactive_file 14\nactive_file 15\nunevictable 16\nslab_reclaimable 17\n\
             slab_unreclaimable 18\npgfault 19\npgmajfault 20\nworkingset_refault 21\n\
             workingset_activate 22\nworkingset_nodereclaim 23\npgrefill 24\npgscan 25\n\
             pgsteal 26\npgactivate 27\npgdeactivate 28\npglazyfree 29\npglazyfreed 30\n\
             thp_fault_alloc 31\nthp_collapse_alloc 32\n",
        );
        r.write(&format!("{c}/memory.current"), "123456\n");
        r.write(&format!("{c}/memory.max"), "8388608\n");
        r.write(&format!("{c}/memory.peak"), "200000\n");
        r.write(&format!("{c}/memory.swap.current"), "0\n");
        r.write(&format!("{c}/memory.swap.max"), "max\n");
        r.write(
            &format!("{c}/memory.events"),
            "low 1\nhigh 2\nmax 3\noom 4\noom_kill 5\noom_group_kill 6\n",
        );
        r.write(
            &format!("{c}/io.stat"),
            "254:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=1\n",
        );
        let m = v2_of(&r, "/default/c1");

        assert_eq!((m.pids.current, m.pids.limit), (4, u64::MAX));
        let cpu = &m.cpu;
        assert_eq!(
            (cpu.usage_usec, cpu.user_usec, cpu.system_usec),
            (1000, 600, 400)
        );
        assert_eq!(
            (cpu.nr_periods, cpu.nr_throttled, cpu.throttled_usec),
            (9, 3, 77)
        );
        assert_eq!((cpu.nr_bursts, cpu.burst_usec), (1, 2));
        let mem = &m.memory;
        assert_eq!(
            (mem.anon, mem.file, mem.kernel_stack, mem.slab),
            (4096, 8192, 16384, 5)
        );
        assert_eq!(
            (mem.sock, mem.shmem, mem.file_mapped, mem.file_dirty),
            (6, 7, 8, 9)
        );
        assert_eq!((mem.file_writeback, mem.anon_thp), (10, 11));
        assert_eq!(
            (mem.inactive_anon, mem.active_anon, mem.inactive_file),
            (12, 13, 14)
        );
        assert_eq!((mem.active_file, mem.unevictable), (15, 16));
        assert_eq!((mem.slab_reclaimable, mem.slab_unreclaimable), (17, 18));
        assert_eq!((mem.pgfault, mem.pgmajfault), (19, 20));
        assert_eq!((mem.workingset_refault, mem.workingset_activate), (21, 22));
        assert_eq!(
            (mem.workingset_nodereclaim, mem.pgrefill, mem.pgscan),
            (23, 24, 25)
        );
        assert_eq!(
            (mem.pgsteal, mem.pgactivate, mem.pgdeactivate),
            (26, 27, 28)
        );
        assert_eq!((mem.pglazyfree, mem.pglazyfreed), (29, 30));
        assert_eq!((mem.thp_fault_alloc, mem.thp_collapse_alloc), (31, 32));
        assert_eq!(
            (mem.usage, mem.usage_limit, mem.max_usage),
            (123456, 8388608, 200000)
        );
        assert_eq!(
            (mem.swap_usage, mem.swap_limit, mem.swap_max_usage),
            (0, u64::MAX, 0)
        );
        let ev = &m.memory_events;
        assert_eq!(
            (
                ev.low,
                ev.high,
                ev.max,
                ev.oom,
                ev.oom_kill,
                ev.oom_group_kill
            ),
            (1, 2, 3, 4, 5, 6)
        );
        let io: Vec<_> =
            m.io.usage
                .iter()
                .map(|e| (e.major, e.minor, e.rbytes, e.wbytes, e.rios, e.wios))
                .collect();
        assert_eq!(io, vec![(254, 0, 4096, 8192, 1, 2), (8, 16, 1, 0, 0, 0)]);
    }

    #[test]
    fn skips_missing_v2_controllers() {
        let r = Root::v2("stats2-min");
        r.write("default/c1/cpu.stat", "usage_usec 5\n");
        let m = v2_of(&r, "/default/c1");
        assert_eq!(m.cpu.usage_usec, 5);
        assert!(m.pids.is_none() && m.memory.is_none());
        assert!(m.memory_events.is_none() && m.io.is_none());
    }

    #[test]
    fn a_missing_cgroup_is_not_found() {
        let err = metrics("/shim-test-no-such-cgroup/c1").unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err}");
        assert!(
            err.to_string().contains("/shim-test-no-such-cgroup/c1"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_number_names_its_file() {
        let r = Root::v2("stats2-bad");
        r.write("default/c1/memory.stat", "anon 1\n");
        r.write("default/c1/memory.current", "lots\n");
        let cg = Cgroup::existing(r.path(), Layout::V2, "/default/c1").unwrap();
        let err = metrics_of(&cg, Path::new(PARTITIONS))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("default/c1/memory.current: not a number"),
            "{err}"
        );
    }

    /// The cgroup of this test process in the memory hierarchy (v1) or the
    /// unified one (v2), from /proc/self/cgroup.
    fn own_cgroup() -> Option<String> {
        let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let controller = match super::super::layout() {
            Layout::V1 => "memory",
            Layout::V2 => "",
        };
        super::super::path_in(&text, controller).map(str::to_string)
    }

    #[test]
    fn reads_the_real_cgroup_of_this_process() {
        // Real kernel files, whatever this host mounts: every file the shim
        // reads must parse.
        let Some(path) = own_cgroup() else {
            super::super::fixture::skip("no memory cgroup in /proc/self/cgroup");
            return;
        };
        let any = metrics(&path).unwrap();
        match super::super::layout() {
            Layout::V1 => {
                let m = v1::Metrics::parse_from_bytes(&any.value).unwrap();
                assert!(m.memory.usage.usage > 0, "{m:?}");
            }
            Layout::V2 => {
                let m = v2::Metrics::parse_from_bytes(&any.value).unwrap();
                assert!(m.cpu.is_some(), "{m:?}");
            }
        }
    }
}
