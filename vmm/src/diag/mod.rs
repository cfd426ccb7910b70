//! Diagnostics over the whole machine: the audit of every invariant ([`audit`], its faults
//! planted one by one in `audit_plants`) and map and machine dumps ([`dump`]).

pub mod audit;
#[cfg(test)]
mod audit_plants;
pub mod dump;
