//! Page maps taken while a run goes, for a report: the runtime's dump hooks call
//! [`Collector::snapshot`] at each `vmm_dump` and each exit; the CLI's report (`vmm run
//! --report`) renders what was gathered.

use crate::diag::dump::{MachineDump, MapDump};
use crate::machine::Machine;
use parking_lot::Mutex;
use serde::Serialize;
use std::sync::Arc;

/// How many page maps a run keeps (the first ones).
pub const SNAPSHOTS: usize = 64;

/// The page maps of every guest and the machine's view at one moment.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    /// The event it follows (its `seq`; 0 before any).
    pub after: u64,
    /// Why it was taken (`vmm_dump by guest 1`, `guest 0 exits`).
    pub why: String,
    /// One map per living guest, with runs of like pages.
    pub maps: Vec<MapDump>,
    /// Frames, queues, swap, segments.
    pub machine: MachineDump,
}

/// Gathers a run's page maps while it goes (shared with the runtime's dump hooks).
#[derive(Debug, Default)]
pub struct Collector {
    snapshots: Mutex<Vec<Snapshot>>,
    skipped: Mutex<u64>,
}

impl Collector {
    /// A collector for one run.
    pub fn new() -> Arc<Collector> {
        Arc::new(Collector::default())
    }

    /// Takes every living guest's page map and the machine's view now.
    pub fn snapshot(&self, machine: &Machine, why: &str) {
        let mut snaps = self.snapshots.lock();
        if snaps.len() >= SNAPSHOTS {
            *self.skipped.lock() += 1;
            return;
        }
        let after = machine.events_recorded();
        let maps = machine
            .guests()
            .into_iter()
            .filter_map(|g| machine.dump_map(g, true).ok())
            .collect();
        snaps.push(Snapshot {
            after,
            why: why.to_string(),
            maps,
            machine: machine.dump_machine(),
        });
    }
}

impl Collector {
    /// The snapshots taken, oldest first, and how many more were not kept.
    pub fn taken(&self) -> (Vec<Snapshot>, u64) {
        (self.snapshots.lock().clone(), *self.skipped.lock())
    }
}
