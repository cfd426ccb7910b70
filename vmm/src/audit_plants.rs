//! One planted fault per audit invariant (issue 25, item 3): a small healthy machine passes the
//! audit, exactly one thing is corrupted from inside the crate, and the audit must name exactly
//! that invariant. `PLANTED` lists the invariants with a test here (kept by convention: each
//! entry is the test `audit_names_a_planted_<name>`); `NOT_PLANTABLE` the rest, each with why.

use crate::addr::{ShmId, Vaddr, Vpn, PAGE_SIZE};
use crate::map::Prot;
use crate::mmap::MapFlags;
use crate::page::{Owner, PageSlot};
use crate::types::Invariant;
use crate::{GuestConfig, GuestId, Machine, MachineConfig};
use guest_abi::ipc::IPC_CREAT;

const P: u64 = PAGE_SIZE;
const ANON: MapFlags = MapFlags::ANON.union(MapFlags::PRIVATE);

/// Invariants with a plant test below.
const PLANTED: &[Invariant] = &[
    Invariant::ShmNattch,
    Invariant::ShmAttachEntry,
    Invariant::WiredNotResident,
    Invariant::LockedPages,
    Invariant::SwapLeak,
    Invariant::WiredMax,
    Invariant::ShmLockMark,
    Invariant::ShmEntryWiring,
];

/// Invariants without a plant test yet, and why. Everything here is "not yet written" (the
/// work stopped at its deadline), not "proved unplantable", unless said otherwise.
const NOT_PLANTABLE: &[(Invariant, &str)] = &[
    (Invariant::MapKey, "not yet written"),
    (Invariant::MapBounds, "not yet written"),
    (Invariant::MapProt, "not yet written"),
    (Invariant::MapOverlap, "not yet written"),
    (Invariant::EntrySvidCount, "not yet written"),
    (
        Invariant::PageWireCount,
        "planted in tests/scenarios.rs (the_audit_names_a_planted_wire_count), not here",
    ),
    (Invariant::FrameOwner, "not yet written"),
    (Invariant::PageFrame, "not yet written"),
    (Invariant::AnonLeak, "not yet written"),
    (Invariant::QueueFree, "not yet written"),
    (Invariant::QueueState, "not yet written"),
    (Invariant::QueueWiredCount, "not yet written"),
    (Invariant::QueuePageout, "not yet written"),
    (Invariant::SwapFreeSlot, "not yet written"),
    (Invariant::SwapDouble, "not yet written"),
    (Invariant::SwapCount, "not yet written"),
    (Invariant::ShmPages, "not yet written"),
    (Invariant::ShmDangling, "not yet written"),
    (Invariant::ShmAttachUnmapped, "not yet written"),
    (
        Invariant::WireResident,
        "raised by an operation, not the audit: not yet written",
    ),
    (
        Invariant::WireUnderflow,
        "raised by an operation, not the audit: not yet written",
    ),
    (
        Invariant::EntryCountUnderflow,
        "raised by an operation, not the audit: not yet written",
    ),
    (
        Invariant::FreeWired,
        "raised by an operation, not the audit: not yet written",
    ),
    (
        Invariant::ObjectWiredTwice,
        "raised by an operation, not the audit: not yet written",
    ),
    (
        Invariant::ObjectUnwiredTwice,
        "raised by an operation, not the audit: not yet written",
    ),
    (
        Invariant::SwapLost,
        "raised by an operation, not the audit: not yet written",
    ),
    (
        Invariant::PmapRemove,
        "raised by an operation, not the audit: not yet written",
    ),
];

fn machine() -> (Machine, GuestId) {
    let m = Machine::new(MachineConfig::default().phys_mem(16 * P).swap(16 * P)).unwrap();
    let g = m.add_guest(GuestConfig::default()).unwrap();
    (m, g)
}

/// A healthy machine with one guest attached to a two-page segment.
fn attached() -> (Machine, GuestId, ShmId, Vaddr) {
    let (m, g) = machine();
    let id = m.shmget(g, 7, 2 * P, IPC_CREAT | 0o600).unwrap();
    let a = m.shmat(g, id, Vaddr(0), 0).unwrap();
    m.audit().unwrap();
    (m, g, id, a)
}

/// A healthy machine with one guest whose two anonymous pages are mlocked.
fn locked() -> (Machine, GuestId, Vaddr) {
    let (m, g) = machine();
    let a = m.mmap(g, Vaddr(0), 2 * P, Prot::RW, ANON).unwrap();
    m.mlock(g, a, 2 * P).unwrap();
    m.audit().unwrap();
    (m, g, a)
}

fn names(m: &Machine, want: Invariant) {
    let v = m.audit().expect_err("the planted fault passed the audit");
    assert_eq!(v.invariant, want, "{v}");
}

#[test]
fn audit_names_a_planted_shm_nattch() {
    let (m, _, id, _) = attached();
    m.with(|s| s.shm.get_mut(id).unwrap().nattch += 1);
    names(&m, Invariant::ShmNattch);
}

#[test]
fn audit_names_a_planted_shm_attach_entry() {
    let (m, g, _, _) = attached();
    m.with(|s| {
        let a = &mut s.guests.get_mut(&g).unwrap().attachments[0];
        a.va = Vpn(a.va.0 + 1);
    });
    names(&m, Invariant::ShmAttachEntry);
}

#[test]
fn audit_names_a_planted_wired_not_resident() {
    let (m, g, a) = locked();
    // The page forgets its frame (the frame still names it: frame-owner would fire later, but
    // the guest's wired entry is checked first).
    m.with(|s| {
        s.set_slot(
            Owner::Anon {
                guest: g,
                vpn: a.vpn(),
            },
            PageSlot::Untouched,
        )
    });
    names(&m, Invariant::WiredNotResident);
}

#[test]
fn audit_names_a_planted_locked_pages() {
    let (m, g, _) = locked();
    m.with(|s| s.guests.get_mut(&g).unwrap().locked_pages += 1);
    names(&m, Invariant::LockedPages);
}

#[test]
fn audit_names_a_planted_swap_leak() {
    let (m, _, _) = locked();
    // A slot marked used (and counted) that no page holds.
    m.with(|s| s.phys.swap.alloc().unwrap());
    names(&m, Invariant::SwapLeak);
}

#[test]
fn audit_names_a_planted_wired_max() {
    let (m, _, _) = locked();
    m.with(|s| s.cfg.limits.wired_max = 1);
    names(&m, Invariant::WiredMax);
}

#[test]
fn audit_names_a_planted_shm_lock_mark() {
    let (m, _, id, _) = attached();
    // Marked SHM_LOCKed while its object holds no wiring.
    m.with(|s| s.shm.get_mut(id).unwrap().locked = true);
    names(&m, Invariant::ShmLockMark);
}

#[test]
fn audit_names_a_planted_shm_entry_wiring() {
    let (m, _, id, _) = attached();
    m.with(|s| s.shm.get_mut(id).unwrap().entry_wired_pages += 1);
    names(&m, Invariant::ShmEntryWiring);
}

#[test]
fn every_invariant_is_planted_or_listed_as_not_plantable() {
    for &i in Invariant::ALL {
        let planted = PLANTED.contains(&i);
        let listed = NOT_PLANTABLE.iter().any(|&(n, _)| n == i);
        assert!(
            planted != listed,
            "{i}: planted {planted}, listed not plantable {listed}"
        );
    }
}
