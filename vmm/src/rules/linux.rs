//! `linux`: `VM_LOCKED` on the vma for POSIX locks (`mm/mlock.c`), `SHM_LOCK` a flag on the
//! segment whose pages become unevictable as they come in (`ipc/shm.c`, `mm/shmem.c`), and
//! attachments that end with their mapping.

use super::{lock_object, unlock_object, Answers, AttachmentLife, LockSeen, MadviseAnswers, MapLocked, Policy, Rules};
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
                // `mm/mlock.c:do_mlock` sets `VM_LOCKED` on the range (`apply_vma_lock_flags`)
                // before `__mm_populate` fails on the `PROT_NONE` vma (`ENOMEM`).
                mlock_prot_none_locks: true,
                mlock_over_memlock: Errno::ENOMEM,
                mlock_over_wired: Errno::ENOMEM,
                mlock_limit_zero: Some(Errno::EPERM),
                // `do_mmap` → `mlock_future_ok`.
                future_over_memlock: Errno::EAGAIN,
                attach_removed: None,
                rmid_hides_id: false,
                // `mm/mmap.c:do_mmap` switches on `flags & MAP_TYPE`; anything but
                // `MAP_SHARED`, `MAP_SHARED_VALIDATE` or `MAP_PRIVATE` is `-EINVAL`.
                mmap_needs_share_type: true,
                // `mm/mincore.c:do_mincore` fills the vector a run of pages at a time and
                // copies each run out before it looks at the next; the first address with no
                // vma ends the walk with `-ENOMEM`.
                mincore_fills_to_hole: true,
                // `mm/msync.c:sys_msync`: `MS_INVALIDATE` on a `VM_LOCKED` vma is `-EBUSY`.
                msync_invalidate_locked: (Errno::EBUSY, LockSeen::Mlocked),
                // `mm/mmap.c:do_mmap`: `MAP_LOCKED` needs `can_do_mlock` (`-EPERM`), then
                // `mlock_future_ok` (`-EAGAIN`).
                map_locked: Some(MapLocked {
                    limit_zero: Some(Errno::EPERM),
                    over_memlock: Errno::EAGAIN,
                }),
                // `mm/mlock.c`: `mlock2(MLOCK_ONFAULT)`, `mlockall(MCL_ONFAULT)` set
                // `VM_LOCKONFAULT`.
                lock_on_fault: true,
                // `ipc/shm.c:ksys_shmctl`: `shmctl_ipc_info`, `shmctl_shm_info`, `shmctl_stat`.
                shm_info: true,
                // `mm/mlock.c:sys_mlockall`: `MCL_CURRENT` needs `mm->total_vm <= lock_limit` (or
                // `CAP_IPC_LOCK`); `do_mlock` counts the pages not locked yet (`count_mm_mlocked_page_nr`).
                mlockall_counts_mapped: true,
                mlock_counts_whole_range: false,
                // `mm/mlock.c:apply_mlockall_flags` clears `def_flags`' `VM_LOCKED_MASK` first,
                // and sets it again only for `MCL_FUTURE`.
                mlockall_current_ends_future: true,
                // `mm/madvise.c`: `madvise_dontneed_free_valid_vma` refuses a `VM_LOCKED` vma for
                // `MADV_DONTNEED` and `MADV_FREE` (`-EINVAL`) but not for
                // `MADV_DONTNEED_LOCKED`; `zap_page_range_single` drops anonymous pages;
                // `madvise_free_single_vma` takes anonymous vmas only (`-EINVAL`).
                madvise: MadviseAnswers {
                    dontneed_discards: true,
                    dontneed_over_locked: Some(Errno::EINVAL),
                    free_over_locked: Some((Errno::EINVAL, LockSeen::Mlocked)),
                    free_needs_anon: true,
                    dontneed_locked: true,
                },
            },
        }
    }

    /// `shmctl_do_lock`: without `CAP_IPC_LOCK`, only the owner or creator, and only with a
    /// lock limit that is not 0; `shmem_lock` → `user_shm_lock` then charges the segment to
    /// the caller's limit (`ENOMEM` past it).
    fn may_shm_lock(&self, s: &State, g: GuestId, id: ShmId, lock: bool) -> Result<(), Errno> {
        let vm = s.guest(g)?;
        if vm.cred().may_lock(&s.policy) {
            return Ok(());
        }
        let seg = s.seg(id)?;
        if vm.cred().uid != seg.perm().uid && vm.cred().uid != seg.perm().cuid {
            return Err(Errno::EPERM);
        }
        if lock && vm.memlock_limit() == 0 {
            return Err(Errno::EPERM);
        }
        if lock && !seg.locked() && !Limits::memlock_allows(0, seg.pages(), vm.memlock_limit()) {
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
