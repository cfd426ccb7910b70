//! The machine: physical memory, swap, the shm namespace, limits and its guests, behind one lock.
//!
//! [`Machine`] is a cheap, clonable handle; every call takes the machine lock for its whole
//! duration (see the crate documentation for why one lock, and the lock order).

use crate::addr::{AttachId, GuestId, PageRange, ShmId, Vaddr, Vpn, PAGE_SIZE};
use crate::amap::Amap;
use crate::audit::Violation;
use crate::calllog::{shm_cmd_name, Arg, Call, CallLog, CallRecord, Logged};
use crate::errno::Errno;
use crate::limits::Limits;
use crate::map::{Backing, Prot, VmMap};
use crate::page::{Owner, PagePool, PageSlot};
use crate::pmap::{FaultOwner, HostStore, PagingMode, View};
use crate::semantics::{Rules, Semantics};
use crate::shm::{ShmCmd, ShmTable, ShmidDs};
use crate::swap::{Swap, SwapBacking};
use parking_lot::Mutex;
use std::collections::HashMap;
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
            semantics: Semantics::Proposed,
        }
    }
}

impl MachineConfig {
    /// Sets physical memory in bytes (rounded up to pages); the wired maximum follows unless set.
    pub fn phys_mem(mut self, bytes: u64) -> MachineConfig {
        let pages = crate::addr::pages_for(bytes).min(u64::from(u32::MAX)) as u32;
        if self.limits.wired_max == Limits::for_frames(self.phys_pages).wired_max {
            self.limits.wired_max = Limits::for_frames(pages).wired_max;
        }
        self.phys_pages = pages;
        self
    }
    /// Sets swap in bytes (rounded up to pages).
    pub fn swap(mut self, bytes: u64) -> MachineConfig {
        self.swap_pages = crate::addr::pages_for(bytes).min(u64::from(u32::MAX)) as u32;
        self
    }
    /// Sets the swap backing.
    pub fn swap_backing(mut self, b: SwapBacking) -> MachineConfig {
        self.swap_backing = b;
        self
    }
    /// Sets the machine-wide wired maximum, in bytes.
    pub fn wired_max(mut self, bytes: u64) -> MachineConfig {
        self.limits.wired_max = crate::addr::pages_for(bytes);
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

    /// Sets the wiring rules.
    pub fn semantics(mut self, s: Semantics) -> MachineConfig {
        self.semantics = s;
        self
    }

    /// Sets the address-space size of every guest, in bytes.
    pub fn space(mut self, bytes: u64) -> MachineConfig {
        self.space_pages = crate::addr::pages_for(bytes);
        self
    }
}

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

/// How a guest is set up.
#[derive(Clone, Copy, Debug)]
pub struct GuestConfig {
    /// Its identity.
    pub cred: Cred,
    /// Its locked-memory limit in bytes (`None`: the machine's default).
    pub memlock_limit: Option<u64>,
}

impl Default for GuestConfig {
    fn default() -> GuestConfig {
        GuestConfig {
            cred: Cred::ROOT,
            memlock_limit: None,
        }
    }
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

/// One guest's virtual memory.
#[derive(Debug)]
pub(crate) struct GuestVm {
    pub cred: Cred,
    pub map: VmMap,
    pub amap: Amap,
    /// Pages in entries carrying the POSIX lock flag (counted against `memlock_limit`).
    pub locked_pages: u64,
    pub memlock_limit: u64,
    /// Oldest first.
    pub attachments: Vec<Attachment>,
    /// The id the next attachment gets.
    pub next_attach: u64,
    /// A fault host code hit for the guest, which the guest must trap for.
    pub fault: Option<String>,
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
    /// Pages read back from swap.
    pub page_ins: u64,
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

/// Everything behind the machine lock.
#[derive(Debug)]
pub(crate) struct State {
    pub cfg: MachineConfig,
    pub pool: PagePool,
    pub swap: Swap,
    pub guests: std::collections::BTreeMap<GuestId, GuestVm>,
    pub shm: ShmTable,
    pub stats: Stats,
    pub next_guest: u32,
    pub ticks: u32,
    pub scratch: Box<[u8]>,
    /// A second page buffer, for a page coming in while another goes out.
    pub scratch_in: Box<[u8]>,
    /// Set when an operation found the state inconsistent: what it found.
    pub corrupt: Option<Violation>,
    /// The last VM calls, for the corruption report.
    pub log: CallLog,
    /// Guests whose memory is also mapped in host address space.
    pub views: HashMap<GuestId, Arc<View>>,
    /// How views fault.
    pub paging: PagingMode,
    /// Why the paging mode is not the best one, if it is not.
    pub paging_note: Option<String>,
}

impl State {
    pub fn guest(&self, g: GuestId) -> Result<&GuestVm, Errno> {
        self.guests.get(&g).ok_or(Errno::ESRCH)
    }

    pub fn guest_mut(&mut self, g: GuestId) -> Result<&mut GuestVm, Errno> {
        self.guests.get_mut(&g).ok_or(Errno::ESRCH)
    }

    /// Where a page's data is.
    pub fn slot(&self, o: Owner) -> PageSlot {
        match o {
            Owner::Anon { guest, vpn } => self
                .guests
                .get(&guest)
                .map_or(PageSlot::Untouched, |g| g.amap.get(vpn)),
            Owner::Object { shm, pgoff } => self
                .shm
                .get(shm)
                .map_or(PageSlot::Untouched, |s| s.object.get(pgoff)),
        }
    }

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
                .object
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
                    .object
                    .store(),
                pgoff,
            ),
        }
    }

    /// The page that backs `vpn` under an entry with `backing`, in guest `g`.
    pub fn owner_of(g: GuestId, backing: Backing, vpn: Vpn) -> Owner {
        match backing {
            Backing::Anon => Owner::Anon { guest: g, vpn },
            Backing::Shm { id, pgoff } => Owner::Object { shm: id, pgoff },
        }
    }

    /// Records that the state is inconsistent (the first finding is kept); every later call is
    /// refused with `EIO`.
    pub fn corrupted(&mut self, invariant: &'static str, detail: String) -> Errno {
        tracing::error!(target: "vmm::audit", invariant, %detail, "machine state corrupt");
        self.corrupt.get_or_insert(Violation { invariant, detail });
        Errno::EIO
    }

    /// The whole address space of a guest, for calls that act on every entry.
    pub fn whole_space(&self) -> PageRange {
        PageRange::new(Vpn(0), Vpn(self.cfg.space_pages))
    }

    /// The wiring rules in force.
    #[inline]
    pub fn rules(&self) -> &'static dyn Rules {
        self.cfg.semantics.rules()
    }

    pub fn tick(&mut self) -> u32 {
        self.ticks = self.ticks.wrapping_add(1);
        self.ticks
    }

    fn page_info(&self, g: GuestId, addr: Vaddr) -> Result<PageInfo, Errno> {
        let vm = self.guest(g)?;
        let vpn = addr.vpn();
        let e = vm.map.lookup(vpn).ok_or(Errno::ENOMEM)?;
        let owner = State::owner_of(g, e.backing_at(vpn), vpn);
        let (residency, wire_count) = match self.slot(owner) {
            PageSlot::Resident(f) => (Residency::Resident, self.pool.frame(f).wire_count),
            PageSlot::Swapped(_) => (Residency::Swapped, 0),
            PageSlot::Untouched => (Residency::Untouched, 0),
        };
        Ok(PageInfo {
            residency,
            wire_count,
            entry_wired: e.is_wired(),
        })
    }
}

/// Why a machine stopped: the invariant a call found broken, and the calls before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corruption {
    /// The broken invariant and the values involved.
    pub violation: Violation,
    /// The wiring rules the machine followed.
    pub semantics: Semantics,
    /// The last calls, oldest first; the one that found the breakage is last.
    pub calls: Vec<CallRecord>,
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "machine state corrupt ({} rules): {}",
            self.semantics, self.violation
        )?;
        write!(f, "calls that led to it (oldest first):")?;
        for c in &self.calls {
            write!(f, "\n  {c}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Corruption {}

/// A machine: physical memory, swap, shared-memory namespace and guests.
///
/// ```
/// use vmm::{Machine, MachineConfig, GuestConfig, Prot, MapFlags, Vaddr};
/// let m = Machine::new(MachineConfig::default().phys_mem(64 * 4096)).unwrap();
/// let g = m.add_guest(GuestConfig::default()).unwrap();
/// let a = m.mmap(g, Vaddr(0), 8 * 4096, Prot::RW, MapFlags::ANON | MapFlags::PRIVATE).unwrap();
/// m.write(g, a, b"hello").unwrap();
/// m.mlock(g, a, 8 * 4096).unwrap();
/// assert_eq!(m.mincore(g, a, 8 * 4096).unwrap(), vec![1; 8]);
/// m.audit().unwrap();
/// ```
#[derive(Clone)]
pub struct Machine {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Machine {
    /// Builds a machine; fails only if the host refuses memory or the swap backing.
    pub fn new(cfg: MachineConfig) -> io::Result<Machine> {
        if cfg.phys_pages == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "physical memory must be at least one page",
            ));
        }
        if cfg.space_pages == 0 || cfg.space_pages > (1u64 << 32) / PAGE_SIZE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "address space must be between one page and 4 GiB",
            ));
        }
        let swap = Swap::new(&cfg.swap_backing, cfg.swap_pages)?;
        let (paging, paging_note) = match cfg.paging {
            Some(p) => (p, None),
            None => PagingMode::detect(),
        };
        let state = State {
            pool: PagePool::new(cfg.phys_pages),
            swap,
            guests: Default::default(),
            shm: ShmTable::new(cfg.limits.shmmni),
            stats: Stats::default(),
            next_guest: 0,
            ticks: 0,
            scratch: vec![0u8; PAGE_SIZE as usize].into_boxed_slice(),
            scratch_in: vec![0u8; PAGE_SIZE as usize].into_boxed_slice(),
            corrupt: None,
            log: CallLog::new(),
            views: HashMap::new(),
            paging,
            paging_note,
            cfg,
        };
        Ok(Machine {
            state: Arc::new(Mutex::new(state)),
        })
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock())
    }

    /// Runs a guest's VM call and logs it, refusing it with `EIO` once the state has been found
    /// corrupt.
    fn call<R: Logged>(
        &self,
        c: Call,
        f: impl FnOnce(&mut State) -> Result<R, Errno>,
    ) -> Result<R, Errno> {
        self.with(|s| {
            // Calls refused after the breakage stay out of the log: it shows what led there.
            if s.corrupt.is_some() {
                return Err(Errno::EIO);
            }
            let r = f(s);
            s.log
                .record(&c, r.as_ref().map(Logged::logged).map_err(|e| *e));
            r
        })
    }

    /// Runs host work for a guest (not a guest's call: not logged), refusing it with `EIO` once
    /// the state has been found corrupt.
    fn quiet<R>(&self, f: impl FnOnce(&mut State) -> Result<R, Errno>) -> Result<R, Errno> {
        self.with(|s| {
            if s.corrupt.is_some() {
                Err(Errno::EIO)
            } else {
                f(s)
            }
        })
    }

    /// What corrupted the machine's state, if anything did: the broken invariant and the calls
    /// that led to it. Once set, every VM call fails with `EIO`.
    pub fn corruption(&self) -> Option<Corruption> {
        self.with(|s| {
            s.corrupt.clone().map(|violation| Corruption {
                violation,
                semantics: s.cfg.semantics,
                calls: s.log.recent(),
            })
        })
    }

    /// The configuration the machine was built with.
    pub fn config(&self) -> MachineConfig {
        self.with(|s| s.cfg.clone())
    }

    /// Adds a guest with an empty address space.
    pub fn add_guest(&self, gc: GuestConfig) -> Result<GuestId, Errno> {
        self.with(|s| {
            let id = GuestId(s.next_guest);
            let amap = Amap::new(&format!("vmm-guest-{}", id.0), s.cfg.space_pages)
                .map_err(|_| Errno::ENOMEM)?;
            s.next_guest += 1;
            let vm = GuestVm {
                cred: gc.cred,
                map: VmMap::new(Vpn(s.cfg.space_pages)),
                amap,
                locked_pages: 0,
                memlock_limit: gc.memlock_limit.unwrap_or(s.cfg.limits.memlock),
                attachments: Vec::new(),
                next_attach: 0,
                fault: None,
            };
            s.guests.insert(id, vm);
            Ok(id)
        })
    }

    /// The guest exits: every mapping is removed (really unwired), every attachment detached,
    /// every frame and swap slot it held freed.
    pub fn exit_guest(&self, g: GuestId) -> Result<(), Errno> {
        self.call(Call::new(g, "exit", []), |s| s.exit(g))
    }

    /// `mmap`: maps anonymous memory; returns its address.
    pub fn mmap(
        &self,
        g: GuestId,
        addr: Vaddr,
        len: u64,
        prot: Prot,
        flags: crate::MapFlags,
    ) -> Result<Vaddr, Errno> {
        let c = Call::new(
            g,
            "mmap",
            [
                Arg::Addr(addr.0),
                Arg::Addr(len),
                Arg::Num(prot.bits().into()),
                Arg::Addr(flags.bits().into()),
            ],
        );
        self.call(c, |s| s.mmap(g, addr, len, prot, flags))
    }
    /// `munmap`: removes mappings in the range, really unwiring them.
    pub fn munmap(&self, g: GuestId, addr: Vaddr, len: u64) -> Result<(), Errno> {
        let c = Call::new(g, "munmap", [Arg::Addr(addr.0), Arg::Addr(len)]);
        self.call(c, |s| s.munmap(g, addr, len))
    }
    /// `mprotect`.
    pub fn mprotect(&self, g: GuestId, addr: Vaddr, len: u64, prot: Prot) -> Result<(), Errno> {
        let c = Call::new(
            g,
            "mprotect",
            [
                Arg::Addr(addr.0),
                Arg::Addr(len),
                Arg::Num(prot.bits().into()),
            ],
        );
        self.call(c, |s| s.mprotect(g, addr, len, prot))
    }
    /// `mincore`: one byte per page, bit 0 set when resident.
    pub fn mincore(&self, g: GuestId, addr: Vaddr, len: u64) -> Result<Vec<u8>, Errno> {
        let c = Call::new(g, "mincore", [Arg::Addr(addr.0), Arg::Addr(len)]);
        self.call(c, |s| s.mincore(g, addr, len))
    }
    /// `mlock`: sets the POSIX lock flag on the range; wires what was not wired.
    pub fn mlock(&self, g: GuestId, addr: Vaddr, len: u64) -> Result<(), Errno> {
        let c = Call::new(g, "mlock", [Arg::Addr(addr.0), Arg::Addr(len)]);
        self.call(c, |s| s.mlock(g, addr, len))
    }
    /// `munlock`: clears the flag; unwires only what nothing else holds.
    pub fn munlock(&self, g: GuestId, addr: Vaddr, len: u64) -> Result<(), Errno> {
        let c = Call::new(g, "munlock", [Arg::Addr(addr.0), Arg::Addr(len)]);
        self.call(c, |s| s.munlock(g, addr, len))
    }
    /// `mlockall`.
    pub fn mlockall(&self, g: GuestId, flags: crate::MlockallFlags) -> Result<(), Errno> {
        let c = Call::new(g, "mlockall", [Arg::Num(flags.bits().into())]);
        self.call(c, |s| s.mlockall(g, flags))
    }
    /// `munlockall`.
    pub fn munlockall(&self, g: GuestId) -> Result<(), Errno> {
        self.call(Call::new(g, "munlockall", []), |s| s.munlockall(g))
    }
    /// `shmget(key, size, shmflg)`.
    pub fn shmget(&self, g: GuestId, key: i32, size: u64, shmflg: i32) -> Result<ShmId, Errno> {
        let c = Call::new(
            g,
            "shmget",
            [
                Arg::Num(key.into()),
                Arg::Addr(size),
                Arg::Mode(shmflg as u32),
            ],
        );
        self.call(c, |s| s.shmget(g, key, size, shmflg))
    }
    /// `shmat(shmid, addr, shmflg)`; returns the attach address. An address of 0 lets the
    /// machine choose (the lowest free room above page 0); any other is a fixed attach there,
    /// rounded down to `SHMLBA` under `SHM_RND` (to 0 if it rounds there, as NetBSD and Linux
    /// both do).
    pub fn shmat(&self, g: GuestId, id: ShmId, addr: Vaddr, shmflg: i32) -> Result<Vaddr, Errno> {
        let at = (addr.0 != 0).then_some(addr);
        self.shmat_placed(g, id, addr, at, shmflg)
    }

    /// `shmat` at exactly `at` (after `SHM_RND` rounding, if asked), 0 included: for a host
    /// that chose the room itself, such as the wasm runtime, whose free room must lie inside
    /// the guest's linear memory.
    pub fn shmat_at(&self, g: GuestId, id: ShmId, at: Vaddr, shmflg: i32) -> Result<Vaddr, Errno> {
        self.shmat_placed(g, id, at, Some(at), shmflg)
    }

    fn shmat_placed(
        &self,
        g: GuestId,
        id: ShmId,
        addr: Vaddr,
        at: Option<Vaddr>,
        shmflg: i32,
    ) -> Result<Vaddr, Errno> {
        let c = Call::new(
            g,
            "shmat",
            [
                Arg::Num(id.0.into()),
                Arg::Addr(addr.0),
                Arg::Mode(shmflg as u32),
            ],
        );
        self.call(c, |s| s.shmat(g, id, at, shmflg))
    }
    /// `shmdt(addr)`.
    pub fn shmdt(&self, g: GuestId, addr: Vaddr) -> Result<(), Errno> {
        self.call(Call::new(g, "shmdt", [Arg::Addr(addr.0)]), |s| {
            s.shmdt(g, addr)
        })
    }
    /// `shmctl(shmid, cmd, buf)`: IPC_STAT returns the status.
    pub fn shmctl(&self, g: GuestId, id: ShmId, cmd: ShmCmd) -> Result<Option<ShmidDs>, Errno> {
        let c = Call::new(
            g,
            "shmctl",
            [Arg::Num(id.0.into()), Arg::Name(shm_cmd_name(&cmd))],
        );
        self.call(c, |s| s.shmctl(g, id, cmd))
    }

    /// Copies guest memory out to the host, bringing pages in as needed (`EFAULT` for unmapped or
    /// unreadable memory).
    pub fn read(&self, g: GuestId, addr: Vaddr, buf: &mut [u8]) -> Result<(), Errno> {
        self.quiet(|s| s.copy_out(g, addr, buf))
    }
    /// Copies host data into guest memory (`EFAULT` for unmapped or unwritable memory).
    pub fn write(&self, g: GuestId, addr: Vaddr, data: &[u8]) -> Result<(), Errno> {
        self.quiet(|s| s.copy_in(g, addr, data))
    }

    /// The pagedaemon reclaims up to `n` unwired pages now; returns how many it reclaimed, fewer
    /// only when nothing more could be reclaimed.
    pub fn reclaim(&self, n: usize) -> usize {
        self.with(|s| s.reclaim(n))
    }

    /// Checks every invariant of the machine; names the first one broken.
    pub fn audit(&self) -> Result<(), Violation> {
        self.with(|s| crate::audit::audit(s))
    }

    /// Current counters.
    pub fn stats(&self) -> Stats {
        self.with(|s| {
            let mut st = s.stats;
            st.frames = s.pool.total();
            st.free_frames = s.pool.free_count();
            st.wired_frames = s.pool.wired();
            st.peak_wired = s.pool.peak_wired();
            st.swap_used = s.swap.used();
            st
        })
    }

    /// Guest `g`'s map, one row per entry, with runs of like pages (residency and who wires
    /// them) when `pages` is set. See [`crate::dump`].
    pub fn dump_map(&self, g: GuestId, pages: bool) -> Result<crate::dump::MapDump, Errno> {
        self.with(|s| s.dump_map(g, pages))
    }

    /// The machine-wide view: frames, queues, swap, segments, per-guest totals.
    pub fn dump_machine(&self) -> crate::dump::MachineDump {
        self.with(|s| s.dump_machine())
    }

    /// The state of the page at `addr` in guest `g` (`ENOMEM` if unmapped).
    pub fn page_info(&self, g: GuestId, addr: Vaddr) -> Result<PageInfo, Errno> {
        self.with(|s| s.page_info(g, addr))
    }

    /// Bytes of host memory that hold guest and segment pages right now (the sum over every
    /// host store); at most the frame pool's size in bytes.
    pub fn host_resident_bytes(&self) -> io::Result<u64> {
        self.with(|s| {
            let mut total = 0;
            for vm in s.guests.values() {
                total += vm.amap.store().host_bytes()?;
            }
            for seg in s.shm.iter() {
                total += seg.object.store().host_bytes()?;
            }
            Ok(total)
        })
    }

    /// How guest views fault on this machine, and why the fallback was taken if it was.
    pub fn paging(&self) -> (PagingMode, Option<String>) {
        self.with(|s| (s.paging, s.paging_note.clone()))
    }

    /// Gives guest `g` a view: `len` bytes of host address space where its memory appears at its
    /// own addresses, paged through faults ([`crate::fault::handler`] must be installed before
    /// anything touches it). Everything already mapped appears in it.
    pub fn create_view(&self, g: GuestId, len: usize) -> io::Result<Arc<View>> {
        let owner = FaultOwner {
            state: Arc::as_ptr(&self.state) as *const (),
            guest: g,
        };
        self.with(|s| {
            s.guest(g)
                .map_err(|_| io::Error::other(format!("no {g:?}")))?;
            if s.views.contains_key(&g) {
                return Err(io::Error::other(format!("{g:?} already has a memory")));
            }
            let v = Arc::new(View::new(len, s.paging, owner)?);
            s.views.insert(g, v.clone());
            let entries: Vec<_> = s.guests[&g]
                .map
                .iter()
                .map(|e| (e.range(), e.backing, e.prot))
                .collect();
            for (r, b, p) in entries {
                if let Err(e) = s.pmap_enter(g, r, b, p) {
                    s.views.remove(&g);
                    return Err(io::Error::other(format!(
                        "mapping {r:?} into the view: {e}"
                    )));
                }
            }
            Ok(v)
        })
    }

    /// The memory fault guest `g` must trap for, if host code hit one on its behalf.
    pub fn pending_fault(&self, g: GuestId) -> Option<String> {
        self.with(|s| s.guests.get(&g).and_then(|vm| vm.fault.clone()))
    }

    /// Marks guest `g` to stop: it traps with `why` at its next check (wasm code checks at loop
    /// heads and calls once the runtime bumps the epoch; see `runtime::stop_guest`).
    pub fn stop_guest(&self, g: GuestId, why: &str) -> Result<(), Errno> {
        self.with(|s| {
            s.guest_mut(g)?.fault.get_or_insert_with(|| why.to_string());
            Ok(())
        })
    }

    /// Forgets guest `g`'s view (it is unmapped when the last holder lets go).
    pub fn drop_view(&self, g: GuestId) {
        let v = self.with(|s| s.views.remove(&g));
        drop(v);
    }

    /// Where `len` bytes of free address space start in guest `g`, at or above `hint` (or the
    /// lowest page above zero) and ending by `ceiling`; `None` if there is no such room.
    pub fn find_space(
        &self,
        g: GuestId,
        len: u64,
        hint: Vaddr,
        ceiling: Vaddr,
    ) -> Result<Option<Vaddr>, Errno> {
        self.quiet(|s| {
            let map = &s.guest(g)?.map;
            let pages = crate::addr::pages_for(len);
            let floor = crate::mmap::PLACEMENT_FLOOR;
            Ok(map
                .find_space_below(pages, hint.vpn().max(floor), ceiling.vpn())
                .or_else(|| map.find_space_below(pages, floor, ceiling.vpn()))
                .map(|v| v.addr()))
        })
    }

    /// The size in bytes of segment `id` (`EINVAL` if there is none).
    pub fn shm_size(&self, id: ShmId) -> Result<u64, Errno> {
        self.quiet(|s| {
            s.shm
                .get(id)
                .map(|seg| seg.pages() * PAGE_SIZE)
                .ok_or(Errno::EINVAL)
        })
    }

    /// The guests' ids.
    pub fn guests(&self) -> Vec<GuestId> {
        self.with(|s| s.guests.keys().copied().collect())
    }

    /// The entries of a guest's map, for inspection.
    pub fn entries(&self, g: GuestId) -> Result<Vec<crate::map::Entry>, Errno> {
        self.with(|s| Ok(s.guest(g)?.map.iter().cloned().collect()))
    }

    /// Whether `range` of guest `g` is fully mapped.
    pub fn is_mapped(&self, g: GuestId, addr: Vaddr, len: u64) -> Result<bool, Errno> {
        self.with(|s| {
            let vm = s.guest(g)?;
            let r = PageRange::rounded(addr, len, vm.map.limit().addr().0)?;
            Ok(vm.map.is_fully_mapped(r))
        })
    }

    /// Plants an inconsistency (a frame's wire count changed behind the rules), for tests that
    /// prove the audit finds it. Returns false if the page at `addr` is not resident.
    #[doc(hidden)]
    pub fn corrupt_wire_count(&self, g: GuestId, addr: Vaddr, count: u32) -> bool {
        self.with(|s| {
            let Ok(vm) = s.guest(g) else { return false };
            let vpn = addr.vpn();
            let Some(e) = vm.map.lookup(vpn) else {
                return false;
            };
            match s.slot(State::owner_of(g, e.backing_at(vpn), vpn)) {
                PageSlot::Resident(f) => {
                    s.pool.corrupt_wire_count(f, count);
                    true
                }
                _ => false,
            }
        })
    }
}
