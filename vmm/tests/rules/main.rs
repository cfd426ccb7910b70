//! The rule sets' tests, one file per rule set as `vmm/src/rules/` has them, through the
//! library: each rule asserted on residency, wiring and errnos, with the audit clean after every
//! sequence (that the audit holds under every call sequence is the fuzz corpus's, the fuzzer's
//! and the model's job, under every rule set that replays no bug). `across` holds what every
//! rule set answers, each written from its kernel's source.

mod across;
mod common;
mod freebsd;
mod illumos;
mod linux;
mod netbsd_2019;
mod proposed;
