//! Guest memory touched directly through host views, as wasm code touches it: pages fault in on
//! access, leave under pressure with their host memory released, and come back with their data;
//! a segment page is the same host page in every attacher's view.

// These tests touch guest memory through raw view pointers, as guest code does.
#![allow(unsafe_code)]

use vmm::vm::pmap::PagingMode;
use vmm::{
    GuestConfig, Machine, MachineConfig, MapFlags, Prot, ShmCmd, SwapBacking, Vaddr, PAGE_SIZE,
};

const P: u64 = PAGE_SIZE;
const SPACE: u64 = 1 << 24;

fn machine(frames: u64, mode: PagingMode) -> Machine {
    machine_with(frames, mode, |c| c)
}

/// [`machine`], with `more` applied to its configuration.
fn machine_with(
    frames: u64,
    mode: PagingMode,
    more: impl FnOnce(MachineConfig) -> MachineConfig,
) -> Machine {
    vmm::vm::host::signals::install();
    let mut cfg = more(
        MachineConfig::default()
            .phys_mem(frames * P)
            .swap(1024 * P)
            .swap_backing(SwapBacking::Memory)
            .space(SPACE),
    );
    cfg.paging = Some(mode);
    Machine::new(cfg).unwrap()
}

/// Guest `g` of `m` with `pages` fresh anonymous pages at 0x10000, and its view.
fn anon_with_view(
    m: &Machine,
    pages: u64,
) -> (vmm::GuestId, Vaddr, std::sync::Arc<vmm::vm::pmap::View>) {
    let g = m.add_guest(GuestConfig::default()).unwrap();
    let a = m
        .mmap(
            g,
            Vaddr(0x10000),
            pages * P,
            Prot::RW,
            MapFlags::ANON | MapFlags::PRIVATE,
        )
        .unwrap();
    (g, a, m.create_view(g, SPACE as usize).unwrap())
}

fn modes() -> Vec<PagingMode> {
    match PagingMode::detect() {
        (PagingMode::Userfault, _) => vec![PagingMode::Userfault, PagingMode::Protect],
        (PagingMode::Protect, why) => {
            eprintln!(
                "only the protect mode is tested here: {}",
                why.unwrap_or_default()
            );
            vec![PagingMode::Protect]
        }
    }
}

/// Host resident bytes of `len` bytes at `ptr`, by the host kernel's own `mincore`.
fn host_resident_pages(ptr: *mut u8, len: usize) -> usize {
    let mut vec = vec![0u8; len.div_ceil(P as usize)];
    // SAFETY: mincore only reads page-table state of our own mapping.
    let r = unsafe { libc::mincore(ptr as *mut libc::c_void, len, vec.as_mut_ptr()) };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    vec.iter().filter(|&&b| b & 1 != 0).count()
}

#[test]
fn pages_touched_through_a_view_are_paged_out_and_back_with_their_data() {
    for mode in modes() {
        let m = machine(8, mode);
        let g = m.add_guest(GuestConfig::default()).unwrap();
        let a = m
            .mmap(
                g,
                Vaddr(0x10000),
                32 * P,
                Prot::RW,
                MapFlags::ANON | MapFlags::PRIVATE,
            )
            .unwrap();
        let v = m.create_view(g, SPACE as usize).unwrap();
        let base = v.base();
        for i in 0..32u64 {
            // SAFETY: the range is mapped in the guest and the view; faults are resolved.
            unsafe { std::ptr::write_volatile(base.add((a.0 + i * P + 5) as usize), i as u8 + 1) };
        }
        m.audit().unwrap();
        let st = m.stats();
        assert!(st.evictions >= 24, "{mode:?}: {st:?}");
        assert!(m.host_resident_bytes().unwrap() <= 8 * P);
        m.reclaim(usize::MAX);
        assert_eq!(
            host_resident_pages(base.wrapping_add(a.0 as usize), 32 * P as usize),
            0,
            "{mode:?}: evicted pages hold no host memory"
        );
        for i in 0..32u64 {
            // SAFETY: as above.
            let b = unsafe { std::ptr::read_volatile(base.add((a.0 + i * P + 5) as usize)) };
            assert_eq!(b, i as u8 + 1, "{mode:?}: page {i}");
        }
        m.audit().unwrap();
        assert!(m.stats().page_ins >= 24);
    }
}

#[test]
fn wired_pages_stay_in_the_view_under_pressure() {
    for mode in modes() {
        let m = machine(16, mode);
        let g = m.add_guest(GuestConfig::default()).unwrap();
        let a = m
            .mmap(
                g,
                Vaddr(0x10000),
                4 * P,
                Prot::RW,
                MapFlags::ANON | MapFlags::PRIVATE,
            )
            .unwrap();
        let v = m.create_view(g, SPACE as usize).unwrap();
        m.mlock(g, a, 4 * P).unwrap();
        let before = m.stats();
        assert_eq!(m.reclaim(usize::MAX), 0);
        // SAFETY: mapped and wired.
        unsafe { std::ptr::write_volatile(v.base().add(a.0 as usize), 9) };
        let after = m.stats();
        assert_eq!(
            (after.evictions, after.page_ins, after.zero_fills),
            (before.evictions, before.page_ins, before.zero_fills),
            "{mode:?}"
        );
        assert_eq!(m.mincore(g, a, 4 * P).unwrap(), vec![1; 4]);
    }
}

#[test]
fn a_segment_page_is_one_host_page_for_every_attacher() {
    for mode in modes() {
        let m = machine(8, mode);
        let a = m.add_guest(GuestConfig::default()).unwrap();
        let b = m.add_guest(GuestConfig::default()).unwrap();
        let va = m.create_view(a, SPACE as usize).unwrap();
        let vb = m.create_view(b, SPACE as usize).unwrap();
        let id = m.shmget(a, 0, 2 * P, 0o600).unwrap();
        let at_a = m.shmat(a, id, Vaddr(0x20000), 0).unwrap();
        let at_b = m.shmat(b, id, Vaddr(0x40000), 0).unwrap();
        // SAFETY: both attachments are mapped in their views.
        unsafe {
            std::ptr::write_volatile(va.base().add(at_a.0 as usize + P as usize + 1), 0x5a);
            assert_eq!(
                std::ptr::read_volatile(vb.base().add(at_b.0 as usize + P as usize + 1)),
                0x5a,
                "{mode:?}"
            );
        }
        m.reclaim(usize::MAX);
        assert_eq!(m.mincore(b, at_b, 2 * P).unwrap(), vec![0, 0]);
        // SAFETY: as above.
        unsafe {
            assert_eq!(
                std::ptr::read_volatile(vb.base().add(at_b.0 as usize + P as usize + 1)),
                0x5a,
                "{mode:?}: back from swap for B"
            );
            std::ptr::write_volatile(vb.base().add(at_b.0 as usize + P as usize + 2), 0xa5);
            assert_eq!(
                std::ptr::read_volatile(va.base().add(at_a.0 as usize + P as usize + 2)),
                0xa5,
                "{mode:?}: B's store seen by A"
            );
        }
        m.shmctl(a, id, ShmCmd::Lock).unwrap();
        m.reclaim(usize::MAX);
        assert_eq!(m.mincore(a, at_a, 2 * P).unwrap(), vec![1, 1]);
        m.audit().unwrap();
    }
}

/// Fault-ahead: a guest's fault on a paged-out page brings its paged-out neighbours in with it
/// (UVM's window: 3 back, 4 forward, growing for sequential access), each with its data, into
/// free frames only; with it off, a fault brings in one page.
#[test]
fn a_fault_from_swap_brings_its_neighbours_in_and_sequential_access_widens_the_window() {
    for mode in modes() {
        for ahead in [vmm::FaultAhead::NORMAL, vmm::FaultAhead::OFF] {
            let m = machine_with(256, mode, |c| c.fault_ahead(ahead));
            let (g, a, v) = anon_with_view(&m, 128);
            let base = v.base();
            let at = |i: u64| (a.0 + i * P + 7) as usize;
            for i in 0..128u64 {
                // SAFETY: mapped in the guest and the view; faults are resolved.
                unsafe { std::ptr::write_volatile(base.add(at(i)), i as u8 ^ 0x5a) };
            }
            m.reclaim(usize::MAX);
            assert_eq!(m.mincore(g, a, 128 * P).unwrap(), vec![0; 128]);
            // One load in the middle.
            // SAFETY: as above.
            let b = unsafe { std::ptr::read_volatile(base.add(at(40))) };
            assert_eq!(b, 40 ^ 0x5a);
            let res = m.mincore(g, a, 128 * P).unwrap();
            let resident: Vec<usize> = (0..128).filter(|&i| res[i] == 1).collect();
            if ahead == vmm::FaultAhead::OFF {
                assert_eq!(resident, vec![40], "{mode:?}");
            } else {
                assert_eq!(resident, (37..=44).collect::<Vec<_>>(), "{mode:?}");
                assert_eq!(m.stats().fault_ahead, 7, "{mode:?}");
            }
            // A sequential pass over the rest: every byte comes back, and with fault-ahead in
            // far fewer faults than pages, the window growing.
            let faults = m.stats().faults;
            for i in 0..128u64 {
                // SAFETY: as above.
                let b = unsafe { std::ptr::read_volatile(base.add(at(i))) };
                assert_eq!(b, i as u8 ^ 0x5a, "{mode:?} {ahead:?}: page {i}");
            }
            let st = m.stats();
            if ahead == vmm::FaultAhead::OFF {
                assert_eq!(st.faults - faults, 127, "{mode:?}");
                assert_eq!(st.fault_ahead, 0);
            } else {
                assert!(st.faults - faults <= 12, "{mode:?}: {st:?}");
                assert_eq!(st.page_ins, 128, "{mode:?}: {st:?}");
            }
            assert_eq!(m.mincore(g, a, 128 * P).unwrap(), vec![1; 128]);
            m.audit().unwrap();
        }
    }
}

/// Fault-ahead takes free frames only: with none to spare it pages nothing out and the fault
/// brings in its own page alone.
#[test]
fn fault_ahead_never_pages_out_to_make_room() {
    for mode in modes() {
        let m = machine_with(8, mode, |c| c.wired_max(8 * P));
        let (g, a, v) = anon_with_view(&m, 16);
        for i in 0..16u64 {
            // SAFETY: mapped in the guest and the view; faults are resolved.
            unsafe { std::ptr::write_volatile(v.base().add((a.0 + i * P) as usize), 1 + i as u8) };
        }
        // Fill every frame but one with the guest's last pages, so page 0 comes back into
        // the one free frame and nothing is left for its neighbours.
        m.reclaim(usize::MAX);
        let other = m
            .mmap(
                g,
                Vaddr(0x100000),
                7 * P,
                Prot::RW,
                MapFlags::ANON | MapFlags::PRIVATE,
            )
            .unwrap();
        m.mlock(g, other, 7 * P).unwrap();
        let before = m.stats();
        assert_eq!(before.free_frames, 1, "{before:?}");
        // SAFETY: as above.
        let b = unsafe { std::ptr::read_volatile(v.base().add(a.0 as usize)) };
        assert_eq!(b, 1);
        let after = m.stats();
        assert_eq!(after.evictions, before.evictions, "{mode:?}");
        assert_eq!(after.fault_ahead, 0, "{mode:?}");
        assert_eq!(after.page_ins, before.page_ins + 1, "{mode:?}");
        m.audit().unwrap();
    }
}

/// Fault-ahead on a shared segment: the neighbours one attacher's fault brings in are the
/// segment's pages, resident for every attacher with the data each wrote.
#[test]
fn fault_ahead_on_a_segment_brings_pages_in_for_every_attacher() {
    for mode in modes() {
        let m = machine(64, mode);
        let a = m.add_guest(GuestConfig::default()).unwrap();
        let b = m.add_guest(GuestConfig::default()).unwrap();
        let va = m.create_view(a, SPACE as usize).unwrap();
        let vb = m.create_view(b, SPACE as usize).unwrap();
        let id = m.shmget(a, 0, 8 * P, 0o600).unwrap();
        let at_a = m.shmat(a, id, Vaddr(0x20000), 0).unwrap();
        let at_b = m.shmat(b, id, Vaddr(0x80000), 0).unwrap();
        for i in 0..8u64 {
            // SAFETY: the attachment is mapped in A's view.
            unsafe {
                std::ptr::write_volatile(va.base().add((at_a.0 + i * P) as usize), 0x30 + i as u8)
            };
        }
        m.reclaim(usize::MAX);
        // SAFETY: the attachment is mapped in B's view.
        let first = unsafe { std::ptr::read_volatile(vb.base().add(at_b.0 as usize)) };
        assert_eq!(first, 0x30, "{mode:?}");
        assert_eq!(m.stats().fault_ahead, 4, "{mode:?}");
        assert_eq!(
            m.mincore(a, at_a, 8 * P).unwrap(),
            vec![1, 1, 1, 1, 1, 0, 0, 0]
        );
        for i in 0..8u64 {
            // SAFETY: as above, for both views.
            unsafe {
                let x = std::ptr::read_volatile(va.base().add((at_a.0 + i * P) as usize));
                let y = std::ptr::read_volatile(vb.base().add((at_b.0 + i * P) as usize));
                assert_eq!(
                    (x, y),
                    (0x30 + i as u8, 0x30 + i as u8),
                    "{mode:?}: page {i}"
                );
            }
        }
        m.audit().unwrap();
    }
}
