//! `linux` (vmm/src/rules/linux.rs): each rule it cites, asserted on residency, wiring and
//! errnos, with the audit clean after every sequence.

use crate::common::*;
use vmm::{Cred, Errno, GuestConfig, Prot, Semantics, ShmCmd, Vaddr};

#[test]
fn linux_shm_lock_brings_nothing_in_and_wires_pages_as_they_are_touched() {
    let m = machine(Semantics::Linux);
    let (g, id, at) = attached(&m);
    m.shmctl(g, id, ShmCmd::Lock).unwrap();
    assert_eq!(
        resident(&m, g, at),
        vec![0; N as usize],
        "nothing faulted in"
    );
    m.write(g, Vaddr(at.0 + P), b"x").unwrap();
    m.reclaim(usize::MAX);
    assert_eq!(
        resident(&m, g, at),
        vec![0, 1, 0, 0],
        "the touched page stays"
    );
    assert_eq!(m.page_info(g, Vaddr(at.0 + P)).unwrap().wire_count, 1);
    assert!(
        !m.page_info(g, at).unwrap().entry_wired,
        "no entry is wired by SHM_LOCK"
    );
    clean(&m);
    // munlock cannot unwire it; SHM_UNLOCK, once or twice, does.
    m.munlock(g, at, N * P).unwrap();
    assert_eq!(m.page_info(g, Vaddr(at.0 + P)).unwrap().wire_count, 1);
    m.shmctl(g, id, ShmCmd::Lock).unwrap();
    m.shmctl(g, id, ShmCmd::Unlock).unwrap();
    m.shmctl(g, id, ShmCmd::Unlock).unwrap();
    m.reclaim(usize::MAX);
    assert_eq!(resident(&m, g, at), vec![0; N as usize]);
    clean(&m);
}

#[test]
fn linux_mlocked_and_shm_locked_page_needs_both_undone() {
    let m = machine(Semantics::Linux);
    let (g, id, at) = attached(&m);
    m.mlock(g, at, P).unwrap();
    m.shmctl(g, id, ShmCmd::Lock).unwrap();
    assert_eq!(m.page_info(g, at).unwrap().wire_count, 2);
    m.shmctl(g, id, ShmCmd::Unlock).unwrap();
    m.reclaim(usize::MAX);
    assert_eq!(resident(&m, g, at)[0], 1, "mlock still holds it");
    m.munlock(g, at, P).unwrap();
    m.reclaim(usize::MAX);
    assert_eq!(resident(&m, g, at)[0], 0);
    clean(&m);
}

#[test]
fn linux_errnos_and_privilege() {
    let m = machine(Semantics::Linux);
    let g = m.add_guest(GuestConfig::default()).unwrap();
    let a = m.mmap(g, Vaddr(0), 2 * P, Prot::empty(), ANON).unwrap();
    assert_eq!(m.mlock(g, a, P), Err(Errno::ENOMEM), "PROT_NONE");
    m.mlock(g, a, 0).unwrap();
    // Unprivileged: a limit of 0 is EPERM, past the limit ENOMEM.
    let u = user(&m, 1000, 0);
    let b = m.mmap(u, Vaddr(0), 2 * P, Prot::RW, ANON).unwrap();
    assert_eq!(m.mlock(u, b, P), Err(Errno::EPERM));
    let v = user(&m, 1001, P);
    let c = m.mmap(v, Vaddr(0), 2 * P, Prot::RW, ANON).unwrap();
    assert_eq!(m.mlock(v, c, 2 * P), Err(Errno::ENOMEM));
    m.mlock(v, c, P).unwrap();
    // Privileged (CAP_IPC_LOCK): no limit.
    let r = m
        .add_guest(GuestConfig {
            cred: Cred::ROOT,
            memlock_limit: Some(0),
            ..GuestConfig::default()
        })
        .unwrap();
    let d = m.mmap(r, Vaddr(0), 2 * P, Prot::RW, ANON).unwrap();
    m.mlock(r, d, 2 * P).unwrap();
    // SHM_LOCK: the owner may, within its limit; a stranger may not.
    let id = m.shmget(v, 0, P, 0o666).unwrap();
    assert_eq!(m.shmctl(u, id, ShmCmd::Lock), Err(Errno::EPERM));
    m.shmctl(v, id, ShmCmd::Lock).unwrap();
    let big = m.shmget(v, 0, 4 * P, 0o666).unwrap();
    assert_eq!(m.shmctl(v, big, ShmCmd::Lock), Err(Errno::ENOMEM));
    clean(&m);
}

#[test]
fn linux_attaches_a_removed_segment_while_it_is_attached() {
    let m = machine(Semantics::Linux);
    let (g, id, _at) = attached(&m);
    m.shmctl(g, id, ShmCmd::Rmid).unwrap();
    let ds = m.shmctl(g, id, ShmCmd::Stat).unwrap().unwrap();
    assert_ne!(ds.perm.mode & guest_abi::shmid_ds::SHM_DEST as u32, 0);
    m.shmat(g, id, Vaddr(0), 0).unwrap();
    assert_eq!(m.shmctl(g, id, ShmCmd::Stat).unwrap().unwrap().nattch, 2);
    m.exit_guest(g).unwrap();
    assert_eq!(
        m.shmctl(
            m.add_guest(GuestConfig::default()).unwrap(),
            id,
            ShmCmd::Stat
        ),
        Err(Errno::EINVAL),
        "gone with the last detach"
    );
    clean(&m);
}
