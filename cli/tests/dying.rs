//! Dying guests: one that runs out of memory traps with a clear reason, one stopped by the host
//! in the middle of what it holds (mlocked memory, a SHM_LOCKed segment marked for removal) is
//! exited like any other; either way everything it held comes back and the machine goes on.

use vmm::runtime::trap::TrapKind;
use vmm::runtime::{run_guests, stop_guest, GuestSpec, Runtime};
use vmm::{Machine, MachineConfig, SwapBacking, PAGE_SIZE};
use vmm_cli::testing::leak;

const IMPORTS: &str = r#"
  (import "vmm" "mmap" (func $mmap (param i32 i32 i32 i32) (result i32)))
  (import "vmm" "mlock" (func $mlock (param i32 i32) (result i32)))
  (import "vmm" "shmget" (func $shmget (param i32 i32 i32) (result i32)))
  (import "vmm" "shmat" (func $shmat (param i32 i32 i32) (result i32)))
  (import "vmm" "shmctl" (func $shmctl (param i32 i32 i32) (result i32)))
  (import "vmm" "vmm_reclaim" (func $reclaim (param i32) (result i32)))
  (memory (export "memory") 1)"#;

fn small() -> Machine {
    Machine::new(
        MachineConfig::default()
            .phys_mem(64 * PAGE_SIZE)
            .swap(64 * PAGE_SIZE)
            .swap_backing(SwapBacking::Memory),
    )
    .unwrap()
}

#[test]
fn a_guest_out_of_memory_and_swap_traps_saying_so_and_gives_everything_back() {
    let rt = Runtime::new().unwrap();
    let m = small();
    // Maps 64 KiB at a time and touches every page, forever.
    let wat = format!(
        r#"(module {IMPORTS}
  (func (export "main") (result i32) (local $a i32) (local $i i32)
    (loop $more
      (local.set $a (call $mmap (i32.const 0) (i32.const 65536) (i32.const 3) (i32.const 0x1002)))
      (if (i32.lt_s (local.get $a) (i32.const 0)) (then (return (i32.const 1))))
      (local.set $i (i32.const 0))
      (loop $touch
        (i32.store (i32.add (local.get $a) (local.get $i)) (local.get $i))
        (local.set $i (i32.add (local.get $i) (i32.const 4096)))
        (br_if $touch (i32.lt_u (local.get $i) (i32.const 65536))))
      (br $more))
    (i32.const 0)))"#
    );
    let module = rt.compile(wat.as_bytes()).unwrap();
    let out = run_guests(&rt, &m, vec![GuestSpec::new(module)], |_, _| {});
    assert_eq!(
        out[0].trap,
        Some(TrapKind::OutOfMemory),
        "{:?}",
        out[0].result
    );
    let why = out[0].result.as_ref().unwrap_err();
    assert!(why.starts_with("guest trapped: out of memory"), "{why}");
    m.audit().unwrap();
    assert_eq!(leak(&m), None);
    let st = m.stats();
    assert_eq!((st.free_frames, st.swap_used), (st.frames, 0));
}

#[test]
fn a_guest_stopped_midway_releases_its_wirings_and_its_removed_segment() {
    let rt = Runtime::new().unwrap();
    let m = small();
    // mlocks 4 pages, attaches a 4-page segment, SHM_LOCKs it, marks it for removal, spins.
    let wat = format!(
        r#"(module {IMPORTS}
  (func (export "main") (result i32) (local $a i32) (local $id i32) (local $s i32)
    (local.set $a (call $mmap (i32.const 0) (i32.const 16384) (i32.const 3) (i32.const 0x1002)))
    (if (i32.ne (call $mlock (local.get $a) (i32.const 16384)) (i32.const 0)) (then (return (i32.const 1))))
    (local.set $id (call $shmget (i32.const 0) (i32.const 16384) (i32.const 0x180)))
    (local.set $s (call $shmat (local.get $id) (i32.const 0) (i32.const 0)))
    (i32.store (local.get $s) (i32.const 7))
    (if (i32.ne (call $shmctl (local.get $id) (i32.const 3) (i32.const 0)) (i32.const 0)) (then (return (i32.const 2))))
    (if (i32.ne (call $shmctl (local.get $id) (i32.const 0) (i32.const 0)) (i32.const 0)) (then (return (i32.const 3))))
    (loop $spin (drop (call $reclaim (i32.const 1))) (br $spin))
    (i32.const 0)))"#
    );
    let module = rt.compile(wat.as_bytes()).unwrap();
    let (rt2, m2) = (rt.clone(), m.clone());
    let runner =
        std::thread::spawn(move || run_guests(&rt2, &m2, vec![GuestSpec::new(module)], |_, _| {}));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while m.stats().wired_frames < 8 || m.dump_machine().segments.first().is_none_or(|s| !s.removed)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the guest never got going"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let g = m.guests()[0];
    stop_guest(&m, g, "stopped by the host").unwrap();
    let out = runner.join().unwrap();
    assert_eq!(out[0].trap, Some(TrapKind::Stopped), "{:?}", out[0].result);
    assert!(out[0]
        .result
        .as_ref()
        .unwrap_err()
        .contains("stopped by the host"));
    m.audit().unwrap();
    // The segment went with its last attacher; nothing is wired, resident or in swap.
    let d = m.dump_machine();
    assert!(d.segments.is_empty() && d.guests.is_empty());
    assert_eq!(
        (d.wired_frames, d.free_frames, d.swap_used),
        (0, d.frames, 0)
    );
}
