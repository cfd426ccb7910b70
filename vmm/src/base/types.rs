//! Plain types shared by every layer: identities, attachments, residency, counters, faults the
//! machine refused, the rule set's name, and broken invariants.
//!
//! This module imports nothing of the crate but [`crate::base::addr`] and [`crate::base::errno`]: a type that two parts need
//! lives here, below both, so neither has to import the other.

use crate::base::addr::{AttachId, GuestId, PageRange, ShmId, Vaddr, Vpn};
use crate::base::errno::Errno;
use std::fmt;
use std::str::FromStr;

/// A guest's identity and limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cred {
    /// User id; 0 is privileged.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl Cred {
    /// The privileged identity (uid 0, gid 0), the default.
    pub const ROOT: Cred = Cred { uid: 0, gid: 0 };

    /// Whether this identity may do privileged operations (SHM_LOCK, any IPC_SET/IPC_RMID).
    pub fn is_privileged(&self) -> bool {
        self.uid == 0
    }
}

/// The kind of access that faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
}

/// Why a fault could not be resolved; the runtime turns each into a guest trap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// No entry maps the address (SIGSEGV, SEGV_MAPERR).
    Unmapped,
    /// The entry's protection forbids the access (SIGSEGV, SEGV_ACCERR).
    Protection,
    /// No frame could be had: physical memory is wired full or swap is full.
    OutOfMemory,
    /// The machine's state is corrupt, and it resolves no more faults in guest views.
    Corrupt,
}

/// A fault in a guest's view that the machine would not resolve, so the guest traps. The machine
/// keeps the first one of each guest: for a guest that runs to its end, that one is its trap's
/// cause (guest code traps at the access; host code acting for it, such as `memory.fill`, at its
/// next check).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefusedFault {
    /// The guest address.
    pub addr: Vaddr,
    /// A load or a store.
    pub access: Access,
    /// Whether the mapping at the address lets the guest read (false where nothing is mapped).
    pub readable: bool,
    /// Why the machine refused it.
    pub error: FaultError,
}

/// A segment attached by a guest: one `shmat`, whose map entries carry its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// Which `shmat` it was.
    pub id: AttachId,
    /// First page of the attachment.
    pub va: Vpn,
    /// Its length in pages.
    pub pages: u64,
    /// The segment.
    pub shm: ShmId,
}

impl Attachment {
    /// The pages it was attached at (some may have been unmapped since).
    pub fn range(&self) -> PageRange {
        PageRange::new(self.va, self.va.plus(self.pages))
    }
}

/// Counters since the machine started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Physical frames.
    pub frames: usize,
    /// Frames free now.
    pub free_frames: usize,
    /// Frames wired now.
    pub wired_frames: usize,
    /// The most frames wired at once.
    pub peak_wired: usize,
    /// Swap slots in use now.
    pub swap_used: u32,
    /// Faults resolved (zero fills, page-ins and faults on resident pages).
    pub faults: u64,
    /// Pages zero-filled on first touch.
    pub zero_fills: u64,
    /// Pages read back from swap (fault-ahead's included).
    pub page_ins: u64,
    /// Of those, pages brought in by fault-ahead, with a neighbour's fault.
    pub fault_ahead: u64,
    /// Pages written to swap and released.
    pub evictions: u64,
    /// Times the pagedaemon thread found too few free frames and paged out.
    pub pdaemon_runs: u64,
}

/// Residency of one page, as `mincore` and the tests see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Residency {
    /// In a frame.
    Resident,
    /// In swap.
    Swapped,
    /// Never touched.
    Untouched,
}

/// What one page of a guest's address space looks like now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageInfo {
    /// Where its data is.
    pub residency: Residency,
    /// Page-level wirings of its frame (0 when not resident).
    pub wire_count: u32,
    /// Whether the entry mapping it is wired.
    pub entry_wired: bool,
}

/// Which wiring rules a machine follows: a rule set of [`crate::rules`], which names them
/// (`Semantics::Proposed`, `Semantics::Linux`, ...; [`Semantics::ALL`]), says what each decides,
/// and cites the kernel source each rule comes from. Below that folder a rule set is only this
/// handle and its [`Policy`].
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Semantics(pub(crate) u8);

/// What a rule set answers as plain values, read by the VM core (which never asks which rule
/// set it is): one of these per rule set, in [`crate::rules`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The rule set's name, as `--semantics` takes it.
    pub name: &'static str,
    /// How long an attachment lives.
    pub attachment_life: AttachmentLife,
    /// Whether a locked segment's own wiring stands for every entry mapping it: while the
    /// segment is `SHM_LOCK`ed, each such entry is wired without a count of its own, and holds
    /// no page wiring of its own either, since the object's wiring holds every page. `SHM_LOCK`
    /// and `SHM_UNLOCK` then touch no attacher's entries except those wired on their own
    /// account (by `mlock`), so their cost does not grow with attachers.
    pub lock_covers_attachers: bool,
    /// Whether `SHM_LOCK` wires only the pages resident at the time and the rest as they come
    /// in, rather than bringing every page in first.
    pub lazy_shm_lock: bool,
    /// Whether `SHM_LOCK` is a balanced count on the segment (each lock needs its own unlock);
    /// elsewhere the segment's lock count stays 0.
    pub shm_lock_counted: bool,
    /// Whether a privileged guest has no locked-memory limit; elsewhere the limit binds every
    /// guest.
    pub privilege_lifts_memlock: bool,
    /// Whether the rule set replays a known kernel bug, so the audit must not hold it to the
    /// invariants that bug breaks (only the machine's own stop on corrupt state).
    pub replays_bug: bool,
    /// The errnos that differ between rule sets.
    pub answers: Answers,
}

/// Errnos and permissions that differ between rule sets but need no code of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answers {
    /// `mlock` of a range with a `PROT_NONE` entry.
    pub mlock_prot_none: Errno,
    /// `mlock` past the guest's locked-memory limit.
    pub mlock_over_memlock: Errno,
    /// `mlock` past the machine's wired maximum, or with no frame to be had.
    pub mlock_over_wired: Errno,
    /// `mlock` or `mlockall` by an unprivileged guest whose limit is 0, before anything else
    /// is looked at (`None`: the limit decides).
    pub mlock_limit_zero: Option<Errno>,
    /// A mapping made under `mlockall(MCL_FUTURE)` past the locked-memory limit.
    pub future_over_memlock: Errno,
    /// `shmat` of a segment marked by `IPC_RMID` that is still attached (`None`: allowed).
    pub attach_removed: Option<Errno>,
    /// Whether `IPC_RMID` takes the id out of the id space at once, so that every later call
    /// naming it fails with `EINVAL`.
    pub rmid_hides_id: bool,
    /// Whether anonymous `mmap` needs one of `MAP_SHARED` and `MAP_PRIVATE` (`EINVAL` without
    /// either); elsewhere neither means private.
    pub mmap_needs_share_type: bool,
    /// Whether `mincore` over a range that runs into a hole fills the vector for the pages
    /// before the hole before it fails with `ENOMEM`; elsewhere it writes nothing.
    pub mincore_fills_to_hole: bool,
    /// `msync(MS_INVALIDATE)` of a range with a locked page: the errno, and whether "locked"
    /// means the POSIX lock alone (Linux's `VM_LOCKED`) rather than wired by anything (the
    /// BSDs' wired entries, illumos' locked pages).
    pub msync_invalidate_locked: (Errno, LockSeen),
    /// What `MAP_LOCKED` (the ABI's `MAP_WIRED`) does, if the rule set has it.
    pub map_locked: Option<MapLocked>,
    /// What `madvise` does where the rule sets differ.
    pub madvise: MadviseAnswers,
    /// Whether `mlockall` without `MCL_FUTURE` ends an earlier `MCL_FUTURE`; elsewhere it
    /// stays in force.
    pub mlockall_current_ends_future: bool,
    /// Whether `shmctl` has Linux's `IPC_INFO`, `SHM_INFO`, `SHM_STAT` and `SHM_STAT_ANY`
    /// (elsewhere `EINVAL`, an unknown command).
    pub shm_info: bool,
    /// Whether the rule set has `mlock2(MLOCK_ONFAULT)` and `mlockall(MCL_ONFAULT)` (Linux's);
    /// elsewhere `mlock2` is `ENOSYS` and `MCL_ONFAULT` an unknown flag.
    pub lock_on_fault: bool,
}

/// What `madvise` does where the rule sets differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MadviseAnswers {
    /// Whether `MADV_DONTNEED` drops private anonymous pages (they read back as zeros; Linux);
    /// elsewhere it only says they can go first, and their data stays.
    pub dontneed_discards: bool,
    /// `MADV_DONTNEED` of a range with a POSIX-locked page (`None`: allowed, locked pages
    /// are left alone).
    pub dontneed_over_locked: Option<Errno>,
    /// `MADV_FREE` of a range with a locked page, and what "locked" means (`None`: allowed,
    /// wired pages are left alone).
    pub free_over_locked: Option<(Errno, LockSeen)>,
    /// Whether `MADV_FREE` needs private anonymous memory throughout (`EINVAL` over a
    /// segment; Linux); elsewhere a segment's pages are left alone.
    pub free_needs_anon: bool,
    /// Whether the rule set has Linux's `MADV_DONTNEED_LOCKED`.
    pub dontneed_locked: bool,
}

/// What a rule set's check for "locked" looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockSeen {
    /// The POSIX lock flag (`mlock`, `mlockall`, `MAP_LOCKED`).
    Mlocked,
    /// Any wiring of the entry (the flag, SVID or kernel counts, a locked segment).
    Wired,
}

/// `shmctl(IPC_INFO)`'s `struct shminfo`: the machine's shared-memory limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShmLimitsInfo {
    /// Largest segment, in bytes.
    pub shmmax: u64,
    /// Smallest segment, in bytes.
    pub shmmin: u64,
    /// Most segments.
    pub shmmni: u64,
    /// Most attachments of one guest (Linux reports `SHMMNI`: there is no limit of its own).
    pub shmseg: u64,
    /// Most pages in all segments.
    pub shmall: u64,
}

/// `shmctl(SHM_INFO)`'s `struct shm_info`: what the segments use now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShmUsage {
    /// Segments.
    pub used_ids: u32,
    /// Pages in all segments.
    pub shm_tot: u64,
    /// Of them, resident.
    pub shm_rss: u64,
    /// Of them, swapped out.
    pub shm_swp: u64,
}

/// How a rule set's `MAP_LOCKED` (Linux) or `MAP_WIRED` (NetBSD) mapping is locked: as a mapping
/// made under `mlockall(MCL_FUTURE)` is, with these errnos.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapLocked {
    /// An unprivileged guest whose locked-memory limit is 0 (`None`: the limit decides).
    pub limit_zero: Option<Errno>,
    /// Past the locked-memory limit.
    pub over_memlock: Errno,
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

macro_rules! invariants {
    ($($(#[$doc:meta])* $v:ident = $name:literal,)*) => {
        /// The invariants the machine keeps, by name: the ones [`crate::diag::audit`] checks, and
        /// the ones an operation finds broken when it stops the machine (see
        /// [`crate::Machine::corruption`]). `Display` gives the name used in reports.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Invariant {
            $($(#[$doc])* $v,)*
        }

        impl Invariant {
            /// Every invariant.
            pub const ALL: &'static [Invariant] = &[$(Invariant::$v,)*];

            /// The name reports use (`"page-wire-count"`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Invariant::$v => $name,)*
                }
            }
        }
    };
}

invariants! {
    /// A map entry is stored under its own start page.
    MapKey = "map-key",
    /// A map entry is non-empty and inside the address space.
    MapBounds = "map-bounds",
    /// An entry's protection is within its maximum.
    MapProt = "map-prot",
    /// Entries do not overlap.
    MapOverlap = "map-overlap",
    /// No entry holds an SVID count where no bug is replayed: a segment's lock is its mark and
    /// its object's wiring.
    EntrySvidCount = "entry-svid-count",
    /// A segment is marked locked exactly while its object holds its wiring (proposed).
    ShmLockMark = "shm-lock-mark",
    /// A segment's count of pages wired by their own entries is what its entries show.
    ShmEntryWiring = "shm-entry-wiring",
    /// A guest's locked-page count is the size of its flagged entries.
    LockedPages = "locked-pages",
    /// Every page under a wired entry or a locked segment is resident.
    WiredNotResident = "wired-not-resident",
    /// A frame's wire count is the number of wirings that hold it.
    PageWireCount = "page-wire-count",
    /// A frame's owner names the frame back.
    FrameOwner = "frame-owner",
    /// A resident page's frame names the page as its owner.
    PageFrame = "page-frame",
    /// No anonymous page outside an anonymous entry holds memory.
    AnonLeak = "anon-leak",
    /// Free frames are on the free list once and have no owner or wiring.
    QueueFree = "queue-free",
    /// A frame in use is on the pageout queue exactly when unwired.
    QueueState = "queue-state",
    /// The pool's wired counter is the number of wired frames.
    QueueWiredCount = "queue-wired-count",
    /// The pageout queue holds every pageable frame once, and its counter agrees.
    QueuePageout = "queue-pageout",
    /// A swapped page's slot is in use.
    SwapFreeSlot = "swap-free-slot",
    /// No slot holds two pages.
    SwapDouble = "swap-double",
    /// Every slot in use holds a page.
    SwapLeak = "swap-leak",
    /// Swap's use counter is the number of slots marked used.
    SwapCount = "swap-count",
    /// The segment table's page total is the sum of its segments' sizes.
    ShmPages = "shm-pages",
    /// A segment's attach count is the number of attachments guests hold.
    ShmNattch = "shm-nattch",
    /// Entries and attachments name live segments.
    ShmDangling = "shm-dangling",
    /// Every segment entry belongs to a recorded attachment of its segment.
    ShmAttachEntry = "shm-attach-entry",
    /// No attachment is counted once its pages are gone (mapping rule).
    ShmAttachUnmapped = "shm-attach-unmapped",
    /// No more frames are wired than the machine allows.
    WiredMax = "wired-max",
    /// A page of a wired entry was not resident when it was to be unwired.
    WireResident = "wire-resident",
    /// A frame would have been unwired below zero.
    WireUnderflow = "wire-underflow",
    /// An entry's count was released with no hold.
    EntryCountUnderflow = "entry-count-underflow",
    /// A page was to be freed while still wired.
    FreeWired = "free-wired",
    /// A segment's object took its wiring while holding it.
    ObjectWiredTwice = "object-wired-twice",
    /// A segment's object dropped a wiring it did not hold.
    ObjectUnwiredTwice = "object-unwired-twice",
    /// A page read back from swap could not be put back when its frame was refused.
    SwapLost = "swap-lost",
    /// A range could not be removed from a guest's host view.
    PmapRemove = "pmap-remove",
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for Invariant {
    type Err = String;
    fn from_str(s: &str) -> Result<Invariant, String> {
        Invariant::ALL
            .iter()
            .copied()
            .find(|i| i.name() == s)
            .ok_or_else(|| format!("no invariant is called `{s}`"))
    }
}

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant.
    pub invariant: Invariant,
    /// The values involved.
    pub detail: String,
}

impl Violation {
    /// A violation of `invariant`, described by `detail`.
    pub fn new(invariant: Invariant, detail: String) -> Violation {
        Violation { invariant, detail }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.detail)
    }
}

impl std::error::Error for Violation {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invariant_names_are_distinct_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for &i in Invariant::ALL {
            assert!(seen.insert(i.name()), "{} named twice", i.name());
            assert_eq!(i.name().parse::<Invariant>(), Ok(i));
        }
        assert!("no-such-thing".parse::<Invariant>().is_err());
    }
}

/// The page a frame holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A page of a guest's private anonymous memory.
    Anon {
        /// The guest.
        guest: GuestId,
        /// Its page number.
        vpn: Vpn,
    },
    /// A page of a shared segment's object.
    Object {
        /// The segment.
        shm: ShmId,
        /// The page's index in the object.
        pgoff: u64,
    },
}

/// A segment's owner, creator and permission bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpcPerm {
    /// Owner user.
    pub uid: u32,
    /// Owner group.
    pub gid: u32,
    /// Creator user.
    pub cuid: u32,
    /// Creator group.
    pub cgid: u32,
    /// Permission bits (`0o777`).
    pub mode: u32,
}

/// What `IPC_STAT` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShmidDs {
    /// Owner, creator and mode; the mode also carries `SHM_LOCKED`/`SHM_DEST` state bits.
    pub perm: IpcPerm,
    /// The key (`IPC_PRIVATE` once removed).
    pub key: i32,
    /// Size in bytes, as asked for at creation.
    pub segsz: u64,
    /// Pid of the last attach or detach (0 before any).
    pub lpid: u32,
    /// Pid of its creator.
    pub cpid: u32,
    /// Current attachments.
    pub nattch: u32,
    /// Seconds since the Epoch at the last attach.
    pub atime: u32,
    /// Seconds since the Epoch at the last detach.
    pub dtime: u32,
    /// Seconds since the Epoch at the last change.
    pub ctime: u32,
}

/// A `shmctl` command, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShmCmd {
    /// Report the status.
    Stat,
    /// Set owner and mode.
    Set {
        /// New owner user.
        uid: u32,
        /// New owner group.
        gid: u32,
        /// New permission bits (only `0o777` is kept).
        mode: u32,
    },
    /// Mark for removal.
    Rmid,
    /// Wire the segment (SVID).
    Lock,
    /// Unwire the segment (SVID).
    Unlock,
}
