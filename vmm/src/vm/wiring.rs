//! Page-level wiring, driven by the entry-level rules of [`crate::vm::wire`]: wiring and unwiring
//! the pages under entries, the object wiring of a `SHM_LOCK`ed segment, the holds on every
//! attachment of a segment, the limit checks that come before any of them, and the one
//! clip–operate–merge helper (`wiring::with_clipped`) every partial-map change goes through.
//!
//! Every operation here either completes or puts back what it did before it returns the error:
//! a wiring that runs out of frames unwires the pages it wired; `wiring::wire_entries`
//! restores every entry it changed. The exceptions are corrupt state (a count or a frame that
//! would go below zero), which is recorded and stops the machine.

use crate::base::addr::{GuestId, PageRange, ShmId, Vpn};
use crate::base::errno::Errno;
use crate::base::events::EventKind;
use crate::base::limits::Limits;
use crate::base::types::Invariant;
use crate::base::types::Owner;
use crate::vm::fault;
use crate::vm::map::{Backing, Entry};
use crate::vm::page::PageSlot;
use crate::vm::state::State;
use crate::vm::wire::{Saved, Transition, WireOp};
use smallvec::SmallVec;

/// What [`wiring::with_clipped`] does to the map after its operation succeeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reshape {
    /// Merge equal neighbours around the range (mapping changes).
    Merge,
    /// Leave the clips (wiring calls, as UVM).
    KeepClips,
}

/// Whether a wiring of an entry's pages takes only those resident now (an entry locked on
/// fault, whose other pages take it as they come in) or every page, bringing each in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pages {
    /// Every page.
    All,
    /// Only the resident pages (lock on fault).
    Resident,
}

impl Pages {
    /// The pages an entry's own wiring holds.
    pub(crate) fn of(e: &Entry) -> Pages {
        if e.locks_on_fault() {
            Pages::Resident
        } else {
            Pages::All
        }
    }
}

/// Wires every page under `[start, end)` of an entry with `backing` in guest `g`, bringing
/// each in first, or only the resident ones (`Pages::Resident`, anonymous memory only). On
/// failure the pages wired so far are unwired again.
pub(crate) fn wire_pages(
    s: &mut State,
    g: GuestId,
    range: PageRange,
    backing: Backing,
    which: Pages,
) -> Result<(), Errno> {
    let base = range.start;
    if let Backing::Shm { id, pgoff } = backing {
        // A segment's pages, straight from its object.
        return match s.wire_object_run(id, pgoff, range.pages()) {
            Ok(()) => Ok(()),
            Err((done, e)) => {
                unwire_pages(
                    s,
                    g,
                    PageRange::new(base, base.plus(done)),
                    backing,
                    Pages::All,
                )?;
                Err(e)
            }
        };
    }
    for vpn in range.iter() {
        let o = offset_backing(backing, vpn.0 - base.0).owner(g, vpn);
        if which == Pages::Resident {
            if let PageSlot::Resident(f) = s.slot(o) {
                s.phys.pool.wire(f);
            }
            continue;
        }
        match fault::page_in(s, o) {
            Ok(f) => s.phys.pool.wire(f),
            Err(e) => {
                unwire_pages(s, g, PageRange::new(base, vpn), backing, which)?;
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Brings in and wires the pages under an anonymous entry's `range` that are not resident
/// (the resident ones hold its wiring already: it was locked on fault).
fn wire_missing_pages(
    s: &mut State,
    g: GuestId,
    range: PageRange,
    backing: Backing,
) -> Result<(), Errno> {
    let base = range.start;
    for vpn in range.iter() {
        let o = offset_backing(backing, vpn.0 - base.0).owner(g, vpn);
        if !matches!(s.slot(o), PageSlot::Resident(_)) {
            let f = fault::page_in(s, o)?;
            s.phys.pool.wire(f);
        }
    }
    Ok(())
}

/// Drops one wiring from every page under `[start, end)` of an entry with `backing`, or from
/// the resident ones only (`Pages::Resident`: an entry locked on fault).
pub(crate) fn unwire_pages(
    s: &mut State,
    g: GuestId,
    range: PageRange,
    backing: Backing,
    which: Pages,
) -> Result<(), Errno> {
    let base = range.start;
    if let Backing::Shm { id, pgoff } = backing {
        return match s.unwire_object_run(id, pgoff, range.pages()) {
            Ok(()) => Ok(()),
            Err((k, resident)) => {
                let vpn = base.plus(k);
                Err(if resident {
                    s.corrupted(
                        Invariant::WireUnderflow,
                        format!("{g:?} page {:?} unwired below zero", vpn.addr()),
                    )
                } else {
                    s.corrupted(
                        Invariant::WireResident,
                        format!(
                            "{g:?} page {:?} of a wired entry is not resident",
                            vpn.addr()
                        ),
                    )
                })
            }
        };
    }
    for vpn in range.iter() {
        let o = offset_backing(backing, vpn.0 - base.0).owner(g, vpn);
        let PageSlot::Resident(f) = s.slot(o) else {
            if which == Pages::Resident {
                continue;
            }
            return Err(s.corrupted(
                Invariant::WireResident,
                format!(
                    "{g:?} page {:?} of a wired entry is not resident",
                    vpn.addr()
                ),
            ));
        };
        if s.phys.pool.unwire(f).is_err() {
            return Err(s.corrupted(
                Invariant::WireUnderflow,
                format!("{g:?} page {:?} ({f:?}) unwired below zero", vpn.addr()),
            ));
        }
    }
    Ok(())
}

/// Applies `op` to every entry of guest `g` that lies in `range` and satisfies `pick`, doing
/// the page-level work each transition asks for. The caller has clipped at the range's ends.
/// Keeps the guest's locked-page count. On failure every entry is put back as it was.
pub(crate) fn wire_entries(
    s: &mut State,
    g: GuestId,
    range: PageRange,
    op: WireOp,
    pick: impl Fn(&Entry) -> bool,
) -> Result<(), Errno> {
    let starts = s.guest(g)?.map.starts_in(range);
    let mut done: SmallVec<[Applied; 4]> = SmallVec::new();
    for start in starts {
        match wire_entry(s, g, start, op, &pick) {
            Ok(Some(applied)) => done.push(applied),
            Ok(None) => {}
            Err(e) => {
                undo_entries(s, g, done)?;
                return Err(e);
            }
        }
    }
    Ok(())
}

/// What [`wire_entry`] did to one entry, for [`undo_entries`].
struct Applied {
    start: Vpn,
    saved: Saved,
    transition: Transition,
    /// Whether its segment's lock held the pages, so the transition changed none.
    covered: bool,
    /// The pages its transition wired or unwired.
    pages: Pages,
}

/// Applies `op` to guest `g`'s entry at `start`, if `pick` takes it, and does the page-level
/// work its transition asks for. On failure the entry is as it was.
fn wire_entry(
    s: &mut State,
    g: GuestId,
    start: Vpn,
    op: WireOp,
    pick: &impl Fn(&Entry) -> bool,
) -> Result<Option<Applied>, Errno> {
    let vm = s.guests.get_mut(&g).expect("guest checked");
    let e = vm.map.get_mut(start).expect("entry listed");
    if !pick(e) {
        return Ok(None);
    }
    // Only anonymous memory locks on fault: a segment's pages are shared, and which of them
    // are in is not one entry's business, so a segment entry is locked whole.
    let op = match op {
        WireOp::MlockOnFault if e.backing() != Backing::Anon => WireOp::Mlock,
        op => op,
    };
    let (was_locked, was) = (e.is_mlocked(), Pages::of(e));
    let Ok((t, saved)) = e.apply(op) else {
        return Err(s.corrupted(
            Invariant::EntryCountUnderflow,
            format!("{g:?} entry at {:?} released with no hold", start.addr()),
        ));
    };
    let (erange, backing, now_locked, now) = (e.range(), e.backing(), e.is_mlocked(), Pages::of(e));
    if t != Transition::Unchanged {
        tracing::debug!(target: "vmm::wire", guest = g.0, start = erange.start.addr().0, pages = erange.pages(), ?op, transition = ?t, mlocked = now_locked, count = e.wire_count(), "entry wiring");
        s.record(EventKind::Wire {
            guest: g,
            start: erange.start.addr(),
            pages: erange.pages(),
            wire: t == Transition::Wire,
            op: op.name(),
        });
    }
    // Under a segment lock that stands for every attacher, the object's wiring holds the
    // pages: the entry's own transition changes no page.
    let covered = s.lock_covers(backing);
    let pages = match t {
        Transition::Unwire => was,
        _ => now,
    };
    if pages == Pages::Resident {
        s.guests.note_lock_on_fault();
    }
    let r = match t {
        _ if covered => Ok(()),
        Transition::Wire => wire_pages(s, g, erange, backing, pages),
        Transition::Unwire => unwire_pages(s, g, erange, backing, pages),
        // A lock on fault become a whole lock (a plain `mlock` over it): the pages not in yet
        // come in wired. On failure those already brought in stay wired, which the lock on
        // fault the entry goes back to holds them by.
        Transition::Unchanged if was == Pages::Resident && now == Pages::All => {
            wire_missing_pages(s, g, erange, backing)
        }
        Transition::Unchanged => Ok(()),
    };
    let vm = s.guests.get_mut(&g).expect("guest checked");
    if let Err(err) = r {
        vm.map.get_mut(start).expect("entry there").restore(saved);
        return Err(err);
    }
    if was_locked != now_locked {
        vm.lock_changed(erange.pages(), now_locked);
    }
    s.count_entry_wiring(backing, erange.pages(), t);
    Ok(Some(Applied {
        start,
        saved,
        transition: t,
        covered,
        pages,
    }))
}

/// Puts back the entries [`wire_entry`] changed, newest first, with their page wirings.
fn undo_entries(s: &mut State, g: GuestId, done: SmallVec<[Applied; 4]>) -> Result<(), Errno> {
    for a in done.into_iter().rev() {
        let vm = s.guests.get_mut(&g).expect("guest checked");
        let e = vm.map.get_mut(a.start).expect("entry still there");
        let was_locked = e.is_mlocked();
        e.restore(a.saved);
        let (erange, backing, now_locked) = (e.range(), e.backing(), e.is_mlocked());
        if was_locked != now_locked {
            vm.lock_changed(erange.pages(), now_locked);
        }
        let back = match a.transition {
            Transition::Wire => Transition::Unwire,
            Transition::Unwire => Transition::Wire,
            Transition::Unchanged => Transition::Unchanged,
        };
        s.count_entry_wiring(backing, erange.pages(), back);
        // Only wiring operations can fail, so only wirings need undoing.
        if a.transition == Transition::Wire && !a.covered {
            unwire_pages(s, g, erange, backing, a.pages)?;
        }
    }
    Ok(())
}

/// Clips guest `g`'s map at the ends of `range`, runs `op`, and merges around `range`
/// when `after` says so or `op` failed: the one shape of every call that changes part of
/// a map.
///
/// The contract: `op` sees every entry wholly inside or wholly outside `range`. If it fails,
/// it has put back what it changed (as [`wiring::wire_entries`] does), so the merge
/// leaves the map exactly as it was before the clip; a merge cannot fail, so nothing more
/// is undone here. A range inside the address space is the caller's to check.
///
/// Wiring calls keep their clips ([`Reshape::KeepClips`]), as UVM's `uvm_map_pageable`
/// does: a `munlock` leaves the entries its `mlock` split apart, so a program that locks
/// and unlocks the same buffer changes the map's shape once, not twice per call. Mapping
/// changes (`mprotect`, `munmap` and everything that removes pages) merge.
pub(crate) fn with_clipped<R>(
    s: &mut State,
    g: GuestId,
    range: PageRange,
    after: Reshape,
    op: impl FnOnce(&mut State) -> Result<R, Errno>,
) -> Result<R, Errno> {
    s.guest_mut(g)?.map.clip_range(range);
    let r = op(s);
    if r.is_err() || after == Reshape::Merge {
        if let Ok(vm) = s.guest_mut(g) {
            vm.map.merge_around(range);
        }
    }
    r
}

/// Frames that would newly become wired if every unwired entry in `range` (of those `pick`
/// accepts) were wired: pages not resident, or resident with no wiring yet. A segment page
/// mapped twice in the range counts once.
pub(crate) fn frames_to_wire(
    s: &State,
    g: GuestId,
    range: PageRange,
    pick: impl Fn(&Entry) -> bool,
) -> u64 {
    let vm = &s.guests[&g];
    let mut shared = std::collections::HashSet::new();
    vm.map
        .overlapping(range)
        .filter(|e| pick(e))
        .map(|e| frames_to_wire_in(s, g, e, range, &mut shared))
        .sum()
}

/// [`frames_to_wire`]'s count for one entry `e` of guest `g` (0 when it is wired
/// already, by itself or its segment's lock), `shared` holding the segment pages counted so
/// far.
pub(crate) fn frames_to_wire_in(
    s: &State,
    g: GuestId,
    e: &Entry,
    range: PageRange,
    shared: &mut std::collections::HashSet<Owner>,
) -> u64 {
    let onfault = e.locks_on_fault() && !s.covered_by_lock(e);
    if s.entry_wired(e) && !onfault {
        return 0;
    }
    let mut n = 0;
    for vpn in e.range().intersect(&range).iter().flat_map(|r| r.iter()) {
        let o = e.owner_at(g, vpn);
        match s.slot(o) {
            // Locked on fault: what is resident is wired already; the rest would come in.
            PageSlot::Resident(_) if onfault => {}
            PageSlot::Resident(f) if s.phys.pool.frame(f).is_wired() => {}
            _ if matches!(o, Owner::Object { .. }) => n += u64::from(shared.insert(o)),
            _ => n += 1,
        }
    }
    n
}

/// The frames a lock on fault of entry `e` over `range` would newly wire: its resident pages
/// with no wiring yet (0 when the entry is wired already).
pub(crate) fn resident_frames_to_wire_in(
    s: &State,
    g: GuestId,
    e: &Entry,
    range: PageRange,
) -> u64 {
    if s.entry_wired(e) {
        return 0;
    }
    e.range()
        .intersect(&range)
        .iter()
        .flat_map(|r| r.iter())
        .filter(|&vpn| {
            matches!(s.slot(e.owner_at(g, vpn)),
                PageSlot::Resident(f) if !s.phys.pool.frame(f).is_wired())
        })
        .count() as u64
}

/// Which limit a lock would pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LimitHit {
    /// The guest's locked-memory limit.
    Memlock,
    /// The machine's wired maximum.
    Wired,
}

/// The one lock-limit check: whether guest `g` may hold `more_locked` locked pages beyond
/// those it holds (its locked-memory limit, which a privileged guest does not have where the
/// rule set says so, as Linux's `CAP_IPC_LOCK`), and the machine `more_wired` more wired
/// frames (the wired maximum).
pub(crate) fn lock_limits(
    s: &State,
    g: GuestId,
    more_locked: u64,
    more_wired: u64,
) -> Result<(), LimitHit> {
    let vm = &s.guests[&g];
    // Linux `mm/mlock.c:do_mlock`: `locked <= lock_limit || capable(CAP_IPC_LOCK)`.
    let exempt = vm.cred().may_lock(&s.policy) && s.policy.privilege_lifts_memlock;
    if !exempt && !Limits::memlock_allows(vm.locked_pages(), more_locked, vm.memlock_limit()) {
        return Err(LimitHit::Memlock);
    }
    if !s.phys.wired_allows(&s.cfg.limits, more_wired) {
        return Err(LimitHit::Wired);
    }
    Ok(())
}

/// [`lock_limits`] for locking the entries of `range` that `pick` accepts: the pages that would
/// newly carry the flag, and the frames that would newly be wired.
pub(crate) fn check_lock_limits(
    s: &State,
    g: GuestId,
    range: PageRange,
    pick: impl Fn(&Entry) -> bool + Copy,
) -> Result<(), LimitHit> {
    let more_locked: u64 = s.guests[&g]
        .map
        .overlapping(range)
        .filter(|e| !e.is_mlocked() && pick(e))
        .filter_map(|e| e.range().intersect(&range))
        .map(|r| r.pages())
        .sum();
    lock_limits(s, g, more_locked, frames_to_wire(s, g, range, pick))
}

/// Takes the object's own wiring on every page of the segment, bringing pages in. On failure
/// the pages wired so far are unwired again. Under a lazy `SHM_LOCK` (Linux) only the
/// resident pages are wired; the others take the wiring when a fault brings them in.
pub(crate) fn wire_object(s: &mut State, id: ShmId) -> Result<(), Errno> {
    if s.seg(id)?.object_wired() {
        return Err(s.corrupted(
            Invariant::ObjectWiredTwice,
            format!("{id:?} took its object wiring while holding it"),
        ));
    }
    let pages = s.seg(id)?.pages();
    if s.policy.lazy_shm_lock {
        // Only the pages there now; the rest take the wiring as they come in (`fault::fault`).
        for pgoff in 0..pages {
            if let PageSlot::Resident(f) = s.slot(Owner::Object { shm: id, pgoff }) {
                s.phys.pool.wire(f);
            }
        }
        s.shm
            .get_mut(id)
            .expect("checked above")
            .set_object_wired(true);
        return Ok(());
    }
    if let Err((done, e)) = s.wire_object_run(id, 0, pages) {
        for k in 0..done {
            s.unwire_object_page(id, k)?;
        }
        return Err(e);
    }
    s.shm
        .get_mut(id)
        .expect("checked above")
        .set_object_wired(true);
    Ok(())
}

/// Drops the object's own wiring from every page of the segment. Dropping a wiring the
/// object does not hold is a double unwire: corrupt state.
pub(crate) fn unwire_object(s: &mut State, id: ShmId) -> Result<(), Errno> {
    if !s.seg(id)?.object_wired() {
        return Err(s.corrupted(
            Invariant::ObjectUnwiredTwice,
            format!("{id:?} dropped an object wiring it no longer held"),
        ));
    }
    let pages = s.seg(id)?.pages();
    if !s.policy.lazy_shm_lock {
        // Every page is resident and holds the object's wiring.
        if let Err((k, _)) = s.unwire_object_run(id, 0, pages) {
            return Err(s.corrupted(
                Invariant::WireUnderflow,
                format!("{id:?} page {k} lost its SHM_LOCK wiring"),
            ));
        }
        s.shm
            .get_mut(id)
            .expect("checked above")
            .set_object_wired(false);
        return Ok(());
    }
    // Lazy: only the resident pages took the object's wiring.
    for pgoff in 0..pages {
        let resident = matches!(
            s.slot(Owner::Object { shm: id, pgoff }),
            PageSlot::Resident(_)
        );
        if resident {
            s.unwire_object_page(id, pgoff)?;
        }
    }
    s.shm
        .get_mut(id)
        .expect("checked above")
        .set_object_wired(false);
    Ok(())
}

/// Hands the page wiring of the entries mapping segment `id` that are wired on their own
/// account (by `mlock`) over to the segment's lock (`to_lock`: each drops its page wiring,
/// which the object's wiring now stands for) or back (each takes its own again), where the
/// lock stands for every attacher ([`crate::base::types::Policy::lock_covers_attachers`]). No
/// entry changes, and only when some entry is wired on its own account is any guest's map
/// looked at: the cost does not grow with attachers. The object must be wired throughout,
/// so neither direction needs a frame.
pub(crate) fn hand_over_entry_wirings(
    s: &mut State,
    id: ShmId,
    to_lock: bool,
) -> Result<(), Errno> {
    if s.seg(id)?.entry_wired_pages() == 0 {
        return Ok(());
    }
    let held: Vec<(GuestId, PageRange, Backing)> = s
        .guests
        .iter()
        .flat_map(|(&g, vm)| {
            vm.map
                .iter()
                .filter(|e| {
                    e.wired_by_itself()
                        && matches!(e.backing(), Backing::Shm { id: x, .. } if x == id)
                })
                .map(move |e| (g, e.range(), e.backing()))
        })
        .collect();
    for (g, range, backing) in held {
        if to_lock {
            unwire_pages(s, g, range, backing, Pages::All)?;
        } else {
            wire_pages(s, g, range, backing, Pages::All)?;
        }
    }
    Ok(())
}

/// Whether the object's pages may all become wired (`ENOMEM` if the wired maximum forbids).
pub(crate) fn check_object_wiring(s: &State, id: ShmId) -> Result<(), Errno> {
    let seg = s.seg(id)?;
    let more = (0..seg.pages())
        .filter(|&pgoff| match seg.object().get(pgoff) {
            PageSlot::Resident(f) => !s.phys.pool.frame(f).is_wired(),
            _ => true,
        })
        .count() as u64;
    if s.phys.wired_allows(&s.cfg.limits, more) {
        Ok(())
    } else {
        Err(Errno::ENOMEM)
    }
}

/// Sets the segment's SHM_LOCK mark.
pub(crate) fn set_locked(s: &mut State, id: ShmId, locked: bool) {
    if let Some(seg) = s.shm.get_mut(id) {
        if seg.set_locked(locked) {
            let guest = s.diag.caller();
            let what = if locked { "locked" } else { "unlocked" };
            s.record(EventKind::Segment {
                guest,
                shm: id,
                what,
            });
        }
    }
}

impl State {
    /// Keeps the segment's count of pages wired by their entries ([`crate::vm::segment::Segment`]'s
    /// `entry_wired_pages`) through an entry transition `t` of `pages` pages with `backing`.
    fn count_entry_wiring(&mut self, backing: Backing, pages: u64, t: Transition) {
        let Backing::Shm { id, .. } = backing else {
            return;
        };
        if let Some(seg) = self.shm.get_mut(id) {
            match t {
                Transition::Wire => seg.count_entry_wired_pages(pages, true),
                Transition::Unwire => seg.count_entry_wired_pages(pages, false),
                Transition::Unchanged => {}
            }
        }
    }

    /// Wires segment `id`'s object pages `first..first + n`, bringing in any that are not
    /// resident. The resident runs are wired straight from the object's slots, without a
    /// lookup per page. On failure, `Err((done, e))`: the first `done` are wired.
    fn wire_object_run(&mut self, id: ShmId, first: u64, n: u64) -> Result<(), (u64, Errno)> {
        let mut k = 0;
        while k < n {
            if let Some(seg) = self.shm.get(id) {
                let pool = &mut self.phys.pool;
                while k < n {
                    match seg.object().get(first + k) {
                        PageSlot::Resident(f) => {
                            pool.touch(f);
                            pool.wire(f);
                            k += 1;
                        }
                        _ => break,
                    }
                }
            }
            if k < n {
                match fault::page_in(
                    self,
                    Owner::Object {
                        shm: id,
                        pgoff: first + k,
                    },
                ) {
                    Ok(f) => {
                        self.phys.pool.wire(f);
                        k += 1;
                    }
                    Err(e) => return Err((k, e)),
                }
            }
        }
        Ok(())
    }

    /// Drops one wiring from each of segment `id`'s object pages `first..first + n`. On the
    /// first page that is not resident (`false`) or not wired (`true`), `Err((k, which))`:
    /// the `k` before it are unwired. The caller reports the corruption.
    fn unwire_object_run(&mut self, id: ShmId, first: u64, n: u64) -> Result<(), (u64, bool)> {
        let Some(seg) = self.shm.get(id) else {
            return Err((0, false));
        };
        let pool = &mut self.phys.pool;
        for k in 0..n {
            match seg.object().get(first + k) {
                PageSlot::Resident(f) => {
                    if pool.unwire(f).is_err() {
                        return Err((k, true));
                    }
                }
                _ => return Err((k, false)),
            }
        }
        Ok(())
    }

    fn unwire_object_page(&mut self, id: ShmId, pgoff: u64) -> Result<(), Errno> {
        match self.slot(Owner::Object { shm: id, pgoff }) {
            PageSlot::Resident(f) if self.phys.pool.unwire(f).is_ok() => Ok(()),
            _ => Err(self.corrupted(
                Invariant::WireUnderflow,
                format!("{id:?} page {pgoff} lost its SHM_LOCK wiring"),
            )),
        }
    }
}

/// The backing of the page `delta` pages into an entry whose first page has `backing`.
fn offset_backing(backing: Backing, delta: u64) -> Backing {
    match backing {
        Backing::Anon => Backing::Anon,
        Backing::Shm { id, pgoff } => Backing::Shm {
            id,
            pgoff: pgoff + delta,
        },
    }
}
