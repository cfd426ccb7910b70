//! Multi-guest sequences of map, wiring and shm calls with arbitrary arguments on a tiny machine,
//! the audit after every call (see `vmm::callseq`), under every rule set that replays no bug.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for mode in vmm::callseq::checked_modes() {
        if let Err(e) = vmm::callseq::run_under(data, mode) {
            panic!("{mode}: {e}");
        }
    }
});
