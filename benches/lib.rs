//! Helpers for the criterion benchmarks in `benches/`: a guest driven from the host, and the
//! host kernel's own wiring calls on host memory, measured in the same run so every figure is a
//! ratio.

use std::sync::Arc;
use std::time::{Duration, Instant};
use vmm::runtime::memory::{with_target, MemoryTarget};
use vmm::runtime::{abi, GuestCtx, Run, Runtime};
use vmm::{GuestConfig, GuestId, Machine};
use wasmtime::{Instance, Linker, Store, TypedFunc};

/// A guest whose exported loops the benchmarks call directly.
pub struct BenchGuest {
    /// The guest's store.
    pub store: Store<GuestCtx>,
    /// Its instance.
    pub instance: Instance,
    /// Its id in the machine.
    pub guest: GuestId,
}

/// The guest module the benchmarks drive.
pub const GUEST_WAT: &str = r#"
(module
  (import "vmm" "mmap" (func $mmap (param i32 i32 i32 i32) (result i32)))
  (import "vmm" "mlock" (func $mlock (param i32 i32) (result i32)))
  (import "vmm" "munlock" (func $munlock (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; Maps `len` bytes and writes every page; returns the address.
  (func (export "setup") (param $len i32) (result i32)
    (local $a i32) (local $i i32)
    (local.set $a (call $mmap (i32.const 0) (local.get $len) (i32.const 3) (i32.const 0x1002)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (i32.store (i32.add (local.get $a) (local.get $i)) (i32.const 1))
      (local.set $i (i32.add (local.get $i) (i32.const 4096)))
      (br $l)))
    (local.get $a))
  ;; `n` mlock+munlock pairs on [a, a + len).
  (func (export "lock_loop") (param $a i32) (param $len i32) (param $n i32) (result i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (if (call $mlock (local.get $a) (local.get $len)) (then (return (i32.const -1))))
      (if (call $munlock (local.get $a) (local.get $len)) (then (return (i32.const -2))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (i32.const 0))
  ;; Loads one word from every page of [a, a + len); returns their sum.
  (func (export "touch") (param $a i32) (param $len i32) (result i32)
    (local $i i32) (local $s i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (local.set $s (i32.add (local.get $s) (i32.load (i32.add (local.get $a) (local.get $i)))))
      (local.set $i (i32.add (local.get $i) (i32.const 4096)))
      (br $l)))
    (local.get $s)))
"#;

impl BenchGuest {
    /// Instantiates [`GUEST_WAT`] as a new guest of `machine`.
    pub fn new(rt: &Runtime, machine: &Machine) -> anyhow::Result<BenchGuest> {
        let module = rt.compile(GUEST_WAT.as_bytes())?;
        let guest = machine.add_guest(GuestConfig::default())?;
        let ctx = GuestCtx {
            machine: machine.clone(),
            guest,
            index: 0,
            run: Run::new(1, |_, _| {}),
        };
        let mut store = Store::new(rt.engine(), ctx);
        let m = machine.clone();
        Runtime::guard_store(&mut store, move || m.pending_fault(guest));
        let mut linker = Linker::new(rt.engine());
        abi::add_to_linker(&mut linker, |c: &GuestCtx| c)?;
        let instance = with_target(machine, MemoryTarget::Guest(guest), || {
            linker.instantiate(&mut store, &module)
        })?;
        Ok(BenchGuest {
            store,
            instance,
            guest,
        })
    }

    fn func<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(
        &mut self,
        name: &str,
    ) -> TypedFunc<P, R> {
        self.instance
            .get_typed_func(&mut self.store, name)
            .expect("export of the bench guest")
    }

    /// Maps and touches `bytes`; returns the guest address.
    pub fn setup(&mut self, bytes: u32) -> u32 {
        let f = self.func::<i32, i32>("setup");
        f.call(&mut self.store, bytes as i32).expect("setup") as u32
    }

    /// Runs `n` mlock+munlock pairs in the guest; returns the time it took.
    pub fn lock_loop(&mut self, a: u32, len: u32, n: u64) -> Duration {
        let f = self.func::<(i32, i32, i32), i32>("lock_loop");
        let t = Instant::now();
        let mut left = n;
        while left > 0 {
            let k = left.min(i32::MAX as u64);
            assert_eq!(
                f.call(&mut self.store, (a as i32, len as i32, k as i32))
                    .expect("lock_loop"),
                0
            );
            left -= k;
        }
        t.elapsed()
    }

    /// Loads a word from every page of `[a, a + len)`; returns the time it took.
    pub fn touch(&mut self, a: u32, len: u32) -> Duration {
        let f = self.func::<(i32, i32), i32>("touch");
        let t = Instant::now();
        std::hint::black_box(
            f.call(&mut self.store, (a as i32, len as i32))
                .expect("touch"),
        );
        t.elapsed()
    }
}

/// Host memory for the host kernel's half of a comparison.
pub struct HostRegion {
    /// Start.
    pub ptr: *mut u8,
    /// Length in bytes.
    pub len: usize,
}

// SAFETY: the region is plain anonymous memory owned by this value.
unsafe impl Send for HostRegion {}

impl HostRegion {
    /// `pages` pages of anonymous memory, each written once (resident).
    pub fn resident(pages: usize) -> HostRegion {
        let r = HostRegion::fresh(pages);
        for i in 0..pages {
            // SAFETY: inside the mapping just made.
            unsafe { r.ptr.add(i * 4096).write_volatile(1) };
        }
        r
    }

    /// `pages` pages of anonymous memory never touched.
    pub fn fresh(pages: usize) -> HostRegion {
        let len = pages * 4096;
        // SAFETY: a fresh private anonymous mapping.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED, "host mmap");
        HostRegion {
            ptr: ptr as *mut u8,
            len,
        }
    }

    /// The host's `mlock`.
    pub fn mlock(&self) -> std::io::Result<()> {
        // SAFETY: our own mapping.
        check(unsafe { libc::mlock(self.ptr as *const libc::c_void, self.len) })
    }

    /// The host's `munlock`.
    pub fn munlock(&self) -> std::io::Result<()> {
        // SAFETY: our own mapping.
        check(unsafe { libc::munlock(self.ptr as *const libc::c_void, self.len) })
    }
}

impl Drop for HostRegion {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unused from here on.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
    }
}

fn check(r: libc::c_int) -> std::io::Result<()> {
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Raises RLIMIT_MEMLOCK as far as allowed and says whether the host lets us wire memory; the
/// reason is printed once when it does not.
pub fn native_wiring_allowed() -> bool {
    let lim = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit with a valid struct; failure is fine (we test below).
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) };
    let r = HostRegion::resident(4096);
    match r.mlock().and_then(|()| r.munlock()) {
        Ok(()) => true,
        Err(e) => {
            eprintln!(
                "note: the host refuses mlock of 16 MiB ({e}); the native halves are skipped"
            );
            false
        }
    }
}

/// A SysV segment of the host kernel.
pub struct HostSegment {
    id: libc::c_int,
    attaches: Vec<*mut libc::c_void>,
}

impl HostSegment {
    /// A private segment of `pages` pages, attached `attach` times and written once.
    pub fn new(pages: usize, attach: usize) -> std::io::Result<HostSegment> {
        // SAFETY: plain SysV calls on a segment this value owns.
        unsafe {
            let id = libc::shmget(libc::IPC_PRIVATE, pages * 4096, libc::IPC_CREAT | 0o600);
            if id < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let mut attaches = Vec::new();
            for _ in 0..attach {
                let p = libc::shmat(id, std::ptr::null(), 0);
                if p as isize == -1 {
                    let e = std::io::Error::last_os_error();
                    libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
                    return Err(e);
                }
                attaches.push(p);
            }
            for i in 0..pages {
                (attaches[0] as *mut u8).add(i * 4096).write_volatile(1);
            }
            Ok(HostSegment { id, attaches })
        }
    }

    /// The host's SHM_LOCK then SHM_UNLOCK.
    pub fn lock_unlock(&self) -> std::io::Result<()> {
        // SAFETY: shmctl on our own segment with no buffer.
        unsafe {
            check(libc::shmctl(self.id, libc::SHM_LOCK, std::ptr::null_mut()))?;
            check(libc::shmctl(
                self.id,
                libc::SHM_UNLOCK,
                std::ptr::null_mut(),
            ))
        }
    }
}

impl Drop for HostSegment {
    fn drop(&mut self) {
        // SAFETY: detaching and removing our own segment.
        unsafe {
            for p in &self.attaches {
                libc::shmdt(*p);
            }
            libc::shmctl(self.id, libc::IPC_RMID, std::ptr::null_mut());
        }
    }
}

static NATIVE_PAGE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

extern "C" fn segv_roundtrip(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel's siginfo; the page is the one `sigsegv_roundtrips` protected.
    unsafe {
        let a = (*info).si_addr() as usize & !4095;
        if a == NATIVE_PAGE.load(std::sync::atomic::Ordering::Relaxed) {
            libc::mprotect(
                a as *mut libc::c_void,
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
            );
        } else {
            libc::abort();
        }
    }
}

/// Times `n` plain SIGSEGV round trips (protect a page, touch it, the handler unprotects it),
/// with a handler of its own installed for the duration. Nothing else may fault meanwhile.
pub fn sigsegv_roundtrips(n: u64) -> Duration {
    let r = HostRegion::resident(1);
    NATIVE_PAGE.store(r.ptr as usize, std::sync::atomic::Ordering::Relaxed);
    // SAFETY: a handler swap for the duration of the loop, restored after; the page is ours.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = segv_roundtrip as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO;
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGSEGV, &act, &mut old);
        let t = Instant::now();
        for _ in 0..n {
            libc::mprotect(r.ptr as *mut libc::c_void, 4096, libc::PROT_NONE);
            r.ptr.write_volatile(2);
        }
        let d = t.elapsed();
        libc::sigaction(libc::SIGSEGV, &old, std::ptr::null_mut());
        d
    }
}

/// A shared handle, for benchmarks that spawn threads.
pub type Shared<T> = Arc<T>;
