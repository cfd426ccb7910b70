//! What the rule-set tests share: a machine under a rule set, the audit, a guest with a segment
//! attached, identities.

use vmm::{
    Cred, GuestConfig, GuestId, Machine, MachineConfig, MapFlags, Semantics, ShmId, SwapBacking,
    Vaddr, PAGE_SIZE,
};

pub const P: u64 = PAGE_SIZE;
/// Pages of every test segment.
pub const N: u64 = 4;
/// Private anonymous memory.
pub const ANON: MapFlags = MapFlags::ANON.union(MapFlags::PRIVATE);

pub fn machine(sem: Semantics) -> Machine {
    Machine::new(
        MachineConfig::default()
            .semantics(sem)
            .phys_mem(64 * P)
            .swap(256 * P)
            .swap_backing(SwapBacking::Memory),
    )
    .unwrap()
}

pub fn clean(m: &Machine) {
    if let Err(v) = m.audit() {
        panic!("audit: {v}");
    }
}

/// A root guest with a fresh `N`-page segment attached, untouched.
pub fn attached(m: &Machine) -> (GuestId, ShmId, Vaddr) {
    let g = m.add_guest(GuestConfig::default()).unwrap();
    let id = m.shmget(g, 0, N * P, 0o600).unwrap();
    let at = m.shmat(g, id, Vaddr(0), 0).unwrap();
    (g, id, at)
}

/// A guest with segment `key` attached at its returned address, pattern written.
pub fn attach(m: &Machine, key: i32) -> (GuestId, ShmId, Vaddr) {
    let g = m.add_guest(GuestConfig::default()).unwrap();
    let id = m.shmget(g, key, N * P, 0o1666).unwrap();
    let at = m.shmat(g, id, Vaddr(0), 0).unwrap();
    for i in 0..N {
        m.write(g, Vaddr(at.0 + i * P), &[i as u8 + 1]).unwrap();
    }
    (g, id, at)
}

/// `mincore` of the attachment.
pub fn resident(m: &Machine, g: GuestId, at: Vaddr) -> Vec<u8> {
    m.mincore(g, at, N * P).unwrap()
}

/// An unprivileged guest `uid` with a locked-memory limit of `memlock` bytes.
pub fn user(m: &Machine, uid: u32, memlock: u64) -> GuestId {
    m.add_guest(GuestConfig {
        cred: Cred::new(uid, uid),
        memlock_limit: Some(memlock),
        ..GuestConfig::default()
    })
    .unwrap()
}

/// Whether every page of the attachment survives a full reclaim.
pub fn stays_resident(m: &Machine, g: GuestId, at: Vaddr) -> bool {
    m.reclaim(usize::MAX);
    m.mincore(g, at, N * P).unwrap().iter().all(|&b| b & 1 == 1)
}

/// Whether the pattern `attach` wrote is still there.
pub fn data_intact(m: &Machine, g: GuestId, at: Vaddr) -> bool {
    (0..N).all(|i| {
        let mut b = [0u8];
        m.read(g, Vaddr(at.0 + i * P), &mut b).unwrap();
        b[0] == i as u8 + 1
    })
}
