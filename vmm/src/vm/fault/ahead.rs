//! Fault-ahead, as UVM's `uvm_fault` does it: after a fault brought a page back from swap,
//! its neighbours in swap come in with it, in runs (one read from swap, one copy into the
//! faulting view), into free frames only, as far as the window reaches; the window follows
//! the entry's advice (`uvmadvice[]`) and doubles for sequential access.
//!
//! A part of fault resolution ([`super`]), kept apart because it is policy (how far, which
//! pages) over the page-in mechanism it shares with the fault path.

use crate::base::addr::{GuestId, PageRange, SwapSlot, Vpn, PAGE_SIZE};
use crate::base::types::Owner;
use crate::vm::host::View;
use crate::vm::map::{Advice, Prot};
use crate::vm::page::PageSlot;
use crate::vm::state::{FaultAhead, State};
use smallvec::SmallVec;

/// Fault-ahead, as UVM's: after a fault brought page `vpn` of guest `g` back from swap, the
/// page's neighbours in the same entry that are in swap too come in with it, the pages after
/// it first (the machine's [`FaultAhead`] window, doubled for each fault that lands just past
/// the last window), placed straight into the faulting guest's
/// `view` (and entered there when `enter`: a protection-fault view). Neighbours whose pages
/// and swap slots both run on come in as one run: one read from swap, one copy into the
/// view. Only free frames are used: fault-ahead never pages anything out to make room, and
/// it stops at the first run that cannot come in. Untouched neighbours stay untouched
/// (bringing them in would only spend frames), resident ones are left as they are, and a
/// page of a segment that must come in wired (a lazy `SHM_LOCK`) is left to its own fault.
pub(super) fn fault_ahead(s: &mut State, g: GuestId, vpn: Vpn, view: &View, enter: bool) {
    let FaultAhead {
        back,
        forward,
        sequential_max,
    } = s.cfg.fault_ahead;
    if back == 0 && forward == 0 {
        return;
    }
    let Some(vm) = s.guests.get_mut(&g) else {
        return;
    };
    let forward = match vm.ahead() {
        (next, w) if next == vpn => w
            .saturating_mul(2)
            .clamp(forward, sequential_max.max(forward)),
        _ => forward,
    };
    vm.set_ahead(vpn.plus(1 + u64::from(forward)), forward);
    let Some(e) = vm.map.lookup(vpn).cloned() else {
        return;
    };
    if s.entry_wired(&e) {
        // A wired entry's pages are resident and wired; none is in swap to come in (and
        // one locked on fault must take its wiring page by page).
        return;
    }
    // The entry's advice, as UVM's `uvmadvice[]`: none for random access, forward only
    // and as far as the sequential maximum for sequential access.
    let (back, forward) = match e.advice() {
        Advice::Normal => (back, forward),
        Advice::Random => return,
        Advice::Sequential => (0, sequential_max.max(forward)),
    };
    let after = PageRange::new(vpn.plus(1), e.end().min(vpn.plus(1 + u64::from(forward))));
    let before = PageRange::new(
        Vpn(e.start().0.max(vpn.0.saturating_sub(u64::from(back)))),
        vpn,
    );
    for side in [after, before] {
        // On the stack for the default window (at most 32 pages forward).
        let mut run: SmallVec<[(Vpn, Owner, SwapSlot); 32]> = SmallVec::new();
        for p in side.iter() {
            let o = e.owner_at(g, p);
            let slot = match s.slot(o) {
                PageSlot::Swapped(sw) if !s.comes_in_wired(o) => Some(sw),
                _ => None,
            };
            let continues = match (run.last(), slot) {
                (Some(&(_, _, last)), Some(sw)) => sw.0 == last.0 + 1,
                _ => true,
            };
            if !continues || slot.is_none() {
                if !s.swap_in_run(&run, view, e.prot(), enter) {
                    return;
                }
                run.clear();
            }
            if let Some(sw) = slot {
                run.push((p, o, sw));
            }
        }
        if !s.swap_in_run(&run, view, e.prot(), enter) {
            return;
        }
    }
}

impl State {
    /// Brings in `run` (consecutive pages of one entry, in consecutive swap slots) for
    /// fault-ahead: one read from swap, one copy into `view` (entered with `prot` when `enter`),
    /// a free frame each. All or nothing: false, with nothing changed, when the free frames
    /// (less the pagedaemon's reserve) are too few or the host refuses.
    fn swap_in_run(
        &mut self,
        run: &[(Vpn, Owner, SwapSlot)],
        view: &View,
        prot: Prot,
        enter: bool,
    ) -> bool {
        let Some(&(first, o0, s0)) = run.first() else {
            return true;
        };
        let n = run.len();
        let reserve = (self.cfg.free_target as usize).max(1);
        if self.phys.pool.free_count() < n + reserve {
            return false;
        }
        let mut data = self.phys.take_run_buf();
        data.resize(n * PAGE_SIZE as usize, 0);
        let ok = self.phys.swap.read_run(s0, &mut data).is_ok() && {
            let range = PageRange::new(first, first.plus(n as u64));
            // Straight into the view with one copy; failing that, into the store (the pages of
            // a run are consecutive there too: an entry's pages are consecutive in its amap or
            // object), entered by the guest's next access or just below.
            view.copy_pages(first, &data).is_ok() || {
                let (store, idx) = self.store(o0);
                store.write_at(idx * PAGE_SIZE, &data).is_ok()
                    && (!enter || view.protect(range, prot, true).is_ok())
            }
        };
        self.phys.return_run_buf(data);
        if !ok {
            return false;
        }
        for &(_, o, _) in run {
            let f = self
                .phys
                .pool
                .alloc(o)
                .expect("free frames were counted above");
            self.set_slot(o, PageSlot::Resident(f));
        }
        self.phys.swap.free_run(s0, n as u32);
        self.diag.count_page_ins(n as u64, true);
        true
    }
}
