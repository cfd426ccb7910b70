//! A guest's private anonymous memory.
//!
//! Private anonymous pages are indexed by the guest's own page number, in a two-level table
//! whose second-level chunks are allocated when a range is mapped ([`Amap::reserve`]), so the
//! fault path never allocates. Map entries that point at anonymous memory use their own page
//! numbers as the index; clipping or merging an entry therefore moves no page (UVM gets the same
//! effect from an amap shared by the clipped halves at different offsets).
//!
//! Invariant (checked by the audit): a page outside every anonymous entry is untouched, so
//! `munmap` and guest exit leave no frame or swap slot behind.

use crate::base::addr::{PageRange, Vpn};
use crate::vm::host::HostStore;
use crate::vm::page::PageSlot;
use std::io;

const CHUNK_SHIFT: u32 = 9;
const CHUNK: usize = 1 << CHUNK_SHIFT;

/// A second-level chunk: its slots and how many are not untouched, so scans skip idle chunks.
#[derive(Debug)]
struct Chunk {
    slots: [PageSlot; CHUNK],
    touched: u32,
}

/// A guest's anonymous pages and the host store that holds their data.
#[derive(Debug)]
pub struct Amap {
    chunks: Vec<Option<Box<Chunk>>>,
    store: HostStore,
}

impl Amap {
    /// Anonymous memory for an address space of `pages` pages.
    pub fn new(name: &str, pages: u64) -> io::Result<Amap> {
        let n = (pages as usize).div_ceil(CHUNK);
        Ok(Amap {
            chunks: (0..n).map(|_| None).collect(),
            store: HostStore::new(name, pages)?,
        })
    }

    /// The host store holding resident pages' data, at their page numbers.
    pub fn store(&self) -> &HostStore {
        &self.store
    }

    /// Makes sure every page of `range` has a slot.
    pub fn reserve(&mut self, range: PageRange) {
        if range.is_empty() {
            return;
        }
        let first = (range.start.0 >> CHUNK_SHIFT) as usize;
        let last = ((range.end.0 - 1) >> CHUNK_SHIFT) as usize;
        for c in &mut self.chunks[first..=last] {
            c.get_or_insert_with(|| {
                Box::new(Chunk {
                    slots: [PageSlot::Untouched; CHUNK],
                    touched: 0,
                })
            });
        }
    }

    /// The slot of page `vpn` (untouched if never reserved).
    pub fn get(&self, vpn: Vpn) -> PageSlot {
        let (c, i) = split(vpn);
        self.chunks
            .get(c)
            .and_then(|c| c.as_ref())
            .map_or(PageSlot::Untouched, |c| c.slots[i])
    }

    /// Sets the slot of a reserved page.
    pub fn set(&mut self, vpn: Vpn, slot: PageSlot) {
        let (c, i) = split(vpn);
        let chunk = self.chunks[c]
            .as_mut()
            .expect("page of a mapped range is reserved");
        let was = chunk.slots[i] != PageSlot::Untouched;
        let is = slot != PageSlot::Untouched;
        chunk.touched = chunk.touched + u32::from(is) - u32::from(was);
        chunk.slots[i] = slot;
    }

    /// Every page that is not untouched, with its slot.
    pub fn touched(&self) -> impl Iterator<Item = (Vpn, PageSlot)> + '_ {
        self.chunks
            .iter()
            .enumerate()
            .filter_map(|(c, ch)| ch.as_ref().filter(|ch| ch.touched > 0).map(|ch| (c, ch)))
            .flat_map(|(c, ch)| {
                ch.slots
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| **s != PageSlot::Untouched)
                    .map(move |(i, s)| (Vpn(((c as u64) << CHUNK_SHIFT) + i as u64), *s))
            })
    }
}

fn split(vpn: Vpn) -> (usize, usize) {
    (
        (vpn.0 >> CHUNK_SHIFT) as usize,
        (vpn.0 as usize) & (CHUNK - 1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::addr::FrameId;

    #[test]
    fn slots_start_untouched_and_remember_what_is_set() {
        let mut a = Amap::new("t", 4096).unwrap();
        let r = PageRange::new(Vpn(500), Vpn(520));
        a.reserve(r);
        assert_eq!(a.get(Vpn(510)), PageSlot::Untouched);
        a.set(Vpn(519), PageSlot::Resident(FrameId(3)));
        assert_eq!(a.get(Vpn(519)), PageSlot::Resident(FrameId(3)));
        assert_eq!(
            a.touched().collect::<Vec<_>>(),
            vec![(Vpn(519), PageSlot::Resident(FrameId(3)))]
        );
        assert_eq!(a.get(Vpn(4000)), PageSlot::Untouched);
    }
}
