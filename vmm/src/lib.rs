//! vmm: a WebAssembly-hosted virtual machine monitor on a UVM-style paged, wired memory.
//!
//! Each guest has an address space governed by a VM map in the manner of BSD UVM: entries say
//! what is mapped where, every page is resident, swapped out or never touched, and wired pages
//! are never paged out. The VM core (everything but [`runtime`]-level glue) works without wasm:
//!
//! The modules, in layers: each imports only modules of its own layer or below, never one that
//! imports it (checked by `vmm/tests/layers.rs`; run `just layers`).
//!
//! | layer | module | part |
//! |---|---|---|
//! | 1 | [`addr`] | addresses, page numbers, identifiers, range arithmetic |
//! | 1 | [`errno`] | the errno values guests see |
//! | 1 | [`limits`] | locked-memory and wired limits |
//! | 1 | [`types`] | plain types shared by every layer: credentials, attachments, counters, rule set names, invariants |
//! | 2 | [`host`] | host memory: memfd stores, guest views, the fault registry (unsafe, fenced) |
//! | 2 | [`wire`] | the wiring rules: POSIX flag, SVID count, the one predicate (pure) |
//! | 2 | [`map`] | the VM map: entries, clip, merge, lookup |
//! | 2 | [`page`] | the frame pool, wire counts, pageout queue |
//! | 2 | [`swap`] | swap slots over a file or memory |
//! | 2 | [`amap`] | a guest's private anonymous memory |
//! | 2 | [`object`] | shared objects backing SysV segments |
//! | 2 | [`segment`] | the SysV segment table, ids, permissions, `IPC_STAT` data |
//! | 2 | [`calllog`] | the last calls, for corruption reports |
//! | 2 | [`events`] | the run's history, bounded, for reports |
//! | 3 | `state` | the machine state, composed of parts (physical memory, segments, guests, diagnostics, views) |
//! | 4 | [`pmap`] | keeping guests' host views in step with maps and page-outs |
//! | 4 | [`pdaemon`] | the pagedaemon: second-chance page-out |
//! | 4 | [`fault`] | fault resolution, host copy-in/copy-out, the signal handlers |
//! | 5 | [`wiring`] | page-level wiring of entries and segment objects; clip–operate–merge |
//! | 5 | [`unmap`] | removing mappings, ending attachments, destroying segments |
//! | 6 | [`semantics`] | the wiring rules in force: the fix, NetBSD's 2019 rules, Linux's, FreeBSD's, illumos' |
//! | 7 | [`mmap`] | `mmap`, `munmap`, `mprotect`, `mincore`, `mlock` and friends |
//! | 7 | [`shm`] | SysV shared memory calls |
//! | 8 | [`audit`] | every invariant, checked from scratch |
//! | 8 | [`dump`] | map and machine dumps: residency and wiring provenance, text and JSON |
//! | 9 | [`machine`] | the machine handle: one lock, the call log, the pagedaemon thread |
//! | 10 | [`callseq`] | bytes to multi-guest call sequences, for fuzzing |
//! | 10 | `runtime` | the wasm edge (feature `wasm`): guest memories (`memory`), host functions (`abi`, `wasi`), running guests, tests (`testing`), spec scripts (`wast`), hostile inputs (`hostile`), `vmm diff` (`diff`), HTML reports (`report`), lean guest threads (`thread`) |
//!
//! # Wiring
//! POSIX `mlock` is a flag on the map entry; SVID `SHM_LOCK` and kernel wirings are a count.
//! An entry is wired when either holds ([`wire::WireState::is_wired`]), and pages are wired or unwired only
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

pub mod addr;
pub mod amap;
pub mod audit;
#[cfg(test)]
mod audit_plants;
pub mod calllog;
pub mod callseq;
pub mod dump;
pub mod errno;
pub mod events;
pub mod fault;
pub mod host;
pub mod limits;
pub mod machine;
pub mod map;
pub mod mmap;
pub mod object;
pub mod page;
pub mod pdaemon;
pub mod pmap;
pub mod segment;
pub mod semantics;
pub mod shm;
mod state;
pub mod swap;
pub mod types;
pub mod unmap;
pub mod wire;
pub mod wiring;

pub use addr::{AttachId, FrameId, GuestId, PageRange, ShmId, SwapSlot, Vaddr, Vpn, PAGE_SIZE};
pub use errno::Errno;
pub use fault::{Access, FaultError};
pub use limits::Limits;
pub use machine::{
    Corruption, Cred, FaultAhead, GuestConfig, Machine, MachineConfig, PageInfo, Pagedaemon,
    Residency, Stats,
};
pub use map::{Backing, Entry, Prot};
pub use mmap::{MapFlags, MlockallFlags};
pub use semantics::Semantics;
pub use shm::{IpcPerm, ShmCmd, ShmidDs};
pub use swap::SwapBacking;
pub use types::{Invariant, Violation};
pub use wire::{EntryFlags, WireState};

#[cfg(feature = "wasm")]
pub mod runtime;
