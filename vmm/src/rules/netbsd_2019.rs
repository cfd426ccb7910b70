//! `netbsd-2019`: the rules NetBSD had in 2019 (`sys/uvm/uvm_map.c`, `uvm_mmap.c`,
//! `sys/kern/sysv_shm.c`), kept to replay the original bug: one wire count for everything, a
//! single `munlock` forcing every count to 0, and `SHM_LOCK` counting the caller's newest
//! attachment.

use super::{lock_segment, maps_segment, AttachmentLife, Policy, Rules, PROPOSED_ANSWERS};
use crate::base::addr::{GuestId, PageRange, ShmId};
use crate::base::errno::Errno;
use crate::vm::state::State;
use crate::vm::wire::WireOp;
use crate::vm::wiring;

pub(super) struct Netbsd2019;

/// The caller's attachment of segment `id` that NetBSD's shm_memlock acts on: the first on its
/// list, which is the newest (attachments are pushed on the list's head).
fn newest_attachment(s: &State, g: GuestId, id: ShmId) -> Option<PageRange> {
    Some(s.guests.get(&g)?.newest_attachment_of(id)?.range())
}

impl Rules for Netbsd2019 {
    fn policy(&self) -> Policy {
        Policy {
            name: "netbsd-2019",
            attachment_life: AttachmentLife::Record,
            lock_covers_attachers: false,
            lazy_shm_lock: false,
            shm_lock_counted: false,
            privilege_lifts_memlock: false,
            privilege_by_capability: false,
            replays_bug: true,
            answers: PROPOSED_ANSWERS,
        }
    }
    fn lock_op(&self) -> WireOp {
        WireOp::Hold
    }

    fn munlock(&self, s: &mut State, g: GuestId, range: PageRange) -> Result<(), Errno> {
        // These rules have no POSIX flag (`lock_op` is a hold), so an entry is wired exactly
        // when it is counted, and the predicate answers "is every entry counted".
        if s.guest(g)?.map.overlapping(range).any(|e| !e.wired_by_itself()) {
            return Err(Errno::EINVAL);
        }
        // "A single munlock unlocks, whatever the number of mlocks": every count to zero.
        wiring::wire_entries(s, g, range, WireOp::Remove, |_| true)
    }

    fn munlockall(&self, s: &mut State, g: GuestId) -> Result<(), Errno> {
        let r = s.whole_space();
        wiring::wire_entries(s, g, r, WireOp::Remove, |_| true)
    }

    fn shm_lock(&self, s: &mut State, g: GuestId, id: ShmId) -> Result<(), Errno> {
        let Some(r) = newest_attachment(s, g, id) else {
            return Ok(());
        };
        if s.shm.get(id).ok_or(Errno::EINVAL)?.locked() {
            return Ok(());
        }
        lock_segment(s, id, |s| {
            wiring::wire_entries(s, g, r, WireOp::Hold, |e| maps_segment(e, id))
        })
    }

    fn shm_unlock(&self, s: &mut State, g: GuestId, id: ShmId) -> Result<(), Errno> {
        let Some(r) = newest_attachment(s, g, id) else {
            return Ok(());
        };
        if !s.shm.get(id).ok_or(Errno::EINVAL)?.locked() {
            return Ok(());
        }
        wiring::unwire_object(s, id)?;
        let uncounted = s
            .guest(g)?
            .map
            .overlapping(r)
            .any(|e| maps_segment(e, id) && !e.wired_by_itself());
        if uncounted {
            // uvm_map_pageable(unwire) fails with EINVAL, which shm_memlock reports as EIO;
            // the object's pages were unwired already and the mark stays.
            return Err(Errno::EIO);
        }
        wiring::wire_entries(s, g, r, WireOp::Remove, |e| maps_segment(e, id))?;
        wiring::set_locked(s, id, false);
        Ok(())
    }
}
