//! The machine: physical memory, swap, the shm namespace, limits and its guests, behind one lock.
//!
//! [`Machine`] is a cheap, clonable handle; every call takes the machine lock for its whole
//! duration (see the crate documentation for why one lock, and the lock order). This is the top
//! of the VM core: it logs each guest call and hands it to the layer that does it.

use crate::base::addr::{GuestId, PageRange, ShmId, Vaddr, PAGE_SIZE};
use crate::base::calllog::{shm_cmd_name, Arg, Call, CallRecord, Logged};
use crate::base::errno::Errno;
use crate::base::events::{Event, EventKind};
use crate::base::types::{Resource, Rlimit};
use crate::calls::mmap::{self, PLACEMENT_FLOOR};
use crate::calls::process;
use crate::calls::shm::{self, ShmCmd, ShmLimitsInfo, ShmUsage, ShmidDs};
use crate::calls::unmap;
use crate::diag::dump;
use crate::vm::fault;
use crate::vm::host::FaultOwner;
use crate::vm::map::Prot;
use crate::vm::page::PageSlot;
use crate::vm::pdaemon;
use crate::vm::pmap::{self, PagingMode, View};
use crate::vm::state::State;
use parking_lot::{Condvar, Mutex};
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use crate::base::types::{
    Attachment, Cred, PageInfo, RefusedFault, Residency, Semantics, Stats, Violation,
};
pub use crate::vm::state::{FaultAhead, GuestConfig, MachineConfig};

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
        let policy = cfg.semantics.policy();
        let state = State::new(cfg, policy)?;
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
            if s.diag.corrupt().is_some() {
                return Err(Errno::EIO);
            }
            s.diag.set_caller(Some(c.guest));
            let r = f(s);
            s.diag.set_caller(None);
            let rec = s
                .diag
                .log_call(&c, r.as_ref().map(Logged::logged).map_err(|e| *e));
            s.record(EventKind::Call(rec));
            r
        })
    }

    /// Runs host work for a guest (not a guest's call: not logged), refusing it with `EIO` once
    /// the state has been found corrupt.
    fn quiet<R>(&self, f: impl FnOnce(&mut State) -> Result<R, Errno>) -> Result<R, Errno> {
        self.with(|s| {
            if s.diag.corrupt().is_some() {
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
            s.diag.corrupt().cloned().map(|violation| Corruption {
                violation,
                semantics: s.cfg.semantics,
                calls: s.diag.log().recent(),
            })
        })
    }

    /// The configuration the machine was built with.
    pub fn config(&self) -> MachineConfig {
        self.with(|s| s.cfg.clone())
    }

    /// Adds a guest with an empty address space.
    pub fn add_guest(&self, gc: GuestConfig) -> Result<GuestId, Errno> {
        self.with(|s| s.add_guest(&gc))
    }

    /// Guest `g`'s process id (`getpid`, `shm_cpid`, `shm_lpid`): stable for its life and never
    /// 0 or 1.
    pub fn pid(&self, g: GuestId) -> Result<u32, Errno> {
        self.with(|s| s.guest(g).map(|vm| vm.pid()))
    }

    /// The guest exits: every mapping is removed (really unwired), every attachment detached,
    /// every frame and swap slot it held freed.
    pub fn exit_guest(&self, g: GuestId) -> Result<(), Errno> {
        self.call(Call::new(g, "exit", []), |s| exit(s, g))
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
        self.call(c, |s| mmap::mmap(s, g, addr, len, prot, flags))
    }
    /// `munmap`: removes mappings in the range, really unwiring them.
    pub fn munmap(&self, g: GuestId, addr: Vaddr, len: u64) -> Result<(), Errno> {
        let c = Call::new(g, "munmap", [Arg::Addr(addr.0), Arg::Addr(len)]);
        self.call(c, |s| mmap::munmap(s, g, addr, len))
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
        self.call(c, |s| mmap::mprotect(s, g, addr, len, prot))
    }
    /// `mincore`: one byte per page, bit 0 set when resident.
    pub fn mincore(&self, g: GuestId, addr: Vaddr, len: u64) -> Result<Vec<u8>, Errno> {
        let c = Call::new(g, "mincore", [Arg::Addr(addr.0), Arg::Addr(len)]);
        self.call(c, |s| mmap::mincore(s, g, addr, len))
    }

    /// `mincore` as a guest's call answers it: the bytes to write to its vector and the call's
    /// result, which under `linux` can be `ENOMEM` after the bytes of the pages before a hole.
    pub fn mincore_to_hole(
        &self,
        g: GuestId,
        addr: Vaddr,
        len: u64,
    ) -> Result<(Vec<u8>, Result<(), Errno>), Errno> {
        let c = Call::new(g, "mincore", [Arg::Addr(addr.0), Arg::Addr(len)]);
        self.call(c, |s| mmap::mincore_to_hole(s, g, addr, len))
    }
    /// `mlock`: sets the POSIX lock flag on the range; wires what was not wired.
    pub fn mlock(&self, g: GuestId, addr: Vaddr, len: u64) -> Result<(), Errno> {
        let c = Call::new(g, "mlock", [Arg::Addr(addr.0), Arg::Addr(len)]);
        self.call(c, |s| mmap::mlock(s, g, addr, len))
    }
    /// Linux's `mlock2`: `mlock`, or with `onfault` (`MLOCK_ONFAULT`) a lock that wires pages
    /// as they come in; `ENOSYS` under a rule set without it.
    pub fn mlock2(&self, g: GuestId, addr: Vaddr, len: u64, onfault: bool) -> Result<(), Errno> {
        let c = Call::new(
            g,
            "mlock2",
            [
                Arg::Addr(addr.0),
                Arg::Addr(len),
                Arg::Name(if onfault { "MLOCK_ONFAULT" } else { "0" }),
            ],
        );
        self.call(c, |s| mmap::mlock2(s, g, addr, len, onfault))
    }
    /// `munlock`: clears the flag; unwires only what nothing else holds.
    pub fn munlock(&self, g: GuestId, addr: Vaddr, len: u64) -> Result<(), Errno> {
        let c = Call::new(g, "munlock", [Arg::Addr(addr.0), Arg::Addr(len)]);
        self.call(c, |s| mmap::munlock(s, g, addr, len))
    }
    /// `mlockall`.
    pub fn mlockall(&self, g: GuestId, flags: crate::MlockallFlags) -> Result<(), Errno> {
        let c = Call::new(g, "mlockall", [Arg::Num(flags.bits().into())]);
        self.call(c, |s| mmap::mlockall(s, g, flags))
    }
    /// `madvise`: fault-ahead advice, or pages brought in or dropped; see
    /// `calls::mmap::madvise`.
    pub fn madvise(
        &self,
        g: GuestId,
        addr: Vaddr,
        len: u64,
        advice: crate::Madvice,
    ) -> Result<(), Errno> {
        let c = Call::new(
            g,
            "madvise",
            [Arg::Addr(addr.0), Arg::Addr(len), Arg::Name(advice.name())],
        );
        self.call(c, |s| mmap::madvise(s, g, addr, len, advice))
    }

    /// `msync`: under every rule set a check of the range and, with `MS_INVALIDATE`, of its
    /// locks (anonymous memory has no file to write back); see `calls::mmap::msync`.
    pub fn msync(
        &self,
        g: GuestId,
        addr: Vaddr,
        len: u64,
        flags: crate::MsyncFlags,
    ) -> Result<(), Errno> {
        let c = Call::new(
            g,
            "msync",
            [Arg::Addr(addr.0), Arg::Addr(len), Arg::Mode(flags.bits())],
        );
        self.call(c, |s| mmap::msync(s, g, addr, len, flags))
    }

    /// `munlockall`.
    pub fn munlockall(&self, g: GuestId) -> Result<(), Errno> {
        self.call(Call::new(g, "munlockall", []), |s| mmap::munlockall(s, g))
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
        self.call(c, |s| shm::shmget(s, g, key, size, shmflg))
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
        self.call(c, |s| shm::shmat(s, g, id, at, shmflg))
    }
    /// `shmdt(addr)`.
    pub fn shmdt(&self, g: GuestId, addr: Vaddr) -> Result<(), Errno> {
        self.call(Call::new(g, "shmdt", [Arg::Addr(addr.0)]), |s| {
            shm::shmdt(s, g, addr)
        })
    }
    /// `shmctl(shmid, cmd, buf)`: IPC_STAT returns the status.
    pub fn shmctl(&self, g: GuestId, id: ShmId, cmd: ShmCmd) -> Result<Option<ShmidDs>, Errno> {
        let c = Call::new(
            g,
            "shmctl",
            [Arg::Num(id.0.into()), Arg::Name(shm_cmd_name(&cmd))],
        );
        self.call(c, |s| shm::shmctl(s, g, id, cmd))
    }

    /// Linux's `shmctl(IPC_INFO)`: the shared-memory limits and the highest segment index in
    /// use; `EINVAL` under a rule set without it.
    pub fn ipc_info(&self, g: GuestId) -> Result<(ShmLimitsInfo, u32), Errno> {
        let c = Call::new(g, "shmctl", [Arg::Num(0), Arg::Name("IPC_INFO")]);
        self.call(c, |s| shm::ipc_info(s))
    }

    /// Linux's `shmctl(SHM_INFO)`: the segments' use and the highest index in use.
    pub fn shm_info(&self, g: GuestId) -> Result<(ShmUsage, u32), Errno> {
        let c = Call::new(g, "shmctl", [Arg::Num(0), Arg::Name("SHM_INFO")]);
        self.call(c, |s| shm::shm_info(s))
    }

    /// Linux's `shmctl(SHM_STAT)` (`any`: `SHM_STAT_ANY`) of the segment at table index `idx`:
    /// its id and status.
    pub fn shm_stat_index(
        &self,
        g: GuestId,
        idx: u32,
        any: bool,
    ) -> Result<(ShmId, ShmidDs), Errno> {
        let name = if any { "SHM_STAT_ANY" } else { "SHM_STAT" };
        let c = Call::new(g, "shmctl", [Arg::Num(i64::from(idx)), Arg::Name(name)]);
        self.call(c, |s| shm::shm_stat_index(s, g, idx, any))
    }

    /// Copies guest memory out to the host, bringing pages in as needed (`EFAULT` for unmapped or
    /// unreadable memory).
    pub fn read(&self, g: GuestId, addr: Vaddr, buf: &mut [u8]) -> Result<(), Errno> {
        self.quiet(|s| fault::copy_out(s, g, addr, buf))
    }
    /// Copies host data into guest memory (`EFAULT` for unmapped or unwritable memory).
    pub fn write(&self, g: GuestId, addr: Vaddr, data: &[u8]) -> Result<(), Errno> {
        self.quiet(|s| fault::copy_in(s, g, addr, data))
    }

    /// The pagedaemon reclaims up to `n` unwired pages now; returns how many it reclaimed, fewer
    /// only when nothing more could be reclaimed.
    pub fn reclaim(&self, n: usize) -> usize {
        self.with(|s| pdaemon::reclaim(s, n))
    }

    /// Checks every invariant of the machine; names the first one broken.
    pub fn audit(&self) -> Result<(), Violation> {
        self.with(|s| crate::diag::audit::audit(s))
    }

    /// Starts recording the run's history (calls, wiring changes, faults, page-outs, segment
    /// changes), keeping the last `bound` events; see [`crate::base::events`]. Recording again
    /// starts afresh.
    pub fn record_events(&self, bound: usize) {
        self.with(|s| s.diag.record_events(bound));
    }

    /// The recorded events, oldest first, and how many were dropped before them (empty when
    /// not recording).
    pub fn events(&self) -> (Vec<Event>, u64) {
        self.with(|s| match &s.diag.events() {
            Some(log) => (log.iter().copied().collect(), log.dropped()),
            None => (Vec::new(), 0),
        })
    }

    /// How many events have been recorded so far (dropped ones included; 0 when not
    /// recording): the `seq` of the newest.
    pub fn events_recorded(&self) -> u64 {
        self.with(|s| s.diag.events().as_ref().map_or(0, |l| l.total()))
    }

    /// Current counters.
    pub fn stats(&self) -> Stats {
        self.with(|s| {
            let mut st = *s.diag.stats();
            st.frames = s.phys.pool.total();
            st.free_frames = s.phys.pool.free_count();
            st.wired_frames = s.phys.pool.wired();
            st.peak_wired = s.phys.pool.peak_wired();
            st.swap_used = s.phys.swap.used();
            st
        })
    }

    /// Guest `g`'s map, one row per entry, with runs of like pages (residency and who wires
    /// them) when `pages` is set. See [`crate::diag::dump`].
    pub fn dump_map(&self, g: GuestId, pages: bool) -> Result<crate::diag::dump::MapDump, Errno> {
        self.with(|s| dump::dump_map(s, g, pages))
    }

    /// The machine-wide view: frames, queues, swap, segments, per-guest totals.
    pub fn dump_machine(&self) -> crate::diag::dump::MachineDump {
        self.with(|s| dump::dump_machine(s))
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
                total += seg.object().store().host_bytes()?;
            }
            Ok(total)
        })
    }

    /// How guest views fault on this machine, and why the fallback was taken if it was.
    pub fn paging(&self) -> (PagingMode, Option<String>) {
        self.with(|s| (s.views.mode(), s.views.note().map(str::to_string)))
    }

    /// Gives guest `g` a view: `len` bytes of host address space where its memory appears at its
    /// own addresses, paged through faults ([`crate::vm::host::signals`] must be installed before
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
            let v = Arc::new(View::new(len, s.views.mode(), owner)?);
            s.views.insert(g, v.clone());
            let entries: Vec<_> = s.guests[&g]
                .map
                .iter()
                .map(|e| (e.range(), e.backing(), e.prot()))
                .collect();
            for (r, b, p) in entries {
                if let Err(e) = pmap::pmap_enter(s, g, r, b, p) {
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
        self.with(|s| {
            s.guests
                .get(&g)
                .and_then(|vm| vm.fault().map(str::to_string))
        })
    }

    /// The first fault in guest `g`'s view that the machine refused, if any: why the guest
    /// traps when its own memory access does (see [`RefusedFault`]).
    pub fn refused_fault(&self, g: GuestId) -> Option<RefusedFault> {
        self.with(|s| s.guests.get(&g).and_then(|vm| vm.refused()))
    }

    /// Marks guest `g` to stop: it traps with `why` at its next check (wasm code checks at loop
    /// heads and calls once the runtime bumps the epoch; see `runtime::stop_guest`).
    pub fn stop_guest(&self, g: GuestId, why: &str) -> Result<(), Errno> {
        self.with(|s| {
            s.guest_mut(g)?.note_fault(|| why.to_string());
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
            let pages = crate::base::addr::pages_for(len);
            let floor = PLACEMENT_FLOOR;
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
    pub fn entries(&self, g: GuestId) -> Result<Vec<crate::vm::map::Entry>, Errno> {
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
            match s.slot(e.owner_at(g, vpn)) {
                PageSlot::Resident(f) => {
                    s.phys.pool.corrupt_wire_count(f, count);
                    true
                }
                _ => false,
            }
        })
    }
}

/// Guest exit: detach every segment, remove every mapping, forget the guest.
fn exit(s: &mut State, g: GuestId) -> Result<(), Errno> {
    while let Some(a) = s.guest(g)?.attachments().first().copied() {
        shm::shmdt(s, g, a.va.addr())?;
    }
    unmap::remove_range(s, g, s.whole_space())?;
    s.views.remove(&g);
    s.guests.remove(&g);
    Ok(())
}

/// A pagedaemon thread: wakes every `period` and, while fewer than the machine's free target
/// frames are free, pages out unwired pages, so that faults find a free frame without waiting
/// for a page-out. Stopped and joined when dropped.
#[derive(Debug)]
pub struct Pagedaemon {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Machine {
    /// Starts a pagedaemon thread for this machine.
    pub fn start_pagedaemon(&self, period: Duration) -> std::io::Result<Pagedaemon> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let (m, s) = (self.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("pagedaemon".into())
            .spawn(move || loop {
                {
                    let mut stopped = s.0.lock();
                    if !*stopped {
                        s.1.wait_for(&mut stopped, period);
                    }
                    if *stopped {
                        return;
                    }
                }
                m.with(|st| {
                    let target = st.cfg.free_target as usize;
                    let free = st.phys.pool.free_count();
                    if free < target {
                        st.diag.count_pdaemon_run();
                        pdaemon::reclaim(st, target - free);
                    }
                });
            })?;
        Ok(Pagedaemon {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Pagedaemon {
    fn drop(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The process around the memory calls: ids, capabilities and resource limits
/// ([`crate::calls::process`]).
impl Machine {
    /// Guest `g`'s identity now: ids and capability sets.
    pub fn cred(&self, g: GuestId) -> Result<Cred, Errno> {
        self.quiet(|s| Ok(s.guest(g)?.cred()))
    }

    /// `setuid`, `seteuid`, `setgid` or `setegid` by guest `g`.
    pub fn set_id(&self, g: GuestId, call: process::IdCall, id: u32) -> Result<(), Errno> {
        let c = Call::new(g, call.name(), [Arg::Num(id.into())]);
        self.call(c, |s| process::set_id(s, g, call, id))
    }

    /// `capset` by guest `g` on itself.
    pub fn capset(&self, g: GuestId, sets: process::CapSets) -> Result<(), Errno> {
        let c = Call::new(
            g,
            "capset",
            [
                Arg::Addr(sets.effective.bits()),
                Arg::Addr(sets.permitted.bits()),
                Arg::Addr(sets.inheritable.bits()),
            ],
        );
        self.call(c, |s| process::capset(s, g, sets))
    }

    /// Guest `g`'s limit for resource `r`.
    pub fn getrlimit(&self, g: GuestId, r: Resource) -> Result<Rlimit, Errno> {
        self.quiet(|s| process::getrlimit(s, g, r))
    }

    /// `setrlimit` by guest `g`.
    pub fn setrlimit(&self, g: GuestId, r: Resource, l: Rlimit) -> Result<(), Errno> {
        let c = Call::new(
            g,
            "setrlimit",
            [
                Arg::Num(r.index() as i64),
                Arg::Addr(l.cur),
                Arg::Addr(l.max),
            ],
        );
        self.call(c, |s| process::setrlimit(s, g, r, l))
    }
}
