//! `proposed`: the fix this project implements. POSIX locks are a flag on the map entry, SVID
//! and kernel wirings a count; `SHM_LOCK` is the segment's state, which wires every entry mapping
//! the segment by the mark alone; an attachment ends with its mapping.

use super::{lock_object, AttachmentLife, Policy, Rules, PROPOSED_ANSWERS};
use crate::base::addr::{GuestId, ShmId};
use crate::base::errno::Errno;
use crate::vm::state::State;
use crate::vm::wiring;

pub(super) struct Proposed;

impl Rules for Proposed {
    fn policy(&self) -> Policy {
        Policy {
            name: "proposed",
            attachment_life: AttachmentLife::Mapping,
            lock_covers_attachers: true,
            lazy_shm_lock: false,
            shm_lock_counted: false,
            privilege_lifts_memlock: false,
            privilege_by_capability: false,
            replays_bug: false,
            answers: PROPOSED_ANSWERS,
        }
    }
    /// The object's wiring, then the mark, which makes every entry mapping the segment wired
    /// ([`Policy::lock_covers_attachers`]); the entries `mlock`ed on their own hand their
    /// page wiring over to the lock. No other attacher's entry is touched.
    fn shm_lock(&self, s: &mut State, _g: GuestId, id: ShmId) -> Result<(), Errno> {
        if s.shm.get(id).ok_or(Errno::EINVAL)?.locked() {
            return Ok(());
        }
        lock_object(s, id)?;
        wiring::hand_over_entry_wirings(s, id, true)?;
        tracing::debug!(target: "vmm::shm", shmid = id.0, "SHM_LOCK");
        Ok(())
    }

    /// The reverse, in reverse order: the `mlock`ed entries take their page wiring back while
    /// the object still holds every page, then the mark goes and the object's wiring with it.
    fn shm_unlock(&self, s: &mut State, _g: GuestId, id: ShmId) -> Result<(), Errno> {
        if !s.shm.get(id).ok_or(Errno::EINVAL)?.locked() {
            return Ok(());
        }
        wiring::hand_over_entry_wirings(s, id, false)?;
        wiring::set_locked(s, id, false);
        wiring::unwire_object(s, id)?;
        tracing::debug!(target: "vmm::shm", shmid = id.0, "SHM_UNLOCK");
        Ok(())
    }
}
