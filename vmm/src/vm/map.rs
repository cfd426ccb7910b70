//! The VM map: a guest's ordered, non-overlapping entries `[start, end)`.
//!
//! Each entry says what backs its pages (the guest's anonymous memory, or a shared segment's
//! object at a page offset), its protection and maximum protection, its flags (the POSIX lock
//! flag among them) and its wire count. Entries are kept in a `BTreeMap` keyed by start page, so
//! lookup, clip and merge are O(log n).
//!
//! Invariants (checked by the audit):
//! - entries are non-empty, sorted and do not overlap, and lie inside the address space;
//! - `prot ⊆ max_prot`;
//! - operations clip at the ends of the range they change. Mapping changes merge equal
//!   neighbours around it afterwards, so a mapping change undone by its inverse leaves the map
//!   exactly as it was; wiring calls keep their clips, as UVM's `uvm_map_pageable` does, so two
//!   neighbours that could be one entry may stay apart until the next mapping change near them.
//!   A failed operation always merges back what it clipped.

use crate::base::addr::{AttachId, GuestId, PageRange, ShmId, Vpn};
use crate::base::errno::Errno;
use crate::base::types::{Invariant, Owner, Violation};
use crate::vm::wire::{CountUnderflow, Saved, Transition, WireOp, WireState};
use bitflags::bitflags;
use smallvec::SmallVec;
use std::collections::BTreeMap;

bitflags! {
    /// Page protection, as `PROT_*` (numbers from `guest-abi`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct Prot: u32 {
        /// Readable.
        const READ = guest_abi::mman::PROT_READ as u32;
        /// Writable.
        const WRITE = guest_abi::mman::PROT_WRITE as u32;
        /// Executable (accepted; wasm never executes data).
        const EXEC = guest_abi::mman::PROT_EXEC as u32;
    }
}

impl Prot {
    /// Read and write.
    pub const RW: Prot = Prot::READ.union(Prot::WRITE);
    /// Everything.
    pub const ALL: Prot = Prot::READ.union(Prot::WRITE).union(Prot::EXEC);

    /// Decodes a guest's `prot` argument: `EINVAL` for unknown bits.
    pub fn from_guest(bits: i32) -> Result<Prot, Errno> {
        u32::try_from(bits)
            .ok()
            .and_then(Prot::from_bits)
            .ok_or(Errno::EINVAL)
    }
}

pub use crate::vm::wire::EntryFlags;

/// What backs an entry's pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backing {
    /// The guest's private anonymous memory, at the entry's own page numbers.
    Anon,
    /// A SysV segment's object; the entry's first page is the object's page `pgoff`.
    Shm {
        /// The segment.
        id: ShmId,
        /// Object page under the entry's first page.
        pgoff: u64,
    },
}

impl Backing {
    /// The page that backs `vpn` of guest `g` under this backing (a segment's offset being
    /// that of `vpn` already, as [`Entry::backing_at`] gives it).
    #[inline]
    pub fn owner(self, g: GuestId, vpn: Vpn) -> Owner {
        match self {
            Backing::Anon => Owner::Anon { guest: g, vpn },
            Backing::Shm { id, pgoff } => Owner::Object { shm: id, pgoff },
        }
    }
}

/// One mapping in a guest's map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// First page.
    start: Vpn,
    /// One past the last page.
    end: Vpn,
    /// Current protection.
    prot: Prot,
    /// The most `mprotect` may grant.
    max_prot: Prot,
    /// What backs the pages.
    backing: Backing,
    /// The POSIX flag and the SVID/kernel count; written only through [`Entry::apply`].
    wiring: WireState,
    /// The `shmat` this entry belongs to (segment entries only). Clipping keeps it; entries of
    /// different attachments never merge.
    attachment: Option<AttachId>,
    /// How the guest said it will use the pages (`madvise`), which fault-ahead follows.
    advice: Advice,
}

/// An entry's access advice (`madvise`'s `NORMAL`, `RANDOM`, `SEQUENTIAL`), as UVM keeps it
/// per entry (`uvm_map_advice`) and its fault-ahead reads it (`uvmadvice[]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Advice {
    /// The machine's fault-ahead window.
    #[default]
    Normal,
    /// No fault-ahead.
    Random,
    /// Fault-ahead forward only, at the machine's sequential maximum.
    Sequential,
}

impl Entry {
    /// A fresh, unwired entry.
    pub fn new(start: Vpn, end: Vpn, prot: Prot, max_prot: Prot, backing: Backing) -> Entry {
        Entry {
            start,
            end,
            prot,
            max_prot,
            backing,
            wiring: WireState::default(),
            attachment: None,
            advice: Advice::Normal,
        }
    }

    /// First page.
    #[inline]
    pub fn start(&self) -> Vpn {
        self.start
    }

    /// One past the last page.
    #[inline]
    pub fn end(&self) -> Vpn {
        self.end
    }

    /// Current protection.
    #[inline]
    pub fn prot(&self) -> Prot {
        self.prot
    }

    /// The most `mprotect` may grant.
    #[inline]
    pub fn max_prot(&self) -> Prot {
        self.max_prot
    }

    /// What backs the pages.
    #[inline]
    pub fn backing(&self) -> Backing {
        self.backing
    }

    /// The `shmat` this entry belongs to, if it is a segment's.
    #[inline]
    pub fn attachment(&self) -> Option<AttachId> {
        self.attachment
    }

    /// How the guest said it will use the pages.
    #[inline]
    pub fn advice(&self) -> Advice {
        self.advice
    }

    /// Sets the protection (`mprotect`'s one writer; `prot` must lie within `max_prot`).
    pub fn set_prot(&mut self, prot: Prot) {
        debug_assert!(self.max_prot.contains(prot));
        self.prot = prot;
    }

    /// Sets the access advice (`madvise`'s one writer).
    pub fn set_advice(&mut self, advice: Advice) {
        self.advice = advice;
    }

    /// Moves the entry's bounds without moving it in its map, bypassing every rule: for tests
    /// that plant an inconsistency for the audit to find.
    #[cfg(test)]
    pub(crate) fn corrupt_bounds(&mut self, start: Vpn, end: Vpn) {
        self.start = start;
        self.end = end;
    }

    /// Sets the most `mprotect` may grant, as [`Entry::corrupt_bounds`].
    #[cfg(test)]
    pub(crate) fn corrupt_max_prot(&mut self, max_prot: Prot) {
        self.max_prot = max_prot;
    }

    /// The same entry, belonging to attachment `a`.
    pub fn of_attachment(mut self, a: AttachId) -> Entry {
        self.attachment = Some(a);
        self
    }

    /// The entry's pages.
    pub fn range(&self) -> PageRange {
        PageRange::new(self.start, self.end)
    }

    /// Whether the entry is wired on its own account, by its POSIX flag or its count
    /// ([`WireState::wired_by_itself`]). Whether it is wired at all also depends on its
    /// segment's lock: that is the one predicate, `State::entry_wired`.
    #[inline]
    pub fn wired_by_itself(&self) -> bool {
        self.wiring.wired_by_itself()
    }

    /// Whether the entry carries the POSIX lock flag.
    #[inline]
    pub fn is_mlocked(&self) -> bool {
        self.wiring.is_mlocked()
    }

    /// Whether the entry is locked on fault: wired, with only its resident pages holding the
    /// wiring ([`crate::vm::wire::EntryFlags::ONFAULT`]).
    #[inline]
    pub fn locks_on_fault(&self) -> bool {
        self.wiring.locks_on_fault()
    }

    /// The entry's wiring state (flag and count), to read.
    pub fn wiring(&self) -> WireState {
        self.wiring
    }

    /// Flags; [`EntryFlags::MLOCKED`] is the POSIX lock.
    pub fn flags(&self) -> EntryFlags {
        self.wiring.flags()
    }

    /// SVID and kernel wirings (balanced). Whether the entry is wired is
    /// [`Entry::wired_by_itself`]'s question, not this count's.
    pub fn wire_count(&self) -> u32 {
        self.wiring.count()
    }

    /// Applies a wiring operation ([`WireOp::apply`]) and says what its pages need.
    pub fn apply(&mut self, op: WireOp) -> Result<(Transition, Saved), CountUnderflow> {
        op.apply(&mut self.wiring)
    }

    /// Undoes the [`Entry::apply`] that returned `saved`.
    pub fn restore(&mut self, saved: Saved) {
        saved.restore(&mut self.wiring)
    }

    /// The backing of the page `vpn` (which must lie in the entry).
    pub fn backing_at(&self, vpn: Vpn) -> Backing {
        debug_assert!(self.range().contains(vpn));
        match self.backing {
            Backing::Anon => Backing::Anon,
            Backing::Shm { id, pgoff } => Backing::Shm {
                id,
                pgoff: pgoff + (vpn.0 - self.start.0),
            },
        }
    }

    /// The page that backs `vpn` (which must lie in the entry) in guest `g`'s map.
    #[inline]
    pub fn owner_at(&self, g: GuestId, vpn: Vpn) -> Owner {
        self.backing_at(vpn).owner(g, vpn)
    }

    /// Whether `next` could continue this entry were it to end at `end` (a run of entries being
    /// merged into this one).
    fn mergeable_with_at(&self, next: &Entry, end: Vpn) -> bool {
        end == next.start
            && self.prot == next.prot
            && self.max_prot == next.max_prot
            && self.wiring == next.wiring
            && self.attachment == next.attachment
            && self.advice == next.advice
            && match (self.backing, next.backing) {
                (Backing::Anon, Backing::Anon) => true,
                (
                    Backing::Shm { id, pgoff },
                    Backing::Shm {
                        id: id2,
                        pgoff: pgoff2,
                    },
                ) => id == id2 && pgoff + (end.0 - self.start.0) == pgoff2,
                _ => false,
            }
    }

    /// The backing a following entry would need to continue this one.
    fn backing_at_end(&self) -> Option<Backing> {
        Some(match self.backing {
            Backing::Anon => Backing::Anon,
            Backing::Shm { id, pgoff } => Backing::Shm {
                id,
                pgoff: pgoff + self.range().pages(),
            },
        })
    }
}

/// One run of mergeable entries: the survivor's start, its new end, the starts it absorbs.
type Merge = (Vpn, Vpn, SmallVec<[Vpn; 2]>);

/// A guest's address map.
#[derive(Clone, Debug)]
pub struct VmMap {
    entries: BTreeMap<Vpn, Entry>,
    limit: Vpn,
    /// `mlockall(MCL_FUTURE)`: new mappings start locked.
    wire_future: bool,
    /// With `wire_future`: new mappings are locked on fault (`mlockall(MCL_FUTURE |
    /// MCL_ONFAULT)`, Linux's).
    wire_future_onfault: bool,
}

impl VmMap {
    /// An empty map over pages `[0, limit)`.
    pub fn new(limit: Vpn) -> VmMap {
        VmMap {
            entries: BTreeMap::new(),
            limit,
            wire_future: false,
            wire_future_onfault: false,
        }
    }

    /// Whether new mappings start locked (`mlockall(MCL_FUTURE)`).
    pub fn wire_future(&self) -> bool {
        self.wire_future
    }

    /// Whether new mappings start locked on fault (`MCL_FUTURE | MCL_ONFAULT`).
    pub fn wire_future_onfault(&self) -> bool {
        self.wire_future_onfault
    }

    /// Starts (`future`, on fault if `onfault`) or ends `MCL_FUTURE`: `mlockall`'s and
    /// `munlockall`'s one writer.
    pub fn set_wire_future(&mut self, future: bool, onfault: bool) {
        self.wire_future = future;
        self.wire_future_onfault = future && onfault;
    }

    /// One past the highest page an entry may cover.
    pub fn limit(&self) -> Vpn {
        self.limit
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry, in address order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// The entry that maps `vpn`.
    pub fn lookup(&self, vpn: Vpn) -> Option<&Entry> {
        self.entries
            .range(..=vpn)
            .next_back()
            .map(|(_, e)| e)
            .filter(|e| e.end > vpn)
    }

    /// The entry starting at exactly `start`, mutably.
    pub fn get_mut(&mut self, start: Vpn) -> Option<&mut Entry> {
        self.entries.get_mut(&start)
    }

    /// The entries overlapping `range`, in order.
    pub fn overlapping(&self, range: PageRange) -> impl Iterator<Item = &Entry> {
        // The last entry starting before the range's end, then backwards while entries reach
        // into the range (they are sorted and disjoint, so the first that does not, or the one
        // holding the range's start, ends the walk). An empty range overlaps nothing, even
        // inside an entry.
        let mut found: SmallVec<[&Entry; 4]> = SmallVec::new();
        if range.is_empty() {
            return found.into_iter();
        }
        // One descent, then backwards; the common case, a range inside one entry, stops at
        // the first entry.
        let mut back = self.entries.range(..range.end).rev().map(|(_, e)| e);
        while let Some(e) = back.next().filter(|e| e.end > range.start) {
            found.push(e);
            if e.start <= range.start {
                break;
            }
        }
        found.reverse();
        found.into_iter()
    }

    /// The start pages of the entries overlapping `range` (on the stack for up to four).
    pub fn starts_in(&self, range: PageRange) -> SmallVec<[Vpn; 4]> {
        self.overlapping(range).map(|e| e.start).collect()
    }

    /// Whether every page of `range` is mapped.
    pub fn is_fully_mapped(&self, range: PageRange) -> bool {
        let mut next = range.start;
        for e in self.overlapping(range) {
            if e.start > next {
                return false;
            }
            next = e.end;
            if next >= range.end {
                return true;
            }
        }
        next >= range.end
    }

    /// Whether no page of `range` is mapped.
    pub fn is_free(&self, range: PageRange) -> bool {
        self.overlapping(range).next().is_none()
    }

    /// Splits the entry that strictly contains `at` into `[start, at)` and `[at, end)`.
    pub fn clip(&mut self, at: Vpn) {
        // One walk finds the entry and gives it mutably.
        let Some((_, left)) = self.entries.range_mut(..=at).next_back() else {
            return;
        };
        if left.start == at || left.end <= at {
            return;
        }
        let mut right = left.clone();
        left.end = at;
        right.backing = left.backing_at_end().expect("every backing continues");
        right.start = at;
        self.entries.insert(at, right);
    }

    /// Clips at both ends of `range`, so that entries lie wholly inside or outside it.
    pub fn clip_range(&mut self, range: PageRange) {
        // An entry that is exactly the range (a buffer locked and unlocked again, whose clips
        // stay): nothing to do, found in one descent.
        if let Some((_, e)) = self.entries.range(..=range.start).next_back() {
            if e.start == range.start && e.end == range.end {
                return;
            }
        }
        self.clip(range.start);
        self.clip(range.end);
    }

    /// Inserts an entry into a free range. The caller has checked the range is free.
    pub fn insert(&mut self, entry: Entry) {
        debug_assert!(entry.start < entry.end && entry.end <= self.limit);
        debug_assert!(self.is_free(entry.range()), "insert over a mapped range");
        let range = entry.range();
        self.entries.insert(entry.start, entry);
        self.merge_around(range);
    }

    /// Removes the entry starting at `start`.
    pub fn remove(&mut self, start: Vpn) -> Option<Entry> {
        self.entries.remove(&start)
    }

    /// Merges every mergeable pair from the entry before `range` to the entry after it.
    ///
    /// One walk over the window decides every merge (entries merge only with their neighbours,
    /// and a merge keeps the left entry's fields), then the absorbed entries are removed and
    /// each survivor's end set: no search per pair.
    pub fn merge_around(&mut self, range: PageRange) {
        let from = self
            .entries
            .range(..range.start)
            .next_back()
            .map(|(k, _)| *k)
            .unwrap_or(range.start);
        let mut merges: SmallVec<[Merge; 2]> = SmallVec::new();
        let mut run: Option<(&Entry, Vpn, SmallVec<[Vpn; 2]>)> = None;
        for (_, e) in self.entries.range(from..) {
            match run.as_mut() {
                // The left entry carries what the run keeps; it merges with `e` when the run's
                // last entry could be one with `e`, which only depends on adjacency, backing
                // continuity and equal fields, all of which the left entry shares.
                Some((left, end, absorbed))
                    if *end == e.start && left.mergeable_with_at(e, *end) =>
                {
                    *end = e.end;
                    absorbed.push(e.start);
                    continue;
                }
                Some(_) => {
                    let (left, end, absorbed) = run.take().expect("matched Some");
                    if !absorbed.is_empty() {
                        merges.push((left.start, end, absorbed));
                    }
                }
                None => {}
            }
            if e.start > range.end {
                break;
            }
            run = Some((e, e.end, SmallVec::new()));
        }
        if let Some((left, end, absorbed)) = run {
            if !absorbed.is_empty() {
                merges.push((left.start, end, absorbed));
            }
        }
        for (survivor, end, absorbed) in merges {
            for k in absorbed {
                self.entries.remove(&k);
            }
            self.entries
                .get_mut(&survivor)
                .expect("survivor exists")
                .end = end;
        }
    }

    /// The lowest free run of `pages` pages at or above `from` that ends by `ceiling`.
    pub fn find_space_below(&self, pages: u64, from: Vpn, ceiling: Vpn) -> Option<Vpn> {
        self.find_space(pages, from)
            .filter(|s| s.0 + pages <= ceiling.0)
    }

    /// The lowest free run of `pages` pages at or above `from`, below the limit.
    pub fn find_space(&self, pages: u64, from: Vpn) -> Option<Vpn> {
        let mut candidate = from;
        if let Some(e) = self.lookup(from) {
            candidate = e.end;
        }
        for e in self.entries.range(candidate..).map(|(_, e)| e) {
            if e.start.0 - candidate.0 >= pages {
                break;
            }
            candidate = candidate.max(e.end);
        }
        (candidate.0.checked_add(pages)? <= self.limit.0).then_some(candidate)
    }

    /// Checks the map's own invariants; the message names the first one broken.
    pub fn check(&self) -> Result<(), Violation> {
        self.check_entries()
            .map_err(|(invariant, detail)| Violation::new(invariant, detail))
    }

    fn check_entries(&self) -> Result<(), (Invariant, String)> {
        let mut prev: Option<&Entry> = None;
        for (k, e) in &self.entries {
            if *k != e.start {
                return Err((
                    Invariant::MapKey,
                    format!("entry {:?} stored under {k:?}", e.range()),
                ));
            }
            if e.start >= e.end || e.end > self.limit {
                return Err((
                    Invariant::MapBounds,
                    format!("entry {:?} empty or past the limit", e.range()),
                ));
            }
            if !e.max_prot.contains(e.prot) {
                return Err((
                    Invariant::MapProt,
                    format!(
                        "entry {:?} prot {:?} exceeds max {:?}",
                        e.range(),
                        e.prot,
                        e.max_prot
                    ),
                ));
            }
            if let Some(p) = prev {
                if p.end > e.start {
                    return Err((
                        Invariant::MapOverlap,
                        format!("{:?} and {:?}", p.range(), e.range()),
                    ));
                }
            }
            prev = Some(e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anon(s: u64, e: u64) -> Entry {
        Entry::new(Vpn(s), Vpn(e), Prot::RW, Prot::ALL, Backing::Anon)
    }

    #[test]
    fn adjacent_like_entries_merge_on_insert() {
        let mut m = VmMap::new(Vpn(100));
        m.insert(anon(0, 4));
        m.insert(anon(8, 10));
        m.insert(anon(4, 8));
        assert_eq!(m.len(), 1);
        assert_eq!(
            m.lookup(Vpn(9)).unwrap().range(),
            PageRange::new(Vpn(0), Vpn(10))
        );
        m.check().unwrap();
    }

    #[test]
    fn clip_then_change_then_merge_restores_the_map() {
        let mut m = VmMap::new(Vpn(100));
        m.insert(anon(0, 10));
        let r = PageRange::new(Vpn(3), Vpn(5));
        m.clip_range(r);
        assert_eq!(m.len(), 3);
        m.get_mut(Vpn(3)).unwrap().apply(WireOp::Mlock).unwrap();
        m.merge_around(r);
        assert_eq!(m.len(), 3);
        m.check().unwrap();
        m.get_mut(Vpn(3)).unwrap().apply(WireOp::Munlock).unwrap();
        m.merge_around(r);
        assert_eq!(m.len(), 1);
        m.check().unwrap();
    }

    #[test]
    fn clipping_a_segment_entry_keeps_object_offsets() {
        let mut m = VmMap::new(Vpn(100));
        let id = ShmId(7);
        m.insert(Entry::new(
            Vpn(10),
            Vpn(20),
            Prot::RW,
            Prot::RW,
            Backing::Shm { id, pgoff: 0 },
        ));
        m.clip(Vpn(15));
        assert_eq!(
            m.lookup(Vpn(15)).unwrap().backing,
            Backing::Shm { id, pgoff: 5 }
        );
        assert_eq!(
            m.lookup(Vpn(17)).unwrap().backing_at(Vpn(17)),
            Backing::Shm { id, pgoff: 7 }
        );
        m.merge_around(PageRange::new(Vpn(15), Vpn(15)));
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn two_attachments_of_one_segment_do_not_merge() {
        let mut m = VmMap::new(Vpn(100));
        let id = ShmId(7);
        m.insert(Entry::new(
            Vpn(0),
            Vpn(4),
            Prot::RW,
            Prot::RW,
            Backing::Shm { id, pgoff: 0 },
        ));
        m.insert(Entry::new(
            Vpn(4),
            Vpn(8),
            Prot::RW,
            Prot::RW,
            Backing::Shm { id, pgoff: 0 },
        ));
        assert_eq!(m.len(), 2);
        m.check().unwrap();
    }

    #[test]
    fn holes_are_found() {
        let mut m = VmMap::new(Vpn(100));
        m.insert(anon(0, 4));
        m.insert(anon(6, 8));
        assert!(m.is_fully_mapped(PageRange::new(Vpn(0), Vpn(4))));
        assert!(!m.is_fully_mapped(PageRange::new(Vpn(0), Vpn(8))));
        assert!(!m.is_fully_mapped(PageRange::new(Vpn(7), Vpn(9))));
        assert!(m.is_free(PageRange::new(Vpn(4), Vpn(6))));
        assert_eq!(m.find_space(2, Vpn(0)), Some(Vpn(4)));
        assert_eq!(m.find_space(3, Vpn(0)), Some(Vpn(8)));
        assert_eq!(m.find_space(93, Vpn(0)), None);
        assert_eq!(m.find_space(92, Vpn(1)), Some(Vpn(8)));
        assert_eq!(
            m.overlapping(PageRange::new(Vpn(2), Vpn(2))).count(),
            0,
            "an empty range overlaps nothing"
        );
    }

    #[test]
    fn check_names_an_overlapping_pair_and_allows_an_unmerged_one() {
        let mut m = VmMap::new(Vpn(100));
        m.entries.insert(Vpn(0), anon(0, 2));
        m.entries.insert(Vpn(2), anon(2, 4));
        assert!(m.check().is_ok(), "a wiring call's clip may stay");
        m.entries.insert(Vpn(3), anon(3, 5));
        assert_eq!(m.check().unwrap_err().invariant, Invariant::MapOverlap);
    }
}
