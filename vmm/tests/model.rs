//! Model-based property test: random sequences of map, wiring and shm calls by several guests
//! over several segments, each call checked against a small reference model of what must be
//! mapped, locked, wired and stored, with the audit after every step.
//!
//! The model is per page and knows nothing of entries, frames or swap: it says what the
//! semantics promise (which errno, which pages are wired, what each page holds), and the machine
//! must agree while it pages constantly (12 frames for 3 guests).
//!
//! CI runs `PROPTEST_CASES` cases (default 256 here). For a long run:
//! `PROPTEST_CASES=20000 cargo test --release -p vmm --test model`.

use proptest::prelude::*;
use std::collections::{BTreeMap, HashSet};
use vmm::{
    Errno, GuestConfig, GuestId, Machine, MachineConfig, MapFlags, MlockallFlags, Prot, ShmCmd,
    ShmId, SwapBacking, Vaddr, PAGE_SIZE,
};

const P: u64 = PAGE_SIZE;
const SPACE: u64 = 48;
const FRAMES: u64 = 12;
const WIRED_MAX: u64 = 8;
const GUESTS: usize = 3;
const KEYS: [i32; 3] = [0, 101, 102];

/// Compares a call's result on the machine with the model's.
fn expect_eq(what: &str, real: Result<(), Errno>, model: Result<(), Errno>) -> Result<(), String> {
    if real == model {
        Ok(())
    } else {
        Err(format!("{what}: machine {real:?}, model {model:?}"))
    }
}

#[derive(Clone, Debug)]
enum Op {
    Mmap {
        g: usize,
        page: u64,
        len: u64,
        fixed: bool,
        prot: u8,
    },
    Munmap {
        g: usize,
        page: u64,
        len: u64,
    },
    Mprotect {
        g: usize,
        page: u64,
        len: u64,
        prot: u8,
    },
    Mlock {
        g: usize,
        page: u64,
        len: u64,
    },
    Munlock {
        g: usize,
        page: u64,
        len: u64,
    },
    Mlockall {
        g: usize,
        flags: i32,
    },
    Munlockall {
        g: usize,
    },
    Shmget {
        g: usize,
        key: usize,
        pages: u64,
    },
    Shmat {
        g: usize,
        seg: usize,
        page: Option<u64>,
    },
    Shmdt {
        g: usize,
        which: usize,
    },
    Shmctl {
        g: usize,
        seg: usize,
        cmd: u8,
    },
    Write {
        g: usize,
        page: u64,
        byte: u8,
    },
    Read {
        g: usize,
        page: u64,
    },
    Reclaim {
        n: usize,
    },
    Exit {
        g: usize,
    },
}

fn prot_of(p: u8) -> Prot {
    [Prot::empty(), Prot::READ, Prot::RW][p as usize % 3]
}

fn op() -> impl Strategy<Value = Op> {
    let g = 0..GUESTS;
    let page = 0..SPACE + 4;
    let len = 0..10u64;
    prop_oneof![
        3 => (g.clone(), page.clone(), 1..8u64, any::<bool>(), 0..3u8).prop_map(|(g, page, len, fixed, prot)| Op::Mmap { g, page, len, fixed, prot }),
        1 => (g.clone(), page.clone(), len.clone()).prop_map(|(g, page, len)| Op::Munmap { g, page, len }),
        1 => (g.clone(), page.clone(), len.clone(), 0..3u8).prop_map(|(g, page, len, prot)| Op::Mprotect { g, page, len, prot }),
        3 => (g.clone(), page.clone(), len.clone()).prop_map(|(g, page, len)| Op::Mlock { g, page, len }),
        3 => (g.clone(), page.clone(), len.clone()).prop_map(|(g, page, len)| Op::Munlock { g, page, len }),
        1 => (g.clone(), 0..5i32).prop_map(|(g, flags)| Op::Mlockall { g, flags }),
        1 => g.clone().prop_map(|g| Op::Munlockall { g }),
        2 => (g.clone(), 0..KEYS.len(), 1..5u64).prop_map(|(g, key, pages)| Op::Shmget { g, key, pages }),
        3 => (g.clone(), 0..6usize, proptest::option::of(page.clone())).prop_map(|(g, seg, page)| Op::Shmat { g, seg, page }),
        2 => (g.clone(), 0..4usize).prop_map(|(g, which)| Op::Shmdt { g, which }),
        4 => (g.clone(), 0..6usize, 0..5u8).prop_map(|(g, seg, cmd)| Op::Shmctl { g, seg, cmd }),
        4 => (g.clone(), page.clone(), any::<u8>()).prop_map(|(g, page, byte)| Op::Write { g, page, byte }),
        4 => (g.clone(), page.clone()).prop_map(|(g, page)| Op::Read { g, page }),
        2 => prop_oneof![Just(1usize), Just(4), Just(usize::MAX)].prop_map(|n| Op::Reclaim { n }),
        1 => g.prop_map(|g| Op::Exit { g }),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Phys {
    Anon(usize, u64),
    Seg(usize, u64),
}

#[derive(Clone, Debug)]
struct MPage {
    phys: Phys,
    prot: Prot,
    mlocked: bool,
    /// The attachment a segment page belongs to.
    att: Option<u64>,
}

/// One `shmat`: its address, segment and serial.
#[derive(Clone, Copy, Debug)]
struct MAttach {
    va: u64,
    seg: usize,
    serial: u64,
}

#[derive(Clone, Debug, Default)]
struct MGuest {
    pages: BTreeMap<u64, MPage>,
    anon_data: BTreeMap<u64, u8>,
    future: bool,
    /// Oldest first. The proposed rule: an attachment lives while it maps a page.
    attachments: Vec<MAttach>,
}

#[derive(Clone, Debug)]
struct MSeg {
    id: ShmId,
    key: i32,
    pages: u64,
    data: Vec<u8>,
    locked: bool,
    removed: bool,
    alive: bool,
    nattch: u32,
}

struct World {
    m: Machine,
    ids: Vec<GuestId>,
    guests: Vec<MGuest>,
    segs: Vec<MSeg>,
    next_serial: u64,
}

impl World {
    fn new() -> World {
        let cfg = MachineConfig::default()
            .phys_mem(FRAMES * P)
            .swap(1024 * P)
            .swap_backing(SwapBacking::Memory)
            .wired_max(WIRED_MAX * P)
            .space(SPACE * P);
        let m = Machine::new(cfg).unwrap();
        let ids = (0..GUESTS)
            .map(|_| m.add_guest(GuestConfig::default()).unwrap())
            .collect();
        World {
            m,
            ids,
            guests: vec![MGuest::default(); GUESTS],
            segs: Vec::new(),
            next_serial: 0,
        }
    }

    fn wired_set(&self, guests: &[MGuest], segs: &[MSeg]) -> HashSet<Phys> {
        let mut set = HashSet::new();
        for mg in guests {
            for p in mg.pages.values() {
                let seg_locked = matches!(p.phys, Phys::Seg(s, _) if segs[s].locked);
                if p.mlocked || seg_locked {
                    set.insert(p.phys);
                }
            }
        }
        for (i, s) in segs.iter().enumerate() {
            if s.alive && s.locked {
                set.extend((0..s.pages).map(|o| Phys::Seg(i, o)));
            }
        }
        set
    }

    fn fits(&self, guests: &[MGuest], segs: &[MSeg]) -> bool {
        self.wired_set(guests, segs).len() as u64 <= WIRED_MAX
    }

    fn data(&self, g: usize, page: &MPage, vpn: u64) -> u8 {
        match page.phys {
            Phys::Anon(..) => *self.guests[g].anon_data.get(&vpn).unwrap_or(&0),
            Phys::Seg(s, o) => self.segs[s].data[o as usize],
        }
    }

    fn fully_mapped(&self, g: usize, page: u64, len: u64) -> bool {
        (page..page + len).all(|v| self.guests[g].pages.contains_key(&v))
    }

    fn find_space(&self, g: usize, pages: u64, from: u64) -> Option<u64> {
        (from.max(1)..=SPACE.saturating_sub(pages))
            .find(|&s| (s..s + pages).all(|v| !self.guests[g].pages.contains_key(&v)))
    }

    fn unmap(&mut self, g: usize, page: u64, len: u64) {
        for v in page..(page + len).min(SPACE) {
            if let Some(p) = self.guests[g].pages.remove(&v) {
                if let Phys::Anon(..) = p.phys {
                    self.guests[g].anon_data.remove(&v);
                }
            }
        }
    }

    /// `shmdt(va)`: the newest attachment made at `va` loses its remaining pages (and so ends).
    fn shmdt_model(&mut self, g: usize, va: u64) -> Result<(), Errno> {
        let a = *self.guests[g]
            .attachments
            .iter()
            .rev()
            .find(|a| a.va == va)
            .ok_or(Errno::EINVAL)?;
        self.guests[g].pages.retain(|_, p| p.att != Some(a.serial));
        self.end_unmapped_attachments();
        Ok(())
    }

    /// Ends every attachment that maps no page any more: one detach each.
    fn end_unmapped_attachments(&mut self) {
        for g in 0..GUESTS {
            let mut i = 0;
            while i < self.guests[g].attachments.len() {
                let a = self.guests[g].attachments[i];
                if self.guests[g]
                    .pages
                    .values()
                    .any(|p| p.att == Some(a.serial))
                {
                    i += 1;
                    continue;
                }
                self.guests[g].attachments.remove(i);
                let s = &mut self.segs[a.seg];
                s.nattch -= 1;
                if s.removed && s.nattch == 0 {
                    s.alive = false;
                }
            }
        }
    }

    /// Runs one call on the machine and on the model; returns a description of any disagreement.
    fn step(&mut self, op: &Op) -> Result<(), String> {
        match op {
            Op::Mmap { .. } | Op::Munmap { .. } | Op::Mprotect { .. } => self.mmap_family(op)?,
            Op::Mlock { .. } | Op::Munlock { .. } | Op::Mlockall { .. } | Op::Munlockall { .. } => {
                self.locks(op)?
            }
            Op::Shmget { .. } | Op::Shmat { .. } | Op::Shmdt { .. } => self.shm_get_at_dt(op)?,
            Op::Shmctl { .. } => self.shm_ctl(op)?,
            Op::Write { .. } | Op::Read { .. } | Op::Reclaim { .. } | Op::Exit { .. } => {
                self.memory_and_life(op)?
            }
        }
        // Whatever unmapped pages (munmap, MAP_FIXED over them) may have ended attachments.
        self.end_unmapped_attachments();
        // Wired pages are resident whatever happened.
        let wired = self.wired_set(&self.guests, &self.segs);
        if self.m.stats().wired_frames != wired.len() {
            return Err(format!(
                "{} frames wired, model {}",
                self.m.stats().wired_frames,
                wired.len()
            ));
        }
        Ok(())
    }

    /// `mmap`, `munmap`, `mprotect`.
    fn mmap_family(&mut self, op: &Op) -> Result<(), String> {
        match *op {
            Op::Mmap {
                g,
                page,
                len,
                fixed,
                prot,
            } => {
                let prot = prot_of(prot);
                let flags = MapFlags::ANON
                    | MapFlags::PRIVATE
                    | if fixed {
                        MapFlags::FIXED
                    } else {
                        MapFlags::empty()
                    };
                let real = self
                    .m
                    .mmap(self.ids[g], Vaddr(page * P), len * P, prot, flags);
                let wired_now = self.wired_set(&self.guests, &self.segs).len() as u64;
                // A PROT_NONE mapping is never locked (NetBSD's uvm_mmaplock).
                let future = self.guests[g].future && !prot.is_empty();
                let model: Result<u64, Errno> = if fixed {
                    if page + len > SPACE || (future && wired_now + len > WIRED_MAX) {
                        Err(Errno::ENOMEM)
                    } else {
                        Ok(page)
                    }
                } else {
                    self.find_space(g, len, page)
                        .or_else(|| self.find_space(g, len, 1))
                        .ok_or(Errno::ENOMEM)
                };
                let model = match model {
                    Ok(start) => {
                        let mut guests = self.guests.clone();
                        for v in start..start + len {
                            if let Some(old) = guests[g].pages.remove(&v) {
                                if let Phys::Anon(..) = old.phys {
                                    guests[g].anon_data.remove(&v);
                                }
                            }
                            guests[g].pages.insert(
                                v,
                                MPage {
                                    phys: Phys::Anon(g, v),
                                    prot,
                                    mlocked: future,
                                    att: None,
                                },
                            );
                        }
                        if future && !self.fits(&guests, &self.segs) {
                            // Under MAP_FIXED the old mappings are gone already (documented).
                            if fixed {
                                self.unmap(g, start, len);
                            }
                            Err(Errno::ENOMEM)
                        } else {
                            self.guests = guests;
                            Ok(start)
                        }
                    }
                    Err(e) => Err(e),
                };
                if real.map(|a| a.0 / P) != model {
                    return Err(format!("mmap: machine {real:?}, model {model:?}"));
                }
            }
            Op::Munmap { g, page, len } => {
                let real = self.m.munmap(self.ids[g], Vaddr(page * P), len * P);
                let model = if len == 0 || page + len > SPACE {
                    Err(Errno::EINVAL)
                } else {
                    Ok(())
                };
                if model.is_ok() {
                    self.unmap(g, page, len);
                }
                expect_eq("munmap", real, model)?;
            }
            Op::Mprotect { g, page, len, prot } => {
                let prot = prot_of(prot);
                let real = self.m.mprotect(self.ids[g], Vaddr(page * P), len * P, prot);
                let model = if page + len > SPACE || !self.fully_mapped(g, page, len) {
                    Err(Errno::ENOMEM)
                } else {
                    for v in page..page + len {
                        self.guests[g].pages.get_mut(&v).unwrap().prot = prot;
                    }
                    Ok(())
                };
                expect_eq("mprotect", real, model)?;
            }
            _ => unreachable!("not a call of this family"),
        }
        Ok(())
    }

    /// `mlock`, `munlock`, `mlockall`, `munlockall`.
    fn locks(&mut self, op: &Op) -> Result<(), String> {
        match *op {
            Op::Mlock { g, page, len } => {
                let real = self.m.mlock(self.ids[g], Vaddr(page * P), len * P);
                let model = if page + len > SPACE || !self.fully_mapped(g, page, len) {
                    Err(Errno::ENOMEM)
                } else if (page..page + len).any(|v| self.guests[g].pages[&v].prot.is_empty()) {
                    Err(Errno::EINVAL)
                } else {
                    let mut guests = self.guests.clone();
                    for v in page..page + len {
                        guests[g].pages.get_mut(&v).unwrap().mlocked = true;
                    }
                    if self.fits(&guests, &self.segs) {
                        self.guests = guests;
                        Ok(())
                    } else {
                        Err(Errno::EAGAIN)
                    }
                };
                expect_eq("mlock", real, model)?;
            }
            Op::Munlock { g, page, len } => {
                let real = self.m.munlock(self.ids[g], Vaddr(page * P), len * P);
                let model = if page + len > SPACE || !self.fully_mapped(g, page, len) {
                    Err(Errno::ENOMEM)
                } else {
                    for v in page..page + len {
                        self.guests[g].pages.get_mut(&v).unwrap().mlocked = false;
                    }
                    Ok(())
                };
                expect_eq("munlock", real, model)?;
            }
            Op::Mlockall { g, flags } => {
                let real =
                    MlockallFlags::from_guest(flags).and_then(|f| self.m.mlockall(self.ids[g], f));
                let model = if flags == 0 || flags > 3 {
                    Err(Errno::EINVAL)
                } else {
                    let mut guests = self.guests.clone();
                    if flags & 1 != 0 {
                        for p in guests[g].pages.values_mut().filter(|p| !p.prot.is_empty()) {
                            p.mlocked = true;
                        }
                    }
                    if self.fits(&guests, &self.segs) {
                        self.guests = guests;
                        if flags & 2 != 0 {
                            self.guests[g].future = true;
                        }
                        Ok(())
                    } else {
                        Err(Errno::ENOMEM)
                    }
                };
                expect_eq("mlockall", real, model)?;
            }
            Op::Munlockall { g } => {
                let real = self.m.munlockall(self.ids[g]);
                for p in self.guests[g].pages.values_mut() {
                    p.mlocked = false;
                }
                self.guests[g].future = false;
                expect_eq("munlockall", real, Ok(()))?;
            }
            _ => unreachable!("not a call of this family"),
        }
        Ok(())
    }

    /// `shmget`, `shmat`, `shmdt`.
    fn shm_get_at_dt(&mut self, op: &Op) -> Result<(), String> {
        match *op {
            Op::Shmget { g, key, pages } => {
                let key = KEYS[key];
                let real = self.m.shmget(
                    self.ids[g],
                    key,
                    pages * P,
                    guest_abi::ipc::IPC_CREAT | 0o600,
                );
                let existing = (key != 0)
                    .then(|| {
                        self.segs
                            .iter()
                            .position(|s| s.alive && !s.removed && s.key == key)
                    })
                    .flatten();
                let model = match existing {
                    Some(i) if pages > self.segs[i].pages => Err(Errno::EINVAL),
                    Some(i) => Ok(self.segs[i].id),
                    None => match real {
                        Ok(id) => {
                            self.segs.push(MSeg {
                                id,
                                key,
                                pages,
                                data: vec![0; pages as usize],
                                locked: false,
                                removed: false,
                                alive: true,
                                nattch: 0,
                            });
                            Ok(id)
                        }
                        Err(e) => return Err(format!("shmget create failed: {e:?}")),
                    },
                };
                if real != model {
                    return Err(format!("shmget: machine {real:?}, model {model:?}"));
                }
            }
            Op::Shmat { g, seg, page } => {
                let Some(s) = self.segs.get(seg).cloned() else {
                    return Ok(());
                };
                let real = self
                    .m
                    .shmat(self.ids[g], s.id, Vaddr(page.unwrap_or(0) * P), 0);
                let model: Result<u64, Errno> = if !s.alive {
                    Err(Errno::EINVAL)
                } else if s.removed {
                    Err(Errno::EIDRM)
                } else {
                    match page.filter(|&p| p != 0) {
                        Some(p) if p + s.pages > SPACE => Err(Errno::EINVAL),
                        Some(p)
                            if !(p..p + s.pages)
                                .all(|v| !self.guests[g].pages.contains_key(&v)) =>
                        {
                            Err(Errno::EINVAL)
                        }
                        Some(p) => Ok(p),
                        None => self.find_space(g, s.pages, 1).ok_or(Errno::ENOMEM),
                    }
                };
                let model = match model {
                    Ok(start) => {
                        let future = self.guests[g].future;
                        let serial = self.next_serial;
                        self.next_serial += 1;
                        let mut guests = self.guests.clone();
                        for (o, v) in (start..start + s.pages).enumerate() {
                            guests[g].pages.insert(
                                v,
                                MPage {
                                    phys: Phys::Seg(seg, o as u64),
                                    prot: Prot::RW,
                                    mlocked: future,
                                    att: Some(serial),
                                },
                            );
                        }
                        if future && !self.fits(&guests, &self.segs) {
                            Err(Errno::ENOMEM)
                        } else {
                            self.guests = guests;
                            self.guests[g].attachments.push(MAttach {
                                va: start,
                                seg,
                                serial,
                            });
                            self.segs[seg].nattch += 1;
                            Ok(start)
                        }
                    }
                    Err(e) => Err(e),
                };
                if real.map(|a| a.0 / P) != model {
                    return Err(format!("shmat: machine {real:?}, model {model:?}"));
                }
            }
            Op::Shmdt { g, which } => {
                let att = self.guests[g].attachments.get(which).copied();
                let real = match att {
                    Some(a) => self.m.shmdt(self.ids[g], Vaddr(a.va * P)),
                    None => self.m.shmdt(self.ids[g], Vaddr(5 * P + 1)),
                };
                let model = match att {
                    Some(a) => self.shmdt_model(g, a.va),
                    None => Err(Errno::EINVAL),
                };
                expect_eq("shmdt", real, model)?;
            }
            _ => unreachable!("not a call of this family"),
        }
        Ok(())
    }

    /// `shmctl`.
    fn shm_ctl(&mut self, op: &Op) -> Result<(), String> {
        match *op {
            Op::Shmctl { g, seg, cmd } => {
                let Some(s) = self.segs.get(seg).cloned() else {
                    return Ok(());
                };
                let c = [
                    ShmCmd::Stat,
                    ShmCmd::Rmid,
                    ShmCmd::Lock,
                    ShmCmd::Unlock,
                    ShmCmd::Lock,
                ][cmd as usize];
                let real = self.m.shmctl(self.ids[g], s.id, c);
                if !s.alive {
                    return expect_eq(
                        "shmctl on a dead segment",
                        real.map(|_| ()),
                        Err(Errno::EINVAL),
                    );
                }
                let model = match c {
                    ShmCmd::Stat => {
                        let ds = real
                            .map_err(|e| format!("IPC_STAT: {e:?}"))?
                            .ok_or("IPC_STAT gave nothing")?;
                        if ds.nattch != s.nattch || ds.segsz != s.pages * P {
                            return Err(format!("IPC_STAT: {ds:?}, model {s:?}"));
                        }
                        return Ok(());
                    }
                    ShmCmd::Rmid => {
                        self.segs[seg].removed = true;
                        self.segs[seg].key = 0;
                        if s.nattch == 0 {
                            self.segs[seg].alive = false;
                        }
                        Ok(())
                    }
                    ShmCmd::Lock => {
                        let mut segs = self.segs.clone();
                        segs[seg].locked = true;
                        if self.fits(&self.guests, &segs) {
                            self.segs = segs;
                            Ok(())
                        } else {
                            Err(Errno::ENOMEM)
                        }
                    }
                    ShmCmd::Unlock => {
                        self.segs[seg].locked = false;
                        Ok(())
                    }
                    ShmCmd::Set { .. } => unreachable!(),
                };
                expect_eq("shmctl", real.map(|_| ()), model)?;
            }
            _ => unreachable!("not a call of this family"),
        }
        Ok(())
    }

    /// Host copies (`write`, `read`), the pagedaemon and guest exit.
    fn memory_and_life(&mut self, op: &Op) -> Result<(), String> {
        match *op {
            Op::Write { g, page, byte } => {
                let real = self.m.write(self.ids[g], Vaddr(page * P + 17), &[byte]);
                let model = match self.guests[g].pages.get(&page) {
                    Some(p) if p.prot.contains(Prot::WRITE) => {
                        match p.phys {
                            Phys::Anon(..) => {
                                self.guests[g].anon_data.insert(page, byte);
                            }
                            Phys::Seg(s, o) => self.segs[s].data[o as usize] = byte,
                        }
                        Ok(())
                    }
                    _ => Err(Errno::EFAULT),
                };
                expect_eq("write", real, model)?;
            }
            Op::Read { g, page } => {
                let mut b = [0xee];
                let real = self.m.read(self.ids[g], Vaddr(page * P + 17), &mut b);
                match self.guests[g].pages.get(&page) {
                    Some(p) if p.prot.contains(Prot::READ) => {
                        let want = self.data(g, p, page);
                        if real != Ok(()) || b[0] != want {
                            return Err(format!(
                                "read of page {page}: machine {real:?} {:#x}, model {want:#x}",
                                b[0]
                            ));
                        }
                    }
                    _ => expect_eq("read", real, Err(Errno::EFAULT))?,
                }
            }
            Op::Reclaim { n } => {
                self.m.reclaim(n);
                if n == usize::MAX {
                    // Everything unwired is gone, everything wired is still here.
                    let wired = self.wired_set(&self.guests, &self.segs);
                    for (g, mg) in self.guests.iter().enumerate() {
                        for (&v, p) in &mg.pages {
                            let core = self
                                .m
                                .mincore(self.ids[g], Vaddr(v * P), P)
                                .map_err(|e| format!("mincore: {e:?}"))?;
                            if (core[0] == 1) != wired.contains(&p.phys) {
                                return Err(format!(
                                    "after full reclaim, guest {g} page {v} resident={} wired={}",
                                    core[0],
                                    wired.contains(&p.phys)
                                ));
                            }
                        }
                    }
                    if self.m.stats().wired_frames != wired.len() {
                        return Err(format!(
                            "{} frames wired, model {}",
                            self.m.stats().wired_frames,
                            wired.len()
                        ));
                    }
                }
            }
            Op::Exit { g } => {
                self.m
                    .exit_guest(self.ids[g])
                    .map_err(|e| format!("exit: {e:?}"))?;
                self.guests[g].pages.clear();
                self.end_unmapped_attachments();
                self.guests[g] = MGuest::default();
                self.ids[g] = self.m.add_guest(GuestConfig::default()).unwrap();
            }
            _ => unreachable!("not a call of this family"),
        }
        Ok(())
    }
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut w = World::new();
    for (i, op) in ops.iter().enumerate() {
        if let Err(e) = w.step(op) {
            return Err(TestCaseError::fail(format!("step {i} {op:?}: {e}")));
        }
        if let Err(v) = w.m.audit() {
            return Err(TestCaseError::fail(format!("step {i} {op:?}: audit: {v}")));
        }
    }
    for id in w.ids.clone() {
        w.m.exit_guest(id)
            .map_err(|e| TestCaseError::fail(format!("final exit: {e:?}")))?;
    }
    w.m.audit()
        .map_err(|v| TestCaseError::fail(format!("after every guest exited: {v}")))?;
    let st = w.m.stats();
    let live_segs: u64 = w.segs.iter().filter(|s| s.alive).map(|s| s.pages).sum();
    prop_assert!(
        st.free_frames as u64 + live_segs >= FRAMES,
        "frames leaked: {st:?}"
    );
    prop_assert!(
        st.swap_used as u64 <= live_segs,
        "swap slots leaked: {st:?}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(256),
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn machine_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..120)) {
        run(&ops)?;
    }
}

/// Minimal failing inputs found by long runs, kept as plain tests so that they run first and
/// whatever the seed. Add every new one here.
mod regressions {
    use super::*;

    fn check(ops: &[Op]) {
        if let Err(e) = run(ops) {
            panic!("{e}");
        }
    }

    /// Issue 13, input 1: `shmdt` of an attachment whose first pages were munmapped took away
    /// the pages of a newer attachment mapped over them, and the next `shmat` placed differently
    /// from the model.
    #[test]
    fn shmdt_of_a_partly_unmapped_attachment_leaves_a_newer_one_alone() {
        check(&[
            Op::Shmget {
                g: 0,
                key: 0,
                pages: 1,
            },
            Op::Mmap {
                g: 1,
                page: 5,
                len: 1,
                fixed: false,
                prot: 0,
            },
            Op::Shmget {
                g: 0,
                key: 0,
                pages: 3,
            },
            Op::Shmat {
                g: 1,
                seg: 1,
                page: None,
            },
            Op::Shmat {
                g: 1,
                seg: 1,
                page: None,
            },
            Op::Munmap {
                g: 1,
                page: 4,
                len: 3,
            },
            Op::Shmat {
                g: 1,
                seg: 1,
                page: None,
            },
            Op::Shmdt { g: 1, which: 1 },
            Op::Shmat {
                g: 1,
                seg: 0,
                page: None,
            },
        ]);
    }

    /// Issue 13, input 2: an attachment munmapped whole stayed on record, and `shmdt` at its
    /// address detached the newer attachment made there instead.
    #[test]
    fn an_attachment_munmapped_whole_is_detached_and_its_address_reusable() {
        check(&[
            Op::Shmget {
                g: 0,
                key: 0,
                pages: 1,
            },
            Op::Shmat {
                g: 2,
                seg: 0,
                page: None,
            },
            Op::Shmget {
                g: 0,
                key: 0,
                pages: 1,
            },
            Op::Munmap {
                g: 2,
                page: 0,
                len: 2,
            },
            Op::Shmat {
                g: 2,
                seg: 1,
                page: None,
            },
            Op::Shmdt { g: 2, which: 0 },
            Op::Reclaim { n: usize::MAX },
        ]);
    }
}
