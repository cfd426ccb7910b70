//! Reports: a whole run as one self-contained HTML file (`vmm run --report FILE.html`,
//! `vmm test --report DIR`), with a page map per guest at each `vmm_dump` and at each exit, and a
//! timeline of the machine's calls and events.
//!
//! Built from what the machine already keeps: its event log ([`vmm::base::events`], switched on
//! with [`vmm::Machine::record_events`]) and its dumps ([`vmm::diag::dump`]). Two bounds keep a
//! report small whatever the run: the machine keeps the last [`EVENTS`] events (the report says
//! how many came before them), and a run keeps the first [`SNAPSHOTS`] page maps (and counts
//! the rest). An event is written as a short JSON array of numbers (about 40 bytes; the page
//! draws the text), so the events of a report take under 1 MB whatever the run.
//!
//! The file has no network access, script or font from elsewhere: the data is a JSON block, the
//! drawing a small inline script. `body` carries what a test reads back from the DOM:
//! `data-ok="1"` once the script ran to its end (`data-error` if a script error happened),
//! `data-guests` and `data-segments` of the first run.

use serde::Serialize;
use vmm::base::events::{Event, EventKind};
use vmm::base::types::Owner;
use vmm::machine::Machine;
use vmm::rules::Semantics;
use vmm::runtime::snapshots::{Collector, Snapshot};
use vmm::GuestId;

/// How many events a reporting machine keeps (the last ones).
pub const EVENTS: usize = 10_000;
/// Names the page draws events with: a row holds an index into these.
const NAMES: &[&str] = &[
    "mmap",
    "munmap",
    "mprotect",
    "mincore",
    "mlock",
    "munlock",
    "mlockall",
    "munlockall",
    "shmget",
    "shmat",
    "shmdt",
    "shmctl",
    "exit",
    "Mlock",
    "Munlock",
    "Hold",
    "Release",
    "Remove",
    "zero fill",
    "page in",
    "resident",
    "locked",
    "unlocked",
    "marked for removal",
    "destroyed",
    "IPC_STAT",
    "IPC_SET",
    "IPC_RMID",
    "SHM_LOCK",
    "SHM_UNLOCK",
];

fn name_index(n: &str) -> i64 {
    NAMES.iter().position(|x| *x == n).map_or(-1, |i| i as i64)
}

/// Appends one event as a JSON array: `[seq, kind, lane, wired, free, ...]`, where kind is 0
/// call (`name, arg kinds, [args], result`), 1 wire (`start, pages, wired?, op`), 2 fault
/// (`addr, how`), 3 page-out (`0 guest page | 1 segment page`, `id, page`), 4 segment
/// (`shmid, what`); the lane is a guest, or -1 for the pagedaemon.
fn write_event(out: &mut String, e: &Event) {
    use vmm::base::calllog::Arg;
    let mut b = itoa::Buffer::new();
    let mut num = |out: &mut String, v: i64| {
        out.push_str(b.format(v));
        out.push(',');
    };
    out.push('[');
    let (kind, lane) = match e.kind {
        EventKind::Call(c) => (0, i64::from(c.guest.0)),
        EventKind::Wire { guest, .. } | EventKind::Fault { guest, .. } => (
            if matches!(e.kind, EventKind::Wire { .. }) {
                1
            } else {
                2
            },
            i64::from(guest.0),
        ),
        EventKind::Evict { .. } => (3, -1),
        EventKind::Segment { guest, .. } => (4, guest.map_or(-1, |g: GuestId| i64::from(g.0))),
    };
    num(out, e.seq as i64);
    num(out, kind);
    num(out, lane);
    num(out, i64::from(e.wired));
    num(out, i64::from(e.free));
    match e.kind {
        EventKind::Call(c) => {
            num(out, name_index(c.name));
            out.push('"');
            let args: Vec<Arg> = c.args().collect();
            for a in &args {
                out.push(match a {
                    Arg::Addr(_) => 'a',
                    Arg::Num(_) => 'n',
                    Arg::Name(_) => 's',
                    Arg::Mode(_) => 'o',
                });
            }
            out.push_str("\",[");
            for (k, a) in args.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                match *a {
                    Arg::Addr(v) => out.push_str(b.format(v)),
                    Arg::Num(v) => out.push_str(b.format(v)),
                    Arg::Mode(v) => out.push_str(b.format(v)),
                    Arg::Name(n) => out.push_str(b.format(name_index(n))),
                }
            }
            out.push_str("],");
            match c.result {
                Ok(None) => out.push('0'),
                Ok(Some(Arg::Addr(v))) => out.push_str(b.format(v)),
                Ok(Some(Arg::Num(v))) => out.push_str(b.format(v)),
                Ok(Some(_)) => out.push('0'),
                Err(err) => {
                    out.push('"');
                    out.push_str(err.name());
                    out.push('"');
                }
            }
        }
        EventKind::Wire {
            start,
            pages,
            wire,
            op,
            ..
        } => {
            num(out, start.0 as i64);
            num(out, pages as i64);
            num(out, i64::from(wire));
            out.push_str(b.format(name_index(op)));
        }
        EventKind::Fault { addr, how, .. } => {
            num(out, addr.0 as i64);
            out.push_str(b.format(name_index(how)));
        }
        EventKind::Evict { owner } => match owner {
            Owner::Anon { guest, vpn } => {
                num(out, 0);
                num(out, i64::from(guest.0));
                out.push_str(b.format(vpn.0));
            }
            Owner::Object { shm, pgoff } => {
                num(out, 1);
                num(out, i64::from(shm.0));
                out.push_str(b.format(pgoff));
            }
        },
        EventKind::Segment { shm, what, .. } => {
            num(out, i64::from(shm.0));
            out.push_str(b.format(name_index(what)));
        }
    }
    out.push(']');
}

/// One run of a scenario under one rule set, ready to draw.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// What ran (a test's path, or the modules).
    pub title: String,
    /// The rule set.
    pub semantics: String,
    /// Guests in the run.
    pub guests: u32,
    /// Physical frames.
    pub frames: usize,
    /// How each guest ended, or what the test found.
    pub outcome: Vec<String>,
    /// Events recorded before the first one kept.
    pub dropped: u64,
    /// Page maps not kept past the bound.
    pub skipped_snapshots: u64,
    #[serde(skip)]
    events: Vec<Event>,
    snapshots: Vec<Snapshot>,
}

impl RunReport {
    /// Gathers a finished run: the machine's events, and the collector's page maps.
    pub fn gather(
        title: &str,
        semantics: Semantics,
        guests: u32,
        machine: &Machine,
        collector: &Collector,
        outcome: Vec<String>,
    ) -> RunReport {
        let (events, dropped) = machine.events();
        let (snapshots, skipped_snapshots) = collector.taken();
        RunReport {
            title: title.to_string(),
            semantics: semantics.to_string(),
            guests,
            frames: machine.stats().frames,
            outcome,
            dropped,
            skipped_snapshots,
            events,
            snapshots,
        }
    }

    /// How many events it holds.
    pub fn events(&self) -> usize {
        self.events.len()
    }

    /// How many page maps it holds.
    pub fn snapshots(&self) -> usize {
        self.snapshots.len()
    }
}

/// The HTML page, data and drawing included; several runs (one scenario under several rule
/// sets) are drawn side by side.
pub fn render(runs: &[RunReport]) -> String {
    let (before, after) = TEMPLATE
        .split_once("/*DATA*/[]")
        .expect("the template has its data marker");
    let events: usize = runs.iter().map(|r| r.events.len()).sum();
    let mut out = String::with_capacity(TEMPLATE.len() + 4096 + events * 48);
    out.push_str(before);
    // Everything but the events through serde (escaped: inside <script>, "</" would end the
    // block); the events, the bulk, written by hand as numbers, which need no escaping.
    let json = |v: &dyn erased::Json| v.to_json().replace("</", "<\\/");
    out.push_str("{\"names\":");
    out.push_str(&json(&NAMES));
    out.push_str(",\"runs\":[");
    for (i, r) in runs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let head = json(r);
        out.push_str(&head[..head.len() - 1]);
        out.push_str(",\"events\":[");
        for (k, e) in r.events.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            write_event(&mut out, e);
        }
        out.push_str("]}");
    }
    out.push_str("]}");
    out.push_str(after);
    out
}

/// Serialising the report's parts through one closure.
mod erased {
    pub trait Json {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize + ?Sized> Json for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).unwrap_or_else(|_| "null".into())
        }
    }
}

const TEMPLATE: &str = include_str!("report.html");

#[cfg(test)]
mod tests {
    use super::*;
    use vmm::{GuestConfig, MachineConfig, MapFlags, Prot, ShmCmd, Vaddr};

    #[test]
    fn a_report_holds_the_events_and_page_maps_of_a_run() {
        let m = Machine::new(MachineConfig::default().phys_mem(1 << 20)).unwrap();
        m.record_events(EVENTS);
        let c = Collector::new();
        let g = m.add_guest(GuestConfig::default()).unwrap();
        let a = m
            .mmap(
                g,
                Vaddr(0),
                4 * 4096,
                Prot::RW,
                MapFlags::ANON | MapFlags::PRIVATE,
            )
            .unwrap();
        m.mlock(g, a, 4096).unwrap();
        let id = m.shmget(g, 0, 4096, 0o600).unwrap();
        m.shmat(g, id, Vaddr(0), 0).unwrap();
        m.shmctl(g, id, ShmCmd::Lock).unwrap();
        c.snapshot(&m, "after the lock");
        let r = RunReport::gather("unit", Semantics::Proposed, 1, &m, &c, vec!["ok".into()]);
        let has = |f: fn(&EventKind) -> bool| r.events.iter().any(|e| f(&e.kind));
        assert!(has(
            |k| matches!(k, EventKind::Call(c) if c.name == "mlock")
        ));
        assert!(has(|k| matches!(
            k,
            EventKind::Wire {
                wire: true,
                op: "Mlock",
                ..
            }
        )));
        assert!(has(|k| matches!(
            k,
            EventKind::Segment { what: "locked", .. }
        )));
        let call = r
            .events
            .iter()
            .find(|e| matches!(e.kind, EventKind::Call(c) if c.name == "mlock"))
            .unwrap();
        let mut one = String::new();
        write_event(&mut one, call);
        assert!(one.ends_with(r#",4,"aa",[4096,4096],0]"#), "{one}");
        assert_eq!(r.snapshots(), 1);
        assert_eq!(r.snapshots[0].maps.len(), 1);
        let html = render(&[r]);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(!html.contains("/*DATA*/"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "nothing from elsewhere"
        );
    }
}
