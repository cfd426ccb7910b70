//! The `vmm` command's tools, over the library's machine and wasm runtime: running guest test
//! modules and checking their outcomes ([`testing`]), comparing programs with the host kernel
//! ([`diff`]), WebAssembly spec scripts on paged memory ([`wast`]), HTML reports of a run
//! ([`report`]) and hostile inputs for the hardening tests ([`hostile`]).
#![deny(missing_docs)]

pub mod diff;
pub mod hostile;
pub mod report;
pub mod testing;
pub mod wast;
