//! Selectable wiring rules: the fix this project implements (`proposed`, the default), the
//! rules NetBSD had in 2019 (`netbsd-2019`, kept to replay the original bug), and the rules of
//! the kernels people ship on (`linux`, `freebsd`, `illumos`).
//!
//! Everything the modes do differently lives in one `Rules` implementation each; the map, page
//! and shm code ask the machine's rules (`rules`) and never test the mode themselves. The
//! mode's name, [`Semantics`], and the properties the layers below read (how long attachments
//! live, [`AttachmentLife`]; whether `SHM_LOCK` is lazy) are plain types in [`crate::types`].
//!
//! | | `proposed` | `netbsd-2019` |
//! |---|---|---|
//! | `mlock`, `mlockall(MCL_CURRENT)`, `MCL_FUTURE` mappings | set the entry's POSIX flag | add one to the entry's only count |
//! | `munlock` | clear the flag; a count still wires | `EINVAL` unless every entry is counted, then force every count to 0 |
//! | `munlockall` | clear every flag | force every count to 0 |
//! | `SHM_LOCK` | segment state: the object holds one wiring on every page, and every entry mapping the segment, in any guest, attached before or after, is wired by the mark alone (no entry is rewritten; an `mlock`ed one hands its page wiring to the object's) | unless marked: wire the object, count the caller's newest attachment (NetBSD's list head), mark; nothing if the caller has no attachment |
//! | `SHM_UNLOCK` | removes exactly that: `mlock`ed entries take their page wiring back, then the mark and the object's wiring go | if marked: unwire the object, then force that attachment's count to 0 (`EIO` if it already is 0, and the mark stays), then clear the mark |
//! | `shmat` of a locked segment | the new entry is wired by the mark | nothing |
//! | an attachment whose pages were all unmapped | ends there: a detach ([`AttachmentLife::Mapping`]) | stays on record until `shmdt` or exit ([`AttachmentLife::Record`]) |
//! | `shmdt(addr)` | the newest live attachment made at `addr`; removes exactly its remaining pages | the newest record made at `addr`; unmaps its whole range, whatever is mapped there now |
//! | `mlock` of a range with a `PROT_NONE` entry | `EINVAL`, nothing changed (NetBSD's errno) | the same |
//!
//! Under `netbsd-2019` the sequences that broke NetBSD (SHM_LOCK, munlock, SHM_UNLOCK twice; one
//! guest locks and another unlocks; the locker detaches first) give NetBSD's wrong answers until a
//! wire count would underflow; there the machine records the broken invariant and refuses every
//! further call (see [`crate::Machine::corruption`]).
//!
//! # The kernels
//!
//! Each rule below is cited to the kernel source it was read from (torvalds/linux,
//! freebsd/freebsd-src, illumos/illumos-gate); where a kernel's answer could not be found in its
//! source the mode keeps the proposed answer and says so.
//!
//! | | `linux` | `freebsd` | `illumos` |
//! |---|---|---|---|
//! | POSIX lock | a flag, not counted: `VM_LOCKED` on the vma (`mm/mlock.c`, `mlock_fixup`) | a flag, `MAP_ENTRY_USER_WIRED`, worth one of the entry's `wired_count` (`sys/vm/vm_map.c`, `vm_map_wire` with `VM_MAP_WIRE_USER`) | a per-page flag in the segment's `vpage` (`uts/common/vm/seg_vn.c`, `segvn_lockop`) |
//! | `munlock` of memory not locked | succeeds | `ENOMEM`, nothing changed: `vm_map_unwire` requires every entry user-wired (`KERN_INVALID_ARGUMENT`), which `kern_munlock` reports as `ENOMEM` | succeeds |
//! | `mlock` of `PROT_NONE` | `ENOMEM` (`__mm_populate` cannot fault it; measured on this host) | `ENOMEM` (`kern_mlock` reports every `vm_map_wire` failure so) | not found in the source: `EINVAL`, as proposed |
//! | `mlock` past the lock limit | `ENOMEM`; `EPERM` when the limit is 0 and the caller unprivileged; a privileged caller (`CAP_IPC_LOCK`) has no limit (`mm/mlock.c`, `do_mlock`, `can_do_mlock`) | `ENOMEM` past `RLIMIT_MEMLOCK`, `EAGAIN` past the wired maximum (`vm.max_user_wired`, `kern_mlock`) | `EAGAIN` (the project's locked-memory resource control) |
//! | `SHM_LOCK` | a flag on the segment; pages are not brought in, each becomes unevictable as it is touched (`ipc/shm.c`, `shmctl_do_lock` → `mm/shmem.c`, `shmem_lock`); repeats are harmless; `SHM_UNLOCK` clears it | not implemented: `EINVAL` (`sys/kern/sysv_shm.c`, `kern_shmctl_locked`: the cases are under `#if 0`) | a balanced count, `shm_lkcnt`: the first lock brings every page in and locks it, each further lock needs its own `SHM_UNLOCK`, an unlock at 0 does nothing (`uts/common/os/shm.c`, `shmctl`) |
//! | who may `SHM_LOCK` | `CAP_IPC_LOCK`, or the owner or creator when its lock limit is not 0 (else `EPERM`); the segment is charged to the caller's lock limit (`ENOMEM`) | nobody | privileged only, `secpolicy_lock_memory` (`EPERM`) |
//! | attachments | end with their mapping (the vma close hook, `shm_close`), as `proposed` | a `shmmap_state` record until `shmdt`, which removes `[va, va + size)` (`shm_delete_mapping`) | a `segacct` record until `shmdt`, which unmaps `[addr, addr + len)` (`shm_detach`) |
//! | `shmat` of a segment marked by `IPC_RMID`, still attached | allowed; `IPC_STAT` shows `SHM_DEST` (`ipc/shm.c`, `do_shmat`) | allowed (`kern.ipc.shm_allow_removed`, 1 by default) | `EINVAL`: `ipc_rmid` takes the id out of the id space at once, so every call on it fails |
//!
//! Differences these modes do not model: Linux counts vmas in `shm_nattch`, and a vma split by
//! a partial `munmap` or `mprotect` is never merged back (shm vmas have a close hook), so its
//! `shm_nattch` can rise; here it counts attachments. Linux charges `SHM_LOCK` to the user's
//! other locked segments too; here only the segment's own size is checked against the caller's
//! limit. Linux's `mprotect` of a `VM_LOCKED` mapping to writable populates it
//! (`mprotect_fixup`); here `mprotect` changes no residency. FreeBSD does not check `shmget`'s
//! mode bits against an existing segment and reports `shmall` as `ENOMEM`; here every mode gives
//! the proposed answers for `shmget`.

use crate::addr::{GuestId, PageRange, ShmId};
use crate::errno::Errno;
use crate::limits::Limits;
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
        Semantics::Linux => &Linux,
        Semantics::Freebsd => &Freebsd,
        Semantics::Illumos => &Illumos,
    }
}

/// What a mode decides. Every method runs under the machine lock.
pub(crate) trait Rules: Sync {
    /// The entry operation of `mlock`, `mlockall(MCL_CURRENT)` and `MCL_FUTURE` mappings: the
    /// POSIX flag, unless the mode says otherwise.
    fn lock_op(&self) -> WireOp {
        WireOp::Mlock
    }
    /// `munlock` of `range` (already checked mapped and clipped): clears the flag, unless the
    /// mode says otherwise.
    fn munlock(&self, s: &mut State, g: GuestId, range: PageRange) -> Result<(), Errno> {
        s.wire_entries(g, range, WireOp::Munlock, |_| true)
    }
    /// `munlockall`'s work on every entry: clears every flag, unless the mode says otherwise.
    fn munlockall(&self, s: &mut State, g: GuestId) -> Result<(), Errno> {
        let r = s.whole_space();
        s.wire_entries(g, r, WireOp::Munlock, |_| true)
    }
    /// `SHM_LOCK` by guest `g` (privilege already checked).
    fn shm_lock(&self, s: &mut State, g: GuestId, id: ShmId) -> Result<(), Errno>;
    /// `SHM_UNLOCK` by guest `g` (privilege already checked).
    fn shm_unlock(&self, s: &mut State, g: GuestId, id: ShmId) -> Result<(), Errno>;
    /// Whether guest `g` may `SHM_LOCK` (`lock`) or `SHM_UNLOCK` segment `id`: privilege,
    /// unless the mode says otherwise.
    fn may_shm_lock(&self, s: &State, g: GuestId, _id: ShmId, _lock: bool) -> Result<(), Errno> {
        if s.guest(g)?.cred.is_privileged() {
            Ok(())
        } else {
            Err(Errno::EPERM)
        }
    }
    /// The answers that differ between kernels but need no code of their own.
    fn answers(&self) -> Answers {
        Answers::PROPOSED
    }
}

/// Errnos and permissions that differ between kernels.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answers {
    /// `mlock` of a range with a `PROT_NONE` entry.
    pub mlock_prot_none: Errno,
    /// `mlock` past the guest's locked-memory limit.
    pub mlock_over_memlock: Errno,
    /// `mlock` past the machine's wired maximum, or with no frame to be had.
    pub mlock_over_wired: Errno,
    /// `mlock` by an unprivileged guest whose limit is 0 (`None`: the limit decides).
    pub mlock_limit_zero: Option<Errno>,
    /// `shmat` of a segment marked by `IPC_RMID` that is still attached (`None`: allowed).
    pub attach_removed: Option<Errno>,
    /// Whether `IPC_RMID` takes the id out of the id space at once, so that every later call
    /// naming it fails with `EINVAL` (illumos' `ipc_rmid`).
    pub rmid_hides_id: bool,
}

impl Answers {
    const PROPOSED: Answers = Answers {
        mlock_prot_none: Errno::EINVAL,
        mlock_over_memlock: Errno::EAGAIN,
        mlock_over_wired: Errno::EAGAIN,
        mlock_limit_zero: None,
        attach_removed: Some(Errno::EIDRM),
        rmid_hides_id: false,
    };
}

struct Proposed;
struct Netbsd2019;
struct Linux;
struct Freebsd;
struct Illumos;

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
    /// The object's wiring, then the mark, which makes every entry mapping the segment wired
    /// ([`Semantics::lock_covers_attachers`]); the entries `mlock`ed on their own hand their
    /// page wiring over to the lock. No other attacher's entry is touched.
    fn shm_lock(&self, s: &mut State, _g: GuestId, id: ShmId) -> Result<(), Errno> {
        if s.shm.get(id).ok_or(Errno::EINVAL)?.locked {
            return Ok(());
        }
        lock_object(s, id)?;
        s.hand_over_entry_wirings(id, true)?;
        tracing::debug!(target: "vmm::shm", shmid = id.0, "SHM_LOCK");
        Ok(())
    }

    /// The reverse, in reverse order: the `mlock`ed entries take their page wiring back while
    /// the object still holds every page, then the mark goes and the object's wiring with it.
    fn shm_unlock(&self, s: &mut State, _g: GuestId, id: ShmId) -> Result<(), Errno> {
        if !s.shm.get(id).ok_or(Errno::EINVAL)?.locked {
            return Ok(());
        }
        s.hand_over_entry_wirings(id, false)?;
        s.set_locked(id, false);
        s.unwire_object(id)?;
        tracing::debug!(target: "vmm::shm", shmid = id.0, "SHM_UNLOCK");
        Ok(())
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
}

/// The object wiring alone, with the mark: `SHM_LOCK` where no entry holds a count.
fn lock_object(s: &mut State, id: ShmId) -> Result<(), Errno> {
    lock_segment(s, id, |_| Ok(()))
}

/// Undoes [`lock_object`].
fn unlock_object(s: &mut State, id: ShmId) -> Result<(), Errno> {
    s.unwire_object(id)?;
    s.set_locked(id, false);
    Ok(())
}

impl Rules for Linux {
    /// `shmctl_do_lock`: without `CAP_IPC_LOCK`, only the owner or creator, and only with a
    /// lock limit that is not 0; `shmem_lock` → `user_shm_lock` then charges the segment to
    /// the caller's limit (`ENOMEM` past it).
    fn may_shm_lock(&self, s: &State, g: GuestId, id: ShmId, lock: bool) -> Result<(), Errno> {
        let vm = s.guest(g)?;
        if vm.cred.is_privileged() {
            return Ok(());
        }
        let seg = s.seg(id)?;
        if vm.cred.uid != seg.perm.uid && vm.cred.uid != seg.perm.cuid {
            return Err(Errno::EPERM);
        }
        if lock && vm.memlock_limit == 0 {
            return Err(Errno::EPERM);
        }
        if lock && !seg.locked && !Limits::memlock_allows(0, seg.pages(), vm.memlock_limit) {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    fn shm_lock(&self, s: &mut State, _g: GuestId, id: ShmId) -> Result<(), Errno> {
        if s.seg(id)?.locked {
            return Ok(());
        }
        // Lazy: the object wires what is resident now and each page as it comes in
        // (`Semantics::lazy_shm_lock`); the wired maximum is checked for the whole segment now.
        lock_object(s, id)
    }

    fn shm_unlock(&self, s: &mut State, _g: GuestId, id: ShmId) -> Result<(), Errno> {
        if !s.seg(id)?.locked {
            return Ok(());
        }
        unlock_object(s, id)
    }

    fn answers(&self) -> Answers {
        Answers {
            mlock_prot_none: Errno::ENOMEM,
            mlock_over_memlock: Errno::ENOMEM,
            mlock_over_wired: Errno::ENOMEM,
            mlock_limit_zero: Some(Errno::EPERM),
            attach_removed: None,
            rmid_hides_id: false,
        }
    }
}

impl Rules for Freebsd {
    /// `vm_map_unwire(..., VM_MAP_WIRE_USER | VM_MAP_WIRE_NOHOLES)` first checks that every
    /// entry of the range is user-wired, and changes nothing if one is not.
    fn munlock(&self, s: &mut State, g: GuestId, range: PageRange) -> Result<(), Errno> {
        if s.guest(g)?.map.overlapping(range).any(|e| !e.is_mlocked()) {
            return Err(Errno::ENOMEM);
        }
        s.wire_entries(g, range, WireOp::Munlock, |_| true)
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

    fn answers(&self) -> Answers {
        Answers {
            mlock_prot_none: Errno::ENOMEM,
            mlock_over_memlock: Errno::ENOMEM,
            mlock_over_wired: Errno::EAGAIN,
            mlock_limit_zero: None,
            attach_removed: None,
            rmid_hides_id: false,
        }
    }
}

impl Rules for Illumos {
    /// `shmctl`'s `SHM_LOCK`: `ENOMEM` at `USHRT_MAX` locks; the first lock (`shm_lkcnt++ ==
    /// 0`) runs `shmem_lock`, which faults every page in and locks it, and a failure takes the
    /// count back.
    fn shm_lock(&self, s: &mut State, _g: GuestId, id: ShmId) -> Result<(), Errno> {
        let count = s.seg(id)?.lock_count;
        if count >= u32::from(u16::MAX) {
            return Err(Errno::ENOMEM);
        }
        if count == 0 {
            lock_object(s, id).map_err(|e| if e == Errno::EIO { e } else { Errno::ENOMEM })?;
        }
        s.shm.get_mut(id).expect("checked above").lock_count = count + 1;
        Ok(())
    }

    /// `shmctl`'s `SHM_UNLOCK`: `if (sp->shm_lkcnt && (--sp->shm_lkcnt == 0)) shmem_unlock`.
    fn shm_unlock(&self, s: &mut State, _g: GuestId, id: ShmId) -> Result<(), Errno> {
        let count = s.seg(id)?.lock_count;
        if count == 0 {
            return Ok(());
        }
        s.shm.get_mut(id).expect("checked above").lock_count = count - 1;
        if count == 1 {
            unlock_object(s, id)?;
        }
        Ok(())
    }

    fn answers(&self) -> Answers {
        Answers {
            mlock_prot_none: Errno::EINVAL,
            mlock_over_memlock: Errno::EAGAIN,
            mlock_over_wired: Errno::EAGAIN,
            mlock_limit_zero: None,
            attach_removed: Some(Errno::EINVAL),
            rmid_hides_id: true,
        }
    }
}
