//! Wiring scenarios from the design, each checked for residency and data under memory pressure,
//! with the audit after every step.

use vmm::{
    Errno, GuestConfig, GuestId, Machine, MachineConfig, MapFlags, MlockallFlags, Prot, Residency,
    ShmCmd, SwapBacking, Vaddr, PAGE_SIZE,
};

const P: u64 = PAGE_SIZE;
const ANON: MapFlags = MapFlags::ANON.union(MapFlags::PRIVATE);

fn machine(frames: u64) -> Machine {
    Machine::new(
        MachineConfig::default()
            .phys_mem(frames * P)
            .swap(256 * P)
            .swap_backing(SwapBacking::Memory)
            .wired_max(frames * P),
    )
    .unwrap()
}

fn ok(m: &Machine) {
    if let Err(v) = m.audit() {
        panic!("audit: {v}");
    }
}

/// Writes a page-distinct pattern over `pages` pages at `at`.
fn fill(m: &Machine, g: GuestId, at: Vaddr, pages: u64, seed: u8) {
    for i in 0..pages {
        let byte = seed.wrapping_add(i as u8);
        m.write(g, Vaddr(at.0 + i * P), &vec![byte; P as usize])
            .unwrap();
    }
    ok(m);
}

/// Checks the pattern `fill` wrote.
fn check(m: &Machine, g: GuestId, at: Vaddr, pages: u64, seed: u8) {
    for i in 0..pages {
        let mut buf = vec![0; P as usize];
        m.read(g, Vaddr(at.0 + i * P), &mut buf).unwrap();
        let byte = seed.wrapping_add(i as u8);
        assert!(
            buf.iter().all(|&b| b == byte),
            "page {i} at {at:?} lost its data"
        );
    }
    ok(m);
}

/// Reclaims everything that can be reclaimed.
fn pressure(m: &Machine) -> usize {
    let n = m.reclaim(usize::MAX);
    ok(m);
    n
}

fn resident(m: &Machine, g: GuestId, at: Vaddr, pages: u64) -> Vec<u8> {
    m.mincore(g, at, pages * P).unwrap()
}

fn guest(m: &Machine) -> GuestId {
    m.add_guest(GuestConfig::default()).unwrap()
}

#[test]
fn mlock_twice_then_munlock_once_leaves_the_range_pageable() {
    let m = machine(32);
    let g = guest(&m);
    let a = m.mmap(g, Vaddr(0), 4 * P, Prot::RW, ANON).unwrap();
    fill(&m, g, a, 4, 10);
    m.mlock(g, a, 4 * P).unwrap();
    m.mlock(g, a, 4 * P).unwrap();
    ok(&m);
    pressure(&m);
    assert_eq!(
        resident(&m, g, a, 4),
        vec![1; 4],
        "locked pages survive reclaim"
    );
    m.munlock(g, a, 4 * P).unwrap();
    ok(&m);
    assert_eq!(m.stats().wired_frames, 0);
    assert_eq!(pressure(&m), 4);
    assert_eq!(
        resident(&m, g, a, 4),
        vec![0; 4],
        "one munlock undoes two mlocks"
    );
    check(&m, g, a, 4, 10);
}

#[test]
fn munlock_does_not_unwire_shm_locked_pages() {
    let m = machine(32);
    let g = guest(&m);
    let id = m.shmget(g, 0, 4 * P, 0o600).unwrap();
    let at = m.shmat(g, id, Vaddr(0), 0).unwrap();
    fill(&m, g, at, 4, 1);
    m.shmctl(g, id, ShmCmd::Lock).unwrap();
    ok(&m);
    m.munlock(g, at, 4 * P).unwrap();
    ok(&m);
    pressure(&m);
    assert_eq!(resident(&m, g, at, 4), vec![1; 4]);
    assert!(m.page_info(g, at).unwrap().entry_wired);
    check(&m, g, at, 4, 1);
}

#[test]
fn shm_unlock_does_not_unwire_mlocked_pages() {
    let m = machine(32);
    let g = guest(&m);
    let id = m.shmget(g, 0, 4 * P, 0o600).unwrap();
    let at = m.shmat(g, id, Vaddr(0), 0).unwrap();
    fill(&m, g, at, 4, 2);
    m.mlock(g, at, 4 * P).unwrap();
    m.shmctl(g, id, ShmCmd::Lock).unwrap();
    // Entry: its flag, and wired by the segment's mark too; page: the segment's wiring alone,
    // which stands for the entry's while the lock lasts.
    let info = m.page_info(g, at).unwrap();
    assert!(info.entry_wired);
    assert_eq!(info.wire_count, 1);
    m.shmctl(g, id, ShmCmd::Unlock).unwrap();
    ok(&m);
    pressure(&m);
    assert_eq!(resident(&m, g, at, 4), vec![1; 4]);
    assert_eq!(m.page_info(g, at).unwrap().wire_count, 1);
    m.munlock(g, at, 4 * P).unwrap();
    pressure(&m);
    assert_eq!(resident(&m, g, at, 4), vec![0; 4]);
    check(&m, g, at, 4, 2);
}

#[test]
fn shm_unlock_twice_is_harmless() {
    let m = machine(32);
    let g = guest(&m);
    let id = m.shmget(g, 0, 2 * P, 0o600).unwrap();
    let at = m.shmat(g, id, Vaddr(0), 0).unwrap();
    fill(&m, g, at, 2, 3);
    m.shmctl(g, id, ShmCmd::Lock).unwrap();
    m.shmctl(g, id, ShmCmd::Lock).unwrap();
    assert_eq!(
        m.page_info(g, at).unwrap().wire_count,
        1,
        "the segment's wiring, for the object and its attacher; a second SHM_LOCK adds nothing"
    );
    m.shmctl(g, id, ShmCmd::Unlock).unwrap();
    m.shmctl(g, id, ShmCmd::Unlock).unwrap();
    ok(&m);
    assert_eq!(m.page_info(g, at).unwrap().wire_count, 0);
    assert_eq!(m.stats().wired_frames, 0);
    assert_eq!(pressure(&m), 2);
    check(&m, g, at, 2, 3);
}

#[test]
fn a_guest_attaching_after_shm_lock_finds_the_segment_resident_and_wired() {
    let m = machine(32);
    let a = guest(&m);
    let b = guest(&m);
    let id = m
        .shmget(a, 77, 4 * P, 0o666 | guest_abi::ipc::IPC_CREAT)
        .unwrap();
    let at_a = m.shmat(a, id, Vaddr(0), 0).unwrap();
    fill(&m, a, at_a, 4, 40);
    m.shmctl(a, id, ShmCmd::Lock).unwrap();
    pressure(&m);
    assert_eq!(m.shmget(b, 77, 0, 0).unwrap(), id);
    let at_b = m.shmat(b, id, Vaddr(0x10_0000), 0).unwrap();
    ok(&m);
    assert_eq!(resident(&m, b, at_b, 4), vec![1; 4]);
    let info = m.page_info(b, at_b).unwrap();
    assert!(info.entry_wired);
    assert_eq!(
        info.wire_count, 1,
        "the segment's own wiring, which stands for A's entry and B's"
    );
    check(&m, b, at_b, 4, 40);
    // Nor can B's munlock drop what the segment's lock holds.
    m.munlock(b, at_b, 4 * P).unwrap();
    pressure(&m);
    assert_eq!(resident(&m, b, at_b, 4), vec![1; 4]);
}

#[test]
fn segment_stays_resident_with_nobody_attached_while_locked() {
    let m = machine(32);
    let g = guest(&m);
    let id = m
        .shmget(g, 5, 3 * P, 0o600 | guest_abi::ipc::IPC_CREAT)
        .unwrap();
    let at = m.shmat(g, id, Vaddr(0), 0).unwrap();
    fill(&m, g, at, 3, 9);
    m.shmctl(g, id, ShmCmd::Lock).unwrap();
    m.shmdt(g, at).unwrap();
    ok(&m);
    pressure(&m);
    assert_eq!(m.stats().wired_frames, 3);
    m.shmctl(g, id, ShmCmd::Unlock).unwrap();
    assert_eq!(pressure(&m), 3);
    let at = m.shmat(g, id, Vaddr(0), 0).unwrap();
    check(&m, g, at, 3, 9);
}

#[test]
fn mlockall_future_wires_new_mappings_until_munlockall() {
    let m = machine(64);
    let g = guest(&m);
    m.mlockall(g, MlockallFlags::FUTURE).unwrap();
    let a = m.mmap(g, Vaddr(0), 3 * P, Prot::RW, ANON).unwrap();
    let id = m.shmget(g, 0, 2 * P, 0o600).unwrap();
    let s = m.shmat(g, id, Vaddr(0), 0).unwrap();
    ok(&m);
    pressure(&m);
    assert_eq!(resident(&m, g, a, 3), vec![1; 3]);
    assert_eq!(resident(&m, g, s, 2), vec![1; 2]);
    fill(&m, g, a, 3, 70);
    m.munlockall(g).unwrap();
    ok(&m);
    assert_eq!(m.stats().wired_frames, 0);
    pressure(&m);
    assert_eq!(resident(&m, g, a, 3), vec![0; 3]);
    let b = m.mmap(g, Vaddr(0), P, Prot::RW, ANON).unwrap();
    assert!(
        !m.page_info(g, b).unwrap().entry_wired,
        "MCL_FUTURE is gone"
    );
    check(&m, g, a, 3, 70);
}

#[test]
fn mlockall_current_locks_what_is_mapped_now_only() {
    let m = machine(64);
    let g = guest(&m);
    let a = m.mmap(g, Vaddr(0), 2 * P, Prot::RW, ANON).unwrap();
    let none = m.mmap(g, Vaddr(0), P, Prot::empty(), ANON).unwrap();
    m.mlockall(g, MlockallFlags::CURRENT).unwrap();
    let later = m.mmap(g, Vaddr(0), P, Prot::RW, ANON).unwrap();
    ok(&m);
    assert!(m.page_info(g, a).unwrap().entry_wired);
    assert!(
        !m.page_info(g, none).unwrap().entry_wired,
        "PROT_NONE entries are skipped, as NetBSD"
    );
    assert!(!m.page_info(g, later).unwrap().entry_wired);
    assert_eq!(m.mlockall(g, MlockallFlags::empty()), Err(Errno::EINVAL));
    assert_eq!(MlockallFlags::from_guest(8), Err(Errno::EINVAL));
}

#[test]
fn munmap_of_a_wired_range_unwires_and_frees_everything() {
    let m = machine(32);
    let g = guest(&m);
    let a = m.mmap(g, Vaddr(0), 8 * P, Prot::RW, ANON).unwrap();
    fill(&m, g, a, 8, 0);
    m.mlock(g, Vaddr(a.0 + 2 * P), 4 * P).unwrap();
    m.mlock(g, Vaddr(a.0 + 2 * P), 4 * P).unwrap();
    pressure(&m);
    assert!(m.stats().swap_used > 0);
    m.munmap(g, a, 8 * P).unwrap();
    ok(&m);
    let st = m.stats();
    assert_eq!((st.wired_frames, st.free_frames, st.swap_used), (0, 32, 0));
    assert_eq!(
        m.host_resident_bytes().unwrap(),
        0,
        "host memory given back"
    );
    assert_eq!(m.mincore(g, a, P), Err(Errno::ENOMEM));
}

#[test]
fn guest_exit_releases_wirings_attachments_frames_and_swap() {
    let m = machine(32);
    let a = guest(&m);
    let b = guest(&m);
    let id = m.shmget(a, 0, 4 * P, 0o600).unwrap();
    let at = m.shmat(a, id, Vaddr(0), 0).unwrap();
    fill(&m, a, at, 4, 5);
    m.mlock(a, at, 4 * P).unwrap();
    let x = m.mmap(a, Vaddr(0), 6 * P, Prot::RW, ANON).unwrap();
    fill(&m, a, x, 6, 6);
    m.mlockall(a, MlockallFlags::CURRENT | MlockallFlags::FUTURE)
        .unwrap();
    m.shmctl(a, id, ShmCmd::Rmid).unwrap();
    let y = m.mmap(b, Vaddr(0), 4 * P, Prot::RW, ANON).unwrap();
    fill(&m, b, y, 4, 8);
    m.exit_guest(a).unwrap();
    ok(&m);
    let st = m.stats();
    assert_eq!(st.wired_frames, 0);
    assert_eq!(st.free_frames, 32 - 4, "only B's pages remain");
    assert!(
        m.shmctl(b, id, ShmCmd::Stat).is_err(),
        "the removed segment went with its last attacher"
    );
    check(&m, b, y, 4, 8);
    assert_eq!(m.mlock(a, x, P), Err(Errno::ESRCH));
}

#[test]
fn ipc_rmid_while_attached_destroys_at_the_last_detach() {
    let m = machine(32);
    let a = guest(&m);
    let b = guest(&m);
    let id = m
        .shmget(a, 9, 4 * P, 0o666 | guest_abi::ipc::IPC_CREAT)
        .unwrap();
    let at_a = m.shmat(a, id, Vaddr(0), 0).unwrap();
    let at_b = m.shmat(b, id, Vaddr(0), 0).unwrap();
    fill(&m, a, at_a, 4, 20);
    m.shmctl(a, id, ShmCmd::Lock).unwrap();
    m.shmctl(a, id, ShmCmd::Rmid).unwrap();
    let ds = m.shmctl(b, id, ShmCmd::Stat).unwrap().unwrap();
    assert_eq!(ds.nattch, 2);
    assert_ne!(ds.perm.mode & guest_abi::shmid_ds::SHM_DEST as u32, 0);
    assert_eq!(
        m.shmget(b, 9, 0, 0),
        Err(Errno::ENOENT),
        "the key is gone at once"
    );
    assert_eq!(m.shmat(b, id, Vaddr(0), 0), Err(Errno::EIDRM));
    m.shmdt(a, at_a).unwrap();
    ok(&m);
    check(&m, b, at_b, 4, 20);
    m.shmdt(b, at_b).unwrap();
    ok(&m);
    let st = m.stats();
    assert_eq!((st.wired_frames, st.free_frames, st.swap_used), (0, 32, 0));
    assert_eq!(m.shmctl(a, id, ShmCmd::Stat), Err(Errno::EINVAL));
    assert_eq!(m.host_resident_bytes().unwrap(), 0);
}

#[test]
fn exceeding_the_locked_memory_limit_is_eagain_and_changes_nothing() {
    let m = machine(32);
    let g = m
        .add_guest(GuestConfig {
            memlock_limit: Some(3 * P),
            ..GuestConfig::default()
        })
        .unwrap();
    let a = m.mmap(g, Vaddr(0), 8 * P, Prot::RW, ANON).unwrap();
    m.mlock(g, a, 2 * P).unwrap();
    let before = m.entries(g).unwrap();
    assert_eq!(m.mlock(g, Vaddr(a.0 + 2 * P), 2 * P), Err(Errno::EAGAIN));
    assert_eq!(m.entries(g).unwrap(), before);
    ok(&m);
    m.mlock(g, a, 3 * P).unwrap();
    assert_eq!(
        m.mlockall(g, MlockallFlags::CURRENT),
        Err(Errno::ENOMEM),
        "mlockall reports limits as ENOMEM, as NetBSD"
    );
    // The failed mlockall changed nothing: the two locks' clips (kept, as UVM keeps them) and
    // the unlocked rest.
    assert_eq!(m.entries(g).unwrap().len(), 3);
    ok(&m);
}

#[test]
fn exceeding_the_wired_maximum_is_eagain_and_changes_nothing() {
    let m = Machine::new(
        MachineConfig::default()
            .phys_mem(16 * P)
            .swap(64 * P)
            .wired_max(4 * P),
    )
    .unwrap();
    let g = guest(&m);
    let a = m.mmap(g, Vaddr(0), 8 * P, Prot::RW, ANON).unwrap();
    fill(&m, g, a, 8, 1);
    m.mlock(g, a, 3 * P).unwrap();
    assert_eq!(m.mlock(g, Vaddr(a.0 + 3 * P), 2 * P), Err(Errno::EAGAIN));
    assert_eq!(m.stats().wired_frames, 3);
    ok(&m);
    let id = m.shmget(g, 0, 2 * P, 0o600).unwrap();
    assert_eq!(m.shmctl(g, id, ShmCmd::Lock), Err(Errno::ENOMEM));
    assert_eq!(
        m.shmctl(g, id, ShmCmd::Stat).unwrap().unwrap().perm.mode & 0o4000,
        0,
        "not marked locked"
    );
    m.mlockall(g, MlockallFlags::FUTURE).unwrap();
    assert_eq!(
        m.mmap(g, Vaddr(0), 2 * P, Prot::RW, ANON),
        Err(Errno::ENOMEM)
    );
    assert_eq!(
        m.entries(g).unwrap().len(),
        2,
        "the refused mapping is not left behind"
    );
    ok(&m);
    check(&m, g, a, 8, 1);
}

#[test]
fn wiring_more_than_physical_memory_fails_and_rolls_back() {
    let m = machine(8);
    let g = guest(&m);
    let a = m.mmap(g, Vaddr(0), 12 * P, Prot::RW, ANON).unwrap();
    fill(&m, g, a, 12, 3);
    let before = m.entries(g).unwrap();
    assert_eq!(m.mlock(g, a, 12 * P), Err(Errno::EAGAIN));
    assert_eq!(m.entries(g).unwrap(), before);
    assert_eq!(m.stats().wired_frames, 0);
    ok(&m);
    check(&m, g, a, 12, 3);
}

#[test]
fn unwired_pages_leave_under_pressure_and_come_back_with_their_data() {
    let m = machine(8);
    let g = guest(&m);
    let a = m.mmap(g, Vaddr(0), 40 * P, Prot::RW, ANON).unwrap();
    fill(&m, g, a, 40, 100);
    let st = m.stats();
    assert!(st.evictions >= 32, "{st:?}");
    assert!(
        m.host_resident_bytes().unwrap() <= 8 * P,
        "host memory never exceeds physical memory"
    );
    check(&m, g, a, 40, 100);
    assert!(m.stats().page_ins >= 32);
}

#[test]
fn a_store_through_one_guest_is_seen_by_another_after_eviction() {
    let m = machine(16);
    let a = guest(&m);
    let b = guest(&m);
    let id = m.shmget(a, 0, 2 * P, 0o600).unwrap();
    let at_a = m.shmat(a, id, Vaddr(0), 0).unwrap();
    let at_b = m.shmat(b, id, Vaddr(0x4000_0000), 0).unwrap();
    m.write(a, Vaddr(at_a.0 + P + 7), b"shared!").unwrap();
    pressure(&m);
    assert_eq!(
        m.page_info(b, Vaddr(at_b.0 + P)).unwrap().residency,
        Residency::Swapped
    );
    let mut buf = [0u8; 7];
    m.read(b, Vaddr(at_b.0 + P + 7), &mut buf).unwrap();
    assert_eq!(&buf, b"shared!");
    ok(&m);
}

#[test]
fn swap_full_makes_allocation_fail_with_enomem_and_loses_nothing() {
    let m = Machine::new(
        MachineConfig::default()
            .phys_mem(4 * P)
            .swap(4 * P)
            .swap_backing(SwapBacking::Memory),
    )
    .unwrap();
    let g = guest(&m);
    let a = m.mmap(g, Vaddr(0), 16 * P, Prot::RW, ANON).unwrap();
    fill(&m, g, a, 8, 50);
    assert_eq!(m.write(g, Vaddr(a.0 + 8 * P), &[1]), Err(Errno::EFAULT));
    ok(&m);
    check(&m, g, a, 8, 50);
}

#[test]
fn protection_is_enforced_on_host_copies_and_mprotect_respects_max_prot() {
    let m = machine(16);
    let g = guest(&m);
    let a = m.mmap(g, Vaddr(0), 2 * P, Prot::READ, ANON).unwrap();
    assert_eq!(m.write(g, a, &[1]), Err(Errno::EFAULT));
    m.mprotect(g, a, P, Prot::RW).unwrap();
    m.write(g, a, &[1]).unwrap();
    assert_eq!(m.entries(g).unwrap().len(), 2);
    m.mprotect(g, Vaddr(a.0 + P), P, Prot::RW).unwrap();
    assert_eq!(
        m.entries(g).unwrap().len(),
        1,
        "equal neighbours merge again"
    );
    let id = m.shmget(g, 0, P, 0o600).unwrap();
    let s = m
        .shmat(g, id, Vaddr(0), guest_abi::ipc::SHM_RDONLY)
        .unwrap();
    assert_eq!(m.write(g, s, &[1]), Err(Errno::EFAULT));
    assert_eq!(m.mprotect(g, s, P, Prot::RW), Err(Errno::EACCES));
    assert_eq!(m.mprotect(g, Vaddr(1), P, Prot::RW), Err(Errno::EINVAL));
    ok(&m);
}

#[test]
fn mlock_and_munlock_of_unmapped_ranges_are_enomem_and_change_nothing() {
    let m = machine(16);
    let g = guest(&m);
    let a = m.mmap(g, Vaddr(0x10000), 4 * P, Prot::RW, ANON).unwrap();
    m.munmap(g, Vaddr(a.0 + P), P).unwrap();
    let before = m.entries(g).unwrap();
    assert_eq!(m.mlock(g, a, 4 * P), Err(Errno::ENOMEM));
    assert_eq!(m.munlock(g, a, 4 * P), Err(Errno::ENOMEM));
    assert_eq!(m.entries(g).unwrap(), before);
    assert_eq!(m.stats().wired_frames, 0);
    m.munlock(g, a, P).unwrap();
    assert_eq!(m.mlock(g, Vaddr(u64::MAX - 10), 100), Err(Errno::EINVAL));
    ok(&m);
}

#[test]
fn mlock_of_an_shm_locked_range_does_no_page_work() {
    let m = machine(64);
    let g = guest(&m);
    let id = m.shmget(g, 0, 32 * P, 0o600).unwrap();
    let at = m.shmat(g, id, Vaddr(0), 0).unwrap();
    m.shmctl(g, id, ShmCmd::Lock).unwrap();
    let faults = m.stats().faults;
    let wc = m.page_info(g, at).unwrap().wire_count;
    m.mlock(g, at, 32 * P).unwrap();
    assert_eq!(
        m.page_info(g, at).unwrap().wire_count,
        wc,
        "the entry was wired already"
    );
    m.munlock(g, at, 32 * P).unwrap();
    assert_eq!(m.page_info(g, at).unwrap().wire_count, wc);
    assert_eq!(m.stats().faults, faults);
    ok(&m);
}

#[test]
fn the_audit_names_a_planted_wire_count() {
    let m = machine(16);
    let g = guest(&m);
    let a = m.mmap(g, Vaddr(0), 2 * P, Prot::RW, ANON).unwrap();
    m.mlock(g, a, 2 * P).unwrap();
    ok(&m);
    assert!(m.corrupt_wire_count(g, a, 5));
    let v = m.audit().unwrap_err();
    assert_eq!(v.invariant, vmm::Invariant::PageWireCount);
    assert!(v.detail.contains("wire count 5 but 1"), "{v}");
}

#[test]
fn shmget_follows_svid_rules() {
    use guest_abi::ipc::{IPC_CREAT, IPC_EXCL};
    let m = machine(16);
    let g = guest(&m);
    assert_eq!(m.shmget(g, 42, P, 0o600), Err(Errno::ENOENT));
    let id = m.shmget(g, 42, 2 * P, IPC_CREAT | 0o600).unwrap();
    assert_eq!(m.shmget(g, 42, P, IPC_CREAT | 0o600).unwrap(), id);
    assert_eq!(
        m.shmget(g, 42, P, IPC_CREAT | IPC_EXCL | 0o600),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        m.shmget(g, 42, 3 * P, 0),
        Err(Errno::EINVAL),
        "larger than the segment"
    );
    assert_eq!(m.shmget(g, 43, 0, IPC_CREAT), Err(Errno::EINVAL));
    assert_eq!(m.shmget(g, 43, 2 << 30, IPC_CREAT), Err(Errno::EINVAL));
    assert_ne!(
        m.shmget(g, 0, P, 0).unwrap(),
        m.shmget(g, 0, P, 0).unwrap(),
        "IPC_PRIVATE always creates"
    );
    let user = m
        .add_guest(GuestConfig {
            cred: vmm::Cred::new(1000, 1000),
            ..GuestConfig::default()
        })
        .unwrap();
    assert_eq!(m.shmget(user, 42, 0, 0o600), Err(Errno::EACCES));
    assert_eq!(m.shmat(user, id, Vaddr(0), 0), Err(Errno::EACCES));
    assert_eq!(m.shmctl(user, id, ShmCmd::Lock), Err(Errno::EPERM));
    assert_eq!(m.shmctl(user, id, ShmCmd::Rmid), Err(Errno::EPERM));
    ok(&m);
}

#[test]
fn shmat_and_shmdt_reject_bad_addresses() {
    let m = machine(16);
    let g = guest(&m);
    let id = m.shmget(g, 0, 2 * P, 0o600).unwrap();
    assert_eq!(m.shmat(g, id, Vaddr(123), 0), Err(Errno::EINVAL));
    let at = m
        .shmat(g, id, Vaddr(0x2000 + 123), guest_abi::ipc::SHM_RND)
        .unwrap();
    assert_eq!(at, Vaddr(0x2000));
    assert_eq!(
        m.shmat(g, id, Vaddr(0x3000), 0),
        Err(Errno::EINVAL),
        "overlaps the first attachment"
    );
    assert_eq!(
        m.shmat(g, vmm::ShmId(12345), Vaddr(0), 0),
        Err(Errno::EINVAL)
    );
    assert_eq!(m.shmdt(g, Vaddr(0x3000)), Err(Errno::EINVAL));
    m.shmdt(g, at).unwrap();
    assert_eq!(m.shmdt(g, at), Err(Errno::EINVAL));
    ok(&m);
}

/// Found by the `calls` fuzzer: a segment munmapped and attached again at the same addresses.
/// The first attachment ended with its last page (the proposed rule, see `vmm::semantics`), so
/// SHM_LOCK holds the one entry there once, and one shmdt detaches it.
#[test]
fn shm_lock_counts_each_entry_once_over_a_munmapped_then_reattached_segment() {
    let m = machine(32);
    let g = guest(&m);
    let id = m.shmget(g, 0, 2 * P, 0o600).unwrap();
    let at = m.shmat(g, id, Vaddr(0), 0).unwrap();
    m.munmap(g, at, 2 * P).unwrap();
    ok(&m);
    assert_eq!(m.shmctl(g, id, ShmCmd::Stat).unwrap().unwrap().nattch, 0);
    assert_eq!(m.shmat(g, id, at, 0).unwrap(), at);
    m.shmctl(g, id, ShmCmd::Lock).unwrap();
    ok(&m);
    assert!(m.page_info(g, at).unwrap().entry_wired);
    m.shmctl(g, id, ShmCmd::Unlock).unwrap();
    ok(&m);
    assert!(!m.page_info(g, at).unwrap().entry_wired);
    m.shmdt(g, at).unwrap();
    assert_eq!(m.shmdt(g, at), Err(Errno::EINVAL));
    m.shmctl(g, id, ShmCmd::Rmid).unwrap();
    ok(&m);
    assert_eq!(m.stats().free_frames, m.stats().frames);
}

/// Found by the model test: a segment munmapped whole, another attached at its address; shmdt
/// there detaches the one mapped now, and the first had already ended with its pages.
#[test]
fn shmdt_detaches_the_attachment_mapped_at_the_address() {
    let m = machine(32);
    let g = guest(&m);
    let old = m.shmget(g, 0, P, 0o600).unwrap();
    let new = m.shmget(g, 0, P, 0o600).unwrap();
    let at = m.shmat(g, old, Vaddr(0), 0).unwrap();
    m.munmap(g, at, P).unwrap();
    m.mlockall(g, MlockallFlags::FUTURE).unwrap();
    assert_eq!(m.shmat(g, new, at, 0).unwrap(), at);
    assert_eq!(m.stats().wired_frames, 1);
    m.shmdt(g, at).unwrap();
    ok(&m);
    assert!(!m.is_mapped(g, at, P).unwrap());
    assert_eq!(m.stats().wired_frames, 0);
    assert_eq!(m.shmctl(g, new, ShmCmd::Stat).unwrap().unwrap().nattch, 0);
    assert_eq!(m.shmctl(g, old, ShmCmd::Stat).unwrap().unwrap().nattch, 0);
    assert_eq!(m.shmdt(g, at), Err(Errno::EINVAL));
}

/// An attachment lives while any of its pages is mapped: a partial munmap keeps it (and its
/// shmdt removes only what is left), munmapping the rest ends it, and a segment marked removed
/// is freed then, frames and all.
#[test]
fn an_attachment_ends_with_its_last_mapped_page() {
    let m = machine(32);
    let g = guest(&m);
    let id = m.shmget(g, 0, 4 * P, 0o600).unwrap();
    let at = m.shmat(g, id, Vaddr(0), 0).unwrap();
    fill(&m, g, at, 4, 7);
    m.shmctl(g, id, ShmCmd::Rmid).unwrap();
    m.munmap(g, at, P).unwrap();
    m.munmap(g, Vaddr(at.0 + 2 * P), P).unwrap();
    ok(&m);
    assert_eq!(m.shmctl(g, id, ShmCmd::Stat).unwrap().unwrap().nattch, 1);
    m.munmap(g, Vaddr(at.0 + P), P).unwrap();
    m.munmap(g, Vaddr(at.0 + 3 * P), P).unwrap();
    ok(&m);
    assert_eq!(
        m.shmctl(g, id, ShmCmd::Stat),
        Err(Errno::EINVAL),
        "segment freed"
    );
    assert_eq!(m.stats().free_frames, m.stats().frames);
    assert_eq!(m.shmdt(g, at), Err(Errno::EINVAL));
}

/// An attachment that lost its first page, and a newer one attached into that hole: shmdt at
/// the address takes the newer one (which maps it), then the older one, each removing only its
/// own pages.
#[test]
fn shmdt_takes_the_newer_of_two_attachments_made_at_one_address() {
    let m = machine(32);
    let g = guest(&m);
    let big = m.shmget(g, 0, 3 * P, 0o600).unwrap();
    let small = m.shmget(g, 0, P, 0o600).unwrap();
    let at = m.shmat(g, big, Vaddr(0), 0).unwrap();
    fill(&m, g, at, 3, 1);
    m.munmap(g, at, P).unwrap();
    assert_eq!(m.shmat(g, small, at, 0).unwrap(), at);
    ok(&m);
    m.shmdt(g, at).unwrap();
    ok(&m);
    assert_eq!(m.shmctl(g, small, ShmCmd::Stat).unwrap().unwrap().nattch, 0);
    assert!(!m.is_mapped(g, at, P).unwrap());
    assert!(m.is_mapped(g, Vaddr(at.0 + P), 2 * P).unwrap());
    check(&m, g, Vaddr(at.0 + P), 2, 2);
    m.shmdt(g, at).unwrap();
    ok(&m);
    assert_eq!(m.shmctl(g, big, ShmCmd::Stat).unwrap().unwrap().nattch, 0);
    assert!(!m.is_mapped(g, Vaddr(at.0 + P), P).unwrap());
    assert_eq!(m.shmdt(g, at), Err(Errno::EINVAL));
}

/// A MAP_FIXED mapping over a whole attachment ends it like munmap; the anonymous mapping
/// stays and shmdt finds nothing to detach.
#[test]
fn map_fixed_over_an_attachment_ends_it() {
    let m = machine(32);
    let g = guest(&m);
    let id = m.shmget(g, 0, 2 * P, 0o600).unwrap();
    let at = m.shmat(g, id, Vaddr(0), 0).unwrap();
    m.mmap(
        g,
        at,
        2 * P,
        Prot::RW,
        MapFlags::ANON | MapFlags::PRIVATE | MapFlags::FIXED,
    )
    .unwrap();
    ok(&m);
    assert_eq!(m.shmctl(g, id, ShmCmd::Stat).unwrap().unwrap().nattch, 0);
    assert_eq!(m.shmdt(g, at), Err(Errno::EINVAL));
    assert!(m.is_mapped(g, at, 2 * P).unwrap());
}
