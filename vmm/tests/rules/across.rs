//! What every rule set answers, each as its kernel's source has it: names, and how long an
//! attachment lives once its pages are unmapped.

use crate::common::*;
use vmm::{Errno, GuestConfig, MachineConfig, MapFlags, Prot, Semantics, ShmCmd};

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
