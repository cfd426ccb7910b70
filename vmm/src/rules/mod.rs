//! Selectable wiring rules: the fix this project implements (`proposed`, the default), the
//! rules NetBSD had in 2019 (`netbsd-2019`, kept to replay the original bug), and the rules of
//! the kernels people ship on (`linux`, `freebsd`, `illumos`).
//!
//! Each rule set is one file here, listed once in [`rule_sets!`]'s invocation below: a value,
//! its [`Policy`] (the answers the VM core reads, such as how long attachments live or whether
//! `SHM_LOCK` is lazy), and an implementation of [`Rules`] for what needs code (`munlock`,
//! `SHM_LOCK`, `SHM_UNLOCK`, who may lock). Outside this folder no code names a rule set: the
//! core reads the machine's [`Policy`] and the calls ask [`of`] for the rules in force. Adding
//! a kernel is one file and one line in that list.
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
//! | `mlock` past the lock limit | `ENOMEM`; `EPERM` from `mlock` and `mlockall` when the limit is 0 and the caller unprivileged, before the range is looked at; a privileged caller (`CAP_IPC_LOCK`) has no limit (`mm/mlock.c`, `do_mlock`, `sys_mlockall`, `can_do_mlock`); a mapping under `MCL_FUTURE` past the limit is `EAGAIN` (`mm/mmap.c`, `do_mmap` → `mlock_future_ok`) | `ENOMEM` past `RLIMIT_MEMLOCK` and past the wired maximum (`vm.max_user_wired`: `vm_map_wire_locked` → `vm_map_wire_user_count_add` fails, which `kern_mlock` reports as `ENOMEM`) | `EAGAIN` (the project's locked-memory resource control) |
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

use crate::base::addr::{GuestId, PageRange, ShmId};
use crate::base::errno::Errno;
use crate::vm::map::{Backing, Entry};
use crate::vm::state::State;
use crate::vm::wire::WireOp;
use crate::vm::wiring;
use std::fmt;
use std::str::FromStr;

pub use crate::base::types::{
    Answers, AttachmentLife, LockSeen, MadviseAnswers, MapLocked, Policy, Semantics,
};

/// Declares the rule sets: for each, the constant that names it (`Semantics::Linux`), its
/// module and the type implementing [`Rules`]. The first is the default.
macro_rules! rule_sets {
    ($($(#[$doc:meta])* $name:ident => $module:ident::$rules:ident),+ $(,)?) => {
        $(mod $module;)+

        /// Each rule set's place in [`TABLE`].
        #[repr(u8)]
        enum Index {
            $($name,)+
        }

        /// The rule sets, in [`Semantics::ALL`]'s order.
        static TABLE: &[&'static dyn Rules] = &[$(&$module::$rules),+];

        #[allow(non_upper_case_globals)]
        impl Semantics {
            $($(#[$doc])* pub const $name: Semantics = Semantics(Index::$name as u8);)+

            /// Every rule set, default first.
            pub const ALL: [Semantics; TABLE_LEN] = [$(Semantics::$name),+];
        }

        /// How many rule sets there are.
        const TABLE_LEN: usize = [$(Index::$name),+].len();
    };
}

rule_sets! {
    /// POSIX locks are a flag, SVID and kernel wirings a count (the fix).
    Proposed => proposed::Proposed,
    /// One count for everything, as NetBSD's uvm_map.c, uvm_mmap.c and sysv_shm.c had it.
    Netbsd2019 => netbsd_2019::Netbsd2019,
    /// Linux: `VM_LOCKED` on the vma, `SHM_LOCK` a flag on the segment's pages as they come in.
    Linux => linux::Linux,
    /// FreeBSD: a user-wired flag beside the system wire count; no `SHM_LOCK`.
    Freebsd => freebsd::Freebsd,
    /// illumos: per-page POSIX locks, `SHM_LOCK` a balanced count on the segment.
    Illumos => illumos::Illumos,
}

impl Semantics {
    /// The rule set's code.
    fn rules(self) -> &'static dyn Rules {
        TABLE[usize::from(self.0)]
    }

    /// The rule set's answers as values.
    pub fn policy(self) -> Policy {
        self.rules().policy()
    }

    /// The rule set's name, as `--semantics` takes it.
    pub fn name(self) -> &'static str {
        self.policy().name
    }
}

impl fmt::Display for Semantics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl fmt::Debug for Semantics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Semantics {
    type Err = String;
    fn from_str(s: &str) -> Result<Semantics, String> {
        Semantics::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Semantics::ALL.iter().map(|m| m.name()).collect();
                format!("unknown semantics `{s}` ({})", names.join(", "))
            })
    }
}

/// The rules in force on a machine.
#[inline]
pub(crate) fn of(s: &State) -> &'static dyn Rules {
    s.cfg.semantics.rules()
}

/// What a rule set decides. Every method runs under the machine lock.
pub(crate) trait Rules: Sync {
    /// The answers the VM core reads as values.
    fn policy(&self) -> Policy;
    /// The entry operation of `mlock`, `mlockall(MCL_CURRENT)` and `MCL_FUTURE` mappings: the
    /// POSIX flag, unless the rule set says otherwise.
    fn lock_op(&self) -> WireOp {
        WireOp::Mlock
    }
    /// `munlock` of `range` (already checked mapped and clipped): clears the flag, unless the
    /// rule set says otherwise.
    fn munlock(&self, s: &mut State, g: GuestId, range: PageRange) -> Result<(), Errno> {
        wiring::wire_entries(s, g, range, WireOp::Munlock, |_| true)
    }
    /// `munlockall`'s work on every entry: clears every flag, unless the rule set says otherwise.
    fn munlockall(&self, s: &mut State, g: GuestId) -> Result<(), Errno> {
        let r = s.whole_space();
        wiring::wire_entries(s, g, r, WireOp::Munlock, |_| true)
    }
    /// `SHM_LOCK` by guest `g` (privilege already checked).
    fn shm_lock(&self, s: &mut State, g: GuestId, id: ShmId) -> Result<(), Errno>;
    /// `SHM_UNLOCK` by guest `g` (privilege already checked).
    fn shm_unlock(&self, s: &mut State, g: GuestId, id: ShmId) -> Result<(), Errno>;
    /// Whether guest `g` may `SHM_LOCK` (`lock`) or `SHM_UNLOCK` segment `id`: privilege,
    /// unless the rule set says otherwise.
    fn may_shm_lock(&self, s: &State, g: GuestId, _id: ShmId, _lock: bool) -> Result<(), Errno> {
        if s.guest(g)?.cred().may_lock(&s.policy) {
            Ok(())
        } else {
            Err(Errno::EPERM)
        }
    }
}

/// The answers of the proposed rules, which a rule set keeps where its kernel's could not be
/// found.
pub(crate) const PROPOSED_ANSWERS: Answers = Answers {
    mlock_prot_none: Errno::EINVAL,
    // NetBSD `uvm_map_pageable` checks every entry before it wires any.
    mlock_prot_none_locks: false,
    mlock_over_memlock: Errno::EAGAIN,
    mlock_over_wired: Errno::EAGAIN,
    mlock_limit_zero: None,
    future_over_memlock: Errno::ENOMEM,
    attach_removed: Some(Errno::EIDRM),
    rmid_hides_id: false,
    // NetBSD `uvm_mmap.c:sys_mmap` defaults the share type only for files and never checks
    // it for `MAP_ANON`, which `uvm_mmap` then maps private unless `MAP_SHARED` is given.
    mmap_needs_share_type: false,
    mincore_fills_to_hole: false,
    // NetBSD `uvm_mmap.c:sys___msync13` turns `MS_INVALIDATE` into `PGO_FREE`, and
    // `uvm_map.c:uvm_map_clean` refuses `PGO_FREE` on a wired entry with `EBUSY`.
    msync_invalidate_locked: (Errno::EBUSY, LockSeen::Wired),
    // NetBSD `uvm_mmap.c:uvm_mmap`: `MAP_WIRED` locks the new mapping as `VM_MAP_WIREFUTURE`
    // does (`uvm_map_pageable` after the `RLIMIT_MEMLOCK` check, `ENOMEM` past it).
    map_locked: Some(MapLocked {
        limit_zero: None,
        over_memlock: Errno::ENOMEM,
    }),
    lock_on_fault: false,
    shm_info: false,
    // NetBSD `uvm_mmap.c:sys_mlock` and `sys_mlockall` (`uvm_map_pageable_all`) count the
    // pages they would newly wire.
    mlockall_counts_mapped: false,
    mlock_counts_whole_range: false,
    // NetBSD `uvm_mmap.c:sys_mlockall` → `uvm_map_pageable_all` sets `VM_MAP_WIREFUTURE`
    // only when asked and clears it only in `munlockall`.
    mlockall_current_ends_future: false,
    // NetBSD `uvm_mmap.c:sys_madvise`: `MADV_DONTNEED` deactivates
    // (`uvm_map_clean(PGO_DEACTIVATE)`), keeping the data; `MADV_FREE` is
    // `uvm_map_clean(PGO_FREE)`, which refuses a wired entry with `EBUSY`.
    madvise: MadviseAnswers {
        dontneed_discards: false,
        dontneed_over_locked: None,
        free_over_locked: Some((Errno::EBUSY, LockSeen::Wired)),
        free_needs_anon: false,
        dontneed_locked: false,
    },
};

/// SHM_LOCK's shape under every rule set: the object's own wiring, then `hold` (the entries'
/// counts, as the rule set decides), undone together on failure, then the mark.
fn lock_segment(
    s: &mut State,
    id: ShmId,
    hold: impl FnOnce(&mut State) -> Result<(), Errno>,
) -> Result<(), Errno> {
    wiring::check_object_wiring(s, id)?;
    wiring::wire_object(s, id)?;
    if let Err(e) = hold(s) {
        wiring::unwire_object(s, id)?;
        return Err(e);
    }
    wiring::set_locked(s, id, true);
    Ok(())
}

/// The object wiring alone, with the mark: `SHM_LOCK` where no entry holds a count.
fn lock_object(s: &mut State, id: ShmId) -> Result<(), Errno> {
    lock_segment(s, id, |_| Ok(()))
}

/// Undoes [`lock_object`].
fn unlock_object(s: &mut State, id: ShmId) -> Result<(), Errno> {
    wiring::unwire_object(s, id)?;
    wiring::set_locked(s, id, false);
    Ok(())
}

/// Whether an entry maps segment `id`.
fn maps_segment(e: &Entry, id: ShmId) -> bool {
    matches!(e.backing(), Backing::Shm { id: x, .. } if x == id)
}
