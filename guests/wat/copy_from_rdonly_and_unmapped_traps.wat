;; Two guests. Guest 0 memory.copies out of a page it unmapped and spins: it traps at its next
;; loop check. Guest 1 memory.fills a SHM_RDONLY attachment: it traps too. Neither takes the host
;; down, and the machine's audit holds afterwards.
;; vmm-expect-trap-kind: out-of-bounds write-to-read-only
(module
  (import "vmm" "vmm_guest_index" (func $me (result i32)))
  (import "vmm" "munmap" (func $munmap (param i32 i32) (result i32)))
  (import "vmm" "shmget" (func $shmget (param i32 i32 i32) (result i32)))
  (import "vmm" "shmat" (func $shmat (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global (export "vmm_guests") i32 (i32.const 2))
  (global (export "vmm_expect_trap") i32 (i32.const 3))
  (func (export "main") (result i32)
    (local $at i32) (local $i i32)
    (if (i32.eqz (call $me))
      (then
        (if (call $munmap (i32.const 8192) (i32.const 4096)) (then (return (i32.const 1))))
        (memory.copy (i32.const 0) (i32.const 8192) (i32.const 64))
        (loop $spin
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $spin (i32.lt_u (local.get $i) (i32.const 1000000))))
        (return (i32.const 0))))
    (local.set $at (call $shmat (call $shmget (i32.const 0) (i32.const 8192) (i32.const 0x180))
                                (i32.const 0) (i32.const 4096)))
    (if (i32.lt_s (local.get $at) (i32.const 0)) (then (return (i32.const 2))))
    (memory.fill (local.get $at) (i32.const 1) (i32.const 8192))
    (i32.const 0)))
