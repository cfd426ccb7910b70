//! Bytes to multi-guest call sequences, for fuzzing the core and for running the fuzzer's corpus
//! as an ordinary test.
//!
//! Every 8 bytes are one step `[op, guest, a0, a1, a2, a3, a4, a5]` (20 operations: the
//! memory and shared-memory calls, Linux's `mlock2`, `msync`, `madvise` and `shmctl` info
//! commands, guest memory reads and writes, reclaim, and a guest's death) on a tiny machine (16 frames,
//! a wired maximum of 8, 64 swap slots, a locked-memory limit of 6 pages), so the pagedaemon
//! works on nearly every call and every limit is within reach. Three guest slots with different
//! identities (root, uid 1000, uid 1001 in group 100) take turns; a step may kill a guest and
//! start a fresh one in its slot. Arguments are picked from addresses the sequence has seen
//! (mapping and attachment addresses) and from a table of hostile values (unaligned, overflowing,
//! past the address space, `u64::MAX`), so both deep sequences and garbage are easy to reach.
//! After every step the audit must hold; [`run`] returns the first step after which it did not.
//!
//! ```
//! // SHM_LOCK, munlock of the attachment, SHM_UNLOCK twice, from guest 0.
//! let seq = [
//!     8, 0, 0, 0, 0, 1, 0, 0, // shmget(IPC_PRIVATE, 2 pages)
//!     9, 0, 0, 0, 0, 0, 0, 0, // shmat(the last segment)
//!     11, 0, 0, 3, 0, 0, 0, 0, // shmctl(SHM_LOCK)
//!     5, 0, 0, 1, 0, 0, 0, 0, // munlock(the last address, 2 pages)
//!     11, 0, 0, 4, 0, 0, 0, 0, // shmctl(SHM_UNLOCK)
//!     11, 0, 0, 4, 0, 0, 0, 0, // shmctl(SHM_UNLOCK)
//! ];
//! let out = vmm::callseq::run(&seq).unwrap();
//! assert_eq!((out.steps, out.refused), (6, 0));
//! ```

use crate::base::addr::{ShmId, Vaddr, PAGE_SIZE};
use crate::base::errno::Errno;
use crate::base::types::Semantics;
use crate::calls::mmap::{Madvice, MapFlags, MlockallFlags, MsyncFlags};
use crate::calls::shm::ShmCmd;
use crate::machine::{Cred, GuestConfig, Machine, MachineConfig};
use crate::vm::map::Prot;
use crate::vm::swap::SwapBacking;
use crate::GuestId;

/// What a sequence did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Steps run.
    pub steps: u64,
    /// Steps a call refused with an errno.
    pub refused: u64,
    /// Guests killed and replaced.
    pub deaths: u64,
}

/// Values no caller should send, for every kind of argument.
const HOSTILE: [u64; 8] = [
    0,
    1,
    0xfff,
    0x7fff_f000,
    0xffff_f000,
    0xffff_ffff,
    1 << 40,
    u64::MAX,
];

const OPS: u8 = 20;

struct World {
    m: Machine,
    guests: [GuestId; 3],
    addrs: Vec<Vaddr>,
    shmids: Vec<ShmId>,
}

fn cred(slot: usize) -> Cred {
    match slot {
        0 => Cred::ROOT,
        1 => Cred {
            uid: 1000,
            gid: 100,
        },
        _ => Cred {
            uid: 1001,
            gid: 100,
        },
    }
}

fn add(m: &Machine, slot: usize) -> Result<GuestId, String> {
    m.add_guest(GuestConfig {
        cred: cred(slot),
        memlock_limit: None,
    })
    .map_err(|e| format!("adding a guest: {e}"))
}

impl World {
    fn addr(&self, sel: u8) -> Vaddr {
        if sel >= 0xc0 {
            return Vaddr(HOSTILE[usize::from(sel & 7)]);
        }
        match self.addrs.last() {
            Some(_) if sel < 0x40 => {
                let base = self.addrs[self.addrs.len() - 1 - usize::from(sel) % self.addrs.len()];
                Vaddr(base.0 + u64::from(sel / 16) * PAGE_SIZE)
            }
            _ => Vaddr(u64::from(sel) * PAGE_SIZE),
        }
    }

    fn len(&self, sel: u8) -> u64 {
        if sel >= 0xc0 {
            HOSTILE[usize::from(sel & 7)]
        } else {
            u64::from(sel % 16 + 1) * PAGE_SIZE
        }
    }

    fn shmid(&self, sel: u8) -> ShmId {
        if sel >= 0xc0 || self.shmids.is_empty() {
            return ShmId(HOSTILE[usize::from(sel & 7)] as i32);
        }
        self.shmids[self.shmids.len() - 1 - usize::from(sel) % self.shmids.len()]
    }

    /// One step; `Ok(true)` if a call refused it.
    fn step(&mut self, s: &[u8; 8], out: &mut Outcome) -> Result<bool, Errno> {
        let slot = usize::from(s[1] % 3);
        let g = self.guests[slot];
        let m = &self.m;
        let raw = |b: u8| i32::from(b as i8);
        let r: Result<(), Errno> = match s[0] % OPS {
            0 => {
                let prot = Prot::from_guest(raw(s[5]) & 7)?;
                let flags = if s[6] >= 0xc0 {
                    MapFlags::from_guest(raw(s[6]) << 8)?
                } else if s[6] >= 0x80 {
                    // Locked or populated, as `MAP_LOCKED` and `MAP_POPULATE` ask.
                    let mut f = MapFlags::ANON | MapFlags::PRIVATE | MapFlags::FIXED;
                    if s[7] & 1 != 0 {
                        f |= MapFlags::WIRED;
                    }
                    if s[7] & 2 != 0 {
                        f |= MapFlags::POPULATE;
                    }
                    f
                } else {
                    MapFlags::ANON | MapFlags::PRIVATE | MapFlags::FIXED
                };
                let a = m.mmap(g, self.addr(s[2]), self.len(s[3]), prot, flags)?;
                self.addrs.push(a);
                Ok(())
            }
            1 => m.munmap(g, self.addr(s[2]), self.len(s[3])),
            2 => m.mprotect(
                g,
                self.addr(s[2]),
                self.len(s[3]),
                Prot::from_guest(raw(s[4]) & 7)?,
            ),
            3 => m.mincore(g, self.addr(s[2]), self.len(s[3])).map(drop),
            4 => m.mlock(g, self.addr(s[2]), self.len(s[3])),
            5 => m.munlock(g, self.addr(s[2]), self.len(s[3])),
            6 => m.mlockall(g, MlockallFlags::from_guest(raw(s[4]) & 7)?),
            7 => m.munlockall(g),
            8 => {
                let key = if s[2] == 0 {
                    0
                } else {
                    i32::from(s[2] % 4) + 100
                };
                let size = self.len(s[5]);
                let flg = 0o1000 | if s[6] >= 0x80 { 0o600 } else { 0o666 };
                let id = m.shmget(g, key, size, flg)?;
                self.shmids.push(id);
                Ok(())
            }
            9 => {
                let flg = if s[4] & 1 == 1 { 0o10000 } else { 0 };
                let at = if s[3] >= 0x80 {
                    self.addr(s[5])
                } else {
                    Vaddr(0)
                };
                let a = m.shmat(g, self.shmid(s[2]), at, flg)?;
                self.addrs.push(a);
                Ok(())
            }
            10 => m.shmdt(g, self.addr(s[2])),
            11 => {
                let cmd = match s[3] % 6 {
                    0 => ShmCmd::Rmid,
                    1 => ShmCmd::Set {
                        uid: u32::from(s[4]),
                        gid: 100,
                        mode: u32::from(s[5]) << 1,
                    },
                    2 => ShmCmd::Stat,
                    3 => ShmCmd::Lock,
                    4 => ShmCmd::Unlock,
                    _ => ShmCmd::Stat,
                };
                m.shmctl(g, self.shmid(s[2]), cmd).map(drop)
            }
            12 => {
                let data = [s[4]; 64];
                m.write(
                    g,
                    Vaddr(self.addr(s[2]).0.saturating_add(u64::from(s[3]) * 61)),
                    &data,
                )
            }
            13 => {
                let mut buf = [0u8; 64];
                m.read(
                    g,
                    Vaddr(self.addr(s[2]).0.saturating_add(u64::from(s[3]) * 61)),
                    &mut buf,
                )
            }
            14 => {
                m.reclaim(usize::from(s[2]));
                Ok(())
            }
            16 => m.mlock2(g, self.addr(s[2]), self.len(s[3]), s[4] & 1 == 1),
            17 => m.msync(
                g,
                self.addr(s[2]),
                self.len(s[3]),
                MsyncFlags::from_guest(raw(s[4]) & 7)?,
            ),
            18 => m.madvise(
                g,
                self.addr(s[2]),
                self.len(s[3]),
                Madvice::from_guest(i32::from(s[4] % 8) + if s[4] >= 0xf0 { 20 } else { 0 })?,
            ),
            19 => match s[3] % 3 {
                0 => m.ipc_info(g).map(drop),
                1 => m.shm_info(g).map(drop),
                _ => m
                    .shm_stat_index(g, u32::from(s[2] % 8), s[4] & 1 == 1)
                    .map(drop),
            },
            _ => {
                // The guest dies in the middle of whatever it held; a fresh one takes its slot.
                m.exit_guest(g)?;
                self.guests[slot] = add(m, slot).map_err(|_| Errno::ENOMEM)?;
                out.deaths += 1;
                Ok(())
            }
        };
        if self.addrs.len() > 64 {
            self.addrs.drain(..32);
        }
        if self.shmids.len() > 64 {
            self.shmids.drain(..32);
        }
        Ok(r.is_err())
    }
}

/// Runs the sequence `bytes` encodes on a fresh tiny machine; `Err` names the step after which
/// the audit failed (a bug) and the violation. Trailing bytes short of a step are ignored.
pub fn run(bytes: &[u8]) -> Result<Outcome, String> {
    run_under(bytes, Semantics::default())
}

/// The rule sets whose audit must hold after every call: all but those replaying a kernel bug.
pub fn checked_modes() -> impl Iterator<Item = Semantics> {
    Semantics::ALL
        .into_iter()
        .filter(|m| !m.policy().replays_bug)
}

/// [`run`] under the rules of `semantics`.
pub fn run_under(bytes: &[u8], semantics: Semantics) -> Result<Outcome, String> {
    let m = Machine::new(
        MachineConfig::default()
            .semantics(semantics)
            .phys_mem(16 * PAGE_SIZE)
            .wired_max(8 * PAGE_SIZE)
            .memlock_limit(6 * PAGE_SIZE)
            .swap(64 * PAGE_SIZE)
            .swap_backing(SwapBacking::Memory)
            .space(1 << 32),
    )
    .map_err(|e| format!("building the machine: {e}"))?;
    let guests = [add(&m, 0)?, add(&m, 1)?, add(&m, 2)?];
    let mut w = World {
        m,
        guests,
        addrs: Vec::new(),
        shmids: Vec::new(),
    };
    let mut out = Outcome::default();
    for (i, chunk) in bytes.chunks_exact(8).enumerate() {
        let s: &[u8; 8] = chunk.try_into().expect("chunks of 8");
        let refused = w.step(s, &mut out).unwrap_or(true);
        out.steps += 1;
        out.refused += u64::from(refused);
        if let Err(v) = w.m.audit() {
            return Err(format!("after step {i} {s:?}: {v}"));
        }
    }
    // Everyone dies; nothing may be left but the segments nobody removed.
    for g in w.guests {
        w.m.exit_guest(g).map_err(|e| format!("exiting: {e}"))?;
    }
    w.m.audit()
        .map_err(|v| format!("after every guest exited: {v}"))?;
    let st = w.m.stats();
    let segment_pages: u64 = w.m.dump_machine().segments.iter().map(|s| s.resident).sum();
    if st.frames - st.free_frames != segment_pages as usize {
        return Err(format!(
            "{} frames in use after every guest exited, segments hold {segment_pages}",
            st.frames - st.free_frames
        ));
    }
    Ok(out)
}
