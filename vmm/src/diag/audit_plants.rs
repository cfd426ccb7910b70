//! One planted fault per audit invariant (issue 25, item 3): a small healthy machine passes the
//! audit, exactly one thing is corrupted from inside the crate, and the audit must name exactly
//! that invariant. `PLANTS` holds them; the invariants without one are listed, and a test checks
//! that every invariant is in exactly one place.

use crate::base::addr::{PageRange, ShmId, SwapSlot, Vaddr, Vpn, PAGE_SIZE};
use crate::base::types::Invariant;
use crate::base::types::Owner;
use crate::calls::mmap::MapFlags;
use crate::calls::shm::ShmCmd;
use crate::vm::map::Prot;
use crate::vm::page::PageSlot;
use crate::vm::wire::WireOp;
use crate::vm::wiring;
use crate::{GuestConfig, GuestId, Machine, MachineConfig};
use guest_abi::ipc::IPC_CREAT;

const P: u64 = PAGE_SIZE;
const ANON: MapFlags = MapFlags::ANON.union(MapFlags::PRIVATE);

/// One planted fault: the invariant the audit must name, and a function that builds a healthy
/// machine (checked by the audit), corrupts exactly one thing, and returns it.
type Plant = (Invariant, fn() -> Machine);

/// Every plant; the coverage test reads the planted invariants from here, so the list and the
/// plants cannot drift apart.
const PLANTS: &[Plant] = &[
    (Invariant::ShmNattch, || {
        let (m, _, id) = attached();
        m.with(|s| {
            let seg = s.shm.get_mut(id).unwrap();
            seg.corrupt_nattch(seg.nattch() + 1)
        });
        m
    }),
    (Invariant::ShmAttachEntry, || {
        let (m, g, _) = attached();
        m.with(|s| {
            let vm = s.guests.get_mut(&g).unwrap();
            let va = vm.attachments()[0].va;
            vm.corrupt_attachment_va(Vpn(va.0 + 1));
        });
        m
    }),
    // The page forgets its frame (the frame still names it: frame-owner would fire later, but
    // the guest's wired entry is checked first).
    (Invariant::WiredNotResident, || {
        let (m, g, a) = locked();
        let owner = Owner::Anon {
            guest: g,
            vpn: a.vpn(),
        };
        m.with(|s| s.set_slot(owner, PageSlot::Untouched));
        m
    }),
    (Invariant::LockedPages, || {
        let (m, g, _) = locked();
        m.with(|s| {
            let vm = s.guests.get_mut(&g).unwrap();
            vm.corrupt_locked_pages(vm.locked_pages() + 1);
        });
        m
    }),
    // A slot marked used (and counted) that no page holds.
    (Invariant::SwapLeak, || {
        let (m, _, _) = locked();
        m.with(|s| s.phys.swap.alloc().unwrap());
        m
    }),
    (Invariant::WiredMax, || {
        let (m, _, _) = locked();
        m.with(|s| s.cfg.limits.wired_max = 1);
        m
    }),
    // Marked SHM_LOCKed while its object holds no wiring.
    (Invariant::ShmLockMark, || {
        let (m, _, id) = attached();
        m.with(|s| s.shm.get_mut(id).unwrap().set_locked(true));
        m
    }),
    (Invariant::ShmEntryWiring, || {
        let (m, _, id) = attached();
        m.with(|s| s.shm.get_mut(id).unwrap().count_entry_wired_pages(1, true));
        m
    }),
    // An SVID hold on an entry under rules where nothing takes one.
    (Invariant::EntrySvidCount, || {
        let (m, g, _) = attached();
        m.with(|s| {
            let map = &mut s.guests.get_mut(&g).unwrap().map;
            let start = map.iter().next().unwrap().start();
            map.get_mut(start).unwrap().apply(WireOp::Hold).unwrap();
        });
        m
    }),
    // A swapped page of anonymous memory at an address no entry maps.
    (Invariant::AnonLeak, || {
        let (m, g, _) = locked();
        m.with(|s| {
            let slot = s.phys.swap.alloc().unwrap();
            let owner = Owner::Anon {
                guest: g,
                vpn: Vpn(100),
            };
            s.set_slot(owner, PageSlot::Swapped(slot));
        });
        m
    }),
    // The segment leaves the table while a guest still maps and is attached to it.
    (Invariant::ShmDangling, || {
        let (m, _, id) = attached();
        m.with(|s| s.shm.take(id).unwrap());
        m
    }),
    // An entry stored under another key than its start.
    (Invariant::MapKey, || {
        let (m, g, a) = mapped();
        m.with(|s| {
            let e = s.guests.get_mut(&g).unwrap().map.get_mut(a.vpn()).unwrap();
            e.corrupt_bounds(e.start().plus(1), e.end());
        });
        m
    }),
    (Invariant::MapBounds, || {
        let (m, g, a) = mapped();
        m.with(|s| {
            let e = s.guests.get_mut(&g).unwrap().map.get_mut(a.vpn()).unwrap();
            e.corrupt_bounds(e.start(), e.start());
        });
        m
    }),
    (Invariant::MapProt, || {
        let (m, g, a) = mapped();
        m.with(|s| {
            let e = s.guests.get_mut(&g).unwrap().map.get_mut(a.vpn()).unwrap();
            e.corrupt_max_prot(Prot::READ);
        });
        m
    }),
    // A resident page forgets its frame, which still names it.
    (Invariant::FrameOwner, || {
        let (m, g, a) = mapped();
        m.write(g, a, b"x").unwrap();
        m.audit().unwrap();
        m.with(|s| s.set_slot(anon(g, a), PageSlot::Untouched));
        m
    }),
    // An untouched page claims a free frame.
    (Invariant::PageFrame, || {
        let (m, g, a) = mapped();
        m.with(|s| {
            let (f, _) = s
                .phys
                .pool
                .iter()
                .find(|(_, fr)| fr.owner().is_none())
                .unwrap();
            s.set_slot(anon(g, a), PageSlot::Resident(f));
        });
        m
    }),
    // An untouched page claims a swap slot nobody allocated.
    (Invariant::SwapFreeSlot, || {
        let (m, g, a) = mapped();
        m.with(|s| s.set_slot(anon(g, a), PageSlot::Swapped(SwapSlot(3))));
        m
    }),
    // Two pages claim one slot.
    (Invariant::SwapDouble, || {
        let (m, g, a) = mapped();
        m.with(|s| {
            let slot = s.phys.swap.alloc().unwrap();
            s.set_slot(anon(g, a), PageSlot::Swapped(slot));
            s.set_slot(anon(g, Vaddr(a.0 + P)), PageSlot::Swapped(slot));
        });
        m
    }),
    // The attachment's only entry leaves the map behind its back.
    (Invariant::ShmAttachUnmapped, || {
        let (m, g, _) = attached();
        m.with(|s| {
            let map = &mut s.guests.get_mut(&g).unwrap().map;
            let start = map.iter().next().unwrap().start();
            map.remove(start).unwrap();
        });
        m
    }),
    (Invariant::ShmPages, || {
        let (m, _, _) = attached();
        m.with(|s| s.shm.corrupt_pages(99));
        m
    }),
    // A wired frame loses its wiring behind the entry's back; the munlock that drops the
    // entry's wiring then finds nothing to drop, and the machine stops.
    (Invariant::WireUnderflow, || {
        let (m, g, a) = locked();
        m.with(|s| {
            let PageSlot::Resident(f) = s.slot(anon(g, a)) else {
                panic!("a locked page is resident")
            };
            s.phys.pool.corrupt_wire_count(f, 0);
        });
        assert!(m.munlock(g, a, 2 * P).is_err());
        m
    }),
    // The entry's POSIX flag is cleared behind its pages' back: munmap, seeing an unwired
    // entry, frees pages that are still wired, and the machine stops.
    (Invariant::FreeWired, || {
        let (m, g, a) = locked();
        m.with(|s| {
            let e = s.guests.get_mut(&g).unwrap().map.get_mut(a.vpn()).unwrap();
            e.apply(WireOp::Munlock).unwrap();
        });
        assert!(m.munmap(g, a, 2 * P).is_err());
        m
    }),
    // The entry's POSIX flag is set behind its pages' back (they were never brought in): the
    // munlock that unwires them finds them not resident.
    (Invariant::WireResident, || {
        let (m, g, a) = mapped();
        m.with(|s| {
            let e = s.guests.get_mut(&g).unwrap().map.get_mut(a.vpn()).unwrap();
            e.apply(WireOp::Mlock).unwrap();
        });
        assert!(m.munlock(g, a, 2 * P).is_err());
        m
    }),
    // No caller drops a count that is not there; one that did would find the entry's count at
    // 0, and the machine stops.
    (Invariant::EntryCountUnderflow, || {
        let (m, g, a) = mapped();
        let range = PageRange::new(a.vpn(), a.vpn().plus(2));
        let r = m.with(|s| wiring::wire_entries(s, g, range, WireOp::Release, |_| true));
        assert!(r.is_err());
        m
    }),
    // The object claims its wiring without the lock: SHM_LOCK then takes it a second time.
    (Invariant::ObjectWiredTwice, || {
        let (m, g, id) = attached();
        m.with(|s| s.shm.get_mut(id).unwrap().set_object_wired(true));
        assert!(m.shmctl(g, id, ShmCmd::Lock).is_err());
        m
    }),
    // A page-in that got no frame must put its page back in swap, and swap refuses the
    // write: two frames, both wired, one page in swap, a backing gone read-only.
    (Invariant::SwapLost, || {
        let m = Machine::new(MachineConfig::default().phys_mem(2 * P).swap(4 * P)).unwrap();
        let g = m.add_guest(GuestConfig::default()).unwrap();
        let a = m.mmap(g, Vaddr(0), 3 * P, Prot::RW, ANON).unwrap();
        m.write(g, a, b"swapped").unwrap();
        assert_eq!(m.reclaim(usize::MAX), 1);
        m.mlock(g, Vaddr(a.0 + P), 2 * P).unwrap();
        m.audit().unwrap();
        m.with(|s| s.phys.swap.break_writes());
        assert!(
            m.read(g, a, &mut [0u8; 7]).is_err(),
            "the page cannot come in"
        );
        m
    }),
];

/// Planted by a test elsewhere, with where.
const PLANTED_ELSEWHERE: &[(Invariant, &str)] = &[
    (
        Invariant::PageWireCount,
        "tests/scenarios.rs, the_audit_names_a_planted_wire_count",
    ),
    (
        Invariant::QueueState,
        "vm/page.rs, check_finds_a_wire_count_changed_behind_the_queues (the frame pool's check, which the audit runs)",
    ),
    (
        Invariant::QueueFree,
        "vm/page.rs, check_finds_a_free_frame_with_wirings (the frame pool's check, which the audit runs)",
    ),
    (
        Invariant::QueueWiredCount,
        "vm/page.rs, check_finds_the_wired_counter_out_of_step (the frame pool's check, which the audit runs)",
    ),
    (
        Invariant::QueuePageout,
        "vm/page.rs, check_finds_the_pageout_counter_out_of_step (the frame pool's check, which the audit runs)",
    ),
    (
        Invariant::MapOverlap,
        "vm/map.rs, check_names_an_overlapping_pair_and_allows_an_unmerged_one (the map's check, which the audit runs)",
    ),
    (
        Invariant::SwapCount,
        "vm/swap.rs, check_finds_a_counter_out_of_step_with_the_slots (swap's check, which the audit runs)",
    ),
    (
        Invariant::ObjectUnwiredTwice,
        "tests/rules/netbsd_2019.rs, lock_munlock_unlock_twice_breaks_netbsd_2019_and_stops_the_machine (raised by SHM_UNLOCK under netbsd-2019)",
    ),
];

/// Not planted yet: `pmap-remove` is raised when a guest's host view refuses both unmapping
/// and protecting a range, and its plant needs a view that can be made to fail.
const NOT_YET_PLANTED: &[Invariant] = &[Invariant::PmapRemove];

fn machine() -> (Machine, GuestId) {
    let m = Machine::new(MachineConfig::default().phys_mem(16 * P).swap(16 * P)).unwrap();
    let g = m.add_guest(GuestConfig::default()).unwrap();
    (m, g)
}

/// A healthy machine with one guest mapping two anonymous pages it has not touched.
fn mapped() -> (Machine, GuestId, Vaddr) {
    let (m, g) = machine();
    let a = m.mmap(g, Vaddr(0), 2 * P, Prot::RW, ANON).unwrap();
    m.audit().unwrap();
    (m, g, a)
}

/// The anonymous page of guest `g` at `a`.
fn anon(g: GuestId, a: Vaddr) -> Owner {
    Owner::Anon {
        guest: g,
        vpn: a.vpn(),
    }
}

/// A healthy machine with one guest attached to a two-page segment.
fn attached() -> (Machine, GuestId, ShmId) {
    let (m, g) = machine();
    let id = m.shmget(g, 7, 2 * P, IPC_CREAT | 0o600).unwrap();
    m.shmat(g, id, Vaddr(0), 0).unwrap();
    m.audit().unwrap();
    (m, g, id)
}

/// A healthy machine with one guest whose two anonymous pages are mlocked.
fn locked() -> (Machine, GuestId, Vaddr) {
    let (m, g) = machine();
    let a = m.mmap(g, Vaddr(0), 2 * P, Prot::RW, ANON).unwrap();
    m.mlock(g, a, 2 * P).unwrap();
    m.audit().unwrap();
    (m, g, a)
}

#[test]
fn the_audit_names_each_planted_fault() {
    for &(want, plant) in PLANTS {
        let m = plant();
        match m.audit() {
            Err(v) => assert_eq!(v.invariant, want, "planted {want}, the audit said {v}"),
            Ok(()) => panic!("planted {want}, and the audit passed"),
        }
    }
}

#[test]
fn every_invariant_is_planted_or_listed_as_not_yet() {
    for &i in Invariant::ALL {
        let places = PLANTS.iter().filter(|&&(n, _)| n == i).count()
            + PLANTED_ELSEWHERE.iter().filter(|&&(n, _)| n == i).count()
            + NOT_YET_PLANTED.iter().filter(|&&n| n == i).count();
        assert_eq!(places, 1, "{i} is in {places} of the lists");
    }
}
