//! Concurrency: guests on threads attach, detach, lock, unlock, mlock, munlock, munmap and remap
//! over shared segments while the pagedaemon pages constantly and every guest writes and checks
//! its own whole-page patterns (in its private memory and in its own page of each segment). No
//! deadlock, no lost or torn page, and the audit holds at every quiescent point (all threads
//! meet at a barrier, one audits). `STRESS_ROUNDS=20000 cargo test --release -p vmm --test
//! stress` is the long soak; CI runs the default 3000 rounds.

use std::sync::{Arc, Barrier};
use vmm::{
    Errno, GuestConfig, Machine, MachineConfig, MapFlags, MlockallFlags, Prot, ShmCmd, ShmId,
    SwapBacking, Vaddr, PAGE_SIZE,
};

const P: u64 = PAGE_SIZE;
const THREADS: usize = 6;
const SEGS: usize = 2;
const PRIVATE: u64 = 8;

fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed | 1;
    move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn expect_page(m: &Machine, g: vmm::GuestId, at: Vaddr, byte: u8, what: &str) {
    let mut buf = vec![0u8; P as usize];
    m.read(g, at, &mut buf).unwrap();
    if let Some(i) = buf.iter().position(|&b| b != byte) {
        panic!(
            "{what} at {at:?}: byte {i} is {} not {byte} (lost or torn)",
            buf[i]
        );
    }
}

/// Calls that may run out of wiring room; anything else is a bug.
fn allowed(r: Result<(), Errno>) {
    match r {
        Ok(()) | Err(Errno::EAGAIN) | Err(Errno::ENOMEM) => {}
        Err(e) => panic!("unexpected {e:?}"),
    }
}

#[test]
fn guests_on_threads_keep_their_data_and_the_audit_holds_when_quiescent() {
    let rounds: usize = std::env::var("STRESS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let m = Machine::new(
        MachineConfig::default()
            .phys_mem(48 * P)
            .wired_max(32 * P)
            .swap(1024 * P)
            .swap_backing(SwapBacking::Memory)
            .free_target(6),
    )
    .unwrap();
    let pd = m
        .start_pagedaemon(std::time::Duration::from_micros(200))
        .unwrap();
    let owner = m.add_guest(GuestConfig::default()).unwrap();
    let segs: Vec<ShmId> = (0..SEGS)
        .map(|k| {
            m.shmget(owner, 500 + k as i32, THREADS as u64 * P, 0o1666)
                .unwrap()
        })
        .collect();
    let meet = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (m, meet, segs) = (m.clone(), meet.clone(), segs.clone());
            std::thread::spawn(move || {
                let mut next = rng(t as u64 * 7919 + 1);
                let g = m.add_guest(GuestConfig::default()).unwrap();
                let anon = MapFlags::ANON | MapFlags::PRIVATE;
                let mut private = m.mmap(g, Vaddr(0), PRIVATE * P, Prot::RW, anon).unwrap();
                let mut private_bytes = [0u8; PRIVATE as usize];
                let mut attached: [Option<Vaddr>; SEGS] = [None; SEGS];
                let mut seg_bytes = [0u8; SEGS];
                let mut ops = 0u64;
                for round in 0..rounds {
                    let k = (next() % SEGS as u64) as usize;
                    match next() % 10 {
                        0 | 1 => {
                            // Write and check a private page.
                            let i = (next() % PRIVATE) as usize;
                            let b = (round % 251) as u8 + 1;
                            let at = Vaddr(private.0 + i as u64 * P);
                            m.write(g, at, &vec![b; P as usize]).unwrap();
                            private_bytes[i] = b;
                            expect_page(&m, g, at, b, "private page");
                        }
                        2 | 3 => {
                            // Attach if needed; write and check this guest's page of the segment.
                            let at = match attached[k] {
                                Some(a) => a,
                                None => {
                                    let a = m.shmat(g, segs[k], Vaddr(0), 0).unwrap();
                                    attached[k] = Some(a);
                                    a
                                }
                            };
                            let mine = Vaddr(at.0 + t as u64 * P);
                            expect_page(&m, g, mine, seg_bytes[k], "segment page before");
                            let b = (round % 253) as u8 + 1;
                            m.write(g, mine, &vec![b; P as usize]).unwrap();
                            seg_bytes[k] = b;
                        }
                        4 => {
                            if let Some(a) = attached[k].take() {
                                m.shmdt(g, a).unwrap();
                            }
                        }
                        5 => {
                            if next() % 2 == 0 {
                                allowed(m.shmctl(g, segs[k], ShmCmd::Lock).map(drop));
                            } else {
                                m.shmctl(g, segs[k], ShmCmd::Unlock).unwrap();
                            }
                        }
                        6 => {
                            let target = match attached[k] {
                                Some(a) if next() % 2 == 0 => (a, THREADS as u64 * P),
                                _ => (private, PRIVATE * P),
                            };
                            if next() % 2 == 0 {
                                allowed(m.mlock(g, target.0, target.1));
                            } else {
                                m.munlock(g, target.0, target.1).unwrap();
                            }
                        }
                        7 => {
                            if next() % 4 == 0 {
                                allowed(m.mlockall(g, MlockallFlags::CURRENT));
                            } else {
                                m.munlockall(g).unwrap();
                            }
                        }
                        8 => {
                            // Unmap the private range and map it afresh: zeros again.
                            m.munmap(g, private, PRIVATE * P).unwrap();
                            private = m.mmap(g, Vaddr(0), PRIVATE * P, Prot::RW, anon).unwrap();
                            private_bytes = [0; PRIVATE as usize];
                        }
                        _ => {
                            m.reclaim((next() % 8) as usize);
                        }
                    }
                    ops += 1;
                    if round % 25 == 24 {
                        // Quiescent point: everyone checks its data, then one audits.
                        for (i, &b) in private_bytes.iter().enumerate() {
                            expect_page(&m, g, Vaddr(private.0 + i as u64 * P), b, "private page");
                        }
                        for k in 0..SEGS {
                            if let Some(a) = attached[k] {
                                expect_page(
                                    &m,
                                    g,
                                    Vaddr(a.0 + t as u64 * P),
                                    seg_bytes[k],
                                    "segment page",
                                );
                            }
                        }
                        if meet.wait().is_leader() {
                            m.audit().unwrap_or_else(|v| panic!("round {round}: {v}"));
                        }
                        meet.wait();
                    }
                }
                m.exit_guest(g).unwrap();
                ops
            })
        })
        .collect();
    let ops: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    drop(pd);
    m.audit().unwrap();
    let st = m.stats();
    eprintln!(
        "{THREADS} guests x {rounds} rounds = {ops} operations; {} evictions, {} page-ins, {} pagedaemon runs",
        st.evictions, st.page_ins, st.pdaemon_runs
    );
    // The segments persist (nobody removed them): their pages are intact for a late attacher.
    let late = m.add_guest(GuestConfig::default()).unwrap();
    for &s in &segs {
        let a = m.shmat(late, s, Vaddr(0), 0).unwrap();
        m.shmdt(late, a).unwrap();
        m.shmctl(owner, s, ShmCmd::Rmid).unwrap();
    }
    m.exit_guest(late).unwrap();
    m.exit_guest(owner).unwrap();
    m.audit().unwrap();
    let st = m.stats();
    assert_eq!(
        (st.free_frames, st.swap_used, st.wired_frames),
        (st.frames, 0, 0)
    );
}
