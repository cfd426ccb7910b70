//! The two wiring rule sets on the same call sequences, through the library: `proposed` holds
//! with the audit clean after every call; `netbsd-2019` gives NetBSD's wrong answers and, where
//! NetBSD would unwire twice, stops the machine with a report naming the invariant and the calls.

use vmm::{
    Errno, GuestConfig, GuestId, Machine, MachineConfig, MapFlags, Prot, Semantics, ShmCmd, ShmId,
    SwapBacking, Vaddr, PAGE_SIZE,
};

const P: u64 = PAGE_SIZE;
/// The fix and the bug it fixes; the kernels' rule sets have their own tests (`kernels.rs`),
/// and join the attachment-rule tests here, which every rule set answers by its
/// `AttachmentLife`.
const TWO: [Semantics; 2] = [Semantics::Proposed, Semantics::Netbsd2019];
const N: u64 = 4;

fn machine(sem: Semantics) -> Machine {
    Machine::new(
        MachineConfig::default()
            .semantics(sem)
            .phys_mem(64 * P)
            .swap(256 * P)
            .swap_backing(SwapBacking::Memory),
    )
    .unwrap()
}

/// A guest with segment `key` attached at its returned address, pattern written.
fn attach(m: &Machine, key: i32) -> (GuestId, ShmId, Vaddr) {
    let g = m.add_guest(GuestConfig::default()).unwrap();
    let id = m.shmget(g, key, N * P, 0o1666).unwrap();
    let at = m.shmat(g, id, Vaddr(0), 0).unwrap();
    for i in 0..N {
        m.write(g, Vaddr(at.0 + i * P), &[i as u8 + 1]).unwrap();
    }
    (g, id, at)
}

fn clean(m: &Machine) {
    if let Err(v) = m.audit() {
        panic!("audit: {v}");
    }
}

/// Whether every page of the attachment survives a full reclaim.
fn stays_resident(m: &Machine, g: GuestId, at: Vaddr) -> bool {
    m.reclaim(usize::MAX);
    m.mincore(g, at, N * P).unwrap().iter().all(|&b| b & 1 == 1)
}

fn data_intact(m: &Machine, g: GuestId, at: Vaddr) -> bool {
    (0..N).all(|i| {
        let mut b = [0u8];
        m.read(g, Vaddr(at.0 + i * P), &mut b).unwrap();
        b[0] == i as u8 + 1
    })
}

#[test]
fn semantics_parse_and_print() {
    for s in Semantics::ALL {
        assert_eq!(s.to_string().parse::<Semantics>(), Ok(s));
    }
    assert_eq!(MachineConfig::default().semantics, Semantics::Proposed);
    let e = "netbsd".parse::<Semantics>().unwrap_err();
    assert!(
        e.contains("proposed, netbsd-2019, linux, freebsd, illumos"),
        "{e}"
    );
}

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

/// The attachment rule of each mode (see `vmm::rules::AttachmentLife`): a segment munmapped
/// whole, then anonymous memory mapped over its range. Under `proposed` the attachment ended
/// with its pages: `shm_nattch` is 0, `shmdt` there is `EINVAL` and the new mapping stays. Under
/// `netbsd-2019` the record stays until `shmdt`, which then unmaps the whole range, the new
/// mapping included, as NetBSD's `uvm_deallocate` does.
#[test]
fn an_unmapped_attachment_ends_under_proposed_and_stays_on_record_under_netbsd_2019() {
    for sem in Semantics::ALL {
        let m = machine(sem);
        let (g, id, at) = attach(&m, 7);
        m.munmap(g, at, N * P).unwrap();
        clean(&m);
        let nattch = m.shmctl(g, id, ShmCmd::Stat).unwrap().unwrap().nattch;
        let anon = MapFlags::ANON | MapFlags::PRIVATE | MapFlags::FIXED;
        m.mmap(g, at, P, Prot::RW, anon).unwrap();
        m.write(g, at, b"x").unwrap();
        let dt = m.shmdt(g, at);
        clean(&m);
        let still_mapped = m.is_mapped(g, at, P).unwrap();
        if keeps_records(sem) {
            assert_eq!(nattch, 1, "{sem}");
            assert_eq!(dt, Ok(()), "{sem}");
            assert!(
                !still_mapped,
                "{sem}: shmdt unmaps the record's whole range"
            );
        } else {
            assert_eq!(nattch, 0, "{sem}");
            assert_eq!(dt, Err(Errno::EINVAL), "{sem}");
            assert!(
                still_mapped,
                "{sem}: shmdt took a mapping that was not the segment's"
            );
        }
        assert_eq!(m.shmctl(g, id, ShmCmd::Stat).unwrap().unwrap().nattch, 0);
        m.shmctl(g, id, ShmCmd::Rmid).unwrap();
        assert_eq!(m.shmctl(g, id, ShmCmd::Stat), Err(Errno::EINVAL), "{sem}");
        clean(&m);
    }
}

/// Whether an attachment stays on record until `shmdt` after its pages were unmapped, as each
/// kernel's source has it, written here apart from the rule sets' own tables: NetBSD's
/// `sys/kern/sysv_shm.c` (a `shmmap_entry` per `shmat`), FreeBSD's `sys/kern/sysv_shm.c`
/// (`shmmap_state`, removed only by `shm_delete_mapping` from `shmdt` or exit) and illumos'
/// `uts/common/os/shm.c` (a `segacct` record, removed by `shm_detach`) keep one; Linux's
/// `ipc/shm.c` detaches in the vma's close hook, `shm_close`, as the proposed rules do.
fn keeps_records(sem: Semantics) -> bool {
    [
        Semantics::Netbsd2019,
        Semantics::Freebsd,
        Semantics::Illumos,
    ]
    .contains(&sem)
}

/// The same rule seen through `IPC_RMID`: a removed segment whose only attachment was munmapped
/// is freed at once where attachments are mappings (`proposed`, `linux`); where they are
/// records (`netbsd-2019`, `freebsd`, `illumos`) it waits for the guest's exit.
#[test]
fn a_removed_segment_with_its_attachment_unmapped_is_freed_when_the_rule_says() {
    for sem in Semantics::ALL {
        let m = machine(sem);
        let (g, id, at) = attach(&m, 8);
        m.shmctl(g, id, ShmCmd::Rmid).unwrap();
        m.munmap(g, at, N * P).unwrap();
        clean(&m);
        // Freed means its pages gave their frames back (IPC_STAT cannot tell under illumos,
        // which hides a removed id at once).
        let freed = m.stats().free_frames == m.stats().frames;
        assert_eq!(freed, !keeps_records(sem), "{sem}");
        m.exit_guest(g).unwrap();
        clean(&m);
        assert_eq!(
            m.shmctl(
                m.add_guest(GuestConfig::default()).unwrap(),
                id,
                ShmCmd::Stat
            ),
            Err(Errno::EINVAL)
        );
        assert_eq!(m.stats().free_frames, m.stats().frames, "{sem}");
    }
}
