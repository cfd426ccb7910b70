//! `proposed` (vmm/src/rules/proposed.rs): the sequences that broke NetBSD hold, with the audit
//! clean after every call.

use crate::common::*;
use vmm::{Semantics, ShmCmd};

#[test]
fn lock_munlock_unlock_twice_holds_under_proposed() {
    let m = machine(Semantics::Proposed);
    let (g, id, at) = attach(&m, 1);
    m.shmctl(g, id, ShmCmd::Lock).unwrap();
    m.munlock(g, at, N * P).unwrap();
    clean(&m);
    assert!(stays_resident(&m, g, at));
    m.shmctl(g, id, ShmCmd::Unlock).unwrap();
    m.shmctl(g, id, ShmCmd::Unlock).unwrap();
    clean(&m);
    assert!(!stays_resident(&m, g, at));
    assert!(data_intact(&m, g, at));
    assert!(m.corruption().is_none());
    clean(&m);
}
