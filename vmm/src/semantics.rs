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

    /// How long an attachment lives under these rules.
    pub fn attachment_life(self) -> AttachmentLife {
        self.rules().attachment_life()
    }

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

/// How long an attachment (one `shmat`) lives once its pages are unmapped by something other
/// than `shmdt`.
///
/// # `proposed`: an attachment is its mapping
///
/// Every `shmat` makes an attachment, and each map entry it creates carries the attachment's
/// id (clipping keeps it, and entries of two attachments never merge). The attachment ends when
/// its last page leaves the map, whatever removes it: `shmdt`, one `munmap` of the whole range
/// or several of its parts, a `MAP_FIXED` mapping placed over it, or exit. Its end is a detach:
/// `shm_nattch` falls, `shm_dtime` is set, and a segment marked by `IPC_RMID` is destroyed when
/// its last attachment ends. So:
/// - `shm_nattch` counts the attachments that still map at least one page;
/// - `shmat` places by the map alone: the addresses of an unmapped attachment are free, and a
///   new attachment there is new, with no record behind it to confuse;
/// - `shmdt(addr)` detaches the attachment made at `addr` that still maps something and removes
///   exactly its remaining pages, never a mapping made over it since. Two live attachments can
///   have been made at one address only when the older one lost its first pages and the newer
///   one was attached into that hole; the newer one, which maps `addr`, is taken;
/// - `SHM_LOCK` holds are taken and dropped entry by entry on the live attachments, each entry
///   once;
/// - exit detaches every live attachment.
///
/// This is Linux's rule (`ipc/shm.c`: the vma's close hook, `shm_close`, detaches; `shmdt`
/// finds the vma), with one difference: Linux counts mapped vmas, so its `shm_nattch` rises when
/// a partial `munmap` or an `mprotect` splits one, where here it counts attachments. It is
/// chosen because a record that can outlive its mapping is a second truth that must be kept
/// consistent with the map, and every bug found in this area came from that: a stale record
/// behind a live one at the same address made `SHM_LOCK` hold an entry twice and `shmdt` take
/// the wrong attachment. It also leaks nothing: a segment removed with `IPC_RMID` whose
/// attachments were all unmapped is freed at once, where NetBSD keeps it until the process
/// calls `shmdt` or exits.
///
/// # `netbsd-2019`: a record kept until `shmdt`
///
/// NetBSD's `sys/kern/sysv_shm.c` keeps a `shmmap_entry` per `shmat` on a list headed by the
/// newest, whatever `munmap` does to the pages. `shm_nattch` counts records. `sys_shmdt` takes
/// the first record on the list whose address is `addr` (the newest) and unmaps its whole range
/// with `uvm_deallocate`, whatever is mapped there now. `SHM_LOCK` acts on the newest record of
/// the segment. Exit detaches every record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachmentLife {
    /// The attachment ends with its last mapped page (`proposed`).
    Mapping,
    /// The record stays until `shmdt` or exit (`netbsd-2019`).
    Record,
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
    /// How long an attachment lives.
    fn attachment_life(&self) -> AttachmentLife;
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

    fn attachment_life(&self) -> AttachmentLife {
        AttachmentLife::Mapping
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

    fn attachment_life(&self) -> AttachmentLife {
        AttachmentLife::Record
    }
}
