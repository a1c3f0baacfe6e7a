//! Mounting the rootfs containerd's snapshotter prepared (the `rootfs` mounts
//! of Create) at `<bundle>/rootfs`, and unmounting it on Delete.

use std::path::Path;

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
    mount(Some(m.source.as_str()), target, fstype, flags, data_opt).map_err(|errno| {
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
