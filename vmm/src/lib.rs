//! vmm: a WebAssembly-hosted virtual machine monitor on a UVM-style paged, wired memory.
//!
//! Each guest has an address space governed by a VM map in the manner of BSD UVM: entries say
//! what is mapped where, every page is resident, swapped out or never touched, and wired pages
//! are never paged out. The VM core (everything but [`runtime`]-level glue) works without wasm:
//!
//! | module | part |
//! |---|---|
//! | [`addr`] | addresses, page numbers, identifiers, range arithmetic |
//! | [`map`] | the VM map: entries, clip, merge, lookup |
//! | [`amap`] | a guest's private anonymous memory |
//! | [`object`] | shared objects backing SysV segments |
//! | [`page`] | the frame pool, wire counts, pageout queue |
//! | [`swap`] | swap slots over a file or memory |
//! | [`pdaemon`] | the pagedaemon: second-chance page-out |
//! | [`fault`] | fault resolution and the host's copy-in/copy-out path |
//! | [`pmap`] | host memory: the stores pages really live in |
//! | [`wire`] | the wiring rules: POSIX flag, SVID count |
//! | [`mmap`] | `mmap`, `munmap`, `mprotect`, `mincore`, `mlock` and friends |
//! | [`shm`] | SysV shared memory |
//! | [`limits`] | locked-memory and wired limits |
//! | [`audit`] | every invariant, checked from scratch |
//! | [`semantics`] | the wiring rules in force: the fix, or NetBSD's 2019 rules |
//! | [`calllog`] | the last calls, for corruption reports |
//! | [`callseq`] | bytes to multi-guest call sequences, for fuzzing |
//! | [`dump`] | map and machine dumps: residency and wiring provenance, text and JSON |
//!
//! # Wiring
//! POSIX `mlock` is a flag on the map entry; SVID `SHM_LOCK` and kernel wirings are a count.
//! An entry is wired when either holds ([`wire::is_wired`]), and pages are wired or unwired only
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

pub mod addr;
pub mod amap;
pub mod audit;
pub mod calllog;
pub mod callseq;
pub mod dump;
pub mod errno;
pub mod fault;
pub mod limits;
pub mod machine;
pub mod map;
pub mod mmap;
pub mod object;
pub mod page;
pub mod pdaemon;
pub mod pmap;
pub mod semantics;
pub mod shm;
pub mod swap;
pub mod wire;

pub use addr::{AttachId, FrameId, GuestId, PageRange, ShmId, SwapSlot, Vaddr, Vpn, PAGE_SIZE};
pub use audit::Violation;
pub use errno::Errno;
pub use fault::{Access, FaultError};
pub use limits::Limits;
pub use machine::{
    Corruption, Cred, GuestConfig, Machine, MachineConfig, PageInfo, Residency, Stats,
};
pub use map::{Backing, Entry, EntryFlags, Prot};
pub use mmap::{MapFlags, MlockallFlags};
pub use pdaemon::Pagedaemon;
pub use semantics::Semantics;
pub use shm::{IpcPerm, ShmCmd, ShmidDs};
pub use swap::SwapBacking;

#[cfg(feature = "wasm")]
pub mod runtime;
