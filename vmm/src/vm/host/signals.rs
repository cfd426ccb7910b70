//! The process-wide handlers for faults in guest views.
//!
//! Two handlers bracket wasmtime's, so every SIGSEGV and SIGBUS meets them in this order:
//! 1. `install` (after the engine exists) puts `on_fault` in front. A fault at an address
//!    inside a registered view that the guest may make is resolved by the view's machine (page
//!    in, enter, return to retry the access). Anything else goes on to wasmtime.
//! 2. wasmtime turns a fault at a trapping instruction of guest code into a precise trap.
//! 3. `install_catcher` (before the engine exists) puts `on_declined` behind wasmtime, which
//!    calls it for what it declines: faults in host code acting for the guest (`memory.fill`
//!    and other libcalls, instantiation) and in guest code that wasmtime did not expect to
//!    trap (an inlined `memory.copy` over an unmapped page). Passing those on would kill the
//!    process, so for an address in a view the access completes on a scratch page, the guest
//!    is marked to trap, and the runtime makes it trap at its next epoch check (function entry,
//!    loop, or return). Anything not in a view gets the default action, as without us.
//!
//! Signal-handler context: the view lookup is lock-free. Resolution takes the machine lock and
//! may allocate; that is sound here because a view is only touched by wasm code, by wasmtime's
//! libcalls and by wasmtime's instantiation, none of which holds the machine lock or is inside
//! the allocator when it touches guest memory. Host code of this crate never touches a view: it
//! goes through the stores.

#![allow(unsafe_code)]

use crate::base::addr::Vaddr;
use crate::vm::fault;
use crate::vm::host::{registry_lookup, FaultOwner};
use crate::vm::state::State;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

static FRONT: Once = Once::new();
static CATCHER: Once = Once::new();
// SAFETY: `sigaction` is a plain C struct for which all-zero bytes are a valid value.
static mut PREV_FRONT: [libc::sigaction; 2] = unsafe { std::mem::zeroed() };
// SAFETY: as above.
static mut PREV_CATCH: [libc::sigaction; 2] = unsafe { std::mem::zeroed() };
static ON_DEFER: AtomicUsize = AtomicUsize::new(0);

/// Sets what to call, from signal context, when a guest is marked to trap: the runtime
/// passes a signal-safe function that bumps the engine's epoch.
pub fn on_deferred_fault(f: fn()) {
    ON_DEFER.store(f as usize, Ordering::Release);
}

/// Installs the front handler (once per process). Call it after creating the engine.
pub fn install() {
    FRONT.call_once(|| set(on_fault, &raw mut PREV_FRONT));
}

/// Installs the catcher behind wasmtime (once per process). Call it before the first
/// wasmtime engine of the process is created, so that wasmtime chains to it.
pub fn install_catcher() {
    CATCHER.call_once(|| set(on_declined, &raw mut PREV_CATCH));
}

/// Whether the front handler is installed.
pub fn installed() -> bool {
    FRONT.is_completed()
}

fn set(
    f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void),
    prev: *mut [libc::sigaction; 2],
) {
    for (i, sig) in [libc::SIGSEGV, libc::SIGBUS].into_iter().enumerate() {
        // SAFETY: a zeroed sigaction is a valid value to fill in; `prev` points at a static
        // written only here, once, before the handler that reads it can run.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = f as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_ONSTACK;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, &raw mut (*prev)[i]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn is_write(ctx: *mut libc::c_void) -> bool {
    // SAFETY: the kernel passes a valid ucontext_t to an SA_SIGINFO handler; bit 1 of the
    // page-fault error code is "write".
    unsafe {
        (*(ctx as *const libc::ucontext_t)).uc_mcontext.gregs[libc::REG_ERR as usize] & 2 != 0
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn is_write(_ctx: *mut libc::c_void) -> bool {
    true
}

/// The view a fault address lies in, with the machine state that serves it.
fn lookup(info: *mut libc::siginfo_t) -> Option<(&'static Mutex<State>, FaultOwner, u64)> {
    // SAFETY: `info` is the kernel's siginfo for a SIGSEGV/SIGBUS, which carries an address.
    let addr = unsafe { (*info).si_addr() } as usize;
    let (owner, off) = registry_lookup(addr)?;
    // SAFETY: a view is registered only while the machine whose state it names is alive:
    // whoever can still run code in the view (the guest's wasm memory) holds a strong
    // reference to the machine.
    Some((
        unsafe { &*(owner.state as *const Mutex<State>) },
        owner,
        off,
    ))
}

/// Runs in signal context (see the module documentation for what it may touch).
extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    if let Some((state, owner, off)) = lookup(info) {
        if fault::resolve_view_fault(
            &mut state.lock(),
            owner.guest,
            Vaddr(off),
            is_write(ctx),
            sig == libc::SIGSEGV,
        ) {
            return;
        }
    }
    // SAFETY: chaining, with the kernel's arguments, to the handler installed before ours.
    unsafe { chain(&raw const PREV_FRONT, sig, info, ctx) }
}

/// Runs in signal context, called by wasmtime for faults it declines.
extern "C" fn on_declined(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    if let Some((state, owner, off)) = lookup(info) {
        if fault::defer_view_fault(&mut state.lock(), owner.guest, Vaddr(off), is_write(ctx)) {
            let f = ON_DEFER.load(Ordering::Acquire);
            if f != 0 {
                // SAFETY: only `on_deferred_fault` stores here, always a `fn()`.
                let f: fn() = unsafe { std::mem::transmute::<usize, fn()>(f) };
                f();
            }
            return;
        }
    }
    // SAFETY: as in `on_fault`.
    unsafe { chain(&raw const PREV_CATCH, sig, info, ctx) }
}

/// Hands a signal on to the handler that was installed before ours, or to the default
/// action.
///
/// # Safety
/// Only from a signal handler, with the kernel's own `sig`, `info` and `ctx`; `prev` must be
/// one of this module's saved arrays, written by `set` before the handler was installed.
unsafe fn chain(
    prev: *const [libc::sigaction; 2],
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
) {
    let i = usize::from(sig != libc::SIGSEGV);
    // SAFETY: written once before installation, read-only since.
    let prev = unsafe { std::ptr::read(&(*prev)[i]) };
    if prev.sa_sigaction == libc::SIG_DFL || prev.sa_sigaction == libc::SIG_IGN {
        // Restore the default action; returning re-runs the access and the process gets
        // the signal's default fate, as it would have without us.
        // SAFETY: resetting a signal's disposition to the default.
        unsafe {
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &dfl, std::ptr::null_mut());
        }
    } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler asked for SA_SIGINFO, so this is its signature.
        let f = unsafe {
            std::mem::transmute::<
                usize,
                extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void),
            >(prev.sa_sigaction)
        };
        f(sig, info, ctx);
    } else {
        // SAFETY: a plain handler takes the signal number only.
        let f =
            unsafe { std::mem::transmute::<usize, extern "C" fn(libc::c_int)>(prev.sa_sigaction) };
        f(sig);
    }
}
