;; A load from a page the guest unmapped inside its own linear memory traps, like SIGSEGV.
;; vmm-expect-trap-kind: out-of-bounds
(module
  (import "vmm" "munmap" (func $munmap (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global (export "vmm_expect_trap") i32 (i32.const 1))
  (func (export "main") (result i32)
    (i32.store (i32.const 4096) (i32.const 7))
    (if (call $munmap (i32.const 4096) (i32.const 4096)) (then (return (i32.const 1))))
    (i32.load (i32.const 4100))))
