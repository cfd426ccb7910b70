//! `freebsd` (vmm/src/rules/freebsd.rs): each rule it cites, asserted with the audit clean.

use crate::common::*;
use vmm::{Errno, MapFlags, Prot, Semantics, ShmCmd, Vaddr};

#[test]
fn freebsd_has_no_shm_lock_and_munlock_wants_every_page_locked() {
    let m = machine(Semantics::Freebsd);
    let (g, id, at) = attached(&m);
    assert_eq!(m.shmctl(g, id, ShmCmd::Lock), Err(Errno::EINVAL));
    assert_eq!(m.shmctl(g, id, ShmCmd::Unlock), Err(Errno::EINVAL));
    let a = m.mmap(g, Vaddr(0), 3 * P, Prot::RW, ANON).unwrap();
    m.mlock(g, a, P).unwrap();
    m.mlock(g, a, P).unwrap();
    assert_eq!(
        m.munlock(g, a, 2 * P),
        Err(Errno::ENOMEM),
        "the second page is not locked"
    );
    assert!(
        m.page_info(g, a).unwrap().entry_wired,
        "and nothing changed"
    );
    m.munlock(g, a, P).unwrap();
    assert!(
        !m.page_info(g, a).unwrap().entry_wired,
        "one munlock undoes two mlocks"
    );
    // Attachments are records: shmdt removes the whole range, whatever is mapped there now.
    m.munmap(g, at, P).unwrap();
    m.mmap(g, at, P, Prot::RW, ANON | MapFlags::FIXED).unwrap();
    m.shmdt(g, at).unwrap();
    assert!(!m.is_mapped(g, at, P).unwrap());
    clean(&m);
}
