//! Garbage from guests: every host function of the ABI, called from a real wasm guest with every
//! combination of hostile values (out-of-range and unaligned addresses, lengths that overflow,
//! negative and huge sizes, unknown flags and commands, bad shmids), answers with a value or an
//! errno the ABI defines, never traps the guest or panics the host, and leaves the audit clean
//! after every call. At the end the guest exits and every frame, wiring and swap slot is back.

use vmm::runtime::Runtime;
use vmm::{GuestConfig, Machine, MachineConfig, ShmCmd, ShmId, SwapBacking};
use vmm_cli::hostile::{Hostile, VALUES};

#[test]
fn every_host_function_survives_every_hostile_argument() {
    let rt = Runtime::new().unwrap();
    let m = Machine::new(
        MachineConfig::default()
            .phys_mem(128 * 4096)
            .swap(256 * 4096)
            .swap_backing(SwapBacking::Memory),
    )
    .unwrap();
    let mut h = Hostile::new(&rt, &m, GuestConfig::default()).unwrap();
    let (mut calls, mut errors) = (0u64, 0u64);
    for (fi, f) in guest_abi::FUNCTIONS.iter().enumerate() {
        let n = VALUES.len().pow(f.params as u32);
        let t0 = std::time::Instant::now();
        for mut i in 0..n {
            let mut args = [0i32; 4];
            for a in args.iter_mut().take(f.params) {
                *a = VALUES[i % VALUES.len()];
                i /= VALUES.len();
            }
            let r = h.call(fi, args).unwrap_or_else(|e| panic!("{e}"));
            calls += 1;
            errors += u64::from(guest_abi::is_error(r));
            if let Err(v) = m.audit() {
                panic!("after {}{args:?} = {r}: audit: {v}", f.name);
            }
        }
        eprintln!("{} {n} calls {:?}", f.name, t0.elapsed());
    }
    eprintln!("{calls} hostile calls, {errors} refused with an errno, audit clean after each");
    assert!(
        calls > 50_000 && errors > calls / 2,
        "{calls} calls, {errors} errors"
    );

    // Everything comes back: the guest exits, the segments it made are removed.
    h.exit().unwrap();
    let cleaner = m.add_guest(GuestConfig::default()).unwrap();
    let segments = m.dump_machine().segments;
    eprintln!("{} segments left by the hostile calls", segments.len());
    for seg in segments {
        m.shmctl(cleaner, ShmId(seg.shmid), ShmCmd::Rmid).unwrap();
    }
    m.audit().unwrap();
    let st = m.stats();
    assert_eq!((st.wired_frames, st.swap_used), (0, 0));
    assert_eq!(st.free_frames, st.frames);
}
