//! The audit: every invariant of the whole machine, checked from scratch.
//!
//! `audit` recomputes what every counter should be from the maps, objects and segments, and
//! compares. The first broken invariant comes back as a [`Violation`] naming it
//! ([`Invariant`], whose `Display` is the name below) and the values involved.
//!
//! Each part checks its own invariants, and the audit composes them with the ones that span
//! parts: [`crate::vm::map::VmMap::check`] (`map-*`), [`crate::vm::page::PagePool::check`]
//! (`queue-*`), [`crate::vm::swap::Swap::check`] (`swap-count`), [`crate::vm::segment::ShmTable::check`]
//! (`shm-pages`), and the guest's own checks in `state` (`shm-attach-*`,
//! `locked-pages`, `anon-leak`). The invariants, by name:
//!
//! - whatever an operation found broken when it stopped the machine (`wire-underflow`,
//!   `object-unwired-twice`, `entry-count-underflow`, ...: see [`crate::Machine::corruption`]);
//! - `map-*`: a guest's map is sorted, non-overlapping and within bounds (neighbours that could
//!   be one entry may stay apart where a wiring call clipped them, as UVM leaves them; mapping
//!   changes merge them);
//! - `entry-svid-count`: no entry holds a count (a segment's lock is its mark and its object's
//!   wiring; no other count holders exist yet; not under `netbsd-2019`, which replays a bug);
//! - `shm-lock-mark`: a segment is marked SHM_LOCKed exactly while its object holds its wiring,
//!   and has a lock count only under `illumos`, only while marked (not under `netbsd-2019`,
//!   which leaves the mark behind after a failed SHM_UNLOCK);
//! - `locked-pages`: a guest's locked-page count is the size of its flagged entries;
//! - `wired-not-resident`: every page under a wired entry or a locked segment is resident
//!   (under a lazy `SHM_LOCK`, `linux`, the segment's pages are wired as they come in instead,
//!   and so are the pages of an entry locked on fault, which only an mlocked anonymous entry
//!   may be);
//! - `page-wire-count`: a frame's wire count is the number of entries mapping its page that hold
//!   their own page wiring (wired by flag or count, and not covered by their segment's lock,
//!   `State::entry_holds_pages`), plus one if its segment's object holds its wiring;
//! - `shm-entry-wiring`: a segment's count of pages wired by their own entries is what those
//!   entries show (it lets `SHM_LOCK` and `SHM_UNLOCK` skip the attachers when it is 0);
//! - `frame-owner` / `page-frame`: frames and the pages they hold name each other;
//! - `anon-leak`: no anonymous page outside an anonymous entry holds a frame or a swap slot;
//! - `queue-*`: free frames are on the free list once, unwired frames in use on the pageout
//!   queue once, wired frames on neither, and the pool's counters agree;
//! - `swap-*`: every swapped page's slot is in use, no slot serves two pages, none is leaked,
//!   and the use counter agrees with the slots marked;
//! - `shm-pages`: the segment table's page total is the sum of its segments;
//! - `shm-*`: attach counts match the guests' attachments, which name live segments;
//!   `shm-attach-entry`: every segment entry belongs to a recorded attachment of its segment,
//!   inside its range at the matching object offset; `shm-attach-unmapped` (mapping rule only,
//!   see [`crate::rules`]): no attachment is counted once its pages are all unmapped;
//! - `wired-max`: no more frames are wired than the machine allows.

use crate::base::addr::{FrameId, GuestId, ShmId};
use crate::base::types::Owner;
use crate::vm::map::Backing;
use crate::vm::page::PageSlot;
use crate::vm::segment::Segment;
use crate::vm::state::{GuestVm, State};
use std::collections::{HashMap, HashSet};

pub use crate::base::types::{Invariant, Violation};

fn fail<T>(invariant: Invariant, detail: String) -> Result<T, Violation> {
    Err(Violation::new(invariant, detail))
}

/// Checks the whole machine.
pub(crate) fn audit(s: &State) -> Result<(), Violation> {
    if let Some(v) = s.diag.corrupt() {
        return Err(v.clone());
    }
    let expected = check_guests_and_segments(s)?;
    check_frames(s, &expected)?;
    s.phys.pool.check()?;
    s.phys.swap.check()?;
    s.shm.check()?;
    let wired = s.phys.pool.wired() as u64;
    if wired > s.cfg.limits.wired_max.min(s.phys.pool.total() as u64) {
        return fail(
            Invariant::WiredMax,
            format!(
                "{wired} frames wired, the maximum is {}",
                s.cfg.limits.wired_max
            ),
        );
    }
    check_pages(s)
}

/// Every guest's and segment's own invariants, and the wirings each frame should hold.
fn check_guests_and_segments(s: &State) -> Result<Vec<u32>, Violation> {
    let mut expected = vec![0u32; s.phys.pool.total()];
    let mut entry_wired_pages: HashMap<ShmId, u64> = HashMap::new();
    for (&g, vm) in &s.guests {
        check_guest(s, g, vm, &mut expected, &mut entry_wired_pages)?;
    }
    for seg in s.shm.iter() {
        let own = entry_wired_pages.get(&seg.id()).copied().unwrap_or(0);
        check_segment(s, seg, own, &mut expected)?;
    }
    for (g, vm) in &s.guests {
        if let Some(a) = vm.attachments().iter().find(|a| s.shm.get(a.shm).is_none()) {
            return fail(
                Invariant::ShmDangling,
                format!("{g:?} is attached to dead {:?}", a.shm),
            );
        }
    }
    Ok(expected)
}

/// Where the rule set replays no bug, no entry holds a count (a segment's lock is its mark and
/// its object's wiring, never a count on its attachers' entries), and the mark is the object's
/// wiring.
fn check_counts(s: &State) -> bool {
    !s.policy.replays_bug
}

/// The frame holding page `o`, which must be resident because of `why`.
fn resident_owner(s: &State, o: Owner, why: &str) -> Result<FrameId, Violation> {
    match s.slot(o) {
        PageSlot::Resident(f) => Ok(f),
        other => fail(
            Invariant::WiredNotResident,
            format!("{o:?} is {other:?} though {why}"),
        ),
    }
}

/// Guest `g`'s map, attachments, counts and anonymous memory; adds the wirings its entries
/// hold to `expected` (per frame) and the pages its entries wire of each segment to
/// `entry_wired_pages`.
fn check_guest(
    s: &State,
    g: GuestId,
    vm: &GuestVm,
    expected: &mut [u32],
    entry_wired_pages: &mut HashMap<ShmId, u64>,
) -> Result<(), Violation> {
    vm.map
        .check()
        .map_err(|v| Violation::new(v.invariant, format!("{g:?}: {}", v.detail)))?;
    vm.check_attachments(g, s.policy.attachment_life)?;
    for e in vm.map.iter() {
        if let Backing::Shm { id, .. } = e.backing() {
            if s.shm.get(id).is_none() {
                return fail(
                    Invariant::ShmDangling,
                    format!("{g:?} entry {:?} maps dead {id:?}", e.range()),
                );
            }
            if e.wired_by_itself() {
                *entry_wired_pages.entry(id).or_default() += e.range().pages();
            }
        }
        // The count alone, on purpose: under these rules nothing takes one.
        if check_counts(s) && e.wire_count() != 0 {
            return fail(
                Invariant::EntrySvidCount,
                format!(
                    "{g:?} entry {:?} has wire count {} but no SVID hold is taken",
                    e.range(),
                    e.wire_count()
                ),
            );
        }
        if s.entry_holds_pages(e) {
            for vpn in e.range().iter() {
                let o = e.owner_at(g, vpn);
                // Locked on fault: the pages not in yet take the wiring when they come.
                if e.locks_on_fault() && !matches!(s.slot(o), PageSlot::Resident(_)) {
                    continue;
                }
                let f = resident_owner(s, o, "its entry is wired")?;
                expected[f.index()] += 1;
            }
        }
        if e.locks_on_fault() && !(e.is_mlocked() && e.backing() == Backing::Anon) {
            return fail(
                Invariant::WiredNotResident,
                format!(
                    "{g:?} entry {:?} locks on fault but is not an mlocked anonymous entry",
                    e.range()
                ),
            );
        }
    }
    vm.check_locked_pages(g)?;
    vm.check_anon(g)
}

/// Segment `seg`'s lock state, its count of pages wired by entries (`own`, as its entries
/// have it), and its attach count; adds its object's wirings to `expected`.
fn check_segment(
    s: &State,
    seg: &Segment,
    own: u64,
    expected: &mut [u32],
) -> Result<(), Violation> {
    if check_counts(s)
        && (seg.locked() != seg.object_wired()
            || (seg.lock_count() > 0 && !seg.locked())
            || (!s.policy.shm_lock_counted && seg.lock_count() != 0))
    {
        return fail(
            Invariant::ShmLockMark,
            format!(
                "{:?} is marked {} (lock count {}) but its object is {}",
                seg.id(),
                if seg.locked() { "locked" } else { "unlocked" },
                seg.lock_count(),
                if seg.object_wired() {
                    "wired"
                } else {
                    "not wired"
                }
            ),
        );
    }
    if check_counts(s) && own != seg.entry_wired_pages() {
        return fail(
            Invariant::ShmEntryWiring,
            format!(
                "{:?} counts {} pages wired by their entries, its entries have {own}",
                seg.id(),
                seg.entry_wired_pages()
            ),
        );
    }
    if seg.object_wired() {
        for pgoff in 0..seg.pages() {
            let o = Owner::Object {
                shm: seg.id(),
                pgoff,
            };
            if s.policy.lazy_shm_lock && !matches!(s.slot(o), PageSlot::Resident(_)) {
                // A lazy lock wires pages as they come in.
                continue;
            }
            let f = resident_owner(s, o, "its object is wired")?;
            expected[f.index()] += 1;
        }
    }
    let attached: usize = s
        .guests
        .values()
        .map(|vm| {
            vm.attachments()
                .iter()
                .filter(|a| a.shm == seg.id())
                .count()
        })
        .sum();
    if attached != seg.nattch() as usize {
        return fail(
            Invariant::ShmNattch,
            format!(
                "{:?} counts {} attachments, guests hold {attached}",
                seg.id(),
                seg.nattch()
            ),
        );
    }
    Ok(())
}

/// Every frame's wire count against the wirings that hold it, and its owner against the page.
fn check_frames(s: &State, expected: &[u32]) -> Result<(), Violation> {
    for (f, fr) in s.phys.pool.iter() {
        if fr.wire_count() != expected[f.index()] {
            return fail(
                Invariant::PageWireCount,
                format!(
                    "{f:?} ({:?}) has wire count {} but {} wirings hold it",
                    fr.owner(),
                    fr.wire_count(),
                    expected[f.index()]
                ),
            );
        }
        if let Some(o) = fr.owner() {
            if s.slot(o) != PageSlot::Resident(f) {
                return fail(
                    Invariant::FrameOwner,
                    format!("{f:?} holds {o:?}, which is {:?}", s.slot(o)),
                );
            }
        }
    }
    Ok(())
}

/// Every touched page against its frame or swap slot, and swap's use count.
fn check_pages(s: &State) -> Result<(), Violation> {
    let nframes = s.phys.pool.total();
    let mut slots = HashSet::new();
    let mut pages: Vec<(Owner, PageSlot)> = Vec::new();
    for (&g, vm) in &s.guests {
        pages.extend(
            vm.amap
                .touched()
                .map(|(vpn, sl)| (Owner::Anon { guest: g, vpn }, sl)),
        );
    }
    for seg in s.shm.iter() {
        pages.extend(seg.object().slots().map(|(pgoff, sl)| {
            (
                Owner::Object {
                    shm: seg.id(),
                    pgoff,
                },
                sl,
            )
        }));
    }
    for (o, sl) in pages {
        match sl {
            PageSlot::Resident(f) => {
                if f.index() >= nframes || s.phys.pool.frame(f).owner() != Some(o) {
                    return fail(
                        Invariant::PageFrame,
                        format!(
                            "{o:?} says it is in {f:?}, which holds {:?}",
                            s.phys.pool.iter().nth(f.index()).map(|(_, fr)| fr.owner())
                        ),
                    );
                }
            }
            PageSlot::Swapped(slot) => {
                if !s.phys.swap.is_used(slot) {
                    return fail(
                        Invariant::SwapFreeSlot,
                        format!("{o:?} is in {slot:?}, which is free"),
                    );
                }
                if !slots.insert(slot) {
                    return fail(
                        Invariant::SwapDouble,
                        format!("{slot:?} holds two pages, one of them {o:?}"),
                    );
                }
            }
            PageSlot::Untouched => {}
        }
    }
    if slots.len() != s.phys.swap.used() as usize {
        return fail(
            Invariant::SwapLeak,
            format!(
                "{} slots in use, {} pages in swap",
                s.phys.swap.used(),
                slots.len()
            ),
        );
    }
    Ok(())
}
