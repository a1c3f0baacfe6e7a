//! Reading and writing cgroup interface files; every error names the file.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, IoContext, Result};

/// The contents of `path`, or None when it does not exist (a controller
/// that is not mounted or not enabled, an interface file this kernel lacks).
pub fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("read {}", path.display()), e)),
    }
}

/// The contents of `path`, which must exist.
pub fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).io_context(|| format!("read {}", path.display()))
}

/// A file holding one number (`memory.current`, `pids.max`), `max` read as
/// `max`; None when the file does not exist.
pub fn read_u64(path: &Path, max: u64) -> Result<Option<u64>> {
    let Some(text) = read_optional(path)? else {
        return Ok(None);
    };
    parse_u64(text.trim(), max).map(Some).ok_or_else(|| {
        Error::Other(format!(
            "{}: not a number: {:?}",
            path.display(),
            text.trim()
        ))
    })
}

/// A number, or `max` as `max`.
fn parse_u64(s: &str, max: u64) -> Option<u64> {
    if s == "max" {
        Some(max)
    } else {
        s.parse().ok()
    }
}

/// A flat-keyed file (`memory.stat`, `cpu.stat`, `memory.events`): one
/// `key value` pair a line. Lines that do not parse are left out.
pub fn flat_keyed(text: &str) -> HashMap<&str, u64> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(' ')?;
            Some((key, value.trim().parse().ok()?))
        })
        .collect()
}

/// Writes `value` to the existing interface file `path` in one write (the
/// kernel parses each write on its own); never creates the file.
pub fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .io_context(|| format!("write {value:?} to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flat_keyed_files() {
        let kv = flat_keyed("usage_usec 100\nuser_usec 60\nbogus\nname x\n");
        assert_eq!(kv.len(), 2);
        assert_eq!(kv["usage_usec"], 100);
        assert_eq!(kv["user_usec"], 60);
    }

    #[test]
    fn reads_numbers_and_max() {
        let root = super::super::fixture::Root::v1("fs");
        root.write("a", "42\n");
        root.write("b", "max\n");
        root.write("c", "lots\n");
        assert_eq!(read_u64(&root.path().join("a"), 0).unwrap(), Some(42));
        assert_eq!(
            read_u64(&root.path().join("b"), u64::MAX).unwrap(),
            Some(u64::MAX)
        );
        assert_eq!(read_u64(&root.path().join("b"), 0).unwrap(), Some(0));
        assert_eq!(read_u64(&root.path().join("gone"), 0).unwrap(), None);
        let err = read_u64(&root.path().join("c"), 0).unwrap_err().to_string();
        assert!(err.contains("/c: not a number: \"lots\""), "{err}");
    }

    #[test]
    fn writes_replace_the_value_and_never_create_files() {
        let root = super::super::fixture::Root::v1("fswrite");
        root.write("memory.max", "123456789\n");
        write(&root.path().join("memory.max"), "5").unwrap();
        assert_eq!(root.read("memory.max"), "5");
        let err = write(&root.path().join("pids.max"), "max")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("write \"max\" to "), "{err}");
        assert!(err.contains("pids.max"), "{err}");
        assert!(!root.path().join("pids.max").exists());
    }
}
