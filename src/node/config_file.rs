//! Reading, backing up and atomically replacing containerd's config file,
//! and installing the shim binary next to containerd.
//!
//! Backups: `install` copies the file it is about to change to
//! `<config>.bak-<UTC time, YYYYMMDDTHHMMSSZ>` in the same directory (the
//! newest sorts last); nothing is backed up when nothing changes.
//! `uninstall` restores a backup only when it is exactly what the current
//! file was made from (see uninstall.rs), and then removes it.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::error::NodeError;

const BACKUP_INFIX: &str = ".bak-";

/// The file's text, `None` when it does not exist. A symlink is followed
/// (the edit replaces its target, not the link).
pub fn read(path: &Path) -> Result<Option<String>, NodeError> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| NodeError::config(path, "not UTF-8 text, so not a TOML file")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(NodeError::io(path, "read", e)),
    }
}

/// Replaces (or creates) `path` with `bytes`: a temp file in the same
/// directory, written, fsynced, given the old file's mode and owner (0644
/// for a new file, 0755 when `executable`), renamed over it, and the
/// directory fsynced. A reader sees the old file or the new, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8], executable: bool) -> Result<(), NodeError> {
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let old = fs::metadata(&target).ok();
    let mode = if executable {
        0o755
    } else {
        old.as_ref()
            .map_or(0o644, |m| m.permissions().mode() & 0o7777)
    };
    let mut tmp_name = OsString::from(".");
    tmp_name.push(target.file_name().unwrap_or_default());
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(|e| NodeError::io(&tmp, "create temp file", e))?;
        f.write_all(bytes)
            .map_err(|e| NodeError::io(&tmp, "write", e))?;
        // The umask may have taken bits away from `mode`.
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| NodeError::io(&tmp, "chmod", e))?;
        if let Some(m) = &old {
            std::os::unix::fs::fchown(&f, Some(m.uid()), Some(m.gid()))
                .map_err(|e| NodeError::io(&tmp, "chown to the old file's owner", e))?;
        }
        f.sync_all().map_err(|e| NodeError::io(&tmp, "fsync", e))?;
        fs::rename(&tmp, &target)
            .map_err(|e| NodeError::io(&target, "rename the temp file over", e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Copies `path` to a new `<path>.bak-<time>` and returns its name.
pub fn backup(path: &Path, text: &str) -> Result<PathBuf, NodeError> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let mut name = path.as_os_str().to_owned();
    name.push(BACKUP_INFIX);
    name.push(&stamp);
    let base = PathBuf::from(name);
    for n in 0.. {
        let candidate = if n == 0 {
            base.clone()
        } else {
            PathBuf::from(format!("{}.{n}", base.display()))
        };
        let mode = fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&candidate)
        {
            Ok(mut f) => {
                f.write_all(text.as_bytes())
                    .and_then(|_| f.sync_all())
                    .map_err(|e| NodeError::io(&candidate, "write backup", e))?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(NodeError::io(&candidate, "create backup", e)),
        }
    }
    unreachable!("the loop returns")
}

/// The backups of `path`, newest first.
pub fn backups(path: &Path) -> Result<Vec<PathBuf>, NodeError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
        return Ok(vec![]);
    };
    let prefix = format!("{file}{BACKUP_INFIX}");
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(NodeError::io(dir, "list", e)),
    };
    let mut found: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let stamp = name.strip_prefix(&prefix)?.to_string();
            Some((stamp, e.path()))
        })
        .collect();
    // "20260101T000000Z" < "20260101T000000Z.1" < "20260101T000001Z".
    found.sort_by(|a, b| b.0.cmp(&a.0));
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// Whether `dest` already holds exactly the bytes of `src`.
pub fn same_contents(src: &Path, dest: &Path) -> Result<bool, NodeError> {
    let Ok(d) = fs::metadata(dest) else {
        return Ok(false);
    };
    let s = fs::metadata(src).map_err(|e| NodeError::io(src, "stat", e))?;
    if s.len() != d.len() {
        return Ok(false);
    }
    let a = fs::read(src).map_err(|e| NodeError::io(src, "read", e))?;
    let b = fs::read(dest).map_err(|e| NodeError::io(dest, "read", e))?;
    Ok(a == b)
}

/// Copies the binary `src` to `dest` (atomically, mode 0755).
pub fn install_binary(src: &Path, dest: &Path) -> Result<(), NodeError> {
    let bytes = fs::read(src).map_err(|e| NodeError::io(src, "read", e))?;
    if let Some(dir) = dest.parent() {
        fs::create_dir_all(dir).map_err(|e| NodeError::io(dir, "create directory", e))?;
    }
    write_atomic(dest, &bytes, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("inst-cfgfile-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn atomic_write_keeps_the_mode_and_leaves_no_temp_file() {
        let d = scratch("atomic");
        let p = d.join("config.toml");
        fs::write(&p, "old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&p, b"new", false).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        write_atomic(&d.join("bin"), b"#!", true).unwrap();
        assert_eq!(
            fs::metadata(d.join("bin")).unwrap().permissions().mode() & 0o7777,
            0o755
        );
        let names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn backups_are_listed_newest_first_and_never_overwritten() {
        let d = scratch("backup");
        let p = d.join("config.toml");
        fs::write(&p, "v1").unwrap();
        let a = backup(&p, "v1").unwrap();
        let b = backup(&p, "v2").unwrap();
        assert_ne!(a, b);
        assert_eq!(fs::read_to_string(&a).unwrap(), "v1");
        assert_eq!(fs::read_to_string(&b).unwrap(), "v2");
        assert_eq!(backups(&p).unwrap(), vec![b, a]);
        assert!(backups(&d.join("other.toml")).unwrap().is_empty());
        fs::remove_dir_all(&d).unwrap();
    }
}
