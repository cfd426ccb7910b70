//! Every host function called from a real wasm guest with arbitrary arguments, the audit after
//! every call (see `vmm::runtime::hostile`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = vmm::runtime::hostile::run(data) {
        panic!("{e}");
    }
});
