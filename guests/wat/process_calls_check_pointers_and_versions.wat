;; The process calls with bad pointers and values: getrlimit, setrlimit, capget and capset on an
;; address past the memory are EFAULT (and change nothing); an unknown resource is EINVAL;
;; capget of an unknown version is EINVAL with version 3 written back, and a null data pointer
;; makes it a probe (0); capset may drop but never add; seteuid away from root and back.
(module
  (import "vmm" "getrlimit" (func $getrlimit (param i32 i32) (result i32)))
  (import "vmm" "setrlimit" (func $setrlimit (param i32 i32) (result i32)))
  (import "vmm" "capget" (func $capget (param i32 i32) (result i32)))
  (import "vmm" "capset" (func $capset (param i32 i32) (result i32)))
  (import "vmm" "seteuid" (func $seteuid (param i32) (result i32)))
  (import "vmm" "geteuid" (func $geteuid (result i32)))
  (import "vmm" "getuid" (func $getuid (result i32)))
  (import "vmm" "getpid" (func $getpid (result i32)))
  (memory (export "memory") 1)
  (func (export "main") (result i32)
    ;; RLIMIT_MEMLOCK (6) into a bad pointer, from one, and an unknown resource.
    (if (i32.ne (call $getrlimit (i32.const 6) (i32.const 0xfffffff0)) (i32.const -14))
      (then (return (i32.const 1))))
    (if (i32.ne (call $setrlimit (i32.const 6) (i32.const 0xfffffff0)) (i32.const -14))
      (then (return (i32.const 2))))
    (if (i32.ne (call $getrlimit (i32.const 99) (i32.const 64)) (i32.const -22))
      (then (return (i32.const 3))))
    ;; A real read: root with no limit of its own has none, soft and hard.
    (if (call $getrlimit (i32.const 6) (i32.const 64)) (then (return (i32.const 4))))
    (if (i64.ne (i64.load (i32.const 72)) (i64.const -1)) (then (return (i32.const 5))))
    ;; soft 2 pages above hard 1 page: EINVAL.
    (i64.store (i32.const 64) (i64.const 8192))
    (i64.store (i32.const 72) (i64.const 4096))
    (if (i32.ne (call $setrlimit (i32.const 6) (i32.const 64)) (i32.const -22))
      (then (return (i32.const 6))))
    ;; capget: bad header pointer, bad version, a probe.
    (if (i32.ne (call $capget (i32.const 0xfffffff0) (i32.const 128)) (i32.const -14))
      (then (return (i32.const 7))))
    (i32.store (i32.const 0) (i32.const 0x12345678))
    (i32.store (i32.const 4) (i32.const 0))
    (if (i32.ne (call $capget (i32.const 0) (i32.const 128)) (i32.const -22))
      (then (return (i32.const 8))))
    (if (i32.ne (i32.load (i32.const 0)) (i32.const 0x20080522)) (then (return (i32.const 9))))
    (i32.store (i32.const 0) (i32.const 0x12345678))
    (if (call $capget (i32.const 0) (i32.const 0)) (then (return (i32.const 10))))
    ;; Version 3 for our own pid: data into a bad pointer, then for real.
    (i32.store (i32.const 0) (i32.const 0x20080522))
    (i32.store (i32.const 4) (call $getpid))
    (if (i32.ne (call $capget (i32.const 0) (i32.const 0xfffffff0)) (i32.const -14))
      (then (return (i32.const 11))))
    (if (call $capget (i32.const 0) (i32.const 128)) (then (return (i32.const 12))))
    ;; Root: CAP_IPC_LOCK (bit 14) effective and permitted.
    (if (i32.eqz (i32.and (i32.load (i32.const 128)) (i32.const 0x4000))) (then (return (i32.const 13))))
    ;; Another pid: ESRCH for capget, EPERM for capset.
    (i32.store (i32.const 4) (i32.const 99999))
    (if (i32.ne (call $capget (i32.const 0) (i32.const 128)) (i32.const -3))
      (then (return (i32.const 14))))
    (if (i32.ne (call $capset (i32.const 0) (i32.const 128)) (i32.const -1))
      (then (return (i32.const 15))))
    ;; Drop CAP_IPC_LOCK from effective only (permitted keeps it): allowed.
    (i32.store (i32.const 4) (i32.const 0))
    (i32.store (i32.const 128) (i32.and (i32.load (i32.const 128)) (i32.const 0xffffbfff)))
    (if (call $capset (i32.const 0) (i32.const 128)) (then (return (i32.const 16))))
    ;; Effective beyond permitted: EPERM; a bad data pointer: EFAULT.
    (i32.store (i32.const 132) (i32.const 0))
    (i32.store (i32.const 128) (i32.const 0x4000))
    (if (i32.ne (call $capset (i32.const 0) (i32.const 128)) (i32.const -1))
      (then (return (i32.const 17))))
    (if (i32.ne (call $capset (i32.const 0) (i32.const 0xfffffff0)) (i32.const -14))
      (then (return (i32.const 18))))
    ;; seteuid(1000) from root, and back to 0 (the saved id).
    (if (call $seteuid (i32.const 1000)) (then (return (i32.const 19))))
    (if (i32.ne (call $geteuid) (i32.const 1000)) (then (return (i32.const 20))))
    (if (i32.ne (call $getuid) (i32.const 0)) (then (return (i32.const 21))))
    (if (call $seteuid (i32.const 0)) (then (return (i32.const 22))))
    (if (i32.ne (call $geteuid) (i32.const 0)) (then (return (i32.const 23))))
    (i32.const 0)))
