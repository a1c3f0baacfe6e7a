//! Runtime options containerd sends: in Create's `options` and on the stdin
//! of `start`, as a protobuf Any holding `containerd.runc.v1.Options`.

use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::Message;
use containerd_shim_protos::shim::oci::Options;

use crate::error::{Error, Result};

pub const RUNC_OPTIONS: &str = "containerd.runc.v1.Options";

/// The type name of an Any, without the optional `type.googleapis.com/` host.
fn type_name(any: &Any) -> &str {
    any.type_url.rsplit('/').next().unwrap_or_default()
}

/// Decodes the options; none at all (empty Any) means the defaults.
pub fn decode(any: Option<&Any>) -> Result<Options> {
    let Some(any) = any.filter(|a| !a.type_url.is_empty() || !a.value.is_empty()) else {
        return Ok(Options::new());
    };
    match type_name(any) {
        RUNC_OPTIONS => Options::parse_from_bytes(&any.value).map_err(|e| {
            Error::InvalidArgument(format!("malformed {RUNC_OPTIONS} runtime options: {e}"))
        }),
        other => Err(Error::InvalidArgument(format!(
            "unsupported runtime options type {other:?} (expected {RUNC_OPTIONS})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_of(o: &Options, url: &str) -> Any {
        let mut a = Any::new();
        a.type_url = url.into();
        a.value = o.write_to_bytes().unwrap();
        a
    }

    #[test]
    fn no_options_are_the_defaults() {
        assert_eq!(decode(None).unwrap(), Options::new());
        assert_eq!(decode(Some(&Any::new())).unwrap(), Options::new());
    }

    #[test]
    fn decodes_runc_options_with_or_without_type_host() {
        let mut o = Options::new();
        o.no_pivot_root = true;
        o.binary_name = "runc".into();
        o.root = "/run/x".into();
        for url in [
            RUNC_OPTIONS,
            "type.googleapis.com/containerd.runc.v1.Options",
        ] {
            assert_eq!(decode(Some(&any_of(&o, url))).unwrap(), o);
        }
    }

    #[test]
    fn rejects_unknown_types_and_garbage() {
        let err = decode(Some(&any_of(&Options::new(), "example.Other"))).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
        assert!(err.to_string().contains("example.Other"), "{err}");
        let mut bad = Any::new();
        bad.type_url = RUNC_OPTIONS.into();
        bad.value = vec![0xff, 0xff, 0xff];
        assert!(decode(Some(&bad))
            .unwrap_err()
            .to_string()
            .contains("malformed"));
    }
}
