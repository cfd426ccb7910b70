//! Embedding vmm: a machine with 64 KiB of physical memory, two guests sharing a segment, and
//! the machine's own view of what happened. Run with `cargo run -p vmm --example embed`.

use vmm::runtime::{run_guests, GuestSpec, Runtime};
use vmm::{Machine, MachineConfig};

/// Each guest attaches segment key 1; guest 0 writes and SHM_LOCKs it, both meet, the pagedaemon
/// reclaims everything it can, and guest 1 reads guest 0's word back from the locked segment.
const GUEST: &str = r#"
(module
  (import "vmm" "shmget" (func $shmget (param i32 i32 i32) (result i32)))
  (import "vmm" "shmat" (func $shmat (param i32 i32 i32) (result i32)))
  (import "vmm" "shmctl" (func $shmctl (param i32 i32 i32) (result i32)))
  (import "vmm" "vmm_guest_index" (func $me (result i32)))
  (import "vmm" "vmm_barrier" (func $barrier (result i32)))
  (import "vmm" "vmm_reclaim" (func $reclaim (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "main") (result i32)
    (local $id i32) (local $at i32)
    (local.set $id (call $shmget (i32.const 1) (i32.const 8192) (i32.const 0x3b6)))
    (local.set $at (call $shmat (local.get $id) (i32.const 0) (i32.const 0)))
    (if (i32.eqz (call $me))
      (then (i32.store (local.get $at) (i32.const 42))
            (drop (call $shmctl (local.get $id) (i32.const 3) (i32.const 0)))))
    (drop (call $barrier))
    (drop (call $reclaim (i32.const 1000)))
    (i32.sub (i32.load (local.get $at)) (i32.const 42))))
"#;

fn main() -> anyhow::Result<()> {
    let rt = Runtime::new()?;
    let module = rt.compile(GUEST.as_bytes())?;
    let machine = Machine::new(MachineConfig::default().phys_mem(64 << 10))?;
    let guests = vec![GuestSpec::new(module.clone()), GuestSpec::new(module)];
    for o in run_guests(&rt, &machine, guests, |_, _| {}) {
        println!("guest {}: {:?}", o.index, o.result);
    }
    machine.audit()?;
    println!("{:?}", machine.stats());
    Ok(())
}
