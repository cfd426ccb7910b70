//! `illumos`: per-page POSIX locks (`uts/common/vm/seg_vn.c`), `SHM_LOCK` a balanced count on
//! the segment (`uts/common/os/shm.c`), and a `segacct` record per attachment until `shmdt`.

use super::{lock_object, unlock_object, Answers, AttachmentLife, LockSeen, Policy, Rules};
use crate::base::addr::{GuestId, ShmId};
use crate::base::errno::Errno;
use crate::vm::state::State;

pub(super) struct Illumos;

impl Rules for Illumos {
    fn policy(&self) -> Policy {
        Policy {
            name: "illumos",
            attachment_life: AttachmentLife::Record,
            lock_covers_attachers: false,
            lazy_shm_lock: false,
            shm_lock_counted: true,
            privilege_lifts_memlock: false,
            replays_bug: false,
            answers: Answers {
                mlock_prot_none: Errno::EINVAL,
                mlock_over_memlock: Errno::EAGAIN,
                mlock_over_wired: Errno::EAGAIN,
                mlock_limit_zero: None,
                future_over_memlock: Errno::ENOMEM,
                attach_removed: Some(Errno::EINVAL),
                rmid_hides_id: true,
                // `uts/common/os/grow.c:smmap_common`: a type other than `MAP_PRIVATE` or
                // `MAP_SHARED` is `EINVAL`.
                mmap_needs_share_type: true,
                mincore_fills_to_hole: false,
                // `uts/common/vm/seg_vn.c:segvn_sync`: `MS_INVALIDATE` over pages locked
                // through the mapping (`VPP_ISPPLOCK`: `mlock`, `memcntl(MC_LOCK)`) is `EPERM`;
                // `SHM_LOCK` locks the segment's anon pages, not the mapping's.
                msync_invalidate_locked: (Errno::EPERM, LockSeen::Mlocked),
                // No `MAP_LOCKED`: `smmap_common` refuses flags it does not know.
                map_locked: None,
                lock_on_fault: false,
                shm_info: false,
                mlockall_current_ends_future: false,
                // Not read in illumos yet: the proposed rules' (NetBSD's) answers.
                madvise: super::PROPOSED_ANSWERS.madvise,
            },
        }
    }

    /// `shmctl`'s `SHM_LOCK`: `ENOMEM` at `USHRT_MAX` locks; the first lock (`shm_lkcnt++ ==
    /// 0`) runs `shmem_lock`, which faults every page in and locks it, and a failure takes the
    /// count back.
    fn shm_lock(&self, s: &mut State, _g: GuestId, id: ShmId) -> Result<(), Errno> {
        let count = s.seg(id)?.lock_count();
        if count >= u32::from(u16::MAX) {
            return Err(Errno::ENOMEM);
        }
        if count == 0 {
            lock_object(s, id).map_err(|e| if e == Errno::EIO { e } else { Errno::ENOMEM })?;
        }
        s.shm.get_mut(id).expect("checked above").set_lock_count(count + 1);
        Ok(())
    }

    /// `shmctl`'s `SHM_UNLOCK`: `if (sp->shm_lkcnt && (--sp->shm_lkcnt == 0)) shmem_unlock`.
    fn shm_unlock(&self, s: &mut State, _g: GuestId, id: ShmId) -> Result<(), Errno> {
        let count = s.seg(id)?.lock_count();
        if count == 0 {
            return Ok(());
        }
        s.shm.get_mut(id).expect("checked above").set_lock_count(count - 1);
        if count == 1 {
            unlock_object(s, id)?;
        }
        Ok(())
    }

}
