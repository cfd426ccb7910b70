//! vmm: a WebAssembly-hosted virtual machine monitor on a UVM-style paged, wired memory.
//!
//! Each guest has an address space governed by a VM map in the manner of BSD UVM: entries say
//! what is mapped where, every page is resident, swapped out or never touched, and wired pages
//! are never paged out. The VM core (everything but [`runtime`]-level glue) works without wasm:
//!
//! The folders are the layers, bottom first; each imports only from those below it, as the
//! one table in `vmm/tests/layers.rs` says and checks (`just layers`):
//!
//! - [`base`]: addresses, errno values, limits, plain shared types, the call log and event records;
//! - [`vm`]: the map, anonymous memory, objects, pages, swap, segments, the pagedaemon, faults,
//!   host views' upkeep (`pmap`) and page-level wiring; host memory, the only unsafe code of the
//!   core, in [`vm::host`];
//! - [`rules`]: one file per rule set (`proposed`, `netbsd-2019`, `linux`, `freebsd`, `illumos`);
//! - [`calls`]: the calls guests make (`mmap` family, SysV shared memory, unmapping);
//! - [`diag`]: the audit of every invariant and the dumps;
//! - [`machine`]: the machine handle, one lock over the state, the pagedaemon thread;
//! - [`callseq`]: bytes to multi-guest call sequences, for fuzzing;
//! - `runtime` (feature `wasm`): the wasm edge and the CLI's tools.
//!
//! # Wiring
//! POSIX `mlock` is a flag on the map entry; SVID `SHM_LOCK` and kernel wirings are a count.
//! An entry is wired when either holds ([`vm::wire::WireState::wired_by_itself`], and a segment lock where the rule set says so), and pages are wired or unwired only
//! when that combined state changes. See [`wire`] and [`shm`].
//!
//! # Locking
//! The whole machine state sits behind one lock, taken by every call, fault and page-out for
//! its whole duration: the lock order is that single lock. It is never held while wasm code
//! runs. The other locks (the pagedaemon's stop flag, a run's barrier, a dump sink's file) are
//! leaves: none is held while the machine lock is taken, and none is taken under it. The fault
//! handler finds views through a lock-free registry and takes only the machine lock. One lock keeps every invariant trivially atomic with respect to other guests; its cost
//! is that guests serialise on VM calls, which are short.
//!
//! # Example
//! ```
//! use vmm::{GuestConfig, Machine, MachineConfig, MapFlags, Prot, ShmCmd, Vaddr};
//! let m = Machine::new(MachineConfig::default().phys_mem(1 << 20)).unwrap();
//! let a = m.add_guest(GuestConfig::default()).unwrap();
//! let id = m.shmget(a, 0, 4 * 4096, 0o600).unwrap();
//! let at = m.shmat(a, id, Vaddr(0), 0).unwrap();
//! m.shmctl(a, id, ShmCmd::Lock).unwrap();
//! m.munlock(a, at, 4 * 4096).unwrap(); // POSIX unlock cannot drop the SVID wiring
//! assert!(m.page_info(a, at).unwrap().entry_wired);
//! m.audit().unwrap();
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)] // also in Cargo.toml's [lints]; the modules that need it allow it by name

pub mod base;
pub mod calls;
pub mod callseq;
pub mod diag;
pub mod machine;
pub mod rules;
pub mod vm;

pub use base::addr::{
    AttachId, FrameId, GuestId, PageRange, ShmId, SwapSlot, Vaddr, Vpn, PAGE_SIZE,
};
pub use base::errno::Errno;
pub use base::limits::Limits;
pub use base::types::{Access, FaultError, Invariant, RefusedFault, Violation};
pub use calls::mmap::{Madvice, MapFlags, MlockallFlags, MsyncFlags};
pub use calls::shm::{IpcPerm, ShmCmd, ShmLimitsInfo, ShmUsage, ShmidDs};
pub use machine::{
    Corruption, Cred, FaultAhead, GuestConfig, Machine, MachineConfig, PageInfo, Pagedaemon,
    Residency, Stats,
};
pub use rules::Semantics;
pub use vm::map::{Advice, Backing, Entry, Prot};
pub use vm::swap::SwapBacking;
pub use vm::wire::{EntryFlags, WireState};

#[cfg(feature = "wasm")]
pub mod runtime;
