//! Selectable wiring rules: the fix this project implements (`proposed`, the default), and the
//! rules NetBSD had in 2019 (`netbsd-2019`), kept to replay the original bug.
//!
//! Everything the two modes do differently lives in one `Rules` implementation each; the map,
//! page and shm code ask the machine's rules and never test the mode themselves.
//!
//! | | `proposed` | `netbsd-2019` |
//! |---|---|---|
//! | `mlock`, `mlockall(MCL_CURRENT)`, `MCL_FUTURE` mappings | set the entry's POSIX flag | add one to the entry's only count |
//! | `munlock` | clear the flag; a count still wires | `EINVAL` unless every entry is counted, then force every count to 0 |
//! | `munlockall` | clear every flag | force every count to 0 |
//! | `SHM_LOCK` | segment state: the object and every entry mapping it, in any guest, hold one wiring | unless marked: wire the object, count the caller's newest attachment (NetBSD's list head), mark; nothing if the caller has no attachment |
//! | `SHM_UNLOCK` | removes exactly those wirings | if marked: unwire the object, then force that attachment's count to 0 (`EIO` if it already is 0, and the mark stays), then clear the mark |
//! | `shmat` of a locked segment | the new entry holds one count | nothing |
//!
//! Under `netbsd-2019` the sequences that broke NetBSD (SHM_LOCK, munlock, SHM_UNLOCK twice; one
//! guest locks and another unlocks; the locker detaches first) give NetBSD's wrong answers until a
//! wire count would underflow; there the machine records the broken invariant and refuses every
//! further call (see [`crate::Machine::corruption`]).

use crate::addr::{GuestId, PageRange, ShmId};
use crate::errno::Errno;
use crate::machine::State;
use crate::map::{Backing, Entry};
use crate::wire::WireOp;
use std::fmt;
use std::str::FromStr;

/// Which wiring rules a machine follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Semantics {
    /// POSIX locks are a flag, SVID and kernel wirings a count (the fix).
    #[default]
    Proposed,
    /// One count for everything, as NetBSD's uvm_map.c, uvm_mmap.c and sysv_shm.c had it.
    Netbsd2019,
}

impl Semantics {
    /// Both modes, default first.
    pub const ALL: [Semantics; 2] = [Semantics::Proposed, Semantics::Netbsd2019];

    pub(crate) fn rules(self) -> &'static dyn Rules {
        match self {
            Semantics::Proposed => &Proposed,
            Semantics::Netbsd2019 => &Netbsd2019,
        }
    }
}

impl fmt::Display for Semantics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Semantics::Proposed => "proposed",
            Semantics::Netbsd2019 => "netbsd-2019",
        })
    }
}

impl FromStr for Semantics {
    type Err = String;
    fn from_str(s: &str) -> Result<Semantics, String> {
        match s {
            "proposed" => Ok(Semantics::Proposed),
            "netbsd-2019" => Ok(Semantics::Netbsd2019),
            other => Err(format!(
                "unknown semantics `{other}` (proposed or netbsd-2019)"
            )),
        }
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
    s.guests
        .get(&g)?
        .attachments
        .iter()
        .rev()
        .find(|a| a.shm == id)
        .map(|a| PageRange::new(a.va, a.va.plus(a.pages)))
}

/// Whether an entry maps segment `id`.
pub(crate) fn maps_segment(e: &Entry, id: ShmId) -> bool {
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
        if s.guest(g)?
            .map
            .overlapping(range)
            .any(|e| e.wire_count == 0)
        {
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
            .any(|e| maps_segment(e, id) && e.wire_count == 0);
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
