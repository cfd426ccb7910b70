//! `linux`: `VM_LOCKED` on the vma for POSIX locks (`mm/mlock.c`), `SHM_LOCK` a flag on the
//! segment whose pages become unevictable as they come in (`ipc/shm.c`, `mm/shmem.c`), and
//! attachments that end with their mapping.

use super::{lock_object, unlock_object, Answers, AttachmentLife, Policy, Rules};
use crate::base::addr::{GuestId, ShmId};
use crate::base::errno::Errno;
use crate::base::limits::Limits;
use crate::vm::state::State;

pub(super) struct Linux;

impl Rules for Linux {
    fn policy(&self) -> Policy {
        Policy {
            name: "linux",
            attachment_life: AttachmentLife::Mapping,
            lock_covers_attachers: false,
            lazy_shm_lock: true,
            shm_lock_counted: false,
            privilege_lifts_memlock: true,
            privilege_by_capability: true,
            replays_bug: false,
            answers: Answers {
                mlock_prot_none: Errno::ENOMEM,
                mlock_over_memlock: Errno::ENOMEM,
                mlock_over_wired: Errno::ENOMEM,
                mlock_limit_zero: Some(Errno::EPERM),
                // `do_mmap` → `mlock_future_ok`.
                future_over_memlock: Errno::EAGAIN,
                attach_removed: None,
                rmid_hides_id: false,
            },
        }
    }

    /// `shmctl_do_lock`: without `CAP_IPC_LOCK`, only the owner or creator, and only with a
    /// lock limit that is not 0; `shmem_lock` → `user_shm_lock` then charges the segment to
    /// the caller's limit (`ENOMEM` past it).
    fn may_shm_lock(&self, s: &State, g: GuestId, id: ShmId, lock: bool) -> Result<(), Errno> {
        let vm = s.guest(g)?;
        if vm.cred.may_lock(&s.policy) {
            return Ok(());
        }
        let seg = s.seg(id)?;
        if vm.cred.uid != seg.perm.uid && vm.cred.uid != seg.perm.cuid {
            return Err(Errno::EPERM);
        }
        if lock && vm.memlock_limit == 0 {
            return Err(Errno::EPERM);
        }
        if lock && !seg.locked() && !Limits::memlock_allows(0, seg.pages(), vm.memlock_limit) {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    fn shm_lock(&self, s: &mut State, _g: GuestId, id: ShmId) -> Result<(), Errno> {
        if s.seg(id)?.locked() {
            return Ok(());
        }
        // Lazy: the object wires what is resident now and each page as it comes in
        // (`Policy::lazy_shm_lock`); the wired maximum is checked for the whole segment now.
        lock_object(s, id)
    }

    fn shm_unlock(&self, s: &mut State, _g: GuestId, id: ShmId) -> Result<(), Errno> {
        if !s.seg(id)?.locked() {
            return Ok(());
        }
        unlock_object(s, id)
    }

}
