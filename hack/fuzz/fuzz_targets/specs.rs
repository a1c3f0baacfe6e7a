//! JSON the shim decodes: a bundle's config.json, an exec's process spec
//! (with and without a terminal) and Update's LinuxResources. Each must
//! decode or fail with an error, never panic.
#![no_main]

use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_rust_v2::cgroup::update::{parse_resources, RESOURCES_TYPE};
use containerd_shim_rust_v2::container::{parse_exec_spec, parse_spec, PROCESS_SPEC_TYPE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_spec(data);
    let mut any = Any::new();
    any.type_url = PROCESS_SPEC_TYPE.to_string();
    any.value = data.to_vec();
    let _ = parse_exec_spec(Some(&any), false);
    let _ = parse_exec_spec(Some(&any), true);
    any.type_url = RESOURCES_TYPE.to_string();
    let _ = parse_resources(&any);
});
