//! Guest threads that cost the process as few memory mappings as possible.
//!
//! Every guest runs on its own thread, so the number of guests one process can hold is bounded
//! by `vm.max_map_count` (65,530 by default on Linux) divided by the mappings each guest costs.
//! A thread from `std::thread` costs four besides its guest's memory: its stack and the stack's
//! guard page, and an alternate signal stack with its guard page that std installs. wasmtime
//! then finds that alternate stack too small for its handlers and maps another one with its own
//! guard, two more. A [`GuestThread`] is a plain POSIX thread (stack and guard: two mappings)
//! whose alternate signal stack, big enough for wasmtime and for our fault handler, is carved
//! from a shared slab ([`ALTSTACKS_PER_SLAB`] stacks per mapping), so a guest costs two mappings
//! here and its memory's view the rest.

#![allow(unsafe_code)]

use parking_lot::Mutex;
use std::any::Any;
use std::io;

/// The alternate signal stack's size: what wasmtime asks for (it keeps a thread's existing
/// alternate stack when it is at least this big).
const ALTSTACK_SIZE: usize = 64 * 4096;

/// Alternate stacks per slab mapping.
const ALTSTACKS_PER_SLAB: usize = 64;

/// A guest thread's own stack (wasmtime keeps wasm's stack within 512 KiB of where it is
/// entered; the rest is for host calls).
const STACK_SIZE: usize = 2 << 20;

/// Free alternate stacks, as addresses inside slab mappings that are never unmapped.
static FREE_ALTSTACKS: Mutex<Vec<usize>> = Mutex::new(Vec::new());

fn take_altstack() -> io::Result<usize> {
    let mut free = FREE_ALTSTACKS.lock();
    if let Some(a) = free.pop() {
        return Ok(a);
    }
    let len = ALTSTACK_SIZE * ALTSTACKS_PER_SLAB;
    // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let base = base as usize;
    free.extend((1..ALTSTACKS_PER_SLAB).map(|i| base + i * ALTSTACK_SIZE));
    Ok(base)
}

fn give_altstack(a: usize) {
    FREE_ALTSTACKS.lock().push(a);
}

type Outcome<T> = Option<Result<T, Box<dyn Any + Send>>>;

struct Start<T> {
    body: Box<dyn FnOnce() -> T + Send>,
    altstack: usize,
    out: Outcome<T>,
}

/// A running guest thread; [`GuestThread::join`] waits for it and gives back what it returned.
/// Dropping the handle without joining waits for the thread too (its panic, if any, is dropped),
/// so the thread's record and alternate stack are never lost.
pub struct GuestThread<T> {
    tid: libc::pthread_t,
    start: *mut Start<T>,
}

// SAFETY: the handle only holds the thread id and the start record, which the thread gives up
// when it ends; `join` reads the record only after `pthread_join`.
unsafe impl<T: Send> Send for GuestThread<T> {}

impl<T: Send + 'static> GuestThread<T> {
    /// Starts `body` on a new thread.
    pub fn spawn(body: impl FnOnce() -> T + Send + 'static) -> io::Result<GuestThread<T>> {
        let altstack = take_altstack()?;
        let start = Box::into_raw(Box::new(Start {
            body: Box::new(body),
            altstack,
            out: None,
        }));
        // SAFETY: `attr` is initialised before use and destroyed after; the start record is
        // handed to the thread, or taken back at once when the thread cannot be made.
        unsafe {
            let mut attr: libc::pthread_attr_t = std::mem::zeroed();
            libc::pthread_attr_init(&mut attr);
            libc::pthread_attr_setstacksize(&mut attr, STACK_SIZE);
            let mut tid: libc::pthread_t = 0;
            let r = libc::pthread_create(&mut tid, &attr, run::<T>, start.cast());
            libc::pthread_attr_destroy(&mut attr);
            if r != 0 {
                drop(Box::from_raw(start));
                give_altstack(altstack);
                return Err(io::Error::from_raw_os_error(r));
            }
            Ok(GuestThread { tid, start })
        }
    }

    /// Waits for the thread; `Err` holds its panic.
    pub fn join(self) -> Result<T, Box<dyn Any + Send>> {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: the handle is consumed and its `Drop` will not run, so the thread is joined
        // exactly once.
        unsafe { wait(this.tid, this.start) }
    }
}

impl<T> Drop for GuestThread<T> {
    fn drop(&mut self) {
        // SAFETY: `drop` runs once, and only for a handle that was not joined.
        drop(unsafe { wait(self.tid, self.start) });
    }
}

/// Joins thread `tid` and takes back its start record.
///
/// # Safety
/// `tid` must be a joinable thread started by [`GuestThread::spawn`] with `start`, joined here
/// once.
unsafe fn wait<T>(tid: libc::pthread_t, start: *mut Start<T>) -> Result<T, Box<dyn Any + Send>> {
    // SAFETY: the caller's contract; once the thread has ended nothing else holds the record.
    let start = unsafe {
        libc::pthread_join(tid, std::ptr::null_mut());
        Box::from_raw(start)
    };
    give_altstack(start.altstack);
    start
        .out
        .unwrap_or_else(|| Err(Box::new("the guest thread ended without a result")))
}

extern "C" fn run<T: Send + 'static>(arg: *mut libc::c_void) -> *mut libc::c_void {
    let start = arg.cast::<Start<T>>();
    // SAFETY: the record lives until `join`, which waits for this thread; only this thread
    // touches it meanwhile. The alternate stack is ours until `join` gives it back, and it is
    // disabled again before this thread ends.
    unsafe {
        let ss = libc::stack_t {
            ss_sp: (*start).altstack as *mut libc::c_void,
            ss_flags: 0,
            ss_size: ALTSTACK_SIZE,
        };
        libc::sigaltstack(&ss, std::ptr::null_mut());
        let body = std::mem::replace(&mut (*start).body, Box::new(|| unreachable!()));
        (*start).out = Some(std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)));
        let off = libc::stack_t {
            ss_sp: std::ptr::null_mut(),
            ss_flags: libc::SS_DISABLE,
            ss_size: 0,
        };
        libc::sigaltstack(&off, std::ptr::null_mut());
    }
    std::ptr::null_mut()
}

/// Host memory mappings one guest costs at most, besides those its own calls add: its thread's
/// stack and guard page, and its memory's view (the reservation, and the guest's store mapped
/// in it, split in three around one attached segment).
pub const MAPPINGS_PER_GUEST: u64 = 6;

/// Whether this process can hold `guests` more guests: the memory mappings they need within
/// `vm.max_map_count`, and a descriptor each (their memory's store) within the open-file limit,
/// whose soft value is raised to the hard one when that is needed and allowed. The error says
/// what bounds the count and how to lift it.
pub fn check_capacity(guests: u64) -> Result<(), String> {
    let max_maps = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let in_use = std::fs::read_to_string("/proc/self/maps")
        .map(|s| s.lines().count() as u64)
        .unwrap_or(0);
    if let Some(max) = max_maps {
        // Room for the machine's own mappings and for what the guests' calls add.
        let need = guests * MAPPINGS_PER_GUEST + in_use + 1024;
        if need > max {
            let most = max.saturating_sub(in_use + 1024) / MAPPINGS_PER_GUEST;
            return Err(format!(
                "{guests} guests need about {need} host memory mappings ({MAPPINGS_PER_GUEST} \
                 each, and {in_use} in use), but vm.max_map_count is {max}: at most about \
                 {most} guests fit; raise it (sysctl -w vm.max_map_count={}) or run fewer",
                need.next_power_of_two()
            ));
        }
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write one `struct rlimit`, which `lim` is.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Ok(());
        }
        let need = guests + 256;
        if lim.rlim_cur < need && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max.min(need.max(lim.rlim_cur));
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
        if lim.rlim_cur < need {
            return Err(format!(
                "{guests} guests need about {need} open files (one each, and the machine's own), \
                 but the limit is {} (ulimit -n): raise it or run fewer",
                lim.rlim_cur
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_thread_returns_its_value_and_its_panic() {
        let t = GuestThread::spawn(|| 40 + 2).unwrap();
        assert_eq!(t.join().unwrap(), 42);
        let t = GuestThread::spawn(|| -> u32 { panic!("expected: this test panics on purpose") })
            .unwrap();
        let e = t.join().unwrap_err();
        assert_eq!(
            e.downcast_ref::<&str>(),
            Some(&"expected: this test panics on purpose")
        );
    }

    #[test]
    fn a_dropped_guest_thread_is_waited_for() {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let d = done.clone();
        drop(
            GuestThread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(20));
                d.store(true, std::sync::atomic::Ordering::SeqCst);
            })
            .unwrap(),
        );
        assert!(done.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn a_guest_thread_runs_on_an_alternate_stack_big_enough_for_wasmtime() {
        let t = GuestThread::spawn(|| {
            // SAFETY: reads the calling thread's alternate stack into a local.
            let ss = unsafe {
                let mut ss: libc::stack_t = std::mem::zeroed();
                libc::sigaltstack(std::ptr::null(), &mut ss);
                ss
            };
            (ss.ss_flags & libc::SS_DISABLE, ss.ss_size)
        })
        .unwrap();
        assert_eq!(t.join().unwrap(), (0, ALTSTACK_SIZE));
    }

    #[test]
    fn capacity_beyond_the_mapping_limit_is_refused_with_the_reason() {
        assert_eq!(check_capacity(1), Ok(()));
        let e = check_capacity(1 << 40).unwrap_err();
        assert!(
            e.contains("vm.max_map_count") || e.contains("ulimit -n"),
            "{e}"
        );
    }
}
