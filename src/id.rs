//! Container and exec ids become path components (runtime state, cgroups):
//! reject anything that could escape a directory before a path is built.

use crate::error::{Error, Result};

/// containerd's own limit on identifiers.
const MAX_ID_LEN: usize = 76;

pub fn validate(kind: &str, id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{kind} id must not be empty"
        )));
    }
    if id.len() > MAX_ID_LEN {
        return Err(Error::InvalidArgument(format!(
            "{kind} id is {} bytes long, at most {MAX_ID_LEN} are allowed",
            id.len()
        )));
    }
    if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(Error::InvalidArgument(format!(
            "{kind} id {id:?} must start with a letter or digit"
        )));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+')))
    {
        return Err(Error::InvalidArgument(format!(
            "{kind} id {id:?} contains the invalid character {c:?}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_containerd_style_ids() {
        for id in ["a", "abc-123", "pod_1.web", "0123456789abcdef", "x+y"] {
            validate("container", id).unwrap();
        }
    }

    #[test]
    fn rejects_ids_that_escape_or_are_empty() {
        for id in [
            "", ".", "..", "../x", "a/b", "/abs", "a\0b", "sp ace", "ü", ".hidden", "-x",
        ] {
            let err = validate("container", id).unwrap_err();
            assert!(matches!(err, Error::InvalidArgument(_)), "{id:?}");
            assert!(err.to_string().contains("container id"), "{err}");
        }
        let long = "a".repeat(77);
        assert!(validate("exec", &long)
            .unwrap_err()
            .to_string()
            .contains("77 bytes"));
    }
}
