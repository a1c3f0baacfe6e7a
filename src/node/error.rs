//! The errors of the node commands (`install`, `uninstall`, `check`): each
//! names the file or the value that caused it. They never reach containerd,
//! so they are not mapped to ttrpc codes; `main` prints them.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{}: {context}: {source}", path.display())]
    Io {
        path: PathBuf,
        context: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not valid TOML: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml_edit::TomlError>,
    },
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    #[error(
        "invalid handler name {0:?}: a RuntimeClass handler is a DNS label \
         (1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit)"
    )]
    BadHandler(String),
}

impl NodeError {
    pub fn io(path: &Path, context: &'static str, source: std::io::Error) -> Self {
        NodeError::Io {
            path: path.to_path_buf(),
            context,
            source,
        }
    }

    pub fn config(path: &Path, message: impl Into<String>) -> Self {
        NodeError::Config {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// A RuntimeClass `handler` must be a DNS label (Kubernetes validates it so);
/// it is also a bare TOML key then, so the table header needs no quoting.
pub fn validate_handler(name: &str) -> Result<(), NodeError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(NodeError::BadHandler(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_names_are_dns_labels() {
        for good in ["rust", "rust-inst", "r2", "a"] {
            validate_handler(good).unwrap();
        }
        for bad in [
            "",
            "Rust",
            "-rust",
            "rust-",
            "ru.st",
            "ru st",
            &"a".repeat(64),
        ] {
            let e = validate_handler(bad).unwrap_err().to_string();
            assert!(e.contains("DNS label"), "{bad:?}: {e}");
        }
    }
}
