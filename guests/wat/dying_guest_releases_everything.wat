;; Guest 1 wires private memory, attaches and SHM_LOCKs a segment, then traps. Its wirings,
;; attachment and frames are released (the run's audit checks), guest 0 carries on: the barrier
;; fails rather than hangs, and the segment outlives guest 1 with no attachment.
;; vmm-expect-trap-kind: unreachable
(module
  (import "vmm" "vmm_guest_index" (func $me (result i32)))
  (import "vmm" "vmm_barrier" (func $barrier (result i32)))
  (import "vmm" "mmap" (func $mmap (param i32 i32 i32 i32) (result i32)))
  (import "vmm" "mlockall" (func $mlockall (param i32) (result i32)))
  (import "vmm" "shmget" (func $shmget (param i32 i32 i32) (result i32)))
  (import "vmm" "shmat" (func $shmat (param i32 i32 i32) (result i32)))
  (import "vmm" "shmctl" (func $shmctl (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global (export "vmm_guests") i32 (i32.const 2))
  (global (export "vmm_expect_trap") i32 (i32.const 2))
  (func (export "main") (result i32)
    (local $id i32)
    (if (i32.eq (call $me) (i32.const 1))
      (then
        (drop (call $mmap (i32.const 0) (i32.const 16384) (i32.const 3) (i32.const 0x1002)))
        (drop (call $mlockall (i32.const 3)))
        ;; IPC_CREAT | 0666
        (local.set $id (call $shmget (i32.const 55) (i32.const 8192) (i32.const 0x3b6)))
        (drop (call $shmat (local.get $id) (i32.const 0) (i32.const 0)))
        (drop (call $shmctl (local.get $id) (i32.const 3) (i32.const 0)))
        (unreachable)))
    ;; guest 0: the barrier cannot complete once guest 1 is gone
    (if (i32.ne (call $barrier) (i32.const -3)) (then (return (i32.const 1))))
    (local.set $id (call $shmget (i32.const 55) (i32.const 0) (i32.const 0)))
    (if (i32.lt_s (local.get $id) (i32.const 0)) (then (return (i32.const 2))))
    ;; IPC_STAT into offset 64: nattch (offset 36) is 0
    (if (call $shmctl (local.get $id) (i32.const 2) (i32.const 64)) (then (return (i32.const 3))))
    (if (i32.load (i32.const 100)) (then (return (i32.const 4))))
    (i32.const 0)))
