;; A WASI call handed a pointer past the end of memory traps the guest, as WASI preview 1
;; requires ("if an out-of-bounds pointer is passed to a function and the function needs to
;; dereference it, the function shall trap"); the host goes on, and the guest's exit releases
;; everything. A bad descriptor, by contrast, is an errno (WASI's EBADF, 8).
;; vmm-expect-trap-kind: out-of-bounds
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global (export "vmm_expect_trap") i32 (i32.const 1))
  (func (export "main") (result i32)
    (if (i32.ne (call $fd_write (i32.const 99) (i32.const 0) (i32.const 0) (i32.const 16))
                (i32.const 8))
      (then (return (i32.const 1))))
    ;; an iovec array at the last byte of memory: trap
    (drop (call $fd_write (i32.const 1) (i32.const 65535) (i32.const 1) (i32.const 16)))
    (i32.const 2)))
