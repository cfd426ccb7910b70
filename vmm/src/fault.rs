//! Fault resolution: make a page resident for an access, or say why it cannot be.
//!
//! A fault at (guest, address, access) finds the map entry, checks the protection, and brings the
//! page in: a zero fill for an untouched page, a read from swap for a paged-out one, nothing for a
//! resident one. Host code reads and writes guest memory only through [`State::copy_in`] and
//! [`State::copy_out`], which fault each page in before touching its host memory, so the host
//! never hands a non-resident range to anything.

use crate::addr::{FrameId, GuestId, SwapSlot, Vaddr, Vpn, PAGE_SIZE};
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
                // punched when freed), so it already reads as zeros.
                let f = self.alloc_frame(o)?;
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
