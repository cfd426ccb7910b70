//! Multi-guest sequences of map, wiring and shm calls with arbitrary arguments on a tiny machine,
//! the audit after every call (see `vmm::callseq`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = vmm::callseq::run(data) {
        panic!("{e}");
    }
});
