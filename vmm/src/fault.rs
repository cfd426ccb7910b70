//! Fault resolution: make a page resident for an access, or say why it cannot be.
//!
//! A fault at (guest, address, access) finds the map entry, checks the protection, and brings the
//! page in: a zero fill for an untouched page, a read from swap for a paged-out one, nothing for a
//! resident one. Host code reads and writes guest memory only through [`State::copy_in`] and
//! [`State::copy_out`], which fault each page in before touching its host memory, so the host
//! never hands a non-resident range to anything.

use crate::addr::{FrameId, GuestId, PageRange, SwapSlot, Vaddr, Vpn, PAGE_SIZE};
use crate::errno::Errno;
use crate::machine::State;
use crate::map::Prot;
use crate::page::{Owner, PageSlot};

/// The kind of access that faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
}

/// Why a fault could not be resolved; the runtime turns each into a guest trap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// No entry maps the address (SIGSEGV, SEGV_MAPERR).
    Unmapped,
    /// The entry's protection forbids the access (SIGSEGV, SEGV_ACCERR).
    Protection,
    /// No frame could be had: physical memory is wired full or swap is full.
    OutOfMemory,
}

impl State {
    /// Makes the page `o` resident and returns its frame.
    pub(crate) fn page_in(&mut self, o: Owner) -> Result<FrameId, Errno> {
        match self.slot(o) {
            PageSlot::Resident(f) => {
                self.pool.touch(f);
                Ok(f)
            }
            PageSlot::Untouched => {
                // The store page of an untouched page is a hole (it was never written, or was
                // punched when freed); giving it host memory keeps "resident" and "has host
                // memory" the same thing, which views rely on.
                let f = self.alloc_frame(o)?;
                let (store, idx) = self.store(o);
                if store.allocate(idx).is_err() {
                    self.pool.release(f);
                    return Err(Errno::ENOMEM);
                }
                self.set_slot(o, PageSlot::Resident(f));
                self.stats.zero_fills += 1;
                Ok(f)
            }
            PageSlot::Swapped(slot) => {
                let mut data = std::mem::take(&mut self.scratch_in);
                let r = self.swap_in(o, slot, &mut data);
                self.scratch_in = data;
                r
            }
        }
    }

    /// Brings page `o` back from `slot`, using `data` as the page buffer. The slot is given up
    /// before a frame is asked for, so that with swap full the victim that makes room can take it.
    fn swap_in(&mut self, o: Owner, slot: SwapSlot, data: &mut [u8]) -> Result<FrameId, Errno> {
        self.swap.read(slot, data).map_err(|_| Errno::EIO)?;
        self.swap.free(slot);
        let r = self.alloc_frame(o).and_then(|f| {
            let (store, idx) = self.store(o);
            match store.write_page(idx, data) {
                Ok(()) => Ok(f),
                Err(_) => {
                    self.pool.release(f);
                    Err(Errno::ENOMEM)
                }
            }
        });
        match r {
            Ok(f) => {
                self.set_slot(o, PageSlot::Resident(f));
                self.stats.page_ins += 1;
                Ok(f)
            }
            // No frame was had, so nothing was paged out and a slot is free again: put the page
            // back where it can be found.
            Err(e) => {
                let back = self.swap.alloc();
                match back.map(|b| (b, self.swap.write(b, data))) {
                    Some((b, Ok(()))) => {
                        self.set_slot(o, PageSlot::Swapped(b));
                        Err(e)
                    }
                    _ => {
                        Err(self
                            .corrupted(format!("swap-lost: {o:?} could not be put back in swap")))
                    }
                }
            }
        }
    }

    /// Resolves an access by guest `g` to page `vpn`.
    pub(crate) fn fault(
        &mut self,
        g: GuestId,
        vpn: Vpn,
        access: Access,
    ) -> Result<(Owner, FrameId), FaultError> {
        let vm = self.guests.get(&g).ok_or(FaultError::Unmapped)?;
        let e = vm.map.lookup(vpn).ok_or(FaultError::Unmapped)?;
        let need = match access {
            Access::Read => Prot::READ,
            Access::Write => Prot::WRITE,
        };
        if !e.prot.contains(need) {
            return Err(FaultError::Protection);
        }
        let owner = State::owner_of(g, e.backing_at(vpn), vpn);
        self.stats.faults += 1;
        let f = self.page_in(owner).map_err(|_| FaultError::OutOfMemory)?;
        Ok((owner, f))
    }

    /// Resolves a fault raised in guest `g`'s view at guest address `addr`: brings the page in
    /// and enters it in the view. False if the guest may not make this access (it traps).
    pub(crate) fn resolve_view_fault(&mut self, g: GuestId, addr: Vaddr, write: bool) -> bool {
        if self.corrupt.is_some() {
            return false;
        }
        let access = if write { Access::Write } else { Access::Read };
        let Ok((_, _)) = self.fault(g, addr.vpn(), access) else {
            return false;
        };
        let Some(e) = self.guests.get(&g).and_then(|vm| vm.map.lookup(addr.vpn())) else {
            return false;
        };
        let prot = e.prot;
        if let Some(v) = self.views.get(&g) {
            let page = PageRange::new(addr.vpn(), addr.vpn().plus(1));
            if v.protect(page, prot, true).is_err() {
                return false;
            }
        }
        true
    }

    /// Copies guest memory at `addr` into `buf` (`EFAULT` if any page is unmapped or unreadable).
    pub(crate) fn copy_out(
        &mut self,
        g: GuestId,
        addr: Vaddr,
        buf: &mut [u8],
    ) -> Result<(), Errno> {
        self.guest(g)?;
        let mut done = 0usize;
        while done < buf.len() {
            let a = Vaddr(addr.0.checked_add(done as u64).ok_or(Errno::EFAULT)?);
            let n = ((PAGE_SIZE - a.page_offset()) as usize).min(buf.len() - done);
            let (owner, _) = self
                .fault(g, a.vpn(), Access::Read)
                .map_err(|_| Errno::EFAULT)?;
            let (store, idx) = self.store(owner);
            store
                .read_at(idx * PAGE_SIZE + a.page_offset(), &mut buf[done..done + n])
                .map_err(|_| Errno::EFAULT)?;
            done += n;
        }
        Ok(())
    }

    /// Copies `data` into guest memory at `addr` (`EFAULT` if any page is unmapped or unwritable).
    /// Pages before a failing one keep what was written to them, as a kernel's copyout does.
    pub(crate) fn copy_in(&mut self, g: GuestId, addr: Vaddr, data: &[u8]) -> Result<(), Errno> {
        self.guest(g)?;
        let mut done = 0usize;
        while done < data.len() {
            let a = Vaddr(addr.0.checked_add(done as u64).ok_or(Errno::EFAULT)?);
            let n = ((PAGE_SIZE - a.page_offset()) as usize).min(data.len() - done);
            let (owner, _) = self
                .fault(g, a.vpn(), Access::Write)
                .map_err(|_| Errno::EFAULT)?;
            let (store, idx) = self.store(owner);
            store
                .write_at(idx * PAGE_SIZE + a.page_offset(), &data[done..done + n])
                .map_err(|_| Errno::EFAULT)?;
            done += n;
        }
        Ok(())
    }
}

/// The process-wide handler for faults in guest views.
///
/// Installed once, after wasmtime has installed its own handlers, so it runs first for every
/// SIGSEGV and SIGBUS in the process. A fault at an address inside a registered view is resolved
/// by the view's machine (page in, enter, return to retry the access); anything else, or an access
/// the guest may not make, goes on to the handler that was there before (wasmtime's, which turns a
/// fault in wasm code into a trap).
///
/// Signal-handler context: the lookup is lock-free. Resolution takes the machine lock and may
/// allocate; that is sound here because a view is only touched by wasm code, by wasmtime's memory
/// libcalls and by wasmtime's instantiation, none of which holds the machine lock or is inside the
/// allocator when it touches guest memory. Host code of this crate never touches a view: it goes
/// through the stores.
pub mod handler {
    use super::State;
    use crate::addr::Vaddr;
    use crate::pmap::registry_lookup;
    use parking_lot::Mutex;
    use std::sync::Once;

    static INSTALL: Once = Once::new();
    static mut PREV_SEGV: libc::sigaction = unsafe { std::mem::zeroed() };
    static mut PREV_BUS: libc::sigaction = unsafe { std::mem::zeroed() };

    /// Installs the handler (once per process). Call it after creating the wasmtime engine.
    pub fn install() {
        INSTALL.call_once(|| {
            for (sig, prev) in [
                (libc::SIGSEGV, &raw mut PREV_SEGV),
                (libc::SIGBUS, &raw mut PREV_BUS),
            ] {
                // SAFETY: a zeroed sigaction is a valid value to fill in; `prev` points at a static
                // written only here, once, before the handler that reads it can run.
                unsafe {
                    let mut act: libc::sigaction = std::mem::zeroed();
                    act.sa_sigaction = on_fault as *const () as usize;
                    act.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_ONSTACK;
                    libc::sigemptyset(&mut act.sa_mask);
                    libc::sigaction(sig, &act, prev);
                }
            }
        });
    }

    /// Whether the handler is installed.
    pub fn installed() -> bool {
        INSTALL.is_completed()
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

    /// Runs in signal context (see the module documentation for what it may touch).
    extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // SAFETY: `info` is the kernel's siginfo for a SIGSEGV/SIGBUS, which carries an address.
        let addr = unsafe { (*info).si_addr() } as usize;
        if let Some((owner, off)) = registry_lookup(addr) {
            // SAFETY: a view is registered only while the machine whose state it names is alive:
            // whoever can still run code in the view (the guest's wasm memory) holds a strong
            // reference to the machine.
            let state = unsafe { &*(owner.state as *const Mutex<State>) };
            if state
                .lock()
                .resolve_view_fault(owner.guest, Vaddr(off), is_write(ctx))
            {
                return;
            }
        }
        // SAFETY: chaining to the handler that was installed before ours, with the same
        // arguments the kernel gave us.
        unsafe { chain(sig, info, ctx) }
    }

    unsafe fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // SAFETY: written once before installation, read-only since.
        let prev = unsafe {
            if sig == libc::SIGSEGV {
                std::ptr::read(&raw const PREV_SEGV)
            } else {
                std::ptr::read(&raw const PREV_BUS)
            }
        };
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
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(prev.sa_sigaction) };
            f(sig, info, ctx);
        } else {
            // SAFETY: a plain handler takes the signal number only.
            let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(prev.sa_sigaction) };
            f(sig);
        }
    }
}
