//! `freebsd`: a user-wired flag beside the system wire count (`sys/vm/vm_map.c`), no
//! `SHM_LOCK` (`sys/kern/sysv_shm.c`), and a `shmmap_state` record per attachment until `shmdt`.

use super::{Answers, AttachmentLife, LockSeen, MadviseAnswers, Policy, Rules};
use crate::base::addr::{GuestId, PageRange, ShmId};
use crate::base::errno::Errno;
use crate::vm::state::State;
use crate::vm::wire::WireOp;
use crate::vm::wiring;

pub(super) struct Freebsd;

impl Rules for Freebsd {
    fn policy(&self) -> Policy {
        Policy {
            name: "freebsd",
            attachment_life: AttachmentLife::Record,
            lock_covers_attachers: false,
            lazy_shm_lock: false,
            shm_lock_counted: false,
            privilege_lifts_memlock: false,
            replays_bug: false,
            answers: Answers {
                mlock_prot_none: Errno::ENOMEM,
                mlock_over_memlock: Errno::ENOMEM,
                // `vm_map_wire_locked` fails past `vm.max_user_wired`
                // (`vm_map_wire_user_count_add`), which `kern_mlock` reports as `ENOMEM`.
                mlock_over_wired: Errno::ENOMEM,
                mlock_limit_zero: None,
                future_over_memlock: Errno::ENOMEM,
                attach_removed: None,
                rmid_hides_id: false,
                // `vm/vm_mmap.c:kern_mmap` checks for a share type only when mapping a file
                // (`P_OSREL_MAP_FSTRICT`); anonymous memory without one is private.
                mmap_needs_share_type: false,
                mincore_fills_to_hole: false,
                // `vm/vm_map.c:vm_map_sync`: invalidating a user-wired entry is
                // `KERN_INVALID_ARGUMENT`, which `kern_msync` reports as `EBUSY`.
                msync_invalidate_locked: (Errno::EBUSY, LockSeen::Mlocked),
                // No `MAP_LOCKED` or `MAP_WIRED`: an unknown flag to `kern_mmap`.
                map_locked: None,
                lock_on_fault: false,
                // `IPC_INFO` and `SHM_INFO` exist only in the Linux emulation (`linux_ipc.c`).
                shm_info: false,
                // `vm/vm_mmap.c:kern_mlockall` sets `MAP_WIREFUTURE` only for `MCL_FUTURE`.
                mlockall_current_ends_future: false,
                // `vm/vm_map.c:vm_map_madvise` → `vm_object_madvise`: `MADV_DONTNEED` deactivates,
                // `MADV_FREE` frees unwired anonymous pages and skips wired ones; no errno.
                madvise: MadviseAnswers {
                    dontneed_discards: false,
                    dontneed_over_locked: None,
                    free_over_locked: None,
                    free_needs_anon: false,
                    dontneed_locked: false,
                },
            },
        }
    }

    /// `vm_map_unwire(..., VM_MAP_WIRE_USER | VM_MAP_WIRE_NOHOLES)` first checks that every
    /// entry of the range is user-wired, and changes nothing if one is not.
    fn munlock(&self, s: &mut State, g: GuestId, range: PageRange) -> Result<(), Errno> {
        if s.guest(g)?.map.overlapping(range).any(|e| !e.is_mlocked()) {
            return Err(Errno::ENOMEM);
        }
        wiring::wire_entries(s, g, range, WireOp::Munlock, |_| true)
    }

    /// `kern_shmctl_locked` has no `SHM_LOCK` or `SHM_UNLOCK` case: `EINVAL` for everyone.
    fn may_shm_lock(&self, _s: &State, _g: GuestId, _id: ShmId, _lock: bool) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }

    fn shm_lock(&self, _s: &mut State, _g: GuestId, _id: ShmId) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }

    fn shm_unlock(&self, _s: &mut State, _g: GuestId, _id: ShmId) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }

}
