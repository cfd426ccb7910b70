//! The memory-management calls on a guest's address space: `mmap`, `munmap`, `mprotect`,
//! `mincore`, `mlock`, `munlock`, `mlockall`, `munlockall`.
//!
//! Each call validates everything and checks its limits before it changes anything, so a call
//! that fails leaves no state changed; the few failures that can only show up part-way (no frame
//! could be had while wiring) are rolled back by `wiring::wire_entries`, and every partial
//! change of the map goes through `wiring::with_clipped`, whose merge puts the map back on
//! failure (and after mapping changes; wiring calls keep their clips, as UVM's do).
//! Removing mappings is [`crate::calls::unmap`]'s; what the rule set decides is [`crate::rules`]'.

use crate::base::addr::{GuestId, PageRange, Vaddr, Vpn};
use crate::base::errno::Errno;
use crate::base::limits::Limits;
use crate::base::types::{Invariant, LockSeen, Owner, Policy};
use crate::calls::unmap;
use crate::rules;
use crate::vm::fault;
use crate::vm::map::{Advice, Backing, Entry, Prot};
use crate::vm::page::PageSlot;
use crate::vm::pdaemon;
use crate::vm::pmap;
use crate::vm::state::{GuestVm, State};
use crate::vm::wire::WireOp;
use crate::vm::wiring::{self, LimitHit, Reshape};
use bitflags::bitflags;

bitflags! {
    /// `mmap` flags (numbers from `guest-abi`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct MapFlags: u32 {
        /// Shared (anonymous shared memory behaves as private here: no guest can fork).
        const SHARED = guest_abi::mman::MAP_SHARED as u32;
        /// Private.
        const PRIVATE = guest_abi::mman::MAP_PRIVATE as u32;
        /// Exactly at the address, replacing what is there.
        const FIXED = guest_abi::mman::MAP_FIXED as u32;
        /// Anonymous memory.
        const ANON = guest_abi::mman::MAP_ANON as u32;
        /// Lock the new mapping (NetBSD's `MAP_WIRED`, Linux's `MAP_LOCKED`), where the rule
        /// set has it.
        const WIRED = guest_abi::mman::MAP_WIRED as u32;
        /// Bring every page in before returning (Linux's `MAP_POPULATE`).
        const POPULATE = guest_abi::mman::MAP_POPULATE as u32;
    }
}

impl MapFlags {
    /// Decodes a guest's `flags` argument: `EINVAL` for unknown bits.
    pub fn from_guest(bits: i32) -> Result<MapFlags, Errno> {
        u32::try_from(bits)
            .ok()
            .and_then(MapFlags::from_bits)
            .ok_or(Errno::EINVAL)
    }
}

bitflags! {
    /// `mlockall` flags (numbers from `guest-abi`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct MlockallFlags: u32 {
        /// Lock every current mapping.
        const CURRENT = guest_abi::mman::MCL_CURRENT as u32;
        /// Lock every future mapping.
        const FUTURE = guest_abi::mman::MCL_FUTURE as u32;
        /// With `CURRENT` or `FUTURE`: lock on fault (Linux's `MCL_ONFAULT`).
        const ONFAULT = guest_abi::mman::MCL_ONFAULT as u32;
    }
}

impl MlockallFlags {
    /// Decodes a guest's `flags` argument: `EINVAL` for none or unknown bits.
    pub fn from_guest(bits: i32) -> Result<MlockallFlags, Errno> {
        u32::try_from(bits)
            .ok()
            .and_then(MlockallFlags::from_bits)
            .filter(|f| !f.is_empty())
            .ok_or(Errno::EINVAL)
    }
}

bitflags! {
    /// `msync` flags (numbers from `guest-abi`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct MsyncFlags: u32 {
        /// Schedule the writes and return.
        const ASYNC = guest_abi::mman::MS_ASYNC as u32;
        /// Drop cached copies, so later reads see the backing store.
        const INVALIDATE = guest_abi::mman::MS_INVALIDATE as u32;
        /// Write and wait.
        const SYNC = guest_abi::mman::MS_SYNC as u32;
    }
}

impl MsyncFlags {
    /// Decodes a guest's `flags` argument: `EINVAL` for unknown bits, or `MS_ASYNC` with
    /// `MS_SYNC` (every kernel refuses both).
    pub fn from_guest(bits: i32) -> Result<MsyncFlags, Errno> {
        u32::try_from(bits)
            .ok()
            .and_then(MsyncFlags::from_bits)
            .filter(|f| !f.contains(MsyncFlags::ASYNC | MsyncFlags::SYNC))
            .ok_or(Errno::EINVAL)
    }
}

/// `madvise` advice (numbers from `guest-abi`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Madvice {
    /// No special treatment.
    Normal,
    /// Random access: no fault-ahead.
    Random,
    /// Sequential access: fault-ahead forward, far.
    Sequential,
    /// Bring the pages in now.
    WillNeed,
    /// The pages are not needed soon (Linux drops private anonymous ones).
    DontNeed,
    /// The pages' data may go (anonymous memory reads back as zeros).
    Free,
    /// Linux's `MADV_DONTNEED_LOCKED`: `DONTNEED`, locked pages included.
    DontNeedLocked,
}

impl Madvice {
    /// Decodes a guest's `advice` argument: `EINVAL` for advice the ABI does not have.
    pub fn from_guest(advice: i32) -> Result<Madvice, Errno> {
        use guest_abi::mman as m;
        Ok(match advice {
            m::MADV_NORMAL => Madvice::Normal,
            m::MADV_RANDOM => Madvice::Random,
            m::MADV_SEQUENTIAL => Madvice::Sequential,
            m::MADV_WILLNEED => Madvice::WillNeed,
            m::MADV_DONTNEED => Madvice::DontNeed,
            m::MADV_FREE => Madvice::Free,
            m::MADV_DONTNEED_LOCKED => Madvice::DontNeedLocked,
            _ => return Err(Errno::EINVAL),
        })
    }

    /// The C name (`"MADV_FREE"`).
    pub fn name(self) -> &'static str {
        match self {
            Madvice::Normal => "MADV_NORMAL",
            Madvice::Random => "MADV_RANDOM",
            Madvice::Sequential => "MADV_SEQUENTIAL",
            Madvice::WillNeed => "MADV_WILLNEED",
            Madvice::DontNeed => "MADV_DONTNEED",
            Madvice::Free => "MADV_FREE",
            Madvice::DontNeedLocked => "MADV_DONTNEED_LOCKED",
        }
    }
}

/// The lowest page an address-less `mmap` or `shmat` picks, so that no mapping lands at 0.
pub(crate) const PLACEMENT_FLOOR: Vpn = Vpn(1);

/// How a new mapping is to be locked: as `mlockall(MCL_FUTURE)` asks, or as `MAP_WIRED` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LockNew {
    /// As `MCL_FUTURE` says: locked if it is in force.
    AsFuture,
    /// Locked (`MAP_WIRED`), with this errno past the locked-memory limit.
    Wired(Errno),
}

/// Inserts a fresh entry into a free range (the caller checked it is free) and maps it into
/// the guest's view; under `MCL_FUTURE` an accessible entry is then locked with the rule
/// set's lock operation.
///
/// Errors: `ENOMEM` when the view refuses the mapping or the lock does not fit the limits or
/// memory. Undone on failure: the entry is removed again, so nothing is left mapped.
pub(crate) fn insert_entry(s: &mut State, g: GuestId, entry: Entry) -> Result<(), Errno> {
    insert_entry_locked(s, g, entry, LockNew::AsFuture)
}

/// [`insert_entry`], locking the entry as `lock` says.
fn insert_entry_locked(
    s: &mut State,
    g: GuestId,
    entry: Entry,
    lock: LockNew,
) -> Result<(), Errno> {
    let (range, backing, prot) = (entry.range(), entry.backing(), entry.prot());
    let vm = s.guest_mut(g)?;
    if backing == Backing::Anon {
        vm.amap.reserve(range);
    }
    vm.map.insert(entry);
    tracing::debug!(target: "vmm::map", guest = g.0, start = range.start.addr().0, pages = range.pages(), ?backing, ?prot, "map");
    if let Err(e) = pmap::pmap_enter(s, g, range, backing, prot) {
        unmap::remove_range(s, g, range)?;
        return Err(e);
    }
    // A PROT_NONE mapping is never locked, as NetBSD's uvm_mmaplock returns before wiring
    // one (and as `mlock` refuses one).
    let locked = match lock {
        LockNew::AsFuture => s.guests[&g].map.wire_future(),
        LockNew::Wired(_) => true,
    };
    if !locked || prot.is_empty() {
        return Ok(());
    }
    let onfault = lock == LockNew::AsFuture && s.guests[&g].map.wire_future_onfault();
    let r = match wiring::check_lock_limits(s, g, range, |_| true) {
        Ok(()) => {
            let op = lock_op(s, onfault);
            wiring::with_clipped(s, g, range, Reshape::KeepClips, |s| {
                wiring::wire_entries(s, g, range, op, |_| true)
            })
            .map_err(keep_eio)
        }
        Err(LimitHit::Memlock) if matches!(lock, LockNew::Wired(_)) => {
            let LockNew::Wired(e) = lock else {
                unreachable!()
            };
            Err(e)
        }
        Err(hit) => Err(future_refused(s, hit)),
    };
    if r.is_err() {
        unmap::remove_range(s, g, range)?;
    }
    r
}

/// The entry operation of a POSIX lock: the rule set's, or a lock on fault (Linux's
/// `VM_LOCKONFAULT`, which only rule sets with `Answers::lock_on_fault` let through).
fn lock_op(s: &State, onfault: bool) -> WireOp {
    if onfault {
        WireOp::MlockOnFault
    } else {
        rules::of(s).lock_op()
    }
}

/// A wiring that failed for want of memory is `ENOMEM` to the caller; `EIO` (the state found
/// corrupt) stays `EIO`, so the runtime stops the guest on this call.
fn keep_eio(e: Errno) -> Errno {
    if e == Errno::EIO {
        e
    } else {
        Errno::ENOMEM
    }
}

/// The errno of a mapping under `MCL_FUTURE` that the limits refuse: the rule set's past the
/// locked-memory limit, `ENOMEM` past the wired maximum.
fn future_refused(s: &State, hit: LimitHit) -> Errno {
    match hit {
        LimitHit::Memlock => s.policy.answers.future_over_memlock,
        LimitHit::Wired => Errno::ENOMEM,
    }
}

/// Whether guest `g` may lock at all where the rule set refuses an unprivileged guest whose
/// locked-memory limit is 0 before anything else is looked at (Linux's `can_do_mlock`).
fn may_lock(policy: &Policy, vm: &GuestVm) -> Result<(), Errno> {
    // Linux `mm/mlock.c:can_do_mlock`: a limit that is not 0, or `CAP_IPC_LOCK`.
    match policy.answers.mlock_limit_zero {
        Some(e) if vm.memlock_limit() == 0 && !vm.cred().may_lock(policy) => Err(e),
        _ => Ok(()),
    }
}

/// `mmap` of anonymous memory (`MAP_ANON` required, `MAP_SHARED` or `MAP_PRIVATE`, not
/// both); returns the address. Without `MAP_FIXED`, `addr` is a hint: the lowest free room
/// at or above it, else the lowest above page 0. With `MAP_FIXED`, whatever was mapped in the
/// range is removed first ([`crate::calls::unmap::remove_range`]: really unwired).
///
/// Errors: `EINVAL` for a bad flag combination, length 0, or an unaligned or overflowing
/// `MAP_FIXED` range; `ENOMEM` when no room is free, the range passes the address space, or
/// `MCL_FUTURE` cannot lock the new pages. Undone on failure: everything, except that a
/// `MAP_FIXED` call refused after the old mappings went leaves them unmapped, as POSIX
/// allows; the `MCL_FUTURE` limit is checked first so that this cannot happen for want of
/// locked memory.
pub(crate) fn mmap(
    s: &mut State,
    g: GuestId,
    addr: Vaddr,
    len: u64,
    prot: Prot,
    flags: MapFlags,
) -> Result<Vaddr, Errno> {
    let answers = s.policy.answers;
    let vm = s.guest(g)?;
    if !flags.contains(MapFlags::ANON)
        || flags.contains(MapFlags::SHARED | MapFlags::PRIVATE)
        || (answers.mmap_needs_share_type
            && !flags.intersects(MapFlags::SHARED | MapFlags::PRIVATE))
        || len == 0
    {
        return Err(Errno::EINVAL);
    }
    let lock = if flags.contains(MapFlags::WIRED) {
        let ml = answers.map_locked.ok_or(Errno::EINVAL)?;
        if let Some(e) = ml.limit_zero {
            // Linux `mm/mmap.c:do_mmap`: MAP_LOCKED needs `can_do_mlock` (`CAP_IPC_LOCK`).
            if vm.memlock_limit() == 0 && !vm.cred().may_lock(&s.policy) {
                return Err(e);
            }
        }
        LockNew::Wired(ml.over_memlock)
    } else {
        LockNew::AsFuture
    };
    let limit = s.limit_bytes();
    let range = if flags.contains(MapFlags::FIXED) {
        let r = PageRange::aligned(addr, len, limit)?;
        let locked = vm.map.wire_future() || matches!(lock, LockNew::Wired(_));
        if locked && !prot.is_empty() {
            // Checked before the old mappings go (counting the new range in full, whatever
            // it replaces), so a refused call changes nothing.
            wiring::lock_limits(s, g, r.pages(), r.pages()).map_err(|hit| match (hit, lock) {
                (LimitHit::Memlock, LockNew::Wired(e)) => e,
                (hit, _) => future_refused(s, hit),
            })?;
        }
        unmap::remove_range(s, g, r)?;
        r
    } else {
        let pages = PageRange::rounded(Vaddr(0), len, limit)
            .map_err(|_| Errno::ENOMEM)?
            .pages();
        let map = &s.guests[&g].map;
        let start = map
            .find_space(pages, addr.vpn().max(PLACEMENT_FLOOR))
            .or_else(|| map.find_space(pages, PLACEMENT_FLOOR))
            .ok_or(Errno::ENOMEM)?;
        PageRange::new(start, start.plus(pages))
    };
    insert_entry_locked(
        s,
        g,
        Entry::new(range.start, range.end, prot, Prot::ALL, Backing::Anon),
        lock,
    )?;
    if flags.contains(MapFlags::POPULATE) && !prot.is_empty() {
        populate(s, g, range);
    }
    Ok(range.start.addr())
}

/// `MAP_POPULATE`: brings every page of the new mapping in, as Linux's `mm_populate` does after
/// `do_mmap`; like it, a page that cannot be had is left for its first touch, and the mapping
/// stands.
fn populate(s: &mut State, g: GuestId, range: PageRange) {
    for vpn in range.iter() {
        let Some(o) = s.guests[&g].map.lookup(vpn).map(|e| e.owner_at(g, vpn)) else {
            break;
        };
        if fault::page_in(s, o).is_err() {
            break;
        }
    }
}

/// `munmap`: removes every mapping in the page-aligned range, really unwiring each; holes
/// are allowed.
///
/// Errors: `EINVAL` for length 0 or an unaligned or out-of-space range. Nothing changes on
/// failure.
pub(crate) fn munmap(s: &mut State, g: GuestId, addr: Vaddr, len: u64) -> Result<(), Errno> {
    s.guest(g)?;
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    let range = PageRange::aligned(addr, len, s.limit_bytes()).map_err(|_| Errno::EINVAL)?;
    unmap::remove_range(s, g, range)
}

/// `mprotect`: sets the protection of every page of the range; wiring is untouched.
///
/// Errors: `EINVAL` for an unaligned range; `ENOMEM` for a hole or an out-of-space range;
/// `EACCES` when an entry's maximum protection forbids `prot` (a `SHM_RDONLY` attachment
/// made writable). Nothing changes on failure.
pub(crate) fn mprotect(
    s: &mut State,
    g: GuestId,
    addr: Vaddr,
    len: u64,
    prot: Prot,
) -> Result<(), Errno> {
    let range = PageRange::aligned(addr, len, s.limit_bytes())?;
    let vm = s.guest_mut(g)?;
    if !vm.map.is_fully_mapped(range) {
        return Err(Errno::ENOMEM);
    }
    if vm
        .map
        .overlapping(range)
        .any(|e| !e.max_prot().contains(prot))
    {
        return Err(Errno::EACCES);
    }
    wiring::with_clipped(s, g, range, Reshape::Merge, |s| {
        let map = &mut s.guest_mut(g)?.map;
        for start in map.starts_in(range) {
            map.get_mut(start).expect("listed").set_prot(prot);
        }
        Ok(())
    })?;
    tracing::debug!(target: "vmm::map", guest = g.0, start = range.start.addr().0, pages = range.pages(), ?prot, "protect");
    pmap::pmap_protect(s, g, range, prot)
}

/// `mincore`: one byte per page of the range, 1 when resident.
///
/// Errors: `EINVAL` for an unaligned range; `ENOMEM` for a hole. Changes nothing.
pub(crate) fn mincore(s: &mut State, g: GuestId, addr: Vaddr, len: u64) -> Result<Vec<u8>, Errno> {
    let (v, r) = mincore_to_hole(s, g, addr, len)?;
    r.map(|()| v)
}

/// `mincore` as a guest sees it: the bytes the rule set writes and the call's result. A range
/// that runs into a hole fails with `ENOMEM`, after the bytes of the pages before the hole
/// where the rule set writes those ([`Answers::mincore_fills_to_hole`]), else after none.
/// The outer error is one that writes nothing under every rule set.
pub(crate) fn mincore_to_hole(
    s: &mut State,
    g: GuestId,
    addr: Vaddr,
    len: u64,
) -> Result<(Vec<u8>, Result<(), Errno>), Errno> {
    let range = PageRange::aligned(addr, len, s.limit_bytes())?;
    let vm = s.guest(g)?;
    let mut out = Vec::with_capacity(range.pages().min(1 << 20) as usize);
    let mut next = range.start;
    for e in vm.map.overlapping(range) {
        if e.start() > next {
            break;
        }
        for vpn in e.range().intersect(&range).iter().flat_map(|r| r.iter()) {
            let resident = matches!(s.slot(e.owner_at(g, vpn)), PageSlot::Resident(_));
            out.push(u8::from(resident));
        }
        next = e.end();
    }
    if next >= range.end {
        return Ok((out, Ok(())));
    }
    if !s.policy.answers.mincore_fills_to_hole {
        out.clear();
    }
    Ok((out, Err(Errno::ENOMEM)))
}

/// `msync` of the pages the range touches. Anonymous memory and segments have no backing store
/// to write to or read back from (swap is the pager's, not a file), so a call that passes its
/// checks changes nothing; what it answers is each kernel's.
///
/// Errors: `EINVAL` for an unaligned address; `ENOMEM` for a hole or an out-of-space range;
/// with `MS_INVALIDATE`, the rule set's errno when a page of the range is locked
/// ([`Answers::msync_invalidate_locked`]: `EBUSY` under `proposed`, as NetBSD). Length 0
/// succeeds.
pub(crate) fn msync(
    s: &mut State,
    g: GuestId,
    addr: Vaddr,
    len: u64,
    flags: MsyncFlags,
) -> Result<(), Errno> {
    let vm = s.guest(g)?;
    if !addr.is_aligned() {
        return Err(Errno::EINVAL);
    }
    if len == 0 {
        return Ok(());
    }
    let range = PageRange::rounded(addr, len, s.limit_bytes())?;
    if !vm.map.is_fully_mapped(range) {
        return Err(Errno::ENOMEM);
    }
    let (busy, seen) = s.policy.answers.msync_invalidate_locked;
    if flags.contains(MsyncFlags::INVALIDATE)
        && vm.map.overlapping(range).any(|e| match seen {
            LockSeen::Mlocked => e.is_mlocked(),
            LockSeen::Wired => s.entry_wired(e),
        })
    {
        return Err(busy);
    }
    Ok(())
}

/// `madvise` of the pages the range touches. `NORMAL`, `RANDOM` and `SEQUENTIAL` set the
/// entries' advice, which fault-ahead follows; `WILLNEED` brings back the pages in swap
/// (stopping at the first that cannot be had, as advice may); `DONTNEED` drops the data of unlocked private
/// anonymous pages where the rule set says so (Linux) and otherwise changes nothing here (the
/// BSDs only deactivate); `FREE` drops the data of anonymous pages no wiring holds;
/// `DONTNEED_LOCKED` (Linux) drops locked pages too, and their entries go on locked on fault,
/// so each page comes back wired as it is touched. A segment's pages are never dropped.
///
/// Errors: `EINVAL` for an unaligned address, and for advice the rule set refuses on the range
/// ([`Answers::madvise`]: Linux's `EINVAL` for `DONTNEED` or `FREE` over locked pages, NetBSD's
/// `EBUSY` for `FREE` over wired ones); `ENOMEM` for a hole or an out-of-space range (checked
/// first: nothing changes). Length 0 succeeds.
pub(crate) fn madvise(
    s: &mut State,
    g: GuestId,
    addr: Vaddr,
    len: u64,
    advice: Madvice,
) -> Result<(), Errno> {
    let ma = s.policy.answers.madvise;
    let vm = s.guest(g)?;
    if !addr.is_aligned() {
        return Err(Errno::EINVAL);
    }
    if advice == Madvice::DontNeedLocked && !ma.dontneed_locked {
        return Err(Errno::EINVAL);
    }
    if len == 0 {
        return Ok(());
    }
    let range = PageRange::rounded(addr, len, s.limit_bytes())?;
    if !vm.map.is_fully_mapped(range) {
        return Err(Errno::ENOMEM);
    }
    let any = |f: &dyn Fn(&Entry) -> bool| vm.map.overlapping(range).any(f);
    match advice {
        Madvice::Normal | Madvice::Random | Madvice::Sequential => {
            let a = match advice {
                Madvice::Random => Advice::Random,
                Madvice::Sequential => Advice::Sequential,
                _ => Advice::Normal,
            };
            wiring::with_clipped(s, g, range, Reshape::Merge, |s| {
                let map = &mut s.guest_mut(g)?.map;
                for start in map.starts_in(range) {
                    map.get_mut(start).expect("listed").set_advice(a);
                }
                Ok(())
            })
        }
        Madvice::WillNeed => {
            swap_in(s, g, range);
            Ok(())
        }
        Madvice::DontNeed => {
            if let Some(e) = ma.dontneed_over_locked {
                if any(&|e| e.is_mlocked()) {
                    return Err(e);
                }
            }
            if ma.dontneed_discards {
                discard(s, g, range);
            }
            Ok(())
        }
        Madvice::Free => {
            if ma.free_needs_anon && any(&|e| e.backing() != Backing::Anon) {
                return Err(Errno::EINVAL);
            }
            if let Some((e, seen)) = ma.free_over_locked {
                let locked = |x: &Entry| match seen {
                    LockSeen::Mlocked => x.is_mlocked(),
                    LockSeen::Wired => s.entry_wired(x),
                };
                if any(&locked) {
                    return Err(e);
                }
            }
            discard(s, g, range);
            Ok(())
        }
        Madvice::DontNeedLocked => {
            // The locked anonymous entries stay locked, on fault from now on, so that their
            // pages can go and come back wired as they are touched (a locked Linux vma faults
            // its pages in mlocked); then every unwired anonymous page goes.
            let mlocked_anon =
                |e: &Entry| e.is_mlocked() && e.wire_count() == 0 && e.backing() == Backing::Anon;
            wiring::with_clipped(s, g, range, Reshape::KeepClips, |s| {
                wiring::wire_entries(s, g, range, WireOp::MlockOnFault, mlocked_anon)?;
                let locked: Vec<PageRange> = s.guests[&g]
                    .map
                    .overlapping(range)
                    .filter(|e| e.locks_on_fault() && !s.covered_by_lock(e))
                    .filter_map(|e| e.range().intersect(&range))
                    .collect();
                for vpn in locked.iter().flat_map(|r| r.iter()) {
                    let o = Owner::Anon { guest: g, vpn };
                    if let PageSlot::Resident(f) = s.slot(o) {
                        if s.phys.pool.unwire(f).is_err() {
                            return Err(s.corrupted(
                                Invariant::WireUnderflow,
                                format!("{g:?} page {:?} unwired below zero", vpn.addr()),
                            ));
                        }
                        if !pdaemon::discard_anon(s, o) {
                            s.phys.pool.wire(f);
                        }
                    }
                }
                discard(s, g, range);
                Ok(())
            })
        }
    }
}

/// `MADV_WILLNEED`: brings back the pages of `range` that are in swap, stopping at the first
/// that cannot be had. Untouched pages stay untouched, as Linux's `madvise_willneed` only reads
/// swap ahead for anonymous memory and NetBSD's `uvm_map_willneed` leaves anonymous memory
/// alone.
fn swap_in(s: &mut State, g: GuestId, range: PageRange) {
    for vpn in range.iter() {
        let Some(o) = s.guests[&g].map.lookup(vpn).map(|e| e.owner_at(g, vpn)) else {
            break;
        };
        if matches!(s.slot(o), PageSlot::Swapped(_)) && fault::page_in(s, o).is_err() {
            break;
        }
    }
}

/// Drops the data of the unwired anonymous pages of guest `g`'s anonymous entries in `range`.
fn discard(s: &mut State, g: GuestId, range: PageRange) {
    let anon: Vec<PageRange> = s.guests[&g]
        .map
        .overlapping(range)
        .filter(|e| e.backing() == Backing::Anon && !s.entry_wired(e))
        .filter_map(|e| e.range().intersect(&range))
        .collect();
    for r in anon {
        for vpn in r.iter() {
            pdaemon::discard_anon(s, Owner::Anon { guest: g, vpn });
        }
    }
}

/// `mlock` of the pages the range touches: the rule set's lock operation on every entry
/// (the POSIX flag under `proposed`), wiring what was not wired. Length 0 succeeds.
///
/// Errors: `ENOMEM` for a hole or an out-of-space range; `EINVAL` when an entry is
/// `PROT_NONE`, as NetBSD's uvm_map_pageable refuses to wire one (its test `t_mlock.c`,
/// `mlock_mmap`, requires the failure); `EAGAIN` past the locked-memory limit or the wired
/// maximum, or when no frame can be had. Other rule sets answer some of these with their
/// kernel's errno ([`crate::rules`]). Undone on failure: every entry and page wired.
pub(crate) fn mlock(s: &mut State, g: GuestId, addr: Vaddr, len: u64) -> Result<(), Errno> {
    lock_range(s, g, addr, len, false)
}

/// Linux's `mlock2`: `mlock`, or with `onfault` (`MLOCK_ONFAULT`) a lock that brings nothing
/// in: the pages resident are wired now, the others as they come in (`mm/mlock.c`,
/// `VM_LOCKONFAULT`); a segment's entry is locked whole. Charged to the locked-memory limit
/// in full, as Linux charges the range.
///
/// Errors: `ENOSYS` under a rule set without it (`mlock2` is Linux's); then `mlock`'s.
pub(crate) fn mlock2(
    s: &mut State,
    g: GuestId,
    addr: Vaddr,
    len: u64,
    onfault: bool,
) -> Result<(), Errno> {
    if !s.policy.answers.lock_on_fault {
        return Err(Errno::ENOSYS);
    }
    lock_range(s, g, addr, len, onfault)
}

/// `mlock` and `mlock2`: the checks, then the lock (on fault when `onfault`).
fn lock_range(
    s: &mut State,
    g: GuestId,
    addr: Vaddr,
    len: u64,
    onfault: bool,
) -> Result<(), Errno> {
    let answers = s.policy.answers;
    let vm = s.guest(g)?;
    may_lock(&s.policy, vm)?;
    let range = PageRange::rounded(addr, len, s.limit_bytes())?;
    // One walk of the range answers every check: holes, PROT_NONE, the pages that would
    // newly carry the flag, and the frames that would newly be wired.
    // Where the rule set locks a range with a `PROT_NONE` entry anyway (Linux), the part from
    // that entry on is locked on fault: nothing there can be brought in.
    let locks_prot_none = answers.mlock_prot_none_locks;
    let (mut next, mut none_at, mut more_locked, mut more_wired) = (range.start, None, 0, 0);
    let mut shared = std::collections::HashSet::new();
    for e in vm.map.overlapping(range) {
        if e.start() > next {
            break;
        }
        next = e.end();
        if e.prot().is_empty() && none_at.is_none() {
            none_at = Some(e.start().max(range.start));
        }
        if !e.is_mlocked() {
            more_locked += e.range().intersect(&range).map_or(0, |r| r.pages());
        }
        let on_fault_here = onfault || (locks_prot_none && none_at.is_some());
        more_wired += if on_fault_here && e.backing() == Backing::Anon {
            wiring::resident_frames_to_wire_in(s, g, e, range)
        } else {
            wiring::frames_to_wire_in(s, g, e, range, &mut shared)
        };
    }
    if next < range.end {
        return Err(Errno::ENOMEM);
    }
    if none_at.is_some() && !locks_prot_none {
        return Err(answers.mlock_prot_none);
    }
    if answers.mlock_counts_whole_range {
        more_locked = range.pages();
    }
    wiring::lock_limits(s, g, more_locked, more_wired).map_err(|hit| match hit {
        LimitHit::Memlock => answers.mlock_over_memlock,
        LimitHit::Wired => answers.mlock_over_wired,
    })?;
    let op = lock_op(s, onfault);
    let whole = PageRange::new(range.start, none_at.unwrap_or(range.end));
    let rest = PageRange::new(whole.end, range.end);
    wiring::with_clipped(s, g, range, Reshape::KeepClips, |s| {
        if let Some(at) = none_at {
            s.guest_mut(g)?.map.clip(at);
        }
        wiring::wire_entries(s, g, whole, op, |_| true)?;
        if !rest.is_empty() {
            wiring::wire_entries(s, g, rest, WireOp::MlockOnFault, |_| true)?;
        }
        Ok(())
    })
    .map_err(|e| {
        if e == Errno::ENOMEM {
            answers.mlock_over_wired
        } else {
            e
        }
    })?;
    match none_at {
        // Linux's `__mm_populate` stops at the entry it cannot fault in: `ENOMEM`, the lock
        // left in place.
        Some(_) => Err(answers.mlock_prot_none),
        None => Ok(()),
    }
}

/// `munlock` of the pages the range touches: the rule set's unlock (under `proposed`, clears
/// the flag; an SVID count still wires).
///
/// Errors: `ENOMEM` for a hole or an out-of-space range; under `netbsd-2019`, `EINVAL`
/// when an entry is not wired. Nothing changes on failure.
pub(crate) fn munlock(s: &mut State, g: GuestId, addr: Vaddr, len: u64) -> Result<(), Errno> {
    let range = PageRange::rounded(addr, len, s.limit_bytes())?;
    if !s.guest(g)?.map.is_fully_mapped(range) {
        return Err(Errno::ENOMEM);
    }
    wiring::with_clipped(s, g, range, Reshape::KeepClips, |s| {
        rules::of(s).munlock(s, g, range)
    })
}

/// `mlockall`. `MCL_CURRENT` locks every entry that is not `PROT_NONE` (as NetBSD);
/// `MCL_FUTURE` makes later mappings start locked. `MCL_CURRENT` alone leaves an earlier
/// `MCL_FUTURE` in force (as NetBSD).
///
/// Errors: `EINVAL` for no flag; `ENOMEM` past the limits or when no frame can be had.
/// Undone on failure: every entry and page wired, and `MCL_FUTURE` is not set.
pub(crate) fn mlockall(s: &mut State, g: GuestId, flags: MlockallFlags) -> Result<(), Errno> {
    let all = s.whole_space();
    let answers = s.policy.answers;
    s.guest(g)?;
    let onfault = flags.contains(MlockallFlags::ONFAULT);
    if flags.is_empty()
        || (onfault && !answers.lock_on_fault)
        || (onfault && !flags.intersects(MlockallFlags::CURRENT | MlockallFlags::FUTURE))
    {
        return Err(Errno::EINVAL);
    }
    may_lock(&s.policy, s.guest(g)?)?;
    if flags.contains(MlockallFlags::CURRENT) {
        let accessible = |e: &Entry| !e.prot().is_empty();
        let within = if answers.mlockall_counts_mapped {
            // Every mapped page against the lock limit, then the frames against the maximum.
            let vm = s.guest(g)?;
            let mapped: u64 = vm.map.iter().map(|e| e.range().pages()).sum();
            // Linux `mm/mlock.c:do_mlockall`: `capable(CAP_IPC_LOCK)` lifts the limit.
            let exempt = vm.cred().may_lock(&s.policy) && s.policy.privilege_lifts_memlock;
            (exempt || Limits::memlock_allows(0, mapped, vm.memlock_limit()))
                && wiring::lock_limits(s, g, 0, wiring::frames_to_wire(s, g, all, accessible))
                    .is_ok()
        } else {
            wiring::check_lock_limits(s, g, all, accessible).is_ok()
        };
        if !within {
            return Err(Errno::ENOMEM);
        }
        let op = lock_op(s, onfault);
        wiring::with_clipped(s, g, all, Reshape::KeepClips, |s| {
            wiring::wire_entries(s, g, all, op, accessible)
        })
        .map_err(keep_eio)?;
    }
    let map = &mut s.guest_mut(g)?.map;
    if flags.contains(MlockallFlags::FUTURE) {
        map.set_wire_future(true, onfault);
    } else if answers.mlockall_current_ends_future {
        map.set_wire_future(false, false);
    }
    Ok(())
}

/// `munlockall`: ends `MCL_FUTURE` and applies the rule set's unlock to every entry.
/// Fails only on corrupt state.
pub(crate) fn munlockall(s: &mut State, g: GuestId) -> Result<(), Errno> {
    let all = s.whole_space();
    let map = &mut s.guest_mut(g)?.map;
    map.set_wire_future(false, false);
    wiring::with_clipped(s, g, all, Reshape::KeepClips, |s| {
        rules::of(s).munlockall(s, g)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::addr::PAGE_SIZE;
    use crate::base::types::Semantics;
    use crate::base::types::{Access, Resource, Rlimit};
    use crate::calls::shm;
    use crate::diag::audit::audit;
    use crate::vm::fault;

    const P: u64 = PAGE_SIZE;
    const ANON: MapFlags = MapFlags::ANON.union(MapFlags::PRIVATE);

    fn one_guest(frames: u32) -> (State, GuestId) {
        let mut s = State::small(frames, 64);
        let g = s.add_guest(&Default::default()).unwrap();
        (s, g)
    }

    fn resident(s: &State, g: GuestId, a: Vaddr, pages: u64) -> usize {
        let v = s.mincore_ro(g, a, pages * P);
        v.iter().filter(|&&b| b == 1).count()
    }

    impl State {
        fn mincore_ro(&self, g: GuestId, a: Vaddr, len: u64) -> Vec<u8> {
            let range = PageRange::aligned(a, len, self.limit_bytes()).unwrap();
            let vm = self.guest(g).unwrap();
            range
                .iter()
                .map(|vpn| {
                    let e = vm.map.lookup(vpn).unwrap();
                    u8::from(matches!(
                        self.slot(e.owner_at(g, vpn)),
                        PageSlot::Resident(_)
                    ))
                })
                .collect()
        }
    }

    #[test]
    fn mmap_places_above_page_zero_and_merges_with_its_neighbour() {
        let (mut s, g) = one_guest(16);
        let a = mmap(&mut s, g, Vaddr(0), 2 * P, Prot::RW, ANON).unwrap();
        assert_eq!(a, Vaddr(P), "page 0 is never chosen");
        let b = mmap(&mut s, g, Vaddr(0), 3 * P, Prot::RW, ANON).unwrap();
        assert_eq!(b, Vaddr(3 * P));
        assert_eq!(s.guest(g).unwrap().map.len(), 1, "like neighbours merge");
        audit(&s).unwrap();
    }

    #[test]
    fn mmap_rejects_bad_flags_and_lengths_without_changing_anything() {
        let (mut s, g) = one_guest(16);
        let both = ANON | MapFlags::SHARED;
        assert_eq!(
            mmap(&mut s, g, Vaddr(0), P, Prot::RW, both),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            mmap(&mut s, g, Vaddr(0), 0, Prot::RW, ANON),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            mmap(&mut s, g, Vaddr(0), P, Prot::RW, MapFlags::PRIVATE),
            Err(Errno::EINVAL),
            "only anonymous memory"
        );
        let fixed = ANON | MapFlags::FIXED;
        assert_eq!(
            mmap(&mut s, g, Vaddr(1), P, Prot::RW, fixed),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            mmap(&mut s, g, Vaddr(0), 1 << 30, Prot::RW, ANON),
            Err(Errno::ENOMEM),
            "larger than the address space"
        );
        assert!(s.guest(g).unwrap().map.is_empty());
        assert_eq!(
            mmap(&mut s, GuestId(9), Vaddr(0), P, Prot::RW, ANON),
            Err(Errno::ESRCH)
        );
    }

    #[test]
    fn map_fixed_over_a_locked_mapping_really_unwires_it() {
        let (mut s, g) = one_guest(16);
        let a = mmap(&mut s, g, Vaddr(0), 4 * P, Prot::RW, ANON).unwrap();
        mlock(&mut s, g, a, 4 * P).unwrap();
        assert_eq!(s.phys.pool.wired(), 4);
        mmap(&mut s, g, a, 4 * P, Prot::RW, ANON | MapFlags::FIXED).unwrap();
        assert_eq!(s.phys.pool.wired(), 0);
        assert_eq!(s.guest(g).unwrap().locked_pages(), 0);
        assert_eq!(resident(&s, g, a, 4), 0, "the old pages are gone");
        audit(&s).unwrap();
    }

    #[test]
    fn mlock_twice_munlock_once_unlocks_and_keeps_the_data() {
        let (mut s, g) = one_guest(16);
        let a = mmap(&mut s, g, Vaddr(0), 3 * P, Prot::RW, ANON).unwrap();
        fault::copy_in(&mut s, g, a, b"kept").unwrap();
        mlock(&mut s, g, Vaddr(a.0 + P), P).unwrap();
        mlock(&mut s, g, Vaddr(a.0 + P), P).unwrap();
        assert_eq!(s.guest(g).unwrap().map.len(), 3, "the lock clips");
        assert_eq!(resident(&s, g, a, 3), 2, "mlock brings its page in");
        munlock(&mut s, g, Vaddr(a.0 + P), P).unwrap();
        assert_eq!(s.phys.pool.wired(), 0);
        assert_eq!(
            s.guest(g).unwrap().map.len(),
            3,
            "and the unlock keeps the clips, as UVM's"
        );
        mprotect(&mut s, g, a, 3 * P, Prot::RW).unwrap();
        assert_eq!(
            s.guest(g).unwrap().map.len(),
            1,
            "the next mapping change merges them"
        );
        let mut buf = [0u8; 4];
        fault::copy_out(&mut s, g, a, &mut buf).unwrap();
        assert_eq!(&buf, b"kept");
        audit(&s).unwrap();
    }

    #[test]
    fn mlock_refuses_holes_prot_none_and_the_limit_changing_nothing() {
        let (mut s, g) = one_guest(16);
        let a = mmap(&mut s, g, Vaddr(0), 4 * P, Prot::RW, ANON).unwrap();
        munmap(&mut s, g, Vaddr(a.0 + P), P).unwrap();
        assert_eq!(mlock(&mut s, g, a, 4 * P), Err(Errno::ENOMEM), "a hole");
        mprotect(&mut s, g, Vaddr(a.0 + 2 * P), P, Prot::empty()).unwrap();
        assert_eq!(
            mlock(&mut s, g, Vaddr(a.0 + 2 * P), P),
            Err(Errno::EINVAL),
            "PROT_NONE"
        );
        let vm = s.guest_mut(g).unwrap();
        let hard = vm.rlimit(Resource::Memlock).max;
        vm.set_rlimit(Resource::Memlock, Rlimit { cur: P, max: hard });
        assert_eq!(
            mlock(&mut s, g, Vaddr(a.0 + 3 * P), 2 * P),
            Err(Errno::ENOMEM)
        );
        let b = mmap(&mut s, g, Vaddr(0), 2 * P, Prot::RW, ANON).unwrap();
        assert_eq!(
            mlock(&mut s, g, b, 2 * P),
            Err(Errno::EAGAIN),
            "over RLIMIT_MEMLOCK"
        );
        assert_eq!(s.phys.pool.wired(), 0);
        assert_eq!(s.guest(g).unwrap().locked_pages(), 0);
        audit(&s).unwrap();
    }

    #[test]
    fn mlock_that_runs_out_of_frames_puts_back_every_page_it_wired() {
        // 4 frames and no swap: three touched pages cannot be paged out, so the second page
        // of the lock finds no frame, though the limits allow it.
        let mut s = State::small(4, 0);
        let g = s.add_guest(&Default::default()).unwrap();
        s.cfg.limits.wired_max = 4;
        let x = mmap(&mut s, g, Vaddr(0), 3 * P, Prot::RW, ANON).unwrap();
        fault::copy_in(&mut s, g, x, &[1; 3 * P as usize]).unwrap();
        let a = mmap(&mut s, g, Vaddr(0), 2 * P, Prot::RW, ANON).unwrap();
        let before: Vec<_> = s.guest(g).unwrap().map.iter().cloned().collect();
        assert_eq!(mlock(&mut s, g, a, 2 * P), Err(Errno::EAGAIN));
        assert_eq!(s.phys.pool.wired(), 0);
        let after: Vec<_> = s.guest(g).unwrap().map.iter().cloned().collect();
        assert_eq!(before, after, "the map is as it was");
        audit(&s).unwrap();
    }

    #[test]
    fn mprotect_checks_the_maximum_and_clips_only_what_it_changes() {
        let (mut s, g) = one_guest(16);
        let a = mmap(&mut s, g, Vaddr(0), 4 * P, Prot::RW, ANON).unwrap();
        mprotect(&mut s, g, Vaddr(a.0 + P), P, Prot::READ).unwrap();
        assert_eq!(s.guest(g).unwrap().map.len(), 3);
        assert_eq!(
            fault::fault(&mut s, g, Vaddr(a.0 + P).vpn(), Access::Write).unwrap_err(),
            crate::base::types::FaultError::Protection
        );
        mprotect(&mut s, g, Vaddr(a.0 + P), P, Prot::RW).unwrap();
        assert_eq!(s.guest(g).unwrap().map.len(), 1);
        s.guest_mut(g)
            .unwrap()
            .map
            .get_mut(a.vpn())
            .unwrap()
            .corrupt_max_prot(Prot::READ);
        assert_eq!(mprotect(&mut s, g, a, P, Prot::RW), Err(Errno::EACCES));
        assert_eq!(
            mprotect(&mut s, g, Vaddr(a.0 + 8 * P), P, Prot::RW),
            Err(Errno::ENOMEM)
        );
    }

    #[test]
    fn mlockall_future_locks_later_mappings_and_munlockall_ends_it() {
        let (mut s, g) = one_guest(16);
        mlockall(&mut s, g, MlockallFlags::FUTURE).unwrap();
        let a = mmap(&mut s, g, Vaddr(0), 2 * P, Prot::RW, ANON).unwrap();
        assert_eq!(resident(&s, g, a, 2), 2);
        assert_eq!(s.phys.pool.wired(), 2);
        let none = mmap(&mut s, g, Vaddr(0), P, Prot::empty(), ANON).unwrap();
        assert!(!s
            .guest(g)
            .unwrap()
            .map
            .lookup(none.vpn())
            .unwrap()
            .wired_by_itself());
        munlockall(&mut s, g).unwrap();
        assert_eq!(s.phys.pool.wired(), 0);
        let b = mmap(&mut s, g, Vaddr(0), P, Prot::RW, ANON).unwrap();
        assert_eq!(resident(&s, g, b, 1), 0);
        assert_eq!(
            mlockall(&mut s, g, MlockallFlags::empty()),
            Err(Errno::EINVAL)
        );
        audit(&s).unwrap();
    }

    /// A wiring that meets a failing swap reports `EIO`, not a shortage of memory, from
    /// `mlockall` and from a mapping made under `MCL_FUTURE` (both once turned every wiring
    /// error into `ENOMEM`), and everything it did is undone.
    #[test]
    fn a_lock_that_meets_a_failing_swap_says_eio_and_changes_nothing() {
        let mut s = State::small(8, 16);
        let g = s.add_guest(&Default::default()).unwrap();
        let a = mmap(&mut s, g, Vaddr(0), 2 * P, Prot::RW, ANON).unwrap();
        fault::copy_in(&mut s, g, a, &[7; 2 * P as usize]).unwrap();
        assert_eq!(crate::vm::pdaemon::reclaim(&mut s, 8), 2);
        s.phys.swap.break_backing();
        let before: Vec<_> = s.guest(g).unwrap().map.iter().cloned().collect();
        assert_eq!(mlockall(&mut s, g, MlockallFlags::CURRENT), Err(Errno::EIO));
        let after: Vec<_> = s.guest(g).unwrap().map.iter().cloned().collect();
        assert_eq!(before, after, "no entry stays locked");
        assert_eq!(s.phys.pool.wired(), 0);
        assert_eq!(s.guest(g).unwrap().locked_pages(), 0);
        audit(&s).unwrap();
        // An attachment under MCL_FUTURE whose lock must bring a swapped segment page in.
        let mut s = State::small(8, 16);
        let g = s.add_guest(&Default::default()).unwrap();
        let id = shm::shmget(&mut s, g, 0, 2 * P, 0o600).unwrap();
        let at = shm::shmat(&mut s, g, id, None, 0).unwrap();
        fault::copy_in(&mut s, g, at, &[7; 2 * P as usize]).unwrap();
        shm::shmdt(&mut s, g, at).unwrap();
        assert_eq!(crate::vm::pdaemon::reclaim(&mut s, 8), 2);
        s.phys.swap.break_backing();
        mlockall(&mut s, g, MlockallFlags::FUTURE).unwrap();
        assert_eq!(shm::shmat(&mut s, g, id, None, 0), Err(Errno::EIO));
        assert!(
            s.guest(g).unwrap().map.iter().next().is_none(),
            "nothing left mapped"
        );
        assert_eq!(s.phys.pool.wired(), 0);
        audit(&s).unwrap();
    }

    #[test]
    fn mmap_share_type_is_the_rule_sets() {
        for sem in Semantics::ALL {
            let (mut s, g) = one_guest(16);
            s.cfg.semantics = sem;
            s.policy = sem.policy();
            let r = mmap(&mut s, g, Vaddr(0), P, Prot::RW, MapFlags::ANON);
            let strict = matches!(sem, Semantics::Linux | Semantics::Illumos);
            assert_eq!(r.is_err(), strict, "{sem}: {r:?}");
            if strict {
                assert_eq!(r, Err(Errno::EINVAL), "{sem}");
            }
            audit(&s).unwrap();
        }
    }

    #[test]
    fn map_populate_brings_every_page_in_and_map_wired_locks_them() {
        let (mut s, g) = one_guest(16);
        let a = mmap(
            &mut s,
            g,
            Vaddr(0),
            3 * P,
            Prot::RW,
            ANON | MapFlags::POPULATE,
        )
        .unwrap();
        assert_eq!(resident(&s, g, a, 3), 3);
        assert_eq!(s.phys.pool.wired(), 0, "populated, not wired");
        let b = mmap(&mut s, g, Vaddr(0), 2 * P, Prot::RW, ANON | MapFlags::WIRED).unwrap();
        assert_eq!(resident(&s, g, b, 2), 2);
        assert_eq!(s.phys.pool.wired(), 2);
        assert_eq!(s.guest(g).unwrap().locked_pages(), 2);
        munlock(&mut s, g, b, 2 * P).unwrap();
        assert_eq!(
            s.phys.pool.wired(),
            0,
            "munlock undoes MAP_WIRED, as NetBSD"
        );
        // Past the locked-memory limit: refused (NetBSD's ENOMEM), nothing mapped.
        let vm = s.guest_mut(g).unwrap();
        let hard = vm.rlimit(Resource::Memlock).max;
        vm.set_rlimit(Resource::Memlock, Rlimit { cur: P, max: hard });
        let before: Vec<_> = s.guest(g).unwrap().map.iter().cloned().collect();
        assert_eq!(
            mmap(&mut s, g, Vaddr(0), 2 * P, Prot::RW, ANON | MapFlags::WIRED),
            Err(Errno::ENOMEM)
        );
        let after: Vec<_> = s.guest(g).unwrap().map.iter().cloned().collect();
        assert_eq!(before, after);
        audit(&s).unwrap();
    }

    #[test]
    fn old_rules_count_mlock_and_refuse_munlock_of_an_unlocked_range() {
        let (mut s, g) = one_guest(16);
        s.cfg.semantics = Semantics::Netbsd2019;
        s.policy = Semantics::Netbsd2019.policy();
        let a = mmap(&mut s, g, Vaddr(0), 2 * P, Prot::RW, ANON).unwrap();
        mlock(&mut s, g, a, P).unwrap();
        mlock(&mut s, g, a, P).unwrap();
        let e = s.guest(g).unwrap().map.lookup(a.vpn()).unwrap().clone();
        assert_eq!((e.is_mlocked(), e.wire_count()), (false, 2));
        assert_eq!(munlock(&mut s, g, a, 2 * P), Err(Errno::EINVAL));
        munlock(&mut s, g, a, P).unwrap();
        assert_eq!(s.phys.pool.wired(), 0, "one munlock undoes both");
        audit(&s).unwrap();
    }

    #[test]
    fn mincore_reports_residency_and_refuses_holes() {
        let (mut s, g) = one_guest(16);
        let a = mmap(&mut s, g, Vaddr(0), 3 * P, Prot::RW, ANON).unwrap();
        fault::copy_in(&mut s, g, Vaddr(a.0 + 2 * P), &[1]).unwrap();
        assert_eq!(mincore(&mut s, g, a, 3 * P).unwrap(), vec![0, 0, 1]);
        assert_eq!(mincore(&mut s, g, Vaddr(a.0 + 1), P), Err(Errno::EINVAL));
        assert_eq!(mincore(&mut s, g, a, 4 * P), Err(Errno::ENOMEM));
    }
}
