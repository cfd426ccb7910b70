;; memory.fill (a wasmtime libcall, not guest code) over a page the guest unmapped: the guest
;; traps; the host does not die.
;; vmm-expect-trap-kind: out-of-bounds
(module
  (import "vmm" "munmap" (func $munmap (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global (export "vmm_expect_trap") i32 (i32.const 1))
  (func (export "main") (result i32)
    (if (call $munmap (i32.const 4096) (i32.const 4096)) (then (return (i32.const 1))))
    (memory.fill (i32.const 4000) (i32.const 7) (i32.const 200))
    (i32.const 0)))
