//! Every host function called from a real wasm guest with arbitrary arguments, the audit after
//! every call (see `vmm_cli::hostile`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = vmm_cli::hostile::run(data) {
        panic!("{e}");
    }
});
