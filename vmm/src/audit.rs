//! The audit: every invariant of the whole machine, checked from scratch.
//!
//! `audit` recomputes what every counter should be from the maps, objects and segments, and
//! compares. The first broken invariant comes back as a [`Violation`] naming it and the values
//! involved. The invariants, by name:
//!
//! - whatever an operation found broken when it stopped the machine (`wire-underflow`,
//!   `object-unwired-twice`, `entry-count-underflow`, ...: see [`crate::Machine::corruption`]);
//! - `map-*`: a guest's map is sorted, non-overlapping, within bounds and fully merged;
//! - `entry-svid-count`: an entry's wire count is one while its segment is SHM_LOCKed, else zero
//!   (no other count holders exist yet; only under the proposed rules, where the count is
//!   segment state);
//! - `shm-lock-mark`: a segment is marked SHM_LOCKed exactly while its object holds its wiring
//!   (proposed rules only: `netbsd-2019` leaves the mark behind after a failed SHM_UNLOCK);
//! - `locked-pages`: a guest's locked-page count is the size of its flagged entries;
//! - `wired-not-resident`: every page under a wired entry or a locked segment is resident;
//! - `page-wire-count`: a frame's wire count is the number of wired entries mapping its page,
//!   plus one if its segment's object holds its wiring;
//! - `frame-owner` / `page-frame`: frames and the pages they hold name each other;
//! - `anon-leak`: no anonymous page outside an anonymous entry holds a frame or a swap slot;
//! - `queue-*`: free frames are on the free list once, unwired frames in use on the pageout
//!   queue once, wired frames on neither, and the pool's counters agree;
//! - `swap-*`: every swapped page's slot is in use, no slot serves two pages, none is leaked;
//! - `shm-*`: attach counts match the guests' attachments, which name live segments;
//!   `shm-attach-entry`: every segment entry belongs to a recorded attachment of its segment,
//!   inside its range at the matching object offset; `shm-attach-unmapped` (mapping rule only,
//!   see [`crate::semantics`]): no attachment is counted once its pages are all unmapped;
//! - `wired-max`: no more frames are wired than the machine allows.

use crate::addr::{AttachId, FrameId, GuestId};
use crate::machine::{Attachment, GuestVm, State};
use crate::map::Backing;
use crate::page::{Owner, PageSlot, Queue};
use crate::semantics::AttachmentLife;
use std::collections::{HashMap, HashSet};
use std::fmt;

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The invariant's name (see the module documentation).
    pub invariant: &'static str,
    /// The values involved.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.detail)
    }
}

impl std::error::Error for Violation {}

fn fail<T>(invariant: &'static str, detail: String) -> Result<T, Violation> {
    Err(Violation { invariant, detail })
}

/// A guest's attachments against its map: every segment entry belongs to one recorded
/// attachment of its segment, inside the attachment's range and at the matching object offset;
/// no anonymous entry belongs to one; and under the mapping rule every attachment still maps a
/// page (so no two can claim one range and none outlives its pages).
fn check_attachments(s: &State, g: GuestId, vm: &GuestVm) -> Result<(), Violation> {
    let records: HashMap<AttachId, &Attachment> =
        vm.attachments.iter().map(|a| (a.id, a)).collect();
    if records.len() != vm.attachments.len() {
        return fail(
            "shm-attach-entry",
            format!("{g:?} records one attachment id twice"),
        );
    }
    let mut mapping = HashSet::new();
    for e in vm.map.iter() {
        let ok = match (e.backing, e.attachment) {
            (Backing::Anon, None) => true,
            (Backing::Shm { id, pgoff }, Some(aid)) => {
                mapping.insert(aid);
                records.get(&aid).is_some_and(|a| {
                    a.shm == id
                        && a.va <= e.start
                        && e.end <= a.range().end
                        && pgoff == e.start.0 - a.va.0
                })
            }
            _ => false,
        };
        if !ok {
            return fail(
                "shm-attach-entry",
                format!(
                    "{g:?} entry {:?} ({:?}, {:?}) is not part of a recorded attachment of its segment",
                    e.range(),
                    e.backing,
                    e.attachment
                ),
            );
        }
    }
    if s.rules().attachment_life() == AttachmentLife::Mapping {
        if let Some(a) = vm.attachments.iter().find(|a| !mapping.contains(&a.id)) {
            return fail(
                "shm-attach-unmapped",
                format!(
                    "{g:?} {:?} of {:?} at {:?} maps no page but is still counted",
                    a.id,
                    a.shm,
                    a.va.addr()
                ),
            );
        }
    }
    Ok(())
}

/// Checks the whole machine.
pub(crate) fn audit(s: &State) -> Result<(), Violation> {
    if let Some(v) = &s.corrupt {
        return Err(v.clone());
    }
    let nframes = s.pool.total();
    let mut expected = vec![0u32; nframes];
    let resident_owner = |o: Owner, why: &str| -> Result<FrameId, Violation> {
        match s.slot(o) {
            PageSlot::Resident(f) => Ok(f),
            other => fail(
                "wired-not-resident",
                format!("{o:?} is {other:?} though {why}"),
            ),
        }
    };

    for (&g, vm) in &s.guests {
        if let Err((name, detail)) = vm.map.check() {
            return fail(name, format!("{g:?}: {detail}"));
        }
        check_attachments(s, g, vm)?;
        let mut locked = 0;
        for e in vm.map.iter() {
            let svid = match e.backing {
                Backing::Anon => 0,
                Backing::Shm { id, .. } => match s.shm.get(id) {
                    Some(seg) => u32::from(seg.locked),
                    None => {
                        return fail(
                            "shm-dangling",
                            format!("{g:?} entry {:?} maps dead {id:?}", e.range()),
                        )
                    }
                },
            };
            if s.rules().counts_are_segment_state() && e.wire_count != svid {
                return fail(
                    "entry-svid-count",
                    format!(
                        "{g:?} entry {:?} has wire count {} but its SVID holds are {svid}",
                        e.range(),
                        e.wire_count
                    ),
                );
            }
            if e.is_mlocked() {
                locked += e.range().pages();
            }
            if e.is_wired() {
                for vpn in e.range().iter() {
                    let f = resident_owner(
                        State::owner_of(g, e.backing_at(vpn), vpn),
                        "its entry is wired",
                    )?;
                    expected[f.index()] += 1;
                }
            }
        }
        if locked != vm.locked_pages {
            return fail(
                "locked-pages",
                format!(
                    "{g:?} counts {} locked pages, its flagged entries hold {locked}",
                    vm.locked_pages
                ),
            );
        }
        for (vpn, _) in vm.amap.touched() {
            if !matches!(vm.map.lookup(vpn), Some(e) if e.backing == Backing::Anon) {
                return fail(
                    "anon-leak",
                    format!(
                        "{g:?} page {:?} holds memory but no anonymous entry maps it",
                        vpn.addr()
                    ),
                );
            }
        }
    }
    for seg in s.shm.iter() {
        if s.rules().counts_are_segment_state() && seg.locked != seg.object_wired {
            return fail(
                "shm-lock-mark",
                format!(
                    "{:?} is marked {} but its object is {}",
                    seg.id,
                    if seg.locked { "locked" } else { "unlocked" },
                    if seg.object_wired {
                        "wired"
                    } else {
                        "not wired"
                    }
                ),
            );
        }
        if seg.object_wired {
            for pgoff in 0..seg.pages() {
                let f =
                    resident_owner(Owner::Object { shm: seg.id, pgoff }, "its object is wired")?;
                expected[f.index()] += 1;
            }
        }
        let attached: usize = s
            .guests
            .values()
            .map(|vm| vm.attachments.iter().filter(|a| a.shm == seg.id).count())
            .sum();
        if attached != seg.nattch as usize {
            return fail(
                "shm-nattch",
                format!(
                    "{:?} counts {} attachments, guests hold {attached}",
                    seg.id, seg.nattch
                ),
            );
        }
    }
    for (g, vm) in &s.guests {
        if let Some(a) = vm.attachments.iter().find(|a| s.shm.get(a.shm).is_none()) {
            return fail(
                "shm-dangling",
                format!("{g:?} is attached to dead {:?}", a.shm),
            );
        }
    }

    let mut wired = 0;
    for (f, fr) in s.pool.iter() {
        if fr.wire_count != expected[f.index()] {
            return fail(
                "page-wire-count",
                format!(
                    "{f:?} ({:?}) has wire count {} but {} wirings hold it",
                    fr.owner,
                    fr.wire_count,
                    expected[f.index()]
                ),
            );
        }
        match fr.owner {
            None if fr.queue != Queue::Free || fr.wire_count != 0 => {
                return fail(
                    "queue-free",
                    format!(
                        "{f:?} has no owner but is on {:?} with {} wirings",
                        fr.queue, fr.wire_count
                    ),
                );
            }
            None => {}
            Some(o) => {
                if s.slot(o) != PageSlot::Resident(f) {
                    return fail(
                        "frame-owner",
                        format!("{f:?} holds {o:?}, which is {:?}", s.slot(o)),
                    );
                }
                let want = if fr.wire_count > 0 {
                    Queue::Wired
                } else {
                    Queue::Pageout
                };
                if fr.queue != want {
                    return fail(
                        "queue-state",
                        format!("{f:?} with {} wirings is on {:?}", fr.wire_count, fr.queue),
                    );
                }
                if fr.wire_count > 0 {
                    wired += 1;
                }
            }
        }
    }
    if wired != s.pool.wired() {
        return fail(
            "queue-wired-count",
            format!("pool counts {} wired frames, {wired} are", s.pool.wired()),
        );
    }
    let free: HashSet<FrameId> = s.pool.free_list().iter().copied().collect();
    let free_frames = s.pool.iter().filter(|(_, fr)| fr.owner.is_none()).count();
    if free.len() != s.pool.free_list().len() || free.len() != free_frames {
        return fail(
            "queue-free",
            format!(
                "free list has {} entries ({} distinct) for {free_frames} free frames",
                s.pool.free_list().len(),
                free.len()
            ),
        );
    }
    let queue = s.pool.pageout_queue();
    let queued: HashSet<FrameId> = queue.iter().copied().collect();
    let pageable = s
        .pool
        .iter()
        .filter(|(_, fr)| fr.owner.is_some() && fr.wire_count == 0)
        .count();
    if queued.len() != queue.len()
        || queue.len() != pageable
        || queue.len() != s.pool.pageout_count()
    {
        return fail(
            "queue-pageout",
            format!("pageout queue has {} entries ({} distinct), counter {}, for {pageable} pageable frames", queue.len(), queued.len(), s.pool.pageout_count()),
        );
    }
    if wired as u64 > s.cfg.limits.wired_max.min(nframes as u64) {
        return fail(
            "wired-max",
            format!(
                "{wired} frames wired, the maximum is {}",
                s.cfg.limits.wired_max
            ),
        );
    }

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
        pages.extend(
            seg.object
                .slots()
                .map(|(pgoff, sl)| (Owner::Object { shm: seg.id, pgoff }, sl)),
        );
    }
    for (o, sl) in pages {
        match sl {
            PageSlot::Resident(f) => {
                if f.index() >= nframes || s.pool.frame(f).owner != Some(o) {
                    return fail(
                        "page-frame",
                        format!(
                            "{o:?} says it is in {f:?}, which holds {:?}",
                            s.pool.iter().nth(f.index()).map(|(_, fr)| fr.owner)
                        ),
                    );
                }
            }
            PageSlot::Swapped(slot) => {
                if !s.swap.is_used(slot) {
                    return fail(
                        "swap-free-slot",
                        format!("{o:?} is in {slot:?}, which is free"),
                    );
                }
                if !slots.insert(slot) {
                    return fail(
                        "swap-double",
                        format!("{slot:?} holds two pages, one of them {o:?}"),
                    );
                }
            }
            PageSlot::Untouched => {}
        }
    }
    if slots.len() != s.swap.used() as usize {
        return fail(
            "swap-leak",
            format!(
                "{} slots in use, {} pages in swap",
                s.swap.used(),
                slots.len()
            ),
        );
    }
    Ok(())
}
