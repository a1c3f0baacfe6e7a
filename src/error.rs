//! The shim's error type, and the one place where errors become ttrpc status
//! codes that containerd's `errdefs` understands.

use std::fmt::Display;

use ttrpc::{Code, Error as TtrpcError};

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Unknown container, exec or process; also a process that already exited.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// The request is valid but the process is in the wrong state for it.
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Unimplemented(String),
    /// The OCI runtime refused or failed the operation.
    #[error("{0}")]
    Runtime(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Something the shim called failed: what it was doing, and the error
    /// it got, kept as the source (`chain` and the logs show it).
    #[error("{context}: {source}")]
    Caused {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn io(context: impl Display, source: std::io::Error) -> Self {
        Error::Io {
            context: context.to_string(),
            source,
        }
    }

    /// A failure of `context`, caused by `source`.
    pub fn caused(
        context: impl Display,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Caused {
            context: context.to_string(),
            source: source.into(),
        }
    }

    pub fn code(&self) -> Code {
        match self {
            Error::NotFound(_) => Code::NOT_FOUND,
            Error::AlreadyExists(_) => Code::ALREADY_EXISTS,
            Error::FailedPrecondition(_) => Code::FAILED_PRECONDITION,
            Error::InvalidArgument(_) => Code::INVALID_ARGUMENT,
            Error::Unimplemented(_) => Code::UNIMPLEMENTED,
            Error::Runtime(_) | Error::Io { .. } | Error::Caused { .. } | Error::Other(_) => {
                Code::UNKNOWN
            }
        }
    }
}

/// Adds context to io errors: `fs::read(p).io_context(|| format!("read {p}"))`.
pub trait IoContext<T> {
    fn io_context<C: Display>(self, context: impl FnOnce() -> C) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io_context<C: Display>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| Error::io(context(), e))
    }
}

impl From<Error> for TtrpcError {
    fn from(e: Error) -> Self {
        TtrpcError::RpcStatus(ttrpc::get_status(e.code(), e.to_string()))
    }
}

/// Formats an error with its whole `source()` chain, for messages that must
/// name the root cause (libcontainer nests its errors several levels deep).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(e: Error) -> (Code, String) {
        match TtrpcError::from(e) {
            TtrpcError::RpcStatus(s) => (s.code(), s.message),
            other => panic!("not a status: {other:?}"),
        }
    }

    #[test]
    fn maps_each_kind_to_the_code_containerd_expects() {
        let cases = [
            (
                Error::NotFound("container x not found".into()),
                Code::NOT_FOUND,
            ),
            (
                Error::AlreadyExists("x exists".into()),
                Code::ALREADY_EXISTS,
            ),
            (
                Error::FailedPrecondition("running".into()),
                Code::FAILED_PRECONDITION,
            ),
            (
                Error::InvalidArgument("bad id".into()),
                Code::INVALID_ARGUMENT,
            ),
            (Error::Unimplemented("exec".into()), Code::UNIMPLEMENTED),
            (Error::Runtime("libcontainer failed".into()), Code::UNKNOWN),
        ];
        for (err, code) in cases {
            let text = err.to_string();
            let (got, msg) = status(err);
            assert_eq!(got, code, "{text}");
            assert_eq!(msg, text);
        }
    }

    #[test]
    fn io_errors_keep_their_context() {
        let e = Error::io(
            "open /x/config.json",
            std::io::Error::from_raw_os_error(libc::ENOENT),
        );
        let (code, msg) = status(e);
        assert_eq!(code, Code::UNKNOWN);
        assert!(
            msg.starts_with("open /x/config.json: No such file"),
            "{msg}"
        );
    }

    #[test]
    fn a_caused_error_keeps_its_source() {
        let json = serde_json::from_str::<u32>("x").unwrap_err();
        let e = Error::caused("read the helper's reply", json);
        let source = std::error::Error::source(&e).expect("a source");
        assert!(source.is::<serde_json::Error>(), "{source:?}");
        assert!(
            e.to_string()
                .starts_with("read the helper's reply: expected value"),
            "{e}"
        );
        assert_eq!(status(e).0, Code::UNKNOWN);
    }

    #[test]
    fn chain_names_the_root_cause_once() {
        let inner = std::io::Error::from_raw_os_error(libc::ENOENT);
        let outer = Error::io("load spec", inner);
        assert_eq!(
            chain(&outer),
            "load spec: No such file or directory (os error 2)"
        );
    }
}
