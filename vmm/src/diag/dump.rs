//! Seeing inside: a guest's map with per-page residency and wiring provenance, and the machine
//! as a whole, as Rust values, as text for people and as JSON for tools.
//!
//! [`crate::Machine::dump_map`] and [`crate::Machine::dump_machine`] take a consistent snapshot
//! under the machine lock. [`MapDump::text`] reads like `pmap -x`; serialising the same values
//! with `serde_json` gives the JSON form.
//!
//! # Wiring provenance
//! A resident page's wire count is the sum of the wirings that hold it, and each row of pages
//! shows them apart:
//! - `mlock`: the entry's POSIX lock flag (set by `mlock`, `mlockall`, `MCL_FUTURE`);
//! - `svid`: the entry's wire count (`SHM_LOCK` holds under `netbsd-2019`, kernel-internal
//!   holds);
//! - `entry`: the one page-level wiring the entry holds while either of those is set, unless
//!   its segment's `SHM_LOCK` covers it (proposed: the object's wiring then holds the page for
//!   every attacher, and the entry's `wired` says so);
//! - `shm_lock`: the segment object's own wiring while the segment is `SHM_LOCK`ed;
//! - `other`: page-level wirings held by other entries mapping the same page (another guest's
//!   attachment of the segment, or a second attachment in this guest).
//!
//! `sum` = `entry` + `shm_lock` + `other`, and equals `wire_count` whenever the audit holds. The
//! host takes no transient wirings of its own: copy-in and copy-out run under the machine lock,
//! so no page needs pinning across them and there is no such source to show.
//!
//! # JSON schema
//! `vmm run --dump-at-exit --format json` writes one JSON object per line:
//! ```text
//! {"kind":"map", "guest":u32, "semantics":"proposed"|"netbsd-2019", "wire_future":bool,
//!  "locked_pages":u64,
//!  "entries":[{"start":u64, "end":u64, "pages":u64, "prot":"rw-", "max_prot":"rwx",
//!              "backing":{"kind":"anon"} | {"kind":"shm","shmid":i32,"offset":u64},
//!              "mlocked":bool, "wire_count":u32, "wired":bool,
//!              "pages_detail":null | [{"start":u64, "pages":u64,
//!                   "residency":"resident"|"swapped"|"untouched", "wire_count":u32,
//!                   "mlock":bool, "svid":u32, "entry":u32, "shm_lock":u32, "other":u32,
//!                   "sum":u32}]}]}
//! {"kind":"machine", "semantics":..., "frames":usize, "free_frames":usize,
//!  "wired_frames":usize, "wired_max":u64, "pageout_queue":usize, "swap_slots":u32,
//!  "swap_used":u32, "corrupt":null|string,
//!  "segments":[{"shmid":i32, "key":i32, "size":u64, "pages":u64, "nattch":u32, "locked":bool,
//!               "object_wired":bool, "removed":bool, "uid":u32, "gid":u32, "cuid":u32,
//!               "cgid":u32, "mode":u32, "resident":u64, "swapped":u64}],
//!  "guests":[{"guest":u32, "entries":usize, "mapped":u64, "resident":u64, "wired":u64,
//!             "swapped":u64, "locked_pages":u64}]}
//! ```
//! Addresses and sizes are in bytes, page counts in 4 KiB pages.
//!
//! ```
//! use vmm::{GuestConfig, Machine, MachineConfig, MapFlags, Prot, Vaddr};
//! let m = Machine::new(MachineConfig::default().phys_mem(1 << 20)).unwrap();
//! let g = m.add_guest(GuestConfig::default()).unwrap();
//! let a = m.mmap(g, Vaddr(0), 2 * 4096, Prot::RW, MapFlags::ANON | MapFlags::PRIVATE).unwrap();
//! m.mlock(g, a, 4096).unwrap();
//! let d = m.dump_map(g, true).unwrap();
//! assert_eq!(d.entries.len(), 2); // the mlock split the mapping
//! assert!(d.entries[0].mlocked && d.entries[0].wired);
//! let run = &d.entries[0].pages_detail.as_ref().unwrap()[0];
//! assert_eq!((run.wire_count, run.entry, run.sum), (1, 1, 1));
//! println!("{}", d.text());
//! ```

use crate::base::addr::{GuestId, ShmId, PAGE_SIZE};
use crate::base::types::Owner;
use crate::base::types::Residency;
use crate::vm::map::{Backing, Entry, Prot};
use crate::vm::page::PageSlot;
use crate::vm::state::State;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;

/// One guest's map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MapDump {
    /// Always `"map"` (tells JSON lines apart).
    pub kind: &'static str,
    /// The guest's id.
    pub guest: u32,
    /// The wiring rules in force.
    pub semantics: String,
    /// Whether `mlockall(MCL_FUTURE)` is in force.
    pub wire_future: bool,
    /// Pages under entries carrying the POSIX lock flag.
    pub locked_pages: u64,
    /// The entries, by address.
    pub entries: Vec<EntryRow>,
}

/// One map entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EntryRow {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// Size in pages.
    pub pages: u64,
    /// Protection, as `rwx` with `-` for what is missing.
    pub prot: String,
    /// Maximum protection.
    pub max_prot: String,
    /// What backs it.
    pub backing: BackingRow,
    /// The POSIX lock flag.
    pub mlocked: bool,
    /// The SVID and kernel wire count.
    pub wire_count: u32,
    /// The wired predicate: flag, count, or (proposed) its segment's `SHM_LOCK`.
    pub wired: bool,
    /// Runs of like pages, when asked for.
    pub pages_detail: Option<Vec<PageRun>>,
}

/// What backs an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum BackingRow {
    /// Private anonymous memory.
    Anon,
    /// A shared segment, from a byte offset.
    Shm {
        /// The segment's id.
        shmid: i32,
        /// Offset of the entry's first page in the segment, in bytes.
        offset: u64,
    },
}

/// A run of consecutive pages of one entry that look alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PageRun {
    /// First byte.
    pub start: u64,
    /// Number of pages.
    pub pages: u64,
    /// Where the data is.
    pub residency: ResidencyRow,
    /// The frame's wire count (0 when not resident).
    pub wire_count: u32,
    /// The entry's POSIX lock flag.
    pub mlock: bool,
    /// The entry's SVID and kernel count.
    pub svid: u32,
    /// The page-level wiring the entry holds (1 while it is wired on its own account and its
    /// segment's lock does not cover it).
    pub entry: u32,
    /// The segment object's own wiring (1 while `SHM_LOCK`ed).
    pub shm_lock: u32,
    /// Page-level wirings of other entries mapping the same page.
    pub other: u32,
    /// `entry + shm_lock + other`: what `wire_count` must be.
    pub sum: u32,
}

/// Residency, as it is written in dumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResidencyRow {
    /// In a frame.
    Resident,
    /// In swap.
    Swapped,
    /// Never touched.
    Untouched,
}

impl From<Residency> for ResidencyRow {
    fn from(r: Residency) -> ResidencyRow {
        match r {
            Residency::Resident => ResidencyRow::Resident,
            Residency::Swapped => ResidencyRow::Swapped,
            Residency::Untouched => ResidencyRow::Untouched,
        }
    }
}

impl ResidencyRow {
    fn name(self) -> &'static str {
        match self {
            ResidencyRow::Resident => "resident",
            ResidencyRow::Swapped => "swapped",
            ResidencyRow::Untouched => "untouched",
        }
    }
}

/// The whole machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MachineDump {
    /// Always `"machine"`.
    pub kind: &'static str,
    /// The wiring rules in force.
    pub semantics: String,
    /// Physical frames.
    pub frames: usize,
    /// Free frames.
    pub free_frames: usize,
    /// Wired frames.
    pub wired_frames: usize,
    /// Most frames that may be wired.
    pub wired_max: u64,
    /// Frames on the pageout queue (in use, unwired).
    pub pageout_queue: usize,
    /// Swap slots.
    pub swap_slots: u32,
    /// Swap slots in use.
    pub swap_used: u32,
    /// What broke the machine's state, if anything did.
    pub corrupt: Option<String>,
    /// Segments, by id.
    pub segments: Vec<SegmentRow>,
    /// Guests, by id.
    pub guests: Vec<GuestRow>,
}

/// One segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SegmentRow {
    /// Its id.
    pub shmid: i32,
    /// Its key.
    pub key: i32,
    /// Size in bytes.
    pub size: u64,
    /// Size in pages.
    pub pages: u64,
    /// Attachments.
    pub nattch: u32,
    /// The `SHM_LOCK` mark.
    pub locked: bool,
    /// Whether the object holds its own wiring.
    pub object_wired: bool,
    /// Marked for removal.
    pub removed: bool,
    /// Owner user.
    pub uid: u32,
    /// Owner group.
    pub gid: u32,
    /// Creator user.
    pub cuid: u32,
    /// Creator group.
    pub cgid: u32,
    /// Permission bits.
    pub mode: u32,
    /// Pages in frames.
    pub resident: u64,
    /// Pages in swap.
    pub swapped: u64,
}

/// One guest's totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct GuestRow {
    /// Its id.
    pub guest: u32,
    /// Map entries.
    pub entries: usize,
    /// Mapped pages.
    pub mapped: u64,
    /// Mapped pages in frames (shared pages count in every guest mapping them).
    pub resident: u64,
    /// Of those, pages whose frame is wired (by anything).
    pub wired: u64,
    /// Mapped pages in swap.
    pub swapped: u64,
    /// Pages under entries carrying the POSIX lock flag.
    pub locked_pages: u64,
}

fn prot_str(p: Prot) -> String {
    let mut s = String::with_capacity(3);
    s.push(if p.contains(Prot::READ) { 'r' } else { '-' });
    s.push(if p.contains(Prot::WRITE) { 'w' } else { '-' });
    s.push(if p.contains(Prot::EXEC) { 'x' } else { '-' });
    s
}

fn size_str(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes % (1 << 30) == 0 {
        format!("{}G", bytes >> 30)
    } else if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{}M", bytes >> 20)
    } else {
        format!("{}K", bytes >> 10)
    }
}

/// Page-level wirings of every entry holding its own wiring on each segment page, over all
/// guests ([`State::entry_holds_pages`]).
fn shared_wirings(s: &State) -> HashMap<(ShmId, u64), u32> {
    let mut m = HashMap::new();
    for vm in s.guests.values() {
        for e in vm.map.iter().filter(|e| s.entry_holds_pages(e)) {
            if let Backing::Shm { id, pgoff } = e.backing() {
                for i in 0..e.range().pages() {
                    *m.entry((id, pgoff + i)).or_insert(0) += 1;
                }
            }
        }
    }
    m
}

pub(crate) fn dump_map(s: &State, g: GuestId, pages: bool) -> Result<MapDump, crate::Errno> {
    let vm = s.guest(g)?;
    let shared = if pages {
        shared_wirings(s)
    } else {
        HashMap::new()
    };
    let entries = vm
        .map
        .iter()
        .map(|e| EntryRow {
            start: e.start().addr().0,
            end: e.end().addr().0,
            pages: e.range().pages(),
            prot: prot_str(e.prot()),
            max_prot: prot_str(e.max_prot()),
            backing: match e.backing() {
                Backing::Anon => BackingRow::Anon,
                Backing::Shm { id, pgoff } => BackingRow::Shm {
                    shmid: id.0,
                    offset: pgoff * PAGE_SIZE,
                },
            },
            mlocked: e.is_mlocked(),
            wire_count: e.wire_count(),
            wired: s.entry_wired(e),
            pages_detail: pages.then(|| s.page_runs(g, e, &shared)),
        })
        .collect();
    Ok(MapDump {
        kind: "map",
        guest: g.0,
        semantics: s.cfg.semantics.to_string(),
        wire_future: vm.map.wire_future(),
        locked_pages: vm.locked_pages(),
        entries,
    })
}

pub(crate) fn dump_machine(s: &State) -> MachineDump {
    let segments = s
        .shm
        .iter()
        .map(|seg| {
            let (mut resident, mut swapped) = (0, 0);
            for (_, slot) in seg.object().slots() {
                match slot {
                    PageSlot::Resident(_) => resident += 1,
                    PageSlot::Swapped(_) => swapped += 1,
                    PageSlot::Untouched => {}
                }
            }
            SegmentRow {
                shmid: seg.id().0,
                key: seg.key(),
                size: seg.size(),
                pages: seg.pages(),
                nattch: seg.nattch(),
                locked: seg.locked(),
                object_wired: seg.object_wired(),
                removed: seg.removed(),
                uid: seg.perm().uid,
                gid: seg.perm().gid,
                cuid: seg.perm().cuid,
                cgid: seg.perm().cgid,
                mode: seg.perm().mode,
                resident,
                swapped,
            }
        })
        .collect();
    let guests = s
        .guests
        .iter()
        .map(|(&g, vm)| {
            let mut row = GuestRow {
                guest: g.0,
                entries: vm.map.len(),
                mapped: 0,
                resident: 0,
                wired: 0,
                swapped: 0,
                locked_pages: vm.locked_pages(),
            };
            for e in vm.map.iter() {
                row.mapped += e.range().pages();
                for vpn in e.range().iter() {
                    match s.slot(e.owner_at(g, vpn)) {
                        PageSlot::Resident(f) => {
                            row.resident += 1;
                            row.wired += u64::from(s.phys.pool.frame(f).is_wired());
                        }
                        PageSlot::Swapped(_) => row.swapped += 1,
                        PageSlot::Untouched => {}
                    }
                }
            }
            row
        })
        .collect();
    MachineDump {
        kind: "machine",
        semantics: s.cfg.semantics.to_string(),
        frames: s.phys.pool.total(),
        free_frames: s.phys.pool.free_count(),
        wired_frames: s.phys.pool.wired(),
        wired_max: s.cfg.limits.wired_max,
        pageout_queue: s.phys.pool.pageout_count(),
        swap_slots: s.phys.swap.capacity(),
        swap_used: s.phys.swap.used(),
        corrupt: s.diag.corrupt().as_ref().map(|v| v.to_string()),
        segments,
        guests,
    }
}

impl State {
    fn page_runs(
        &self,
        g: GuestId,
        e: &Entry,
        shared: &HashMap<(ShmId, u64), u32>,
    ) -> Vec<PageRun> {
        // What this entry holds on each page itself: nothing while its segment's lock covers it.
        let wired = u32::from(self.entry_holds_pages(e));
        let mut runs: Vec<PageRun> = Vec::new();
        for vpn in e.range().iter() {
            let owner = e.owner_at(g, vpn);
            let (residency, wire_count) = match self.slot(owner) {
                PageSlot::Resident(f) => {
                    (ResidencyRow::Resident, self.phys.pool.frame(f).wire_count())
                }
                PageSlot::Swapped(_) => (ResidencyRow::Swapped, 0),
                PageSlot::Untouched => (ResidencyRow::Untouched, 0),
            };
            let (shm_lock, other) = match owner {
                Owner::Anon { .. } => (0, 0),
                Owner::Object { shm, pgoff } => {
                    let obj = self.shm.get(shm).is_some_and(|s| s.object_wired());
                    let all = shared.get(&(shm, pgoff)).copied().unwrap_or(0);
                    (u32::from(obj), all.saturating_sub(wired))
                }
            };
            let run = PageRun {
                start: vpn.addr().0,
                pages: 1,
                residency,
                wire_count,
                mlock: e.is_mlocked(),
                svid: e.wire_count(),
                entry: wired,
                shm_lock,
                other,
                sum: wired + shm_lock + other,
            };
            match runs.last_mut() {
                Some(last)
                    if PageRun {
                        start: last.start,
                        pages: last.pages,
                        ..run
                    } == *last =>
                {
                    last.pages += 1
                }
                _ => runs.push(run),
            }
        }
        runs
    }
}

impl MapDump {
    /// The dump as text, like `pmap -x`: one line per entry, and under it one line per run of
    /// like pages when those were asked for.
    pub fn text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "guest {} map ({} rules; MCL_FUTURE {}; {} locked pages)",
            self.guest,
            self.semantics,
            if self.wire_future { "on" } else { "off" },
            self.locked_pages
        );
        let _ = writeln!(
            o,
            "{:<10} {:<10} {:>6} {:<7} {:<16} {:<5} {:>5} {:<5}",
            "START", "END", "SIZE", "PROT", "BACKING", "MLOCK", "COUNT", "WIRED"
        );
        for e in &self.entries {
            let backing = match e.backing {
                BackingRow::Anon => "anon".to_string(),
                BackingRow::Shm { shmid, offset } => format!("shm {shmid} +{offset:#x}"),
            };
            let _ = writeln!(
                o,
                "{:#010x} {:#010x} {:>6} {:<7} {:<16} {:<5} {:>5} {}",
                e.start,
                e.end,
                size_str(e.end - e.start),
                format!("{}/{}", e.prot, e.max_prot),
                backing,
                if e.mlocked { "yes" } else { "-" },
                e.wire_count,
                if e.wired { "yes" } else { "no" }
            );
            for r in e.pages_detail.iter().flatten() {
                let _ = writeln!(
                    o,
                    "  {:#010x} {:>5}p {:<9} wire {} = entry {} + shm_lock {} + other {}{}",
                    r.start,
                    r.pages,
                    r.residency.name(),
                    r.wire_count,
                    r.entry,
                    r.shm_lock,
                    r.other,
                    if r.wire_count == r.sum {
                        String::new()
                    } else {
                        format!("  (MISMATCH: sources sum to {})", r.sum)
                    }
                );
            }
        }
        o
    }
}

impl MachineDump {
    /// The machine view as text.
    pub fn text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "machine ({} rules): {} frames: {} in use, {} free, {} wired (max {}), {} on the pageout queue; swap {} of {} slots",
            self.semantics,
            self.frames,
            self.frames - self.free_frames,
            self.free_frames,
            self.wired_frames,
            self.wired_max,
            self.pageout_queue,
            self.swap_used,
            self.swap_slots
        );
        if let Some(c) = &self.corrupt {
            let _ = writeln!(o, "STATE CORRUPT: {c}");
        }
        if !self.segments.is_empty() {
            let _ = writeln!(
                o,
                "{:>7} {:>8} {:>6} {:>6} {:<6} {:<7} {:>9} {:>5} {:>8} {:>7}",
                "SHMID",
                "KEY",
                "SIZE",
                "NATTCH",
                "LOCKED",
                "REMOVED",
                "OWNER",
                "MODE",
                "RESIDENT",
                "SWAPPED"
            );
            for s in &self.segments {
                let _ = writeln!(
                    o,
                    "{:>7} {:>8} {:>6} {:>6} {:<6} {:<7} {:>9} {:>5} {:>8} {:>7}",
                    s.shmid,
                    s.key,
                    size_str(s.size.div_ceil(PAGE_SIZE) * PAGE_SIZE),
                    s.nattch,
                    if s.locked { "yes" } else { "no" },
                    if s.removed { "yes" } else { "no" },
                    format!("{}:{}", s.uid, s.gid),
                    format!("{:03o}", s.mode & 0o777),
                    s.resident,
                    s.swapped
                );
            }
        }
        if !self.guests.is_empty() {
            let _ = writeln!(
                o,
                "{:>5} {:>7} {:>7} {:>8} {:>6} {:>7} {:>6}",
                "GUEST", "ENTRIES", "MAPPED", "RESIDENT", "WIRED", "SWAPPED", "LOCKED"
            );
            for g in &self.guests {
                let _ = writeln!(
                    o,
                    "{:>5} {:>7} {:>7} {:>8} {:>6} {:>7} {:>6}",
                    g.guest, g.entries, g.mapped, g.resident, g.wired, g.swapped, g.locked_pages
                );
            }
        }
        o
    }
}
