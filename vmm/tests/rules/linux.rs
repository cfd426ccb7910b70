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

/// `do_mincore` copies each run of pages out before it looks at the next: over a range that
/// runs into a hole, the pages before it are reported, then `ENOMEM`. Elsewhere nothing is
/// written.
#[test]
fn linux_mincore_fills_the_pages_before_a_hole() {
    for sem in [Semantics::Linux, Semantics::Proposed] {
        let m = machine(sem);
        let g = m.add_guest(GuestConfig::default()).unwrap();
        let a = m.mmap(g, Vaddr(0), 3 * P, Prot::RW, ANON).unwrap();
        m.write(g, Vaddr(a.0 + P), b"x").unwrap();
        m.munmap(g, Vaddr(a.0 + 2 * P), P).unwrap();
        let (v, r) = m.mincore_to_hole(g, a, 3 * P).unwrap();
        assert_eq!(r, Err(Errno::ENOMEM), "{sem}");
        if sem == Semantics::Linux {
            assert_eq!(v, vec![0, 1], "{sem}");
        } else {
            assert!(v.is_empty(), "{sem}");
        }
        assert_eq!(m.mincore(g, a, 3 * P), Err(Errno::ENOMEM), "{sem}");
        clean(&m);
    }
}

/// LTP `mlockall03`: an unprivileged process with `RLIMIT_MEMLOCK` 0 gets `EPERM` from
/// `mlockall` whatever its flags (`sys_mlockall` → `can_do_mlock`).
#[test]
fn linux_mlockall_with_a_zero_limit_is_eperm_for_every_flag() {
    use vmm::MlockallFlags;
    let m = machine(Semantics::Linux);
    let g = user(&m, 1000, 0);
    m.mmap(g, Vaddr(0), P, Prot::RW, ANON).unwrap();
    for f in [
        MlockallFlags::CURRENT,
        MlockallFlags::FUTURE,
        MlockallFlags::CURRENT | MlockallFlags::FUTURE,
    ] {
        assert_eq!(m.mlockall(g, f), Err(Errno::EPERM), "{f:?}");
    }
    clean(&m);
}

/// `IPC_INFO`, `SHM_INFO`, `SHM_STAT` and `SHM_STAT_ANY` (`ipc/shm.c`): the machine's limits,
/// the segments' use in pages, and a segment's status by table index, with `SHM_STAT`'s read
/// check; other rule sets do not have them.
#[test]
fn linux_shm_info_commands_report_the_machines_limits_and_segments() {
    let m = machine(Semantics::Linux);
    let g = m.add_guest(GuestConfig::default()).unwrap();
    let (info, max) = m.ipc_info(g).unwrap();
    let l = m.config().limits;
    assert_eq!(max, 0, "no segment yet");
    assert_eq!(
        (info.shmmax, info.shmmin, info.shmmni, info.shmall),
        (l.shmmax, 1, u64::from(l.shmmni), l.shmall)
    );
    let a = m.shmget(g, 0, 2 * P, 0o600).unwrap();
    let b = m.shmget(g, 0, 3 * P, 0o600).unwrap();
    let at = m.shmat(g, b, Vaddr(0), 0).unwrap();
    m.write(g, at, b"x").unwrap();
    let (u, max) = m.shm_info(g).unwrap();
    assert_eq!(max, 1, "two segments, indices 0 and 1");
    assert_eq!((u.used_ids, u.shm_tot, u.shm_rss, u.shm_swp), (2, 5, 1, 0));
    m.reclaim(usize::MAX);
    let (u, _) = m.shm_info(g).unwrap();
    assert_eq!(
        (u.shm_rss, u.shm_swp),
        (0, 1),
        "the touched page went to swap"
    );
    let (id, d) = m.shm_stat_index(g, 1, false).unwrap();
    assert_eq!((id, d.segsz, d.nattch), (b, 3 * P, 1));
    assert_eq!(m.shm_stat_index(g, 0, false).unwrap().0, a);
    assert_eq!(
        m.shm_stat_index(g, 2, false),
        Err(Errno::EINVAL),
        "no segment there"
    );
    let other = user(&m, 1000, 0);
    assert_eq!(m.shm_stat_index(other, 1, false), Err(Errno::EACCES));
    assert_eq!(
        m.shm_stat_index(other, 1, true).unwrap().0,
        b,
        "SHM_STAT_ANY asks nothing"
    );
    for sem in [Semantics::Proposed, Semantics::Freebsd, Semantics::Illumos] {
        let m = machine(sem);
        let g = m.add_guest(GuestConfig::default()).unwrap();
        assert_eq!(m.ipc_info(g).map(|_| ()), Err(Errno::EINVAL), "{sem}");
        assert_eq!(m.shm_info(g).map(|_| ()), Err(Errno::EINVAL), "{sem}");
        assert_eq!(
            m.shm_stat_index(g, 0, true).map(|_| ()),
            Err(Errno::EINVAL),
            "{sem}"
        );
    }
    clean(&m);
}

/// `mlock2(MLOCK_ONFAULT)` (`mm/mlock.c`, `VM_LOCKONFAULT`; LTP `mlock203`, gVisor
/// `Mlock2Test`): nothing is brought in; the pages resident are wired now, every other page as
/// it comes in, and none of them is paged out; a plain `mlock` over it brings the rest in;
/// `munlock` unwires what is in. Charged to the lock limit in full.
#[test]
fn linux_mlock2_onfault_wires_pages_as_they_come_in() {
    let m = machine(Semantics::Linux);
    let g = m.add_guest(GuestConfig::default()).unwrap();
    let a = m.mmap(g, Vaddr(0), 4 * P, Prot::RW, ANON).unwrap();
    let page = |i: u64| Vaddr(a.0 + i * P);
    m.write(g, page(1), b"in").unwrap();
    m.mlock2(g, a, 4 * P, true).unwrap();
    assert_eq!(
        m.mincore(g, a, 4 * P).unwrap(),
        vec![0, 1, 0, 0],
        "nothing brought in"
    );
    assert_eq!(m.page_info(g, page(1)).unwrap().wire_count, 1);
    assert!(m.page_info(g, a).unwrap().entry_wired);
    clean(&m);
    m.write(g, page(3), b"late").unwrap();
    assert_eq!(
        m.page_info(g, page(3)).unwrap().wire_count,
        1,
        "wired as it came in"
    );
    m.reclaim(usize::MAX);
    assert_eq!(
        m.mincore(g, a, 4 * P).unwrap(),
        vec![0, 1, 0, 1],
        "the touched pages stay"
    );
    clean(&m);
    // A plain mlock turns the lock on fault into a whole lock.
    m.mlock(g, a, 4 * P).unwrap();
    assert_eq!(m.mincore(g, a, 4 * P).unwrap(), vec![1; 4]);
    clean(&m);
    m.munlock(g, a, 4 * P).unwrap();
    m.reclaim(usize::MAX);
    assert_eq!(m.mincore(g, a, 4 * P).unwrap(), vec![0; 4], "all unwired");
    let mut b = [0u8; 4];
    m.read(g, page(3), &mut b).unwrap();
    assert_eq!(&b, b"late", "the data survived");
    // munlock of a lock on fault unwires only what came in.
    m.mlock2(g, a, 4 * P, true).unwrap();
    m.write(g, page(2), b"x").unwrap();
    m.munlock(g, a, 4 * P).unwrap();
    assert_eq!(m.page_info(g, page(2)).unwrap().wire_count, 0);
    clean(&m);
    // Charged in full: 4 pages past a 2-page limit, though nothing would be wired.
    let u = user(&m, 1000, 2 * P);
    let b = m.mmap(u, Vaddr(0), 4 * P, Prot::RW, ANON).unwrap();
    assert_eq!(m.mlock2(u, b, 4 * P, true), Err(Errno::ENOMEM));
    m.mlock2(u, b, 2 * P, true).unwrap();
    clean(&m);
}

/// `mlockall(MCL_ONFAULT)` needs `MCL_CURRENT` or `MCL_FUTURE`; with `MCL_FUTURE` new mappings
/// are locked on fault; and `mlockall` without `MCL_FUTURE` ends an earlier one
/// (`apply_mlockall_flags`), where NetBSD keeps it.
#[test]
fn linux_mlockall_onfault_and_the_end_of_mcl_future() {
    use vmm::MlockallFlags as F;
    let m = machine(Semantics::Linux);
    let g = m.add_guest(GuestConfig::default()).unwrap();
    assert_eq!(m.mlockall(g, F::ONFAULT), Err(Errno::EINVAL));
    let a = m.mmap(g, Vaddr(0), 2 * P, Prot::RW, ANON).unwrap();
    m.mlockall(g, F::CURRENT | F::ONFAULT).unwrap();
    assert_eq!(m.mincore(g, a, 2 * P).unwrap(), vec![0, 0]);
    assert!(m.page_info(g, a).unwrap().entry_wired);
    m.mlockall(g, F::FUTURE | F::ONFAULT).unwrap();
    let b = m.mmap(g, Vaddr(0), 3 * P, Prot::RW, ANON).unwrap();
    assert_eq!(
        m.mincore(g, b, 3 * P).unwrap(),
        vec![0; 3],
        "locked on fault"
    );
    m.write(g, b, b"x").unwrap();
    m.reclaim(usize::MAX);
    assert_eq!(m.mincore(g, b, 3 * P).unwrap(), vec![1, 0, 0]);
    clean(&m);
    m.mlockall(g, F::CURRENT).unwrap();
    assert_eq!(
        m.mincore(g, b, 3 * P).unwrap(),
        vec![1; 3],
        "a whole lock now"
    );
    let c = m.mmap(g, Vaddr(0), P, Prot::RW, ANON).unwrap();
    assert!(
        !m.page_info(g, c).unwrap().entry_wired,
        "MCL_CURRENT ended MCL_FUTURE"
    );
    m.munlockall(g).unwrap();
    clean(&m);
    for sem in [Semantics::Proposed, Semantics::Freebsd] {
        let m = machine(sem);
        let g = m.add_guest(GuestConfig::default()).unwrap();
        let a = m.mmap(g, Vaddr(0), P, Prot::RW, ANON).unwrap();
        assert_eq!(m.mlock2(g, a, P, false), Err(Errno::ENOSYS), "{sem}");
        assert_eq!(
            m.mlockall(g, F::CURRENT | F::ONFAULT),
            Err(Errno::EINVAL),
            "{sem}"
        );
        m.mlockall(g, F::FUTURE).unwrap();
        m.mlockall(g, F::CURRENT).unwrap();
        let c = m.mmap(g, Vaddr(0), P, Prot::RW, ANON).unwrap();
        assert!(
            m.page_info(g, c).unwrap().entry_wired,
            "{sem}: MCL_FUTURE stays"
        );
        clean(&m);
    }
}

/// `MADV_DONTNEED_LOCKED` (Linux 5.18): the locked pages go too, their data with them; the
/// range stays locked, and each page comes back wired when it is touched.
#[test]
fn linux_dontneed_locked_drops_locked_pages_that_come_back_locked() {
    use vmm::Madvice;
    let m = machine(Semantics::Linux);
    let g = m.add_guest(GuestConfig::default()).unwrap();
    let a = m.mmap(g, Vaddr(0), 3 * P, Prot::RW, ANON).unwrap();
    m.write(g, a, b"gone").unwrap();
    m.mlock(g, a, 3 * P).unwrap();
    m.madvise(g, a, 2 * P, Madvice::DontNeedLocked).unwrap();
    assert_eq!(m.mincore(g, a, 3 * P).unwrap(), vec![0, 0, 1]);
    assert!(m.page_info(g, a).unwrap().entry_wired, "still locked");
    clean(&m);
    let mut b = [9u8; 4];
    m.read(g, a, &mut b).unwrap();
    assert_eq!(b, [0; 4], "the data went");
    assert_eq!(m.page_info(g, a).unwrap().wire_count, 1, "back, and wired");
    m.reclaim(usize::MAX);
    assert_eq!(m.mincore(g, a, 3 * P).unwrap(), vec![1, 0, 1]);
    m.munlock(g, a, 3 * P).unwrap();
    clean(&m);
}
