//! What every rule set answers, each as its kernel's source has it: names, and how long an
//! attachment lives once its pages are unmapped.

use crate::common::*;
use vmm::{Errno, GuestConfig, MachineConfig, MapFlags, Prot, Semantics, ShmCmd, Vaddr};

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

/// `IPC_STAT`'s times are seconds since the Epoch and its pids the guests' pids, as programs
/// compare them with `time()` and `getpid()` (gVisor `shm.cc` `IpcStat`, LTP `shmctl01`); the
/// first guest's pid is not 0, which `shm_lpid` uses for "no attach yet".
#[test]
fn ipc_stat_reports_real_times_and_pids() {
    use std::time::{SystemTime, UNIX_EPOCH};
    let secs = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as u32
    };
    for sem in Semantics::ALL {
        let m = machine(sem);
        let before = secs();
        let a = m.add_guest(GuestConfig::default()).unwrap();
        let b = m.add_guest(GuestConfig::default()).unwrap();
        let (pa, pb) = (m.pid(a).unwrap(), m.pid(b).unwrap());
        assert!(pa > 1 && pb > 1 && pa != pb, "{sem}: pids {pa} {pb}");
        let id = m.shmget(a, 0, P, 0o600).unwrap();
        let d = m.shmctl(a, id, ShmCmd::Stat).unwrap().unwrap();
        assert_eq!((d.cpid, d.lpid, d.atime, d.dtime), (pa, 0, 0, 0), "{sem}");
        let at = m.shmat(b, id, Vaddr(0), 0).unwrap();
        let d = m.shmctl(a, id, ShmCmd::Stat).unwrap().unwrap();
        let after = secs();
        assert_eq!(d.lpid, pb, "{sem}: the attacher");
        for t in [d.ctime, d.atime] {
            assert!(
                (before..=after).contains(&t),
                "{sem}: {t} not in {before}..={after}"
            );
        }
        m.shmdt(b, at).unwrap();
        let d = m.shmctl(a, id, ShmCmd::Stat).unwrap().unwrap();
        assert!(d.dtime >= d.atime && d.dtime <= secs(), "{sem}");
        assert_eq!(d.lpid, pb, "{sem}: the detacher");
        assert_eq!(m.pid(a), Ok(pa), "{sem}: stable");
        clean(&m);
    }
}

/// `msync`: flags are checked (unknown bits, or `MS_ASYNC` with `MS_SYNC`: `EINVAL`), the
/// address must be aligned, a hole is `ENOMEM`, and `MS_INVALIDATE` over a locked page is each
/// kernel's errno, where "locked" is the POSIX lock under Linux, FreeBSD and illumos and any
/// wiring under NetBSD; nothing else changes anything.
#[test]
fn msync_checks_its_range_and_refuses_to_invalidate_locked_pages_as_each_kernel_does() {
    use vmm::MsyncFlags;
    let inval = MsyncFlags::INVALIDATE;
    for sem in Semantics::ALL {
        let m = machine(sem);
        let g = m.add_guest(GuestConfig::default()).unwrap();
        let a = m.mmap(g, Vaddr(0), 4 * P, Prot::RW, ANON).unwrap();
        m.write(g, a, b"kept").unwrap();
        assert_eq!(m.msync(g, a, 4 * P, MsyncFlags::SYNC), Ok(()), "{sem}");
        assert_eq!(m.msync(g, a, 4 * P, inval), Ok(()), "{sem}: nothing locked");
        assert_eq!(m.msync(g, a, 0, MsyncFlags::ASYNC), Ok(()), "{sem}");
        assert_eq!(
            MsyncFlags::from_guest(0x1 | 0x4),
            Err(Errno::EINVAL),
            "async with sync"
        );
        assert_eq!(MsyncFlags::from_guest(0x10), Err(Errno::EINVAL));
        assert_eq!(
            m.msync(g, Vaddr(a.0 + 1), P, inval),
            Err(Errno::EINVAL),
            "{sem}"
        );
        assert_eq!(
            m.msync(g, Vaddr(a.0 + 8 * P), P, inval),
            Err(Errno::ENOMEM),
            "{sem}"
        );
        m.mlock(g, Vaddr(a.0 + P), P).unwrap();
        let locked = match sem {
            Semantics::Illumos => Errno::EPERM,
            _ => Errno::EBUSY,
        };
        assert_eq!(m.msync(g, a, 4 * P, inval), Err(locked), "{sem}");
        assert_eq!(m.msync(g, a, P, inval), Ok(()), "{sem}: the page before");
        assert_eq!(m.msync(g, a, 4 * P, MsyncFlags::SYNC), Ok(()), "{sem}");
        m.munlock(g, Vaddr(a.0 + P), P).unwrap();
        assert_eq!(m.msync(g, a, 4 * P, inval), Ok(()), "{sem}");
        // A segment locked with SHM_LOCK: locked for NetBSD, not for Linux's VM_LOCKED test,
        // illumos' page locks of the mapping or FreeBSD's user wiring (FreeBSD refuses
        // SHM_LOCK anyway).
        let (h, id, at) = attached(&m);
        if m.shmctl(h, id, ShmCmd::Lock).is_ok() {
            let want = match sem {
                Semantics::Linux | Semantics::Illumos => Ok(()),
                _ => Err(Errno::EBUSY),
            };
            assert_eq!(m.msync(h, at, N * P, inval), want, "{sem}: SHM_LOCKed");
        }
        let mut b = [0u8; 4];
        m.read(g, a, &mut b).unwrap();
        assert_eq!(
            &b, b"kept",
            "{sem}: msync of anonymous memory keeps its data"
        );
        clean(&m);
    }
}

/// `mmap(MAP_LOCKED)` (the ABI's `MAP_WIRED`): locked as `mlock` would, refused with the
/// kernel's errno past the limit, and unknown where the kernel has no such flag.
#[test]
fn map_locked_is_each_kernels() {
    for sem in Semantics::ALL {
        let m = machine(sem);
        let g = m.add_guest(GuestConfig::default()).unwrap();
        let r = m.mmap(g, Vaddr(0), 2 * P, Prot::RW, ANON | MapFlags::WIRED);
        match sem {
            Semantics::Freebsd | Semantics::Illumos => {
                assert_eq!(r, Err(Errno::EINVAL), "{sem}");
                continue;
            }
            _ => {}
        }
        let a = r.unwrap();
        assert_eq!(m.mincore(g, a, 2 * P).unwrap(), vec![1, 1], "{sem}");
        assert!(m.page_info(g, a).unwrap().entry_wired, "{sem}");
        m.reclaim(usize::MAX);
        assert_eq!(m.mincore(g, a, 2 * P).unwrap(), vec![1, 1], "{sem}: stays");
        m.munlock(g, a, 2 * P).unwrap();
        let u = user(&m, 1000, P);
        let over = m.mmap(u, Vaddr(0), 2 * P, Prot::RW, ANON | MapFlags::WIRED);
        let want = if sem == Semantics::Linux {
            Errno::EAGAIN
        } else {
            Errno::ENOMEM
        };
        assert_eq!(over, Err(want), "{sem}: past the limit");
        let z = user(&m, 1001, 0);
        let zero = m.mmap(z, Vaddr(0), P, Prot::RW, ANON | MapFlags::WIRED);
        let want = if sem == Semantics::Linux {
            Errno::EPERM
        } else {
            Errno::ENOMEM
        };
        assert_eq!(zero, Err(want), "{sem}: a limit of 0");
        clean(&m);
    }
}

/// `madvise`: advice is kept on the entries (split where it starts and ends); `WILLNEED`
/// brings swapped pages back; `DONTNEED` drops private anonymous data only under Linux, which refuses it
/// over locked pages; `FREE` drops anonymous data no wiring holds, refused over locked pages by
/// Linux (`EINVAL`) and NetBSD (`EBUSY`), skipped over them by FreeBSD; `DONTNEED_LOCKED` is
/// Linux's; unknown advice, unaligned addresses and holes are refused.
#[test]
fn madvise_is_each_kernels() {
    use vmm::{Advice, Madvice};
    for sem in Semantics::ALL {
        let m = machine(sem);
        let g = m.add_guest(GuestConfig::default()).unwrap();
        let a = m.mmap(g, Vaddr(0), 4 * P, Prot::RW, ANON).unwrap();
        let page = |i: u64| Vaddr(a.0 + i * P);
        let byte = |i: u64| {
            let mut b = [0u8];
            m.read(g, page(i), &mut b).unwrap();
            b[0]
        };
        assert_eq!(
            Madvice::from_guest(5),
            Err(Errno::EINVAL),
            "no MADV_SPACEAVAIL"
        );
        assert_eq!(
            m.madvise(g, Vaddr(a.0 + 1), P, Madvice::Normal),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            m.madvise(g, page(8), P, Madvice::Normal),
            Err(Errno::ENOMEM),
            "{sem}"
        );
        m.madvise(g, page(1), 2 * P, Madvice::Random).unwrap();
        let advice: Vec<Advice> = m.entries(g).unwrap().iter().map(|e| e.advice()).collect();
        assert_eq!(
            advice,
            [Advice::Normal, Advice::Random, Advice::Normal],
            "{sem}"
        );
        m.madvise(g, a, 4 * P, Madvice::Normal).unwrap();
        assert_eq!(m.entries(g).unwrap().len(), 1, "{sem}: merged back");
        m.write(g, page(1), b"x").unwrap();
        m.reclaim(usize::MAX);
        m.madvise(g, a, 4 * P, Madvice::WillNeed).unwrap();
        assert_eq!(
            m.mincore(g, a, 4 * P).unwrap(),
            vec![0, 1, 0, 0],
            "{sem}: WILLNEED brings back what is in swap, and nothing untouched"
        );
        for i in 0..4 {
            m.write(g, page(i), &[i as u8 + 1]).unwrap();
        }
        m.mlock(g, page(3), P).unwrap();
        let dontneed = m.madvise(g, a, 3 * P, Madvice::DontNeed);
        assert_eq!(dontneed, Ok(()), "{sem}: no locked page in the range");
        let dropped = sem == Semantics::Linux;
        assert_eq!(byte(0), if dropped { 0 } else { 1 }, "{sem}: DONTNEED");
        let over_locked = m.madvise(g, a, 4 * P, Madvice::DontNeed);
        if sem == Semantics::Linux {
            assert_eq!(over_locked, Err(Errno::EINVAL), "{sem}");
        } else {
            assert_eq!(over_locked, Ok(()), "{sem}");
            assert_eq!(byte(3), 4, "{sem}: the locked page keeps its data");
        }
        m.write(g, page(1), &[2]).unwrap();
        let free = m.madvise(g, a, 4 * P, Madvice::Free);
        match sem {
            Semantics::Linux => assert_eq!(free, Err(Errno::EINVAL), "{sem}"),
            Semantics::Freebsd => {
                assert_eq!(free, Ok(()), "{sem}");
                assert_eq!(
                    (byte(1), byte(3)),
                    (0, 4),
                    "{sem}: the wired page is skipped"
                );
            }
            _ => assert_eq!(free, Err(Errno::EBUSY), "{sem}"),
        }
        m.munlock(g, page(3), P).unwrap();
        m.write(g, page(1), &[2]).unwrap();
        m.madvise(g, a, 4 * P, Madvice::Free).unwrap();
        assert_eq!(
            m.mincore(g, a, 4 * P).unwrap(),
            vec![0; 4],
            "{sem}: FREE dropped all"
        );
        assert_eq!(
            (byte(1), byte(3)),
            (0, 0),
            "{sem}: and they read back as zeros"
        );
        let dl = m.madvise(g, a, P, Madvice::DontNeedLocked);
        assert_eq!(dl.is_ok(), sem == Semantics::Linux, "{sem}: {dl:?}");
        // A segment: FREE is Linux's EINVAL there; elsewhere its pages are left alone.
        let (h, _, at) = attach(&m, 9);
        let free = m.madvise(h, at, N * P, Madvice::Free);
        if sem == Semantics::Linux {
            assert_eq!(free, Err(Errno::EINVAL), "{sem}");
        } else {
            assert_eq!(free, Ok(()), "{sem}");
        }
        m.madvise(h, at, N * P, Madvice::DontNeed).unwrap();
        assert!(data_intact(&m, h, at), "{sem}: a segment's data never goes");
        clean(&m);
    }
}
