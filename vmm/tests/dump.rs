//! Dumps of a known state, checked row by row as values, as text and as JSON: two guests, one
//! segment SHM_LOCKed and attached by both, one range mlocked twice, one page evicted.

use serde_json::Value;
use vmm::diag::dump::{BackingRow, ResidencyRow};
use vmm::{
    GuestConfig, GuestId, Machine, MachineConfig, MapFlags, Prot, ShmCmd, SwapBacking, Vaddr,
    PAGE_SIZE,
};

const P: u64 = PAGE_SIZE;

struct Known {
    m: Machine,
    a: GuestId,
    b: GuestId,
    anon: Vaddr,
    seg_a: Vaddr,
    shmid: i32,
}

fn known() -> Known {
    let m = Machine::new(
        MachineConfig::default()
            .phys_mem(64 * P)
            .swap(64 * P)
            .swap_backing(SwapBacking::Memory),
    )
    .unwrap();
    let a = m.add_guest(GuestConfig::default()).unwrap();
    let b = m.add_guest(GuestConfig::default()).unwrap();
    let anon = m
        .mmap(
            a,
            Vaddr(0),
            4 * P,
            Prot::RW,
            MapFlags::ANON | MapFlags::PRIVATE,
        )
        .unwrap();
    m.write(a, anon, b"evict me").unwrap();
    let id = m.shmget(a, 77, 2 * P, 0o1640).unwrap();
    let seg_a = m.shmat(a, id, Vaddr(0), 0).unwrap();
    m.shmat(b, id, Vaddr(0x40000), 0).unwrap();
    m.shmctl(a, id, ShmCmd::Lock).unwrap();
    m.mlock(a, Vaddr(anon.0 + P), 2 * P).unwrap();
    m.mlock(a, Vaddr(anon.0 + P), 2 * P).unwrap();
    // The only unwired resident page is the first anonymous one.
    assert_eq!(m.reclaim(usize::MAX), 1);
    m.audit().unwrap();
    Known {
        m,
        a,
        b,
        anon,
        seg_a,
        shmid: id.0,
    }
}

#[test]
fn map_dump_rows_match_the_known_state() {
    let k = known();
    assert_eq!((k.anon, k.seg_a), (Vaddr(0x1000), Vaddr(0x5000)));
    let d = k.m.dump_map(k.a, true).unwrap();
    assert_eq!(d.locked_pages, 2);
    let rows: Vec<_> = d
        .entries
        .iter()
        .map(|e| (e.start, e.end, e.backing, e.mlocked, e.wire_count, e.wired))
        .collect();
    let shm = BackingRow::Shm {
        shmid: k.shmid,
        offset: 0,
    };
    assert_eq!(
        rows,
        [
            (0x1000, 0x2000, BackingRow::Anon, false, 0, false),
            (0x2000, 0x4000, BackingRow::Anon, true, 0, true),
            (0x4000, 0x5000, BackingRow::Anon, false, 0, false),
            // Wired by the segment's lock, with no count of its own.
            (0x5000, 0x7000, shm, false, 0, true),
        ]
    );
    let runs: Vec<_> = d
        .entries
        .iter()
        .flat_map(|e| e.pages_detail.clone().unwrap())
        .map(|r| {
            (
                r.start,
                r.pages,
                r.residency,
                r.wire_count,
                r.mlock,
                r.svid,
                r.entry,
                r.shm_lock,
                r.other,
                r.sum,
            )
        })
        .collect();
    use ResidencyRow::*;
    assert_eq!(
        runs,
        [
            (0x1000, 1, Swapped, 0, false, 0, 0, 0, 0, 0),
            (0x2000, 2, Resident, 1, true, 0, 1, 0, 0, 1),
            (0x4000, 1, Untouched, 0, false, 0, 0, 0, 0, 0),
            // The segment's own wiring, which stands for this entry and guest b's.
            (0x5000, 2, Resident, 1, false, 0, 0, 1, 0, 1),
        ]
    );
    let db = k.m.dump_map(k.b, true).unwrap();
    assert_eq!(db.entries.len(), 1);
    let r = db.entries[0].pages_detail.as_ref().unwrap()[0];
    assert_eq!(
        (r.start, r.pages, r.wire_count, r.entry, r.shm_lock, r.other),
        (0x40000, 2, 1, 0, 1, 0)
    );
    // Without pages, no runs.
    assert!(k.m.dump_map(k.a, false).unwrap().entries[0]
        .pages_detail
        .is_none());
}

#[test]
fn map_dump_text_reads_row_by_row() {
    let k = known();
    let text = k.m.dump_map(k.a, true).unwrap().text();
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let want = [
        "guest 0 map (proposed rules; MCL_FUTURE off; 2 locked pages)".to_string(),
        "START      END          SIZE PROT    BACKING          MLOCK COUNT WIRED".to_string(),
        "0x00001000 0x00002000     4K rw-/rwx anon             -         0 no".to_string(),
        "  0x00001000     1p swapped   wire 0 = entry 0 + shm_lock 0 + other 0".to_string(),
        "0x00002000 0x00004000     8K rw-/rwx anon             yes       0 yes".to_string(),
        "  0x00002000     2p resident  wire 1 = entry 1 + shm_lock 0 + other 0".to_string(),
        "0x00004000 0x00005000     4K rw-/rwx anon             -         0 no".to_string(),
        "  0x00004000     1p untouched wire 0 = entry 0 + shm_lock 0 + other 0".to_string(),
        format!(
            "0x00005000 0x00007000     8K rw-/rwx {:<16} -         0 yes",
            format!("shm {} +0x0", k.shmid)
        ),
        "  0x00005000     2p resident  wire 1 = entry 0 + shm_lock 1 + other 0".to_string(),
    ];
    assert_eq!(lines, want, "\n{text}");
}

#[test]
fn machine_dump_counts_the_known_state() {
    let k = known();
    let d = k.m.dump_machine();
    assert_eq!(
        (d.frames, d.wired_frames, d.swap_used, d.free_frames),
        (64, 4, 1, 60)
    );
    assert_eq!(d.pageout_queue, 0);
    assert_eq!(d.segments.len(), 1);
    let s = d.segments[0];
    assert_eq!(
        (
            s.shmid,
            s.key,
            s.nattch,
            s.locked,
            s.object_wired,
            s.removed,
            s.mode,
            s.resident
        ),
        (k.shmid, 77, 2, true, true, false, 0o640, 2)
    );
    let g: Vec<_> = d
        .guests
        .iter()
        .map(|g| {
            (
                g.guest,
                g.entries,
                g.mapped,
                g.resident,
                g.wired,
                g.swapped,
                g.locked_pages,
            )
        })
        .collect();
    assert_eq!(g, [(0, 4, 6, 4, 4, 1, 2), (1, 1, 2, 2, 2, 0, 0)]);
    let text = d.text();
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    assert_eq!(
        lines[0],
        "machine (proposed rules): 64 frames: 4 in use, 60 free, 4 wired (max 48), 0 on the pageout queue; swap 1 of 64 slots"
    );
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        [
            &k.shmid.to_string(),
            "77",
            "8K",
            "2",
            "yes",
            "no",
            "0:0",
            "640",
            "2",
            "0"
        ]
    );
    assert_eq!(
        lines[4].split_whitespace().collect::<Vec<_>>(),
        ["0", "4", "6", "4", "4", "1", "2"]
    );
}

#[test]
fn json_dumps_parse_and_carry_the_same_rows() {
    let k = known();
    let v: Value =
        serde_json::from_str(&serde_json::to_string(&k.m.dump_map(k.a, true).unwrap()).unwrap())
            .unwrap();
    assert_eq!(v["kind"], "map");
    assert_eq!(v["semantics"], "proposed");
    let e = &v["entries"];
    assert_eq!(e.as_array().unwrap().len(), 4);
    assert_eq!(e[1]["start"], 0x2000);
    assert_eq!(e[1]["mlocked"], true);
    assert_eq!(e[1]["backing"]["kind"], "anon");
    assert_eq!(e[3]["backing"]["kind"], "shm");
    assert_eq!(e[3]["backing"]["shmid"], k.shmid);
    assert_eq!(e[3]["wire_count"], 0);
    assert_eq!(e[3]["wired"], true);
    let run = &e[3]["pages_detail"][0];
    assert_eq!(run["residency"], "resident");
    assert_eq!(
        (run["wire_count"].as_u64(), run["sum"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(e[0]["pages_detail"][0]["residency"], "swapped");
    assert_eq!(e[2]["pages_detail"][0]["residency"], "untouched");
    let v: Value =
        serde_json::from_str(&serde_json::to_string(&k.m.dump_machine()).unwrap()).unwrap();
    assert_eq!(v["kind"], "machine");
    assert_eq!(v["segments"][0]["nattch"], 2);
    assert_eq!(v["guests"][0]["swapped"], 1);
    assert_eq!(v["corrupt"], Value::Null);
}
