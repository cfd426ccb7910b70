//! `netbsd-2019` (vmm/src/rules/netbsd_2019.rs) beside `proposed`, on the same call sequences:
//! NetBSD's wrong answers, and where NetBSD would unwire twice, a stopped machine with a report
//! naming the invariant and the calls.

use crate::common::*;
use vmm::{Errno, GuestConfig, MapFlags, Prot, Semantics, ShmCmd, Vaddr};

/// The fix and the bug it fixes.
const TWO: [Semantics; 2] = [Semantics::Proposed, Semantics::Netbsd2019];

#[test]
fn lock_munlock_unlock_twice_breaks_netbsd_2019_and_stops_the_machine() {
    let m = machine(Semantics::Netbsd2019);
    let (g, id, at) = attach(&m, 1);
    m.shmctl(g, id, ShmCmd::Lock).unwrap();
    m.munlock(g, at, N * P).unwrap();
    clean(&m);
    // The object's own wiring still holds the pages, as on NetBSD.
    assert!(stays_resident(&m, g, at));
    // The entry's count is 0 already: the first unlock unwires the object, then fails.
    assert_eq!(m.shmctl(g, id, ShmCmd::Unlock), Err(Errno::EIO));
    clean(&m);
    let st = m.shmctl(g, id, ShmCmd::Stat).unwrap().unwrap();
    assert_ne!(
        st.perm.mode & 0o4000,
        0,
        "the mark stays after the failed unlock"
    );
    // The second unwires the object again.
    assert_eq!(m.shmctl(g, id, ShmCmd::Unlock), Err(Errno::EIO));
    let c = m.corruption().expect("the double unwire is caught");
    assert_eq!(c.violation.invariant, vmm::Invariant::ObjectUnwiredTwice);
    assert_eq!(c.semantics, Semantics::Netbsd2019);
    let calls: Vec<String> = c
        .calls
        .iter()
        .map(|r| r.to_string().split_once(": ").unwrap().1.to_string())
        .collect();
    assert_eq!(
        calls,
        [
            format!("shmget(1, {:#x}, 0o1666) = {}", N * P, id.0),
            format!("shmat({}, 0x0, 0o0) = {:#x}", id.0, at.0),
            format!("shmctl({}, SHM_LOCK) = 0", id.0),
            format!("munlock({:#x}, {:#x}) = 0", at.0, N * P),
            format!("mincore({:#x}, {:#x}) = 0", at.0, N * P),
            format!("shmctl({}, SHM_UNLOCK) = -EIO", id.0),
            format!("shmctl({}, IPC_STAT) = 0", id.0),
            format!("shmctl({}, SHM_UNLOCK) = -EIO", id.0),
        ]
    );
    // Stopped: every later call is refused, and the audit names the invariant.
    assert_eq!(m.mlock(g, at, P), Err(Errno::EIO));
    assert_eq!(
        m.audit().unwrap_err().invariant,
        vmm::Invariant::ObjectUnwiredTwice
    );
    let report = c.to_string();
    assert!(report.starts_with("machine state corrupt (netbsd-2019 rules): object-unwired-twice"));
    assert!(report.contains("SHM_UNLOCK) = -EIO"), "{report}");
}

#[test]
fn one_guest_locks_another_unlocks() {
    for sem in TWO {
        let m = machine(sem);
        let (a, id, at_a) = attach(&m, 7);
        let b = m.add_guest(GuestConfig::default()).unwrap();
        let at_b = m.shmat(b, id, Vaddr(0), 0).unwrap();
        m.shmctl(a, id, ShmCmd::Lock).unwrap();
        let by_b = m.shmctl(b, id, ShmCmd::Unlock);
        let by_a = m.shmctl(a, id, ShmCmd::Unlock);
        match sem {
            Semantics::Proposed => {
                assert_eq!((by_b, by_a), (Ok(None), Ok(None)));
                clean(&m);
                assert!(!stays_resident(&m, a, at_a));
                assert!(data_intact(&m, b, at_b));
                clean(&m);
            }
            _ => {
                assert_eq!((by_b, by_a), (Err(Errno::EIO), Err(Errno::EIO)));
                let c = m.corruption().unwrap();
                assert_eq!(c.violation.invariant, vmm::Invariant::ObjectUnwiredTwice);
                let last = c.calls.last().unwrap();
                assert_eq!((last.guest, last.name), (a, "shmctl"));
            }
        }
    }
}

#[test]
fn mlock_survives_shm_unlock_only_under_proposed() {
    for sem in TWO {
        let m = machine(sem);
        let (g, id, at) = attach(&m, 9);
        m.mlock(g, at, N * P).unwrap();
        m.shmctl(g, id, ShmCmd::Lock).unwrap();
        m.shmctl(g, id, ShmCmd::Unlock).unwrap();
        clean(&m);
        // NetBSD's one count was forced to 0: the mlock is silently gone.
        assert_eq!(
            stays_resident(&m, g, at),
            sem == Semantics::Proposed,
            "{sem}"
        );
        assert!(data_intact(&m, g, at));
        clean(&m);
    }
}

#[test]
fn munlock_of_an_unlocked_range_fails_only_under_netbsd_2019() {
    for sem in TWO {
        let m = machine(sem);
        let g = m.add_guest(GuestConfig::default()).unwrap();
        let a = m
            .mmap(
                g,
                Vaddr(0),
                2 * P,
                Prot::RW,
                MapFlags::ANON | MapFlags::PRIVATE,
            )
            .unwrap();
        let want = match sem {
            Semantics::Proposed => Ok(()),
            _ => Err(Errno::EINVAL),
        };
        assert_eq!(m.munlock(g, a, 2 * P), want, "{sem}");
        // Mlock twice, munlock once: unlocked under both.
        m.mlock(g, a, 2 * P).unwrap();
        m.mlock(g, a, 2 * P).unwrap();
        m.munlock(g, a, 2 * P).unwrap();
        assert!(!m.page_info(g, a).unwrap().entry_wired, "{sem}");
        clean(&m);
    }
}

#[test]
fn exit_of_a_netbsd_guest_releases_its_wirings_while_the_state_holds() {
    let m = machine(Semantics::Netbsd2019);
    let (g, id, at) = attach(&m, 11);
    m.mlock(g, at, N * P).unwrap();
    m.mlockall(g, vmm::MlockallFlags::CURRENT).unwrap();
    m.shmctl(g, id, ShmCmd::Lock).unwrap();
    clean(&m);
    m.shmctl(g, id, ShmCmd::Rmid).unwrap();
    m.exit_guest(g).unwrap();
    clean(&m);
    assert_eq!(m.stats().wired_frames, 0);
    assert_eq!(m.stats().free_frames, m.stats().frames);
}

#[test]
fn netbsd_2019_shm_lock_counts_only_the_callers_newest_attachment() {
    for sem in TWO {
        let m = machine(sem);
        let (g, id, older) = attach(&m, 21);
        let newer = m.shmat(g, id, Vaddr(0), 0).unwrap();
        m.shmctl(g, id, ShmCmd::Lock).unwrap();
        let wired = |a: Vaddr| m.page_info(g, a).unwrap().entry_wired;
        match sem {
            Semantics::Proposed => assert!(wired(older) && wired(newer)),
            _ => assert!(!wired(older) && wired(newer)),
        }
        // Pages stay resident either way: the object holds its own wiring.
        assert!(stays_resident(&m, g, older));
        m.shmctl(g, id, ShmCmd::Unlock).unwrap();
        clean(&m);
        assert!(!wired(older) && !wired(newer));
    }
}
