//! Runtime options as containerd sends them at Create (an Any): the first
//! byte picks the type URL (each type the shim reads, with and without its
//! host, or the rest of the input up to a NUL as a URL of its own), the rest
//! is the value. Decoding must answer Ok or an error, never panic.
#![no_main]

use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_rust_v2::options::{ShimOptions, KNOWN_TYPES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut any = Any::new();
    let n = KNOWN_TYPES.len();
    let pick = pick as usize % (2 * n + 1);
    if pick < n {
        any.type_url = KNOWN_TYPES[pick].to_string();
        any.value = rest.to_vec();
    } else if pick < 2 * n {
        any.type_url = format!("type.googleapis.com/{}", KNOWN_TYPES[pick - n]);
        any.value = rest.to_vec();
    } else {
        let (url, value) = match rest.iter().position(|b| *b == 0) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        any.type_url = String::from_utf8_lossy(url).into_owned();
        any.value = value.to_vec();
    }
    let _ = ShimOptions::decode(Some(&any));
});
