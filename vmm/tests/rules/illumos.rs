//! `illumos` (vmm/src/rules/illumos.rs): each rule it cites, asserted with the audit clean.

use crate::common::*;
use vmm::{Errno, Semantics, ShmCmd, Vaddr};

#[test]
fn illumos_shm_lock_is_a_balanced_count_for_the_privileged() {
    let m = machine(Semantics::Illumos);
    let (g, id, at) = attached(&m);
    m.shmctl(g, id, ShmCmd::Lock).unwrap();
    assert_eq!(
        resident(&m, g, at),
        vec![1; N as usize],
        "the first lock brings every page in"
    );
    m.shmctl(g, id, ShmCmd::Lock).unwrap();
    m.shmctl(g, id, ShmCmd::Unlock).unwrap();
    m.reclaim(usize::MAX);
    assert_eq!(resident(&m, g, at), vec![1; N as usize], "one lock is left");
    m.shmctl(g, id, ShmCmd::Unlock).unwrap();
    m.shmctl(g, id, ShmCmd::Unlock).unwrap();
    m.reclaim(usize::MAX);
    assert_eq!(resident(&m, g, at), vec![0; N as usize]);
    let u = user(&m, 1000, u64::MAX);
    let mine = m.shmget(u, 0, P, 0o600).unwrap();
    assert_eq!(
        m.shmctl(u, mine, ShmCmd::Lock),
        Err(Errno::EPERM),
        "even the owner"
    );
    clean(&m);
}

#[test]
fn illumos_takes_a_removed_id_out_of_the_id_space_at_once() {
    let m = machine(Semantics::Illumos);
    let (g, id, at) = attached(&m);
    m.shmctl(g, id, ShmCmd::Rmid).unwrap();
    assert_eq!(m.shmctl(g, id, ShmCmd::Stat), Err(Errno::EINVAL));
    assert_eq!(m.shmat(g, id, Vaddr(0), 0), Err(Errno::EINVAL));
    m.write(g, at, b"still mapped").unwrap();
    m.shmdt(g, at).unwrap();
    clean(&m);
}
