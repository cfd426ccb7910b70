//! Selectable wiring rules: the fix this project implements (`proposed`, the default), and the
//! rules NetBSD had in 2019 (`netbsd-2019`), kept to replay the original bug.
//!
//! Everything the two modes do differently lives in one `Rules` implementation each; the map,
//! page and shm code ask the machine's rules ([`rules`]) and never test the mode themselves.
//! The mode's name, [`Semantics`], and how long its attachments live, [`AttachmentLife`], are
//! plain types in [`crate::types`], so the layers below this one can read them.
//!
//! | | `proposed` | `netbsd-2019` |
//! |---|---|---|
//! | `mlock`, `mlockall(MCL_CURRENT)`, `MCL_FUTURE` mappings | set the entry's POSIX flag | add one to the entry's only count |
//! | `munlock` | clear the flag; a count still wires | `EINVAL` unless every entry is counted, then force every count to 0 |
//! | `munlockall` | clear every flag | force every count to 0 |
//! | `SHM_LOCK` | segment state: the object and every entry mapping it, in any guest, hold one wiring | unless marked: wire the object, count the caller's newest attachment (NetBSD's list head), mark; nothing if the caller has no attachment |
//! | `SHM_UNLOCK` | removes exactly those wirings | if marked: unwire the object, then force that attachment's count to 0 (`EIO` if it already is 0, and the mark stays), then clear the mark |
//! | `shmat` of a locked segment | the new entry holds one count | nothing |
//! | an attachment whose pages were all unmapped | ends there: a detach ([`AttachmentLife::Mapping`]) | stays on record until `shmdt` or exit ([`AttachmentLife::Record`]) |
//! | `shmdt(addr)` | the newest live attachment made at `addr`; removes exactly its remaining pages | the newest record made at `addr`; unmaps its whole range, whatever is mapped there now |
//! | `mlock` of a range with a `PROT_NONE` entry | `EINVAL`, nothing changed (NetBSD's errno) | the same |
//!
//! Under `netbsd-2019` the sequences that broke NetBSD (SHM_LOCK, munlock, SHM_UNLOCK twice; one
//! guest locks and another unlocks; the locker detaches first) give NetBSD's wrong answers until a
//! wire count would underflow; there the machine records the broken invariant and refuses every
//! further call (see [`crate::Machine::corruption`]).

use crate::addr::{GuestId, PageRange, ShmId};
use crate::errno::Errno;
use crate::map::{Backing, Entry};
use crate::state::State;
use crate::wire::WireOp;
use crate::wiring::WireOps;

pub use crate::types::{AttachmentLife, Semantics};

/// The rules in force on a machine.
#[inline]
pub(crate) fn rules(s: &State) -> &'static dyn Rules {
    match s.cfg.semantics {
        Semantics::Proposed => &Proposed,
        Semantics::Netbsd2019 => &Netbsd2019,
    }
}

/// What a mode decides. Every method runs under the machine lock.
pub(crate) trait Rules: Sync {
    /// The entry operation of `mlock`, `mlockall(MCL_CURRENT)` and `MCL_FUTURE` mappings.
    fn lock_op(&self) -> WireOp;
    /// `munlock` of `range` (already checked mapped and clipped).
    fn munlock(&self, s: &mut State, g: GuestId, range: PageRange) -> Result<(), Errno>;
    /// `munlockall`'s work on every entry.
    fn munlockall(&self, s: &mut State, g: GuestId) -> Result<(), Errno>;
    /// `SHM_LOCK` by guest `g` (privilege already checked).
    fn shm_lock(&self, s: &mut State, g: GuestId, id: ShmId) -> Result<(), Errno>;
    /// `SHM_UNLOCK` by guest `g` (privilege already checked).
    fn shm_unlock(&self, s: &mut State, g: GuestId, id: ShmId) -> Result<(), Errno>;
    /// Whether a new attachment of a locked segment holds a count.
    fn attach_holds(&self) -> bool;
    /// Whether an entry's count must equal its segment's lock state (the audit's rule).
    fn counts_are_segment_state(&self) -> bool;
}

struct Proposed;
struct Netbsd2019;

/// SHM_LOCK's shape under both rule sets: the object's own wiring, then `hold` (the entries'
/// counts, as the mode decides), undone together on failure, then the mark.
fn lock_segment(
    s: &mut State,
    id: ShmId,
    hold: impl FnOnce(&mut State) -> Result<(), Errno>,
) -> Result<(), Errno> {
    s.check_object_wiring(id)?;
    s.wire_object(id)?;
    if let Err(e) = hold(s) {
        s.unwire_object(id)?;
        return Err(e);
    }
    s.set_locked(id, true);
    Ok(())
}

/// The caller's attachment of segment `id` that NetBSD's shm_memlock acts on: the first on its
/// list, which is the newest (attachments are pushed on the list's head).
fn newest_attachment(s: &State, g: GuestId, id: ShmId) -> Option<PageRange> {
    Some(s.guests.get(&g)?.newest_attachment_of(id)?.range())
}

/// Whether an entry maps segment `id`.
fn maps_segment(e: &Entry, id: ShmId) -> bool {
    matches!(e.backing, Backing::Shm { id: x, .. } if x == id)
}

impl Rules for Proposed {
    fn lock_op(&self) -> WireOp {
        WireOp::Mlock
    }

    fn munlock(&self, s: &mut State, g: GuestId, range: PageRange) -> Result<(), Errno> {
        s.wire_entries(g, range, WireOp::Munlock, |_| true)
    }

    fn munlockall(&self, s: &mut State, g: GuestId) -> Result<(), Errno> {
        let r = s.whole_space();
        s.wire_entries(g, r, WireOp::Munlock, |_| true)
    }

    fn shm_lock(&self, s: &mut State, _g: GuestId, id: ShmId) -> Result<(), Errno> {
        if s.shm.get(id).ok_or(Errno::EINVAL)?.locked {
            return Ok(());
        }
        lock_segment(s, id, |s| s.wire_attachments(id, WireOp::Hold))?;
        tracing::debug!(target: "vmm::shm", shmid = id.0, "SHM_LOCK");
        Ok(())
    }

    fn shm_unlock(&self, s: &mut State, _g: GuestId, id: ShmId) -> Result<(), Errno> {
        if !s.shm.get(id).ok_or(Errno::EINVAL)?.locked {
            return Ok(());
        }
        s.wire_attachments(id, WireOp::Release)?;
        s.unwire_object(id)?;
        s.set_locked(id, false);
        tracing::debug!(target: "vmm::shm", shmid = id.0, "SHM_UNLOCK");
        Ok(())
    }

    fn attach_holds(&self) -> bool {
        true
    }

    fn counts_are_segment_state(&self) -> bool {
        true
    }
}

impl Rules for Netbsd2019 {
    fn lock_op(&self) -> WireOp {
        WireOp::Hold
    }

    fn munlock(&self, s: &mut State, g: GuestId, range: PageRange) -> Result<(), Errno> {
        // These rules have no POSIX flag (`lock_op` is a hold), so an entry is wired exactly
        // when it is counted, and the predicate answers "is every entry counted".
        if s.guest(g)?.map.overlapping(range).any(|e| !e.is_wired()) {
            return Err(Errno::EINVAL);
        }
        // "A single munlock unlocks, whatever the number of mlocks": every count to zero.
        s.wire_entries(g, range, WireOp::Remove, |_| true)
    }

    fn munlockall(&self, s: &mut State, g: GuestId) -> Result<(), Errno> {
        let r = s.whole_space();
        s.wire_entries(g, r, WireOp::Remove, |_| true)
    }

    fn shm_lock(&self, s: &mut State, g: GuestId, id: ShmId) -> Result<(), Errno> {
        let Some(r) = newest_attachment(s, g, id) else {
            return Ok(());
        };
        if s.shm.get(id).ok_or(Errno::EINVAL)?.locked {
            return Ok(());
        }
        lock_segment(s, id, |s| {
            s.wire_entries(g, r, WireOp::Hold, |e| maps_segment(e, id))
        })
    }

    fn shm_unlock(&self, s: &mut State, g: GuestId, id: ShmId) -> Result<(), Errno> {
        let Some(r) = newest_attachment(s, g, id) else {
            return Ok(());
        };
        if !s.shm.get(id).ok_or(Errno::EINVAL)?.locked {
            return Ok(());
        }
        s.unwire_object(id)?;
        let uncounted = s
            .guest(g)?
            .map
            .overlapping(r)
            .any(|e| maps_segment(e, id) && !e.is_wired());
        if uncounted {
            // uvm_map_pageable(unwire) fails with EINVAL, which shm_memlock reports as EIO;
            // the object's pages were unwired already and the mark stays.
            return Err(Errno::EIO);
        }
        s.wire_entries(g, r, WireOp::Remove, |e| maps_segment(e, id))?;
        s.set_locked(id, false);
        Ok(())
    }

    fn attach_holds(&self) -> bool {
        false
    }

    fn counts_are_segment_state(&self) -> bool {
        false
    }
}
