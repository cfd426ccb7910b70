//! The virtual memory core, in the manner of BSD UVM: the map and its entries, anonymous
//! memory, the objects behind SysV segments, the frame pool and pageout queue, swap, the
//! pagedaemon, fault resolution, the pmap-like upkeep of host views, and page-level wiring.
//! Host memory (memfds, views, the fault registry, the signal handlers) is in [`host`], the
//! only unsafe code of the core. Rule-set differences reach this folder only as values
//! ([`crate::base::types::Policy`]).

pub mod amap;
pub mod fault;
pub mod host;
pub mod map;
pub mod object;
pub mod page;
pub mod pdaemon;
pub mod pmap;
pub mod segment;
pub(crate) mod state;
pub mod swap;
pub mod wire;
pub mod wiring;
