;; A store through a SHM_RDONLY attachment traps; loads through it work.
;; vmm-expect-trap-kind: write-to-read-only
(module
  (import "vmm" "shmget" (func $shmget (param i32 i32 i32) (result i32)))
  (import "vmm" "shmat" (func $shmat (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global (export "vmm_expect_trap") i32 (i32.const 1))
  (func (export "main") (result i32)
    (local $id i32) (local $at i32)
    (local.set $id (call $shmget (i32.const 0) (i32.const 4096) (i32.const 0x180)))
    (if (i32.lt_s (local.get $id) (i32.const 0)) (then (return (i32.const 1))))
    ;; SHM_RDONLY = 010000
    (local.set $at (call $shmat (local.get $id) (i32.const 0) (i32.const 4096)))
    (if (i32.lt_s (local.get $at) (i32.const 0)) (then (return (i32.const 2))))
    (if (i32.load (local.get $at)) (then (return (i32.const 3))))
    (i32.store (local.get $at) (i32.const 1))
    (i32.const 4)))
