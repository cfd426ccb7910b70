//! The machine state: everything behind the machine lock, as parts that each know only
//! themselves.
//!
//! [`State`] is composed of
//! - [`Phys`]: physical memory and swap (the frame pool, swap slots, copy buffers);
//! - the segment table ([`ShmTable`]);
//! - [`Guests`]: each guest's map, anonymous memory, locked-page count and attachments;
//! - [`Diag`]: counters, the call log, the first corruption found, the clock;
//! - [`Views`]: the guests whose memory is also mapped in host address space.
//!
//! A part's own methods take only the part, so they can be tested on a small one. Operations
//! that need several parts are plain functions taking the state, in the module that owns them
//! ([`crate::vm::pmap`], [`crate::vm::pdaemon`], [`crate::vm::fault`], [`crate::vm::wiring`],
//! [`crate::calls`]), so a call site names the module that does the work
//! (`wiring::wire_entries(s, ...)`).

use crate::base::addr::{AttachId, FrameId, GuestId, PageRange, ShmId, Vaddr, Vpn, PAGE_SIZE};
use crate::base::calllog::{Arg, Call, CallLog, CallRecord};
use crate::base::errno::Errno;
use crate::base::events::{EventKind, EventLog};
use crate::base::limits::Limits;
use crate::base::types::Owner;
use crate::base::types::{
    Attachment, AttachmentLife, Cred, Invariant, PageInfo, Policy, RefusedFault, Residency,
    Resource, Rlimit, Semantics, Stats, Violation, RLIM_INFINITY,
};
use crate::vm::amap::Amap;
use crate::vm::host::{HostStore, PagingMode, View};
use crate::vm::map::{Backing, Entry, VmMap};
use crate::vm::page::{PagePool, PageSlot};
use crate::vm::segment::{Segment, ShmTable};
use crate::vm::swap::{Swap, SwapBacking};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::sync::Arc;

/// How a machine is built.
///
/// ```
/// use vmm::{Machine, MachineConfig};
/// let m = Machine::new(MachineConfig::default().phys_mem(256 * 1024).swap(1 << 20)).unwrap();
/// assert_eq!(m.stats().frames, 64);
/// ```
#[derive(Clone, Debug)]
pub struct MachineConfig {
    /// Physical memory, in frames.
    pub phys_pages: u32,
    /// Swap, in page slots.
    pub swap_pages: u32,
    /// Where swap lives.
    pub swap_backing: SwapBacking,
    /// Size of every guest's address space, in pages (4 GiB for wasm32).
    pub space_pages: u64,
    /// Wiring and shared-memory limits.
    pub limits: Limits,
    /// The pagedaemon keeps at least this many frames free when it can.
    pub free_target: u32,
    /// How guest views fault (`None`: the best the host permits).
    pub paging: Option<PagingMode>,
    /// Which wiring rules the machine follows ([`Semantics::Proposed`] unless replaying the
    /// original bug).
    pub semantics: Semantics,
    /// The pages around a guest's fault from swap that come in with it.
    pub fault_ahead: FaultAhead,
}

/// How many neighbours of a page a guest faulted back from swap come in with it: those of its
/// map entry that are in swap too, up to `back` pages before it and `forward` after it, into
/// free frames only. A fault on the page just past the guest's last fault-ahead is sequential
/// access: the forward window then doubles, up to `sequential_max` (guests cannot give
/// `madvise(MADV_SEQUENTIAL)`, so this is read from the faults themselves, as Linux's
/// readahead does). The default is UVM's window for normal advice (3 back, 4 forward) growing
/// to 32; [`FaultAhead::OFF`] brings in the faulting page alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultAhead {
    /// Pages before the faulting one.
    pub back: u32,
    /// Pages after it.
    pub forward: u32,
    /// The most pages after it, for sequential access.
    pub sequential_max: u32,
}

impl FaultAhead {
    /// One page per fault.
    pub const OFF: FaultAhead = FaultAhead {
        back: 0,
        forward: 0,
        sequential_max: 0,
    };
    /// UVM's `UVM_ADV_NORMAL` window, growing to 32 pages for sequential access.
    pub const NORMAL: FaultAhead = FaultAhead {
        back: 3,
        forward: 4,
        sequential_max: 32,
    };
}

impl Default for MachineConfig {
    fn default() -> MachineConfig {
        let phys_pages = 16384;
        MachineConfig {
            phys_pages,
            swap_pages: 65536,
            swap_backing: SwapBacking::TempFile,
            space_pages: (1u64 << 32) / PAGE_SIZE,
            limits: Limits::for_frames(phys_pages),
            free_target: 0,
            paging: None,
            semantics: Semantics::default(),
            fault_ahead: FaultAhead::NORMAL,
        }
    }
}

impl MachineConfig {
    /// Sets physical memory in bytes (rounded up to pages); the wired maximum follows unless set.
    pub fn phys_mem(mut self, bytes: u64) -> MachineConfig {
        let pages = crate::base::addr::pages_for(bytes).min(u64::from(u32::MAX)) as u32;
        if self.limits.wired_max == Limits::for_frames(self.phys_pages).wired_max {
            self.limits.wired_max = Limits::for_frames(pages).wired_max;
        }
        self.phys_pages = pages;
        self
    }
    /// Sets swap in bytes (rounded up to pages).
    pub fn swap(mut self, bytes: u64) -> MachineConfig {
        self.swap_pages = crate::base::addr::pages_for(bytes).min(u64::from(u32::MAX)) as u32;
        self
    }
    /// Sets the swap backing.
    pub fn swap_backing(mut self, b: SwapBacking) -> MachineConfig {
        self.swap_backing = b;
        self
    }
    /// Sets the machine-wide wired maximum, in bytes.
    pub fn wired_max(mut self, bytes: u64) -> MachineConfig {
        self.limits.wired_max = crate::base::addr::pages_for(bytes);
        self
    }
    /// Sets the default per-guest locked-memory limit, in bytes.
    pub fn memlock_limit(mut self, bytes: u64) -> MachineConfig {
        self.limits.memlock = bytes;
        self
    }
    /// Sets how many frames the pagedaemon keeps free.
    pub fn free_target(mut self, frames: u32) -> MachineConfig {
        self.free_target = frames;
        self
    }

    /// Sets the fault-ahead window.
    pub fn fault_ahead(mut self, f: FaultAhead) -> MachineConfig {
        self.fault_ahead = f;
        self
    }

    /// Sets the wiring rules.
    pub fn semantics(mut self, s: Semantics) -> MachineConfig {
        self.semantics = s;
        self
    }

    /// Sets the address-space size of every guest, in bytes.
    pub fn space(mut self, bytes: u64) -> MachineConfig {
        self.space_pages = crate::base::addr::pages_for(bytes);
        self
    }
}

/// How a guest is set up.
#[derive(Clone, Copy, Debug)]
pub struct GuestConfig {
    /// Its identity.
    pub cred: Cred,
    /// Its locked-memory limit in bytes (`None`: the machine's default): `RLIMIT_MEMLOCK`'s
    /// soft limit, the one enforced.
    pub memlock_limit: Option<u64>,
    /// `RLIMIT_MEMLOCK`'s hard limit, the most `setrlimit` may raise the soft one to without
    /// privilege (`None`: the soft limit). Below the soft limit it is taken as the soft limit.
    pub memlock_hard: Option<u64>,
}

impl Default for GuestConfig {
    fn default() -> GuestConfig {
        GuestConfig {
            cred: Cred::ROOT,
            memlock_limit: None,
            memlock_hard: None,
        }
    }
}

/// The limit a guest starts with for a resource other than `Memlock`, in an address space of
/// `space` bytes: Linux's defaults for a process (`include/asm-generic/resource.h`:
/// `INIT_RLIMITS`), except that the address space is the guest's own size.
fn default_rlimit(r: Resource, space: u64) -> Rlimit {
    let (cur, max) = match r {
        Resource::Stack => (8 << 20, RLIM_INFINITY),
        Resource::Core => (0, RLIM_INFINITY),
        Resource::Nofile => (1024, 4096),
        Resource::As => (space, space),
        _ => (RLIM_INFINITY, RLIM_INFINITY),
    };
    Rlimit { cur, max }
}

/// One guest's virtual memory.
#[derive(Debug)]
pub(crate) struct GuestVm {
    cred: Cred,
    pub map: VmMap,
    pub amap: Amap,
    /// Pages in entries carrying the POSIX lock flag (counted against `memlock_limit`).
    locked_pages: u64,
    memlock_limit: u64,
    /// `RLIMIT_MEMLOCK`'s hard limit, never below `memlock_limit`.
    memlock_hard: u64,
    /// The other resource limits, by [`Resource::index`] (the `Memlock` slot unused: the two
    /// fields above are that limit), kept and reported, not enforced.
    rlimits: [Rlimit; Resource::ALL.len()],
    /// Oldest first.
    attachments: Vec<Attachment>,
    /// The id the next attachment gets.
    next_attach: u64,
    /// A fault host code hit for the guest, which the guest must trap for.
    fault: Option<String>,
    /// The first fault in the guest's view that the machine refused.
    refused: Option<RefusedFault>,
    /// Where the last fault-ahead ended and how far it reached: a fault there is sequential
    /// access, and the next window doubles.
    ahead: (Vpn, u32),
    /// Its process id: stable for its life, never 0 (which `shm_lpid` uses for "none") or 1
    /// (the parent every guest reports, as init).
    pid: u32,
}

/// The process id of the guest made with id `id`: guest ids count from 0, pids from 2.
pub(crate) fn pid_of(id: GuestId) -> u32 {
    id.0.saturating_add(2)
}

impl GuestVm {
    /// An empty address space of `space_pages` pages for a guest set up by `gc`.
    pub fn new(id: GuestId, gc: &GuestConfig, cfg: &MachineConfig) -> io::Result<GuestVm> {
        Ok(GuestVm {
            cred: gc.cred,
            map: VmMap::new(Vpn(cfg.space_pages)),
            amap: Amap::new(&format!("vmm-guest-{}", id.0), cfg.space_pages)?,
            locked_pages: 0,
            memlock_limit: gc.memlock_limit.unwrap_or(cfg.limits.memlock),
            memlock_hard: gc
                .memlock_hard
                .unwrap_or(0)
                .max(gc.memlock_limit.unwrap_or(cfg.limits.memlock)),
            rlimits: Resource::ALL.map(|r| default_rlimit(r, cfg.space_pages * PAGE_SIZE)),
            attachments: Vec::new(),
            next_attach: 0,
            fault: None,
            refused: None,
            ahead: (Vpn(u64::MAX), 0),
            pid: pid_of(id),
        })
    }

    /// Its identity.
    #[inline]
    pub fn cred(&self) -> Cred {
        self.cred
    }

    /// Gives it a new identity (`set*id`, `capset`).
    pub fn set_cred(&mut self, cred: Cred) {
        self.cred = cred;
    }

    /// `RLIMIT_MEMLOCK`'s soft limit, in bytes.
    #[inline]
    pub fn memlock_limit(&self) -> u64 {
        self.memlock_limit
    }

    /// Its limit for `r`.
    pub fn rlimit(&self, r: Resource) -> Rlimit {
        match r {
            Resource::Memlock => Rlimit {
                cur: self.memlock_limit,
                max: self.memlock_hard,
            },
            _ => self.rlimits[r.index()],
        }
    }

    /// Sets its limit for `r`, as given (the caller checked it: `setrlimit`).
    pub fn set_rlimit(&mut self, r: Resource, new: Rlimit) {
        match r {
            Resource::Memlock => {
                self.memlock_limit = new.cur;
                self.memlock_hard = new.max.max(new.cur);
            }
            _ => self.rlimits[r.index()] = new,
        }
    }

    /// The fault host code hit for it, which it must trap for, if any.
    pub fn fault(&self) -> Option<&str> {
        self.fault.as_deref()
    }

    /// Marks it to trap for `why`, unless it already is (the first reason is kept).
    pub fn note_fault(&mut self, why: impl FnOnce() -> String) {
        self.fault.get_or_insert_with(why);
    }

    /// The first fault in its view that the machine refused.
    pub fn refused(&self) -> Option<RefusedFault> {
        self.refused
    }

    /// Keeps `r` unless a refused fault is already kept.
    pub fn note_refused(&mut self, r: RefusedFault) {
        self.refused.get_or_insert(r);
    }

    /// Where the last fault-ahead ended and how far it reached.
    pub fn ahead(&self) -> (Vpn, u32) {
        self.ahead
    }

    /// Records where a fault-ahead ended and how far it reached.
    pub fn set_ahead(&mut self, next: Vpn, window: u32) {
        self.ahead = (next, window);
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Pages in entries carrying the POSIX lock flag.
    pub fn locked_pages(&self) -> u64 {
        self.locked_pages
    }

    /// The guest's attachments, oldest first.
    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }

    /// Records a new attachment (the newest).
    pub fn add_attachment(&mut self, a: Attachment) {
        self.attachments.push(a);
    }

    /// Takes attachment `aid` off the record.
    pub fn take_attachment(&mut self, aid: AttachId) -> Option<Attachment> {
        let i = self.attachments.iter().position(|a| a.id == aid)?;
        Some(self.attachments.remove(i))
    }

    /// Sets the locked-page count directly, bypassing every rule: for tests that plant an
    /// inconsistency for the audit to find.
    #[cfg(test)]
    pub(crate) fn corrupt_locked_pages(&mut self, pages: u64) {
        self.locked_pages = pages;
    }

    /// Moves the oldest attachment's recorded address, as [`GuestVm::corrupt_locked_pages`].
    #[cfg(test)]
    pub(crate) fn corrupt_attachment_va(&mut self, va: Vpn) {
        self.attachments[0].va = va;
    }

    /// Counts a change of the POSIX flag on `pages` pages.
    pub fn lock_changed(&mut self, pages: u64, now_locked: bool) {
        if now_locked {
            self.locked_pages += pages;
        } else {
            self.locked_pages -= pages;
        }
    }

    /// The id for a new attachment.
    pub fn new_attach_id(&mut self) -> AttachId {
        let a = AttachId(self.next_attach);
        self.next_attach += 1;
        a
    }

    /// The newest attachment made at `va`.
    pub fn newest_attachment_at(&self, va: Vpn) -> Option<Attachment> {
        self.attachments.iter().rev().find(|a| a.va == va).copied()
    }

    /// The newest attachment of segment `id` (NetBSD's list head).
    pub fn newest_attachment_of(&self, id: ShmId) -> Option<Attachment> {
        self.attachments.iter().rev().find(|a| a.shm == id).copied()
    }

    /// Whether attachment `aid` still maps at least one page.
    pub fn attachment_maps_a_page(&self, a: &Attachment) -> bool {
        self.map
            .overlapping(a.range())
            .any(|e| e.attachment() == Some(a.id))
    }

    /// Checks the guest's attachments against its map: every segment entry belongs to one
    /// recorded attachment of its segment, inside the attachment's range and at the matching
    /// object offset; no anonymous entry belongs to one; and under the mapping rule every
    /// attachment still maps a page (so no two can claim one range and none outlives its pages).
    pub fn check_attachments(&self, g: GuestId, life: AttachmentLife) -> Result<(), Violation> {
        let records: HashMap<AttachId, &Attachment> =
            self.attachments.iter().map(|a| (a.id, a)).collect();
        if records.len() != self.attachments.len() {
            return Err(Violation::new(
                Invariant::ShmAttachEntry,
                format!("{g:?} records one attachment id twice"),
            ));
        }
        let mut mapping = HashSet::new();
        for e in self.map.iter() {
            let ok = match (e.backing(), e.attachment()) {
                (Backing::Anon, None) => true,
                (Backing::Shm { id, pgoff }, Some(aid)) => {
                    mapping.insert(aid);
                    records.get(&aid).is_some_and(|a| {
                        a.shm == id
                            && a.va <= e.start()
                            && e.end() <= a.range().end
                            && pgoff == e.start().0 - a.va.0
                    })
                }
                _ => false,
            };
            if !ok {
                return Err(Violation::new(
                    Invariant::ShmAttachEntry,
                    format!(
                        "{g:?} entry {:?} ({:?}, {:?}) is not part of a recorded attachment of its segment",
                        e.range(),
                        e.backing(),
                        e.attachment()
                    ),
                ));
            }
        }
        if life == AttachmentLife::Mapping {
            if let Some(a) = self.attachments.iter().find(|a| !mapping.contains(&a.id)) {
                return Err(Violation::new(
                    Invariant::ShmAttachUnmapped,
                    format!(
                        "{g:?} {:?} of {:?} at {:?} maps no page but is still counted",
                        a.id,
                        a.shm,
                        a.va.addr()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks the locked-page count against the flagged entries.
    pub fn check_locked_pages(&self, g: GuestId) -> Result<(), Violation> {
        let locked: u64 = self
            .map
            .iter()
            .filter(|e| e.is_mlocked())
            .map(|e| e.range().pages())
            .sum();
        if locked != self.locked_pages {
            return Err(Violation::new(
                Invariant::LockedPages,
                format!(
                    "{g:?} counts {} locked pages, its flagged entries hold {locked}",
                    self.locked_pages
                ),
            ));
        }
        Ok(())
    }

    /// Checks that no anonymous page outside an anonymous entry holds memory.
    pub fn check_anon(&self, g: GuestId) -> Result<(), Violation> {
        for (vpn, _) in self.amap.touched() {
            if !matches!(self.map.lookup(vpn), Some(e) if e.backing() == Backing::Anon) {
                return Err(Violation::new(
                    Invariant::AnonLeak,
                    format!(
                        "{g:?} page {:?} holds memory but no anonymous entry maps it",
                        vpn.addr()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The guests and their address spaces, by id.
#[derive(Debug, Default)]
pub(crate) struct Guests {
    vms: BTreeMap<GuestId, GuestVm>,
    next: u32,
    /// Whether any entry of any guest has been locked on fault, so that anonymous pages must
    /// be looked up as they come in (to take their entry's wiring); false keeps every page-in
    /// free of the lookup.
    lock_on_fault_seen: bool,
}

impl Guests {
    /// Notes that an entry is locked on fault.
    pub fn note_lock_on_fault(&mut self) {
        self.lock_on_fault_seen = true;
    }

    /// Whether guest `g`'s anonymous page `vpn` must take its entry's wiring as it comes in:
    /// its entry is locked on fault.
    #[inline]
    pub fn wires_on_fault(&self, g: GuestId, vpn: Vpn) -> bool {
        self.lock_on_fault_seen
            && self
                .vms
                .get(&g)
                .and_then(|vm| vm.map.lookup(vpn))
                .is_some_and(|e| e.locks_on_fault())
    }

    /// The id the next guest gets (taken only when the guest is inserted).
    pub fn next_id(&self) -> GuestId {
        GuestId(self.next)
    }
    /// Adds the guest made for [`Guests::next_id`].
    pub fn insert(&mut self, vm: GuestVm) -> GuestId {
        let id = GuestId(self.next);
        self.next += 1;
        self.vms.insert(id, vm);
        id
    }
    /// Guest `g`'s address space.
    pub fn get(&self, g: &GuestId) -> Option<&GuestVm> {
        self.vms.get(g)
    }
    /// Guest `g`'s address space, to change.
    pub fn get_mut(&mut self, g: &GuestId) -> Option<&mut GuestVm> {
        self.vms.get_mut(g)
    }
    /// Forgets guest `g`.
    pub fn remove(&mut self, g: &GuestId) -> Option<GuestVm> {
        self.vms.remove(g)
    }
    /// Every guest, by id.
    pub fn iter(&self) -> impl Iterator<Item = (&GuestId, &GuestVm)> {
        self.vms.iter()
    }
    /// Every guest's id.
    pub fn keys(&self) -> impl Iterator<Item = &GuestId> {
        self.vms.keys()
    }
    /// Every guest's address space.
    pub fn values(&self) -> impl Iterator<Item = &GuestVm> {
        self.vms.values()
    }
}

impl std::ops::Index<&GuestId> for Guests {
    type Output = GuestVm;
    fn index(&self, g: &GuestId) -> &GuestVm {
        &self.vms[g]
    }
}

impl<'a> IntoIterator for &'a Guests {
    type Item = (&'a GuestId, &'a GuestVm);
    type IntoIter = std::collections::btree_map::Iter<'a, GuestId, GuestVm>;
    fn into_iter(self) -> Self::IntoIter {
        self.vms.iter()
    }
}

/// Physical memory and swap: the frame pool, the swap slots, and page buffers for copying
/// between them.
#[derive(Debug)]
pub(crate) struct Phys {
    /// The frames, a part with its own writers.
    pub pool: PagePool,
    /// The swap slots, a part with its own writers.
    pub swap: Swap,
    /// A page buffer for a page going out.
    scratch: Box<[u8]>,
    /// A second page buffer, for a page coming in while another goes out.
    scratch_in: Box<[u8]>,
    /// A buffer for runs of pages coming in together (fault-ahead).
    scratch_run: Vec<u8>,
}

impl Phys {
    /// `frames` free frames and `swap_slots` free slots on `backing`.
    pub fn new(frames: u32, backing: &SwapBacking, swap_slots: u32) -> io::Result<Phys> {
        Ok(Phys {
            pool: PagePool::new(frames),
            swap: Swap::new(backing, swap_slots)?,
            scratch: vec![0u8; PAGE_SIZE as usize].into_boxed_slice(),
            scratch_in: vec![0u8; PAGE_SIZE as usize].into_boxed_slice(),
            scratch_run: Vec::new(),
        })
    }

    /// Lends the page buffer for a page coming in (`incoming`) or going out; give it back with
    /// [`Phys::return_page_buf`].
    #[inline]
    pub fn take_page_buf(&mut self, incoming: bool) -> Box<[u8]> {
        std::mem::take(if incoming {
            &mut self.scratch_in
        } else {
            &mut self.scratch
        })
    }

    /// Takes back a buffer lent by [`Phys::take_page_buf`].
    #[inline]
    pub fn return_page_buf(&mut self, incoming: bool, buf: Box<[u8]>) {
        *(if incoming {
            &mut self.scratch_in
        } else {
            &mut self.scratch
        }) = buf;
    }

    /// Lends the buffer for runs of pages; give it back with [`Phys::return_run_buf`].
    pub fn take_run_buf(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.scratch_run)
    }

    /// Takes back the buffer lent by [`Phys::take_run_buf`].
    pub fn return_run_buf(&mut self, buf: Vec<u8>) {
        self.scratch_run = buf;
    }

    /// Whether `more` frames may newly become wired under `limits`.
    pub fn wired_allows(&self, limits: &Limits, more: u64) -> bool {
        limits.wired_allows(self.pool.wired() as u64, more, self.pool.total() as u64)
    }

    /// Frees what a page held (its frame or its swap slot). A wired frame is not freed: it comes
    /// back as the error, for the caller to report.
    pub fn free(&mut self, slot: PageSlot) -> Result<(), FrameId> {
        match slot {
            PageSlot::Untouched => {}
            PageSlot::Resident(f) => {
                if self.pool.frame(f).is_wired() {
                    return Err(f);
                }
                self.pool.release(f);
            }
            PageSlot::Swapped(s) => self.swap.free(s),
        }
        Ok(())
    }
}

/// What the machine knows about itself: counters, the call log, the first corruption found,
/// and the clock that stamps segments.
#[derive(Debug)]
pub(crate) struct Diag {
    /// The event counters (the rest of [`Stats`] is filled in when asked).
    stats: Stats,
    /// The last VM calls, for the corruption report.
    log: CallLog,
    /// Set when an operation found the state inconsistent: what it found.
    corrupt: Option<Violation>,
    /// The run's history, when recording (for reports).
    events: Option<EventLog>,
    /// The guest whose call is running, if one is.
    caller: Option<GuestId>,
}

impl Diag {
    fn new() -> Diag {
        Diag {
            stats: Stats::default(),
            log: CallLog::new(),
            corrupt: None,
            events: None,
            caller: None,
        }
    }

    /// The event counters.
    #[inline]
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Counts a fault resolved.
    #[inline]
    pub fn count_fault(&mut self) {
        self.stats.faults += 1;
    }

    /// Counts a page zero-filled on first touch.
    #[inline]
    pub fn count_zero_fill(&mut self) {
        self.stats.zero_fills += 1;
    }

    /// Counts `n` pages read back from swap, brought in by fault-ahead if `ahead`.
    #[inline]
    pub fn count_page_ins(&mut self, n: u64, ahead: bool) {
        self.stats.page_ins += n;
        if ahead {
            self.stats.fault_ahead += n;
        }
    }

    /// Counts a page written to swap and released.
    #[inline]
    pub fn count_eviction(&mut self) {
        self.stats.evictions += 1;
    }

    /// Counts a run of the pagedaemon thread.
    pub fn count_pdaemon_run(&mut self) {
        self.stats.pdaemon_runs += 1;
    }

    /// What the first inconsistency found was, if one was.
    #[inline]
    pub fn corrupt(&self) -> Option<&Violation> {
        self.corrupt.as_ref()
    }

    /// Records that the state is inconsistent (the first finding is kept); every later call is
    /// refused with `EIO`, which this returns.
    pub fn corrupted(&mut self, invariant: Invariant, detail: String) -> Errno {
        tracing::error!(target: "vmm::audit", invariant = invariant.name(), %detail, "machine state corrupt");
        self.corrupt
            .get_or_insert(Violation::new(invariant, detail));
        Errno::EIO
    }

    /// The last VM calls.
    pub fn log(&self) -> &CallLog {
        &self.log
    }

    /// Logs call `c` and what it answered.
    pub fn log_call(&mut self, c: &Call, result: Result<Option<Arg>, Errno>) -> CallRecord {
        self.log.record(c, result)
    }

    /// Starts recording the run's history, keeping at most `bound` events.
    pub fn record_events(&mut self, bound: usize) {
        self.events = Some(EventLog::new(bound));
    }

    /// The run's history, if recording.
    pub fn events(&self) -> Option<&EventLog> {
        self.events.as_ref()
    }

    /// Adds an event to the history, if recording, with the frame counts after it.
    #[inline]
    pub fn push_event(&mut self, kind: EventKind, wired: u32, free: u32) {
        if let Some(log) = self.events.as_mut() {
            log.push(kind, wired, free);
        }
    }

    /// The guest whose call is running, if one is.
    #[inline]
    pub fn caller(&self) -> Option<GuestId> {
        self.caller
    }

    /// Names the guest whose call is running (`None` when it returns).
    pub fn set_caller(&mut self, g: Option<GuestId>) {
        self.caller = g;
    }
}

/// The guests whose memory is also mapped in host address space, and how those views fault.
#[derive(Debug)]
pub(crate) struct Views {
    views: HashMap<GuestId, Arc<View>>,
    /// How views fault.
    mode: PagingMode,
    /// Why the paging mode is not the best one, if it is not.
    note: Option<String>,
}

impl Views {
    /// How views fault.
    pub fn mode(&self) -> PagingMode {
        self.mode
    }

    /// Why the paging mode is not the best one, if it is not.
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// Guest `g`'s view, if it has one.
    pub fn get(&self, g: &GuestId) -> Option<&Arc<View>> {
        self.views.get(g)
    }
    /// Whether guest `g` has a view.
    pub fn contains_key(&self, g: &GuestId) -> bool {
        self.views.contains_key(g)
    }
    /// Gives guest `g` its view.
    pub fn insert(&mut self, g: GuestId, v: Arc<View>) {
        self.views.insert(g, v);
    }
    /// Takes guest `g`'s view away (it is unmapped when the last holder lets go).
    pub fn remove(&mut self, g: &GuestId) -> Option<Arc<View>> {
        self.views.remove(g)
    }
    /// The guests that have a view.
    pub fn keys(&self) -> impl Iterator<Item = &GuestId> {
        self.views.keys()
    }
}

impl std::ops::Index<&GuestId> for Views {
    type Output = Arc<View>;
    fn index(&self, g: &GuestId) -> &Arc<View> {
        &self.views[g]
    }
}

/// Everything behind the machine lock, composed of parts that each know only themselves.
///
/// Its fields are the parts (as NetBSD's `struct uvm` holds the page queues and the kernel
/// map), open so that an operation can take the parts it touches side by side
/// (`&mut s.phys` with `&s.guests`); each part's own fields are private to its module, with
/// one writer each. `cfg` and `policy` are set here and only read after.
#[derive(Debug)]
pub(crate) struct State {
    /// The machine's configuration, as validated.
    pub cfg: MachineConfig,
    /// The answers of the rule set in force (`cfg.semantics`), as values.
    pub policy: Policy,
    /// Frames and swap.
    pub phys: Phys,
    /// The SysV segments.
    pub shm: ShmTable,
    /// The guests' address spaces.
    pub guests: Guests,
    /// Counters, the call log, the corruption record, the event history.
    pub diag: Diag,
    /// The host views of guest memory.
    pub views: Views,
}

impl State {
    /// A machine state with no guest and no segment; `cfg` is taken as valid, and `policy` is
    /// its rule set's.
    pub fn new(cfg: MachineConfig, policy: Policy) -> io::Result<State> {
        let (mode, note) = match cfg.paging {
            Some(p) => (p, None),
            None => PagingMode::detect(),
        };
        Ok(State {
            phys: Phys::new(cfg.phys_pages, &cfg.swap_backing, cfg.swap_pages)?,
            shm: ShmTable::new(cfg.limits.shmmni),
            guests: Guests::default(),
            diag: Diag::new(),
            views: Views {
                views: HashMap::new(),
                mode,
                note,
            },
            cfg,
            policy,
        })
    }

    /// Adds a guest with an empty address space.
    pub fn add_guest(&mut self, gc: &GuestConfig) -> Result<GuestId, Errno> {
        let vm = GuestVm::new(self.guests.next_id(), gc, &self.cfg).map_err(|_| Errno::ENOMEM)?;
        Ok(self.guests.insert(vm))
    }

    /// Guest `g` (`ESRCH` if there is none).
    pub fn guest(&self, g: GuestId) -> Result<&GuestVm, Errno> {
        self.guests.get(&g).ok_or(Errno::ESRCH)
    }

    /// Guest `g`, to change (`ESRCH` if there is none).
    pub fn guest_mut(&mut self, g: GuestId) -> Result<&mut GuestVm, Errno> {
        self.guests.get_mut(&g).ok_or(Errno::ESRCH)
    }

    /// Segment `id` (`EINVAL` if there is none).
    pub fn seg(&self, id: ShmId) -> Result<&Segment, Errno> {
        self.shm.get(id).ok_or(Errno::EINVAL)
    }

    /// Where a page's data is.
    #[inline]
    pub fn slot(&self, o: Owner) -> PageSlot {
        match o {
            Owner::Anon { guest, vpn } => self
                .guests
                .get(&guest)
                .map_or(PageSlot::Untouched, |g| g.amap.get(vpn)),
            Owner::Object { shm, pgoff } => self
                .shm
                .get(shm)
                .map_or(PageSlot::Untouched, |s| s.object().get(pgoff)),
        }
    }

    /// Records where a page's data is now.
    pub fn set_slot(&mut self, o: Owner, slot: PageSlot) {
        match o {
            Owner::Anon { guest, vpn } => self
                .guests
                .get_mut(&guest)
                .expect("owner guest exists")
                .amap
                .set(vpn, slot),
            Owner::Object { shm, pgoff } => self
                .shm
                .get_mut(shm)
                .expect("owner segment exists")
                .object_mut()
                .set(pgoff, slot),
        }
    }

    /// The host store and page index holding a page's data.
    pub fn store(&self, o: Owner) -> (&HostStore, u64) {
        match o {
            Owner::Anon { guest, vpn } => (self.guests[&guest].amap.store(), vpn.0),
            Owner::Object { shm, pgoff } => (
                self.shm
                    .get(shm)
                    .expect("owner segment exists")
                    .object()
                    .store(),
                pgoff,
            ),
        }
    }

    /// Whether entry `e` is covered by its segment's lock: it maps a segment that is
    /// `SHM_LOCK`ed under rules where the lock stands for every attacher
    /// ([`Policy::lock_covers_attachers`]).
    pub fn covered_by_lock(&self, e: &Entry) -> bool {
        self.lock_covers(e.backing())
    }

    /// [`State::covered_by_lock`] for an entry with `backing`.
    pub fn lock_covers(&self, backing: Backing) -> bool {
        match backing {
            Backing::Shm { id, .. } => {
                self.policy.lock_covers_attachers && self.shm.get(id).is_some_and(|s| s.locked())
            }
            Backing::Anon => false,
        }
    }

    /// The one wiring predicate: whether entry `e` is wired, by its POSIX flag, its count, or
    /// its segment's lock ([`State::covered_by_lock`]). What `mincore`'s callers, the dump and
    /// the audit call "wired".
    pub fn entry_wired(&self, e: &Entry) -> bool {
        e.wired_by_itself() || self.covered_by_lock(e)
    }

    /// Whether entry `e` holds a wiring of its own on each page it maps: wired on its own
    /// account and not covered by its segment's lock (whose object wiring holds the pages).
    pub fn entry_holds_pages(&self, e: &Entry) -> bool {
        e.wired_by_itself() && !self.covered_by_lock(e)
    }

    /// Records that the state is inconsistent: see [`Diag::corrupted`].
    pub fn corrupted(&mut self, invariant: Invariant, detail: String) -> Errno {
        self.diag.corrupted(invariant, detail)
    }

    /// The whole address space of a guest, for calls that act on every entry.
    pub fn whole_space(&self) -> PageRange {
        PageRange::new(Vpn(0), Vpn(self.cfg.space_pages))
    }

    /// The address space's size in bytes.
    pub fn limit_bytes(&self) -> u64 {
        self.cfg.space_pages * PAGE_SIZE
    }

    /// Now, in seconds since the Epoch, as `shmid_ds` times are (0 if the host clock is
    /// before 1970; a `u32` lasts until 2106).
    pub fn now(&self) -> u32 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs().min(u64::from(u32::MAX)) as u32)
    }

    /// Records an event with the frame counts after it, if recording is on.
    #[inline]
    pub fn record(&mut self, kind: EventKind) {
        let (wired, free) = (self.phys.pool.wired(), self.phys.pool.free_count());
        self.diag.push_event(kind, wired as u32, free as u32);
    }

    /// What the page at `addr` of guest `g` looks like (`ENOMEM` if unmapped).
    pub fn page_info(&self, g: GuestId, addr: Vaddr) -> Result<PageInfo, Errno> {
        let vm = self.guest(g)?;
        let vpn = addr.vpn();
        let e = vm.map.lookup(vpn).ok_or(Errno::ENOMEM)?;
        let owner = e.owner_at(g, vpn);
        let (residency, wire_count) = match self.slot(owner) {
            PageSlot::Resident(f) => (Residency::Resident, self.phys.pool.frame(f).wire_count()),
            PageSlot::Swapped(_) => (Residency::Swapped, 0),
            PageSlot::Untouched => (Residency::Untouched, 0),
        };
        Ok(PageInfo {
            residency,
            wire_count,
            entry_wired: self.entry_wired(e),
        })
    }
}

#[cfg(test)]
impl State {
    /// A small state for unit tests: `frames` frames, `swap` slots in memory, a 1 MiB address
    /// space, no host view.
    pub fn small(frames: u32, swap: u32) -> State {
        State::new(
            MachineConfig {
                phys_pages: frames,
                swap_pages: swap,
                swap_backing: SwapBacking::Memory,
                space_pages: 256,
                limits: Limits::for_frames(frames),
                ..MachineConfig::default()
            },
            Semantics::default().policy(),
        )
        .unwrap()
    }
}
