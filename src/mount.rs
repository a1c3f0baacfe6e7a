//! Mounting the rootfs containerd's snapshotter prepared (the `rootfs` mounts
//! of Create) at `<bundle>/rootfs`, and unmounting it on Delete.

use std::path::{Path, PathBuf};

use containerd_shim_protos::types::mount::Mount;
use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Error, Result};

/// Splits mount(8)-style options into flags and the data string.
pub fn parse_options(options: &[String]) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in options {
        let (set, clear) = match o.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            other => {
                data.push(other.to_string());
                continue;
            }
        };
        flags.insert(set);
        flags.remove(clear);
    }
    (flags, data.join(","))
}

/// Mounts every mount onto `target`, in order. On failure, what was mounted
/// is unmounted again and the error names the mount type, source and cause.
pub fn mount_rootfs(mounts: &[Mount], target: &Path) -> Result<()> {
    if mounts.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(target)
        .map_err(|e| Error::io(format!("create rootfs dir {}", target.display()), e))?;
    for (i, m) in mounts.iter().enumerate() {
        if let Err(e) = mount_one(m, target) {
            if i > 0 {
                unmount_all(target);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// The kernel copies at most a page of mount data (with its NUL).
const MAX_DATA: usize = 4095;

fn mount_one(m: &Mount, target: &Path) -> Result<()> {
    let (flags, data) = parse_options(&m.options);
    let fstype = if m.type_.is_empty() {
        None
    } else {
        Some(m.type_.as_str())
    };
    let data_opt = if data.is_empty() {
        None
    } else {
        Some(data.as_str())
    };
    let mounted = match compact_lowerdirs(&m.type_, &data) {
        // Too long for the kernel: the lower layers relative to their
        // common directory, mounted from there (as containerd does).
        Some((dir, short)) => mount_from(&dir, m.source.as_str(), target, fstype, flags, &short),
        None => mount(Some(m.source.as_str()), target, fstype, flags, data_opt),
    };
    mounted.map_err(|errno| {
        let why = match errno {
            Errno::ENODEV => format!("unknown filesystem type {:?}", m.type_),
            Errno::ENOENT => "source or target does not exist".to_string(),
            other => other.desc().to_string(),
        };
        Error::InvalidArgument(format!(
            "mount rootfs {} (type {:?}, source {:?}) failed: {why}",
            target.display(),
            m.type_,
            m.source
        ))
    })
}

/// For an overlay whose options exceed a page (an image of many layers):
/// the directory its lower layers share, and the options with each
/// `lowerdir` entry relative to it. None when nothing needs it or it would
/// not help.
fn compact_lowerdirs(fstype: &str, data: &str) -> Option<(PathBuf, String)> {
    if fstype != "overlay" || data.len() <= MAX_DATA {
        return None;
    }
    let options: Vec<&str> = data.split(',').collect();
    let lower = options.iter().find_map(|o| o.strip_prefix("lowerdir="))?;
    let layers: Vec<&Path> = lower.split(':').map(Path::new).collect();
    let mut common: PathBuf = layers.first()?.parent()?.to_path_buf();
    while !layers.iter().all(|l| l.starts_with(&common)) {
        common = common.parent()?.to_path_buf();
    }
    if !common.is_absolute() || common == Path::new("/") {
        return None;
    }
    let relative: Vec<String> = layers
        .iter()
        .map(|l| l.strip_prefix(&common).map(|r| r.display().to_string()))
        .collect::<std::result::Result<_, _>>()
        .ok()?;
    let short: Vec<String> = options
        .iter()
        .map(|o| match o.strip_prefix("lowerdir=") {
            Some(_) => format!("lowerdir={}", relative.join(":")),
            None => o.to_string(),
        })
        .collect();
    let short = short.join(",");
    (short.len() <= MAX_DATA).then_some((common, short))
}

/// mount(2) with relative paths in `data` resolved from `dir`: on a thread
/// of its own that unshares its working directory (CLONE_FS), so that the
/// chdir moves no other thread of the shim.
fn mount_from(
    dir: &Path,
    source: &str,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: &str,
) -> nix::Result<()> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                crate::sys::unshare_fs()
                    .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
                nix::unistd::chdir(dir)?;
                mount(Some(source), target, fstype, flags, Some(data))
            })
            .join()
            .unwrap_or(Err(Errno::EIO))
    })
}

/// Unmounts everything stacked on `target`; a target that is not a mount
/// point (or does not exist) is fine.
pub fn unmount_all(target: &Path) {
    for _ in 0..64 {
        match umount2(target, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(Errno::EINVAL) | Err(Errno::ENOENT) => return,
            Err(e) => {
                log::warn!("unmount {}: {e}", target.display());
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn overlay_options_become_data() {
        let (flags, data) = parse_options(&opts(&[
            "index=off",
            "workdir=/w",
            "upperdir=/u",
            "lowerdir=/l1:/l2",
        ]));
        assert!(flags.is_empty());
        assert_eq!(data, "index=off,workdir=/w,upperdir=/u,lowerdir=/l1:/l2");
    }

    /// Options as containerd's overlay snapshotter writes them for `n`
    /// layers under `root`.
    fn overlay_data(root: &str, n: usize) -> String {
        let lower: Vec<String> = (1..=n)
            .rev()
            .map(|i| format!("{root}/snapshots/{i}/fs"))
            .collect();
        format!(
            "index=off,workdir={root}/snapshots/{n1}/work,upperdir={root}/snapshots/{n1}/fs,lowerdir={}",
            lower.join(":"),
            n1 = n + 1
        )
    }

    #[test]
    fn long_lowerdirs_become_relative_to_their_common_directory() {
        let root = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs";
        assert_eq!(compact_lowerdirs("overlay", &overlay_data(root, 10)), None);
        let data = overlay_data(root, 80);
        assert!(data.len() > MAX_DATA);
        let (dir, short) = compact_lowerdirs("overlay", &data).unwrap();
        assert_eq!(dir, Path::new(root).join("snapshots"));
        assert!(short.len() <= MAX_DATA, "{}", short.len());
        assert!(short.contains(",lowerdir=80/fs:79/fs:"), "{short}");
        assert!(short.ends_with(":1/fs"), "{short}");
        // upper and work stay absolute
        assert!(short.contains(&format!("upperdir={root}/snapshots/81/fs")));
        assert_eq!(compact_lowerdirs("ext4", &data), None);
    }

    #[test]
    fn an_overlay_of_eighty_long_layers_mounts() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: mounting needs root");
            return;
        }
        let base = std::env::temp_dir().join(format!(
            "shim-ovl-{}-a-long-directory-name-as-containerd-root-paths-are",
            std::process::id()
        ));
        let root = base.join("io.containerd.snapshotter.v1.overlayfs");
        for i in 1..=81 {
            std::fs::create_dir_all(root.join(format!("snapshots/{i}/fs"))).unwrap();
            std::fs::write(root.join(format!("snapshots/{i}/fs/layer-{i}")), "x").unwrap();
        }
        std::fs::create_dir_all(root.join("snapshots/81/work")).unwrap();
        let data = overlay_data(&root.display().to_string(), 80);
        assert!(data.len() > MAX_DATA, "{}", data.len());
        let target = base.join("rootfs");
        let mut m = Mount::new();
        m.type_ = "overlay".into();
        m.source = "overlay".into();
        m.options = data.split(',').map(String::from).collect();
        mount_rootfs(&[m], &target).unwrap();
        let seen = (1..=81).all(|i| target.join(format!("layer-{i}")).exists());
        unmount_all(&target);
        // The shim's own working directory did not move.
        assert_ne!(std::env::current_dir().unwrap(), root.join("snapshots"));
        std::fs::remove_dir_all(&base).unwrap();
        assert!(seen, "not every layer is in the overlay");
    }

    #[test]
    fn flag_options_become_flags() {
        let (flags, data) = parse_options(&opts(&["rbind", "ro", "nosuid"]));
        assert!(flags.contains(
            MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID
        ));
        assert!(data.is_empty());
        let (flags, _) = parse_options(&opts(&["ro", "rw"]));
        assert!(!flags.contains(MsFlags::MS_RDONLY));
    }
}
