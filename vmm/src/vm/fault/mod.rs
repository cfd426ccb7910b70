//! Fault resolution: make a page resident for an access, or say why it cannot be.
//!
//! A fault at (guest, address, access) finds the map entry, checks the protection, and brings the
//! page in: a zero fill for an untouched page, a read from swap for a paged-out one, nothing for a
//! resident one. Host code reads and writes guest memory only through [`copy_in`] and
//! [`copy_out`], which fault each page in before touching its host memory, so the host
//! never hands a non-resident range to anything. The signal handlers that bring guest views'
//! faults here are in [`crate::vm::host::signals`]; fault-ahead, which brings a faulting page's
//! neighbours in with it, is [`ahead`].

use crate::base::addr::{FrameId, GuestId, PageRange, SwapSlot, Vaddr, Vpn, PAGE_SIZE};
use crate::base::errno::Errno;
use crate::base::events::EventKind;
use crate::base::types::Invariant;
use crate::base::types::{Access, FaultError, Owner, RefusedFault};
use crate::vm::host::{HostStore, View};
use crate::vm::map::Prot;
use crate::vm::page::PageSlot;
use crate::vm::pdaemon;
use crate::vm::state::State;

mod ahead;

static ZERO_PAGE: [u8; PAGE_SIZE as usize] = [0; PAGE_SIZE as usize];

/// Makes the page `o` resident and returns its frame.
#[inline]
pub(crate) fn page_in(s: &mut State, o: Owner) -> Result<FrameId, Errno> {
    s.page_in_to(o, None)
}

/// Resolves an access by guest `g` to page `vpn`.
pub(crate) fn fault(
    s: &mut State,
    g: GuestId,
    vpn: Vpn,
    access: Access,
) -> Result<(Owner, FrameId), FaultError> {
    let vm = s.guests.get(&g).ok_or(FaultError::Unmapped)?;
    let e = vm.map.lookup(vpn).ok_or(FaultError::Unmapped)?;
    let need = match access {
        Access::Read => Prot::READ,
        Access::Write => Prot::WRITE,
    };
    if !e.prot().contains(need) {
        return Err(FaultError::Protection);
    }
    let owner = e.owner_at(g, vpn);
    s.diag.count_fault();
    let before = (s.diag.stats().zero_fills, s.diag.stats().page_ins);
    let f = page_in(s, owner).map_err(|_| FaultError::OutOfMemory)?;
    s.record_fault(g, vpn.addr(), before);
    Ok((owner, f))
}

/// Resolves a fault raised in guest `g`'s view at guest address `addr`: brings the page in
/// and enters it in the view. False if the guest may not make this access (it traps); the
/// guest's first such refusal is kept as its [`RefusedFault`].
pub(crate) fn resolve_view_fault(
    s: &mut State,
    g: GuestId,
    addr: Vaddr,
    write: bool,
    protection_fault: bool,
) -> bool {
    let vpn = addr.vpn();
    let found = s
        .guests
        .get(&g)
        .and_then(|vm| vm.map.lookup(vpn))
        .map(|e| (e.owner_at(g, vpn), e.prot()));
    let readable = found.is_some_and(|(_, p)| p.contains(Prot::READ));
    let need = if write { Prot::WRITE } else { Prot::READ };
    let (owner, prot) = match found {
        _ if s.diag.corrupt().is_some() => {
            return refuse(s, g, addr, write, readable, FaultError::Corrupt)
        }
        None => return refuse(s, g, addr, write, readable, FaultError::Unmapped),
        Some((_, p)) if !p.contains(need) => {
            return refuse(s, g, addr, write, readable, FaultError::Protection)
        }
        Some(found) => found,
    };
    let Some(view) = s.views.get(&g).cloned() else {
        return false;
    };
    s.diag.count_fault();
    let before = (s.diag.stats().zero_fills, s.diag.stats().page_ins);
    let got = s.page_in_to(owner, Some((&view, vpn)));
    if got.is_ok() {
        s.record_fault(g, addr, before);
        if s.diag.stats().page_ins != before.1 {
            ahead::fault_ahead(s, g, vpn, &view, protection_fault);
        }
    }
    if got.is_err() {
        // The guest traps; say why, since its trap alone reads like a bad address.
        if let Some(vm) = s.guests.get_mut(&g) {
            vm.note_fault(|| {
                format!("out of memory: no frame or swap slot for the page at {addr:?}")
            });
        }
        return refuse(s, g, addr, write, readable, FaultError::OutOfMemory);
    }
    // A protection fault (protect mode, or a page-out that raced the access) needs the
    // page entered; a userfault needs nothing more.
    !protection_fault
        || view
            .protect(PageRange::new(vpn, vpn.plus(1)), prot, true)
            .is_ok()
}

/// Keeps the first fault in guest `g`'s view that the machine refused, for the guest's trap
/// (see [`RefusedFault`]); false, the answer to the fault. Signal-handler context: it writes a
/// plain value and allocates nothing.
fn refuse(
    s: &mut State,
    g: GuestId,
    addr: Vaddr,
    write: bool,
    readable: bool,
    error: FaultError,
) -> bool {
    if let Some(vm) = s.guests.get_mut(&g) {
        vm.note_refused(RefusedFault {
            addr,
            access: if write { Access::Write } else { Access::Read },
            readable,
            error,
        });
    }
    false
}

/// A fault in guest `g`'s view that cannot be resolved, raised by host code acting for the
/// guest (a wasmtime libcall such as `memory.fill`, or instantiation): the access is let
/// complete on a scratch page and the guest is marked to trap before it runs on.
pub(crate) fn defer_view_fault(s: &mut State, g: GuestId, addr: Vaddr, write: bool) -> bool {
    let why = format!(
        "memory fault: {} at {:?} {}",
        if write { "write" } else { "read" },
        addr,
        // The front handler refused this access just before: its record says why.
        match s.guests.get(&g).and_then(|vm| vm.refused()) {
            Some(r) if r.addr == addr => match r.error {
                FaultError::Unmapped => "(not mapped)",
                FaultError::Protection => "(not permitted)",
                FaultError::OutOfMemory => "(no frame or swap slot)",
                FaultError::Corrupt => "(machine state corrupt)",
            },
            _ => match s.guests.get(&g).and_then(|vm| vm.map.lookup(addr.vpn())) {
                None => "(not mapped)",
                Some(_) => "(not permitted, or no memory)",
            },
        }
    );
    let Some(v) = s.views.get(&g) else {
        return false;
    };
    if v.scratch_page(PageRange::new(addr.vpn(), addr.vpn().plus(1)))
        .is_err()
    {
        return false;
    }
    if let Some(vm) = s.guests.get_mut(&g) {
        vm.note_fault(|| why);
    }
    true
}

/// Copies guest memory at `addr` into `buf` (`EFAULT` if any page is unmapped or unreadable).
pub(crate) fn copy_out(
    s: &mut State,
    g: GuestId,
    addr: Vaddr,
    buf: &mut [u8],
) -> Result<(), Errno> {
    copy_pages(s, g, addr, buf.len(), Access::Read, |store, at, range| {
        store.read_at(at, &mut buf[range])
    })
}

/// Copies `data` into guest memory at `addr` (`EFAULT` if any page is unmapped or unwritable).
/// Pages before a failing one keep what was written to them, as a kernel's copyout does.
pub(crate) fn copy_in(s: &mut State, g: GuestId, addr: Vaddr, data: &[u8]) -> Result<(), Errno> {
    copy_pages(s, g, addr, data.len(), Access::Write, |store, at, range| {
        store.write_at(at, &data[range])
    })
}

/// The loop of [`copy_out`] and [`copy_in`]: for each page piece of `[addr, addr + len)`, in
/// order, faults the page in for `access` and calls `copy` with its host store, the byte
/// offset in that store, and the piece's range within the caller's buffer.
fn copy_pages(
    s: &mut State,
    g: GuestId,
    addr: Vaddr,
    len: usize,
    access: Access,
    mut copy: impl FnMut(&HostStore, u64, std::ops::Range<usize>) -> std::io::Result<()>,
) -> Result<(), Errno> {
    s.guest(g)?;
    let mut done = 0usize;
    while done < len {
        let a = Vaddr(addr.0.checked_add(done as u64).ok_or(Errno::EFAULT)?);
        let n = ((PAGE_SIZE - a.page_offset()) as usize).min(len - done);
        let (owner, _) = fault(s, g, a.vpn(), access).map_err(|_| Errno::EFAULT)?;
        let (store, idx) = s.store(owner);
        copy(store, idx * PAGE_SIZE + a.page_offset(), done..done + n)
            .map_err(|_| Errno::EFAULT)?;
        done += n;
    }
    Ok(())
}

impl State {
    /// Records a fault that brought a page in (a zero fill or a page-in), given the counters
    /// from before it: a fault on a resident page is not worth an event.
    fn record_fault(&mut self, g: GuestId, addr: Vaddr, before: (u64, u64)) {
        let how = if self.diag.stats().zero_fills != before.0 {
            "zero fill"
        } else if self.diag.stats().page_ins != before.1 {
            "page in"
        } else {
            return;
        };
        self.record(EventKind::Fault {
            guest: g,
            addr: Vaddr(addr.0 & !(PAGE_SIZE - 1)),
            how,
        });
    }
}

impl State {
    /// Whether page `o` must be wired as it comes in: a page of a segment under a lazy
    /// `SHM_LOCK`, or an anonymous page whose entry is locked on fault.
    #[inline]
    fn comes_in_wired(&self, o: Owner) -> bool {
        match o {
            Owner::Object { shm, .. } => self.shm.get(shm).is_some_and(|s| s.object_wired()),
            Owner::Anon { guest, vpn } => self.guests.wires_on_fault(guest, vpn),
        }
    }

    /// [`State::page_in`], placing the data straight into `dst` (a view and the page there that
    /// faulted) when that view can take it.
    fn page_in_to(&mut self, o: Owner, dst: Option<(&View, Vpn)>) -> Result<FrameId, Errno> {
        let slot = self.slot(o);
        if let PageSlot::Resident(f) = slot {
            self.phys.pool.touch(f);
            return Ok(f);
        }
        // A page of a segment whose object holds its wiring comes in wired: this happens only
        // under a lazy `SHM_LOCK` (Linux), where the lock did not bring every page in. So does
        // an anonymous page whose entry is locked on fault. Past the wired maximum the fault
        // fails, as a wiring would.
        let wire = self.comes_in_wired(o);
        if wire && !self.phys.wired_allows(&self.cfg.limits, 1) {
            return Err(Errno::ENOMEM);
        }
        let f = match slot {
            PageSlot::Resident(_) => unreachable!("handled above"),
            PageSlot::Untouched => {
                // The store page of an untouched page is a hole (it was never written, or was
                // punched when freed); giving it host memory keeps "resident" and "has host
                // memory" the same thing, which views rely on.
                let f = pdaemon::alloc_frame(self, o)?;
                if self.fill(o, None, dst).is_err() {
                    self.phys.pool.release(f);
                    return Err(Errno::ENOMEM);
                }
                self.set_slot(o, PageSlot::Resident(f));
                self.diag.count_zero_fill();
                tracing::trace!(target: "vmm::fault", owner = ?o, frame = f.index(), "zero fill");
                f
            }
            PageSlot::Swapped(slot) => {
                let mut data = self.phys.take_page_buf(true);
                let r = self.swap_in(o, slot, &mut data, dst);
                self.phys.return_page_buf(true, data);
                r?
            }
        };
        if wire {
            self.phys.pool.wire(f);
        }
        Ok(f)
    }

    /// Gives page `o` its host memory: `data`, or zeros. When the page comes in for a fault in a
    /// userfault view, the data goes in with one `UFFDIO_COPY` at the faulting address, which
    /// fills the store and maps the page for the faulting guest at once; otherwise it is written
    /// to the store and mapped by the retried access.
    fn fill(
        &self,
        o: Owner,
        data: Option<&[u8]>,
        dst: Option<(&View, Vpn)>,
    ) -> std::io::Result<()> {
        if let Some((v, vpn)) = dst {
            if v.copy_page(vpn, data.unwrap_or(&ZERO_PAGE)).is_ok() {
                return Ok(());
            }
        }
        let (store, idx) = self.store(o);
        match data {
            Some(d) => store.write_page(idx, d),
            None => store.allocate(idx),
        }
    }

    /// Brings page `o` back from `slot`, using `data` as the page buffer. The slot is given up
    /// before a frame is asked for, so that with swap full the victim that makes room can take it.
    fn swap_in(
        &mut self,
        o: Owner,
        slot: SwapSlot,
        data: &mut [u8],
        dst: Option<(&View, Vpn)>,
    ) -> Result<FrameId, Errno> {
        self.phys.swap.read(slot, data).map_err(|_| Errno::EIO)?;
        self.phys.swap.free(slot);
        let r = pdaemon::alloc_frame(self, o).and_then(|f| match self.fill(o, Some(data), dst) {
            Ok(()) => Ok(f),
            Err(_) => {
                self.phys.pool.release(f);
                Err(Errno::ENOMEM)
            }
        });
        match r {
            Ok(f) => {
                self.set_slot(o, PageSlot::Resident(f));
                self.diag.count_page_ins(1, false);
                tracing::trace!(target: "vmm::fault", owner = ?o, frame = f.index(), "page in");
                Ok(f)
            }
            // No frame was had, so nothing was paged out and a slot is free again: put the page
            // back where it can be found.
            Err(e) => {
                let back = self.phys.swap.alloc();
                match back.map(|b| (b, self.phys.swap.write(b, data))) {
                    Some((b, Ok(()))) => {
                        self.set_slot(o, PageSlot::Swapped(b));
                        Err(e)
                    }
                    _ => Err(self.corrupted(
                        Invariant::SwapLost,
                        format!("{o:?} could not be put back in swap"),
                    )),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::audit::audit;
    use crate::vm::map::{Backing, Entry};
    use crate::vm::pdaemon;

    const P: u64 = PAGE_SIZE;

    /// A state with one guest mapping pages `[1, 1 + pages)` read-write, and page 9 read-only.
    fn mapped(frames: u32, swap: u32, pages: u64) -> (State, GuestId) {
        let mut s = State::small(frames, swap);
        let g = s.add_guest(&Default::default()).unwrap();
        let vm = s.guest_mut(g).unwrap();
        let r = PageRange::new(Vpn(1), Vpn(1 + pages));
        vm.map.insert(Entry::new(
            r.start,
            r.end,
            Prot::RW,
            Prot::ALL,
            Backing::Anon,
        ));
        vm.map.insert(Entry::new(
            Vpn(9),
            Vpn(10),
            Prot::READ,
            Prot::ALL,
            Backing::Anon,
        ));
        vm.amap.reserve(PageRange::new(Vpn(0), Vpn(16)));
        (s, g)
    }

    #[test]
    fn first_touch_zero_fills_and_a_second_finds_the_page_resident() {
        let (mut s, g) = mapped(4, 4, 2);
        let (o, f) = fault(&mut s, g, Vpn(1), Access::Read).unwrap();
        assert_eq!(s.slot(o), PageSlot::Resident(f));
        assert_eq!(s.diag.stats().zero_fills, 1);
        let (_, f2) = fault(&mut s, g, Vpn(1), Access::Write).unwrap();
        assert_eq!(f2, f);
        assert_eq!((s.diag.stats().faults, s.diag.stats().zero_fills), (2, 1));
        audit(&s).unwrap();
    }

    #[test]
    fn unmapped_and_forbidden_accesses_are_refused_without_a_frame() {
        let (mut s, g) = mapped(4, 4, 2);
        assert_eq!(
            fault(&mut s, g, Vpn(5), Access::Read),
            Err(FaultError::Unmapped)
        );
        assert_eq!(
            fault(&mut s, g, Vpn(9), Access::Write),
            Err(FaultError::Protection)
        );
        assert_eq!(
            fault(&mut s, GuestId(7), Vpn(1), Access::Read),
            Err(FaultError::Unmapped)
        );
        assert_eq!(s.phys.pool.free_count(), 4);
    }

    #[test]
    fn a_paged_out_page_comes_back_with_its_data() {
        let (mut s, g) = mapped(2, 8, 4);
        for p in 1..5u8 {
            copy_in(&mut s, g, Vpn(u64::from(p)).addr(), &[p; P as usize]).unwrap();
        }
        assert!(
            s.diag.stats().evictions >= 2,
            "four pages through two frames"
        );
        let mut buf = vec![0u8; P as usize];
        for p in 1..5u8 {
            copy_out(&mut s, g, Vpn(u64::from(p)).addr(), &mut buf).unwrap();
            assert!(buf.iter().all(|&b| b == p), "page {p}");
        }
        assert!(s.diag.stats().page_ins >= 2);
        audit(&s).unwrap();
    }

    #[test]
    fn copies_cross_page_boundaries_and_stop_at_a_hole() {
        let (mut s, g) = mapped(4, 4, 2);
        let at = Vaddr(2 * P - 3);
        copy_in(&mut s, g, at, b"across").unwrap();
        let mut buf = [0u8; 6];
        copy_out(&mut s, g, at, &mut buf).unwrap();
        assert_eq!(&buf, b"across");
        assert_eq!(
            copy_in(&mut s, g, Vaddr(3 * P - 1), b"xy"),
            Err(Errno::EFAULT)
        );
        assert_eq!(
            copy_in(&mut s, g, Vaddr(9 * P), b"x"),
            Err(Errno::EFAULT),
            "read-only"
        );
        assert_eq!(
            copy_out(&mut s, g, Vaddr(u64::MAX), &mut buf),
            Err(Errno::EFAULT)
        );
    }

    #[test]
    fn no_frame_and_no_swap_is_out_of_memory_and_loses_nothing() {
        let (mut s, g) = mapped(1, 0, 2);
        copy_in(&mut s, g, Vpn(1).addr(), b"first").unwrap();
        assert_eq!(
            fault(&mut s, g, Vpn(2), Access::Write),
            Err(FaultError::OutOfMemory)
        );
        let mut buf = [0u8; 5];
        copy_out(&mut s, g, Vpn(1).addr(), &mut buf).unwrap();
        assert_eq!(&buf, b"first");
        audit(&s).unwrap();
    }

    #[test]
    fn a_page_in_with_no_frame_goes_back_to_swap() {
        let (mut s, g) = mapped(1, 1, 2);
        copy_in(&mut s, g, Vpn(1).addr(), b"swapped").unwrap();
        assert_eq!(pdaemon::reclaim(&mut s, 1), 1);
        // The only frame now holds page 2, wired, so page 1 cannot come in.
        let (_, f) = fault(&mut s, g, Vpn(2), Access::Write).unwrap();
        s.phys.pool.wire(f);
        assert_eq!(
            fault(&mut s, g, Vpn(1), Access::Read),
            Err(FaultError::OutOfMemory)
        );
        assert!(matches!(
            s.slot(crate::base::types::Owner::Anon {
                guest: g,
                vpn: Vpn(1)
            }),
            PageSlot::Swapped(_)
        ));
        s.phys.pool.unwire(f).unwrap();
        let mut buf = [0u8; 7];
        copy_out(&mut s, g, Vpn(1).addr(), &mut buf).unwrap();
        assert_eq!(&buf, b"swapped");
        audit(&s).unwrap();
    }
}
