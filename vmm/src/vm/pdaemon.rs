//! The pagedaemon: frees frames by paging out unwired pages.
//!
//! Victims come from the pageout queue by second chance ([`crate::vm::page::PagePool::clock_victim`]):
//! a page referenced since the hand last passed keeps its frame once more. A victim's data is
//! written to a swap slot, its host memory is released (which also removes it from every guest
//! that maps the host store: a segment page leaves all its attachers at once), and its frame goes
//! back to the free list. Every page is treated as dirty: the host gives no dirty bit for a
//! store page, so a page-out always writes.
//!
//! Wired frames are on no queue and are never chosen. When nothing can be paged out (everything
//! wired, or swap full), the allocation that needed a frame fails with `ENOMEM`.
//!
//! The thread that runs the pagedaemon ahead of demand is [`crate::machine::Pagedaemon`].

use crate::base::addr::FrameId;
use crate::base::errno::Errno;
use crate::base::events::EventKind;
use crate::base::types::Owner;
use crate::vm::page::PageSlot;
use crate::vm::pmap;
use crate::vm::state::State;

/// Takes a frame for `o`. Keeping frames free ahead of demand is the pagedaemon thread's
/// work; only when the free list is empty does the allocation page out itself, a batch of
/// the free target (at least one) so the next faults find frames.
pub(crate) fn alloc_frame(s: &mut State, o: Owner) -> Result<FrameId, Errno> {
    if s.phys.pool.free_count() == 0 {
        reclaim(s, s.cfg.free_target.max(1) as usize);
    }
    s.phys.pool.alloc(o).ok_or(Errno::ENOMEM)
}

/// Pages out up to `n` unwired pages; returns how many.
pub(crate) fn reclaim(s: &mut State, n: usize) -> usize {
    let mut done = 0;
    while done < n {
        let Some(f) = s.phys.pool.clock_victim() else {
            break;
        };
        if s.evict(f).is_err() {
            break;
        }
        done += 1;
    }
    done
}

/// Drops anonymous page `o`'s data, as `MADV_DONTNEED` and `MADV_FREE` do: its frame (with
/// its host memory) or its swap slot is freed and it reads back as zeros. A wired page is
/// left as it is, and so is one a view would not let go (false for both).
pub(crate) fn discard_anon(s: &mut State, o: Owner) -> bool {
    match s.slot(o) {
        PageSlot::Untouched => true,
        PageSlot::Swapped(slot) => {
            s.phys.swap.free(slot);
            s.set_slot(o, PageSlot::Untouched);
            true
        }
        PageSlot::Resident(f) => {
            if s.phys.pool.frame(f).is_wired() {
                return false;
            }
            let maps = pmap::mappings_of(s, o);
            if !pmap::pmap_page_remove(s, &maps) {
                pmap::pmap_page_restore(s, &maps);
                return false;
            }
            let (store, idx) = s.store(o);
            let _ = store.release(idx, 1);
            s.phys.pool.release(f);
            s.set_slot(o, PageSlot::Untouched);
            pmap::pmap_page_restore(s, &maps);
            true
        }
    }
}

impl State {
    /// Writes one unwired page to swap, releases its host memory and frees its frame.
    fn evict(&mut self, f: FrameId) -> Result<(), Errno> {
        let fr = self.phys.pool.frame(f);
        debug_assert!(!fr.is_wired(), "evicting wired {f:?}");
        let o = fr.owner().expect("a queued frame has an owner");
        let maps = pmap::mappings_of(self, o);
        if !pmap::pmap_page_remove(self, &maps) {
            pmap::pmap_page_restore(self, &maps);
            self.phys.pool.requeue(f);
            return Err(Errno::ENOMEM);
        }
        let Some(slot) = self.phys.swap.alloc() else {
            pmap::pmap_page_restore(self, &maps);
            return Err(Errno::ENOMEM);
        };
        let mut buf = self.phys.take_page_buf(false);
        let (store, idx) = self.store(o);
        let r = store
            .read_page(idx, &mut buf)
            .and_then(|()| self.phys.swap.write(slot, &buf))
            .and_then(|()| store.release(idx, 1));
        self.phys.return_page_buf(false, buf);
        if r.is_err() {
            self.phys.swap.free(slot);
            pmap::pmap_page_restore(self, &maps);
            self.phys.pool.requeue(f);
            return Err(Errno::EIO);
        }
        self.set_slot(o, PageSlot::Swapped(slot));
        self.phys.pool.release(f);
        pmap::pmap_page_restore(self, &maps);
        self.diag.count_eviction();
        self.record(EventKind::Evict { owner: o });
        tracing::trace!(target: "vmm::pdaemon", owner = ?o, frame = f.index(), slot = slot.0, "evict");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::addr::{GuestId, PageRange, Vpn};
    use crate::vm::map::{Backing, Entry, Prot};

    fn state(frames: u32, swap: u32) -> State {
        State::small(frames, swap)
    }

    fn anon(vpn: u64) -> Owner {
        Owner::Anon {
            guest: GuestId(0),
            vpn: Vpn(vpn),
        }
    }

    /// A state with one guest whose pages `0..n` are resident, written with their number.
    fn resident(frames: u32, swap: u32, n: u64) -> State {
        let mut s = state(frames, swap);
        s.add_guest(&Default::default()).unwrap();
        let vm = s.guests.get_mut(&GuestId(0)).unwrap();
        vm.map.insert(Entry::new(
            Vpn(0),
            Vpn(8),
            Prot::RW,
            Prot::ALL,
            Backing::Anon,
        ));
        vm.amap.reserve(PageRange::new(Vpn(0), Vpn(8)));
        for p in 0..n {
            let f = s.phys.pool.alloc(anon(p)).unwrap();
            let (store, idx) = (s.guests[&GuestId(0)].amap.store(), p);
            store
                .write_page(idx, &[p as u8; crate::base::addr::PAGE_SIZE as usize])
                .unwrap();
            s.set_slot(anon(p), PageSlot::Resident(f));
        }
        s
    }

    #[test]
    fn reclaim_pages_out_unreferenced_pages_to_swap_and_frees_their_frames() {
        let mut s = resident(4, 8, 4);
        assert_eq!(s.phys.pool.free_count(), 0);
        assert_eq!(reclaim(&mut s, 2), 2);
        assert_eq!(s.phys.pool.free_count(), 2);
        assert_eq!(s.phys.swap.used(), 2);
        assert_eq!(s.diag.stats().evictions, 2);
        let swapped: Vec<_> = (0..4)
            .filter(|&p| matches!(s.slot(anon(p)), PageSlot::Swapped(_)))
            .collect();
        assert_eq!(swapped.len(), 2);
        // The host page is handed back: it reads as zeros in the store now.
        let mut buf = vec![1u8; crate::base::addr::PAGE_SIZE as usize];
        let (store, idx) = s.store(anon(swapped[0]));
        store.read_page(idx, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0));
        crate::diag::audit::audit(&s).unwrap();
    }

    #[test]
    fn wired_pages_are_never_chosen() {
        let mut s = resident(3, 8, 3);
        for p in 0..3 {
            let PageSlot::Resident(f) = s.slot(anon(p)) else {
                unreachable!()
            };
            s.phys.pool.wire(f);
        }
        assert_eq!(reclaim(&mut s, 3), 0);
        assert_eq!(s.phys.swap.used(), 0);
        assert!(
            alloc_frame(&mut s, anon(9)).is_err(),
            "nothing to page out: ENOMEM"
        );
    }

    #[test]
    fn a_full_swap_stops_reclaim_without_losing_the_page() {
        let mut s = resident(2, 1, 2);
        assert_eq!(reclaim(&mut s, 2), 1);
        assert_eq!(s.phys.swap.used(), 1);
        let still: Vec<_> = (0..2)
            .filter(|&p| matches!(s.slot(anon(p)), PageSlot::Resident(_)))
            .collect();
        assert_eq!(still.len(), 1, "the second page keeps its frame");
    }

    #[test]
    fn alloc_frame_pages_out_only_when_the_free_list_is_empty() {
        let mut s = resident(3, 8, 2);
        let f = alloc_frame(&mut s, anon(2)).unwrap();
        s.set_slot(anon(2), PageSlot::Resident(f));
        assert_eq!(s.diag.stats().evictions, 0, "a free frame was there");
        let f = alloc_frame(&mut s, anon(3)).unwrap();
        s.set_slot(anon(3), PageSlot::Resident(f));
        assert_eq!(s.diag.stats().evictions, 1);
        assert_eq!(s.phys.pool.frame(f).owner(), Some(anon(3)));
        crate::diag::audit::audit(&s).unwrap();
    }
}
