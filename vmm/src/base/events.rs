//! The run's history, for reports: a bounded ring of what the machine did, when recording is on
//! ([`crate::Machine::record_events`]).
//!
//! Each event is one call a guest made (with its result), one change of an entry's wired state
//! (the page-level work a [`crate::vm::wire::Transition`] asks for), one fault resolved for a guest,
//! one page-out by the pagedaemon, or one change of a segment (locked, unlocked, marked for
//! removal, destroyed), each with the frames wired and free right after it. Recording costs a
//! branch when it is off. Past the bound the oldest events are dropped, and counted: a report
//! shows the last events of a run, and says how many came before them.

use crate::base::addr::{GuestId, ShmId, Vaddr};
use crate::base::calllog::CallRecord;
use crate::base::types::Owner;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A guest's call and its result.
    Call(CallRecord),
    /// An entry of guest `guest` became wired (`wire`) or stopped being wired: its pages took
    /// or dropped one wiring each.
    Wire {
        /// The guest.
        guest: GuestId,
        /// The entry's first page.
        start: Vaddr,
        /// Its length in pages.
        pages: u64,
        /// Whether it became wired.
        wire: bool,
        /// The operation (`Mlock`, `Munlock`, `Hold`, `Release`, `Remove`).
        op: &'static str,
    },
    /// A fault resolved for guest `guest` at `addr`: `"zero fill"`, `"page in"` or
    /// `"resident"`.
    Fault {
        /// The guest.
        guest: GuestId,
        /// The faulting address.
        addr: Vaddr,
        /// How it was resolved.
        how: &'static str,
    },
    /// The pagedaemon wrote a page to swap and freed its frame.
    Evict {
        /// The page.
        owner: Owner,
    },
    /// A segment changed: `"locked"`, `"unlocked"`, `"marked for removal"`, `"destroyed"`;
    /// `guest` is the caller whose call changed it, if any.
    Segment {
        /// The caller.
        guest: Option<GuestId>,
        /// The segment.
        shm: ShmId,
        /// What changed.
        what: &'static str,
    },
}

/// One event, with its place in the run and the frame counts right after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// Its place among every event recorded, from 1 (dropped ones included).
    pub seq: u64,
    /// What happened.
    pub kind: EventKind,
    /// Frames wired right after it.
    pub wired: u32,
    /// Frames free right after it.
    pub free: u32,
}

/// The bounded ring: filled in order, then overwritten oldest first.
#[derive(Debug)]
pub struct EventLog {
    ring: Vec<Event>,
    /// Where the oldest event is once the ring is full.
    oldest: usize,
    bound: usize,
    next: u64,
}

impl EventLog {
    /// A log keeping the last `bound` events (at least one).
    pub fn new(bound: usize) -> EventLog {
        EventLog {
            ring: Vec::with_capacity(bound.clamp(1, 4096)),
            oldest: 0,
            bound: bound.max(1),
            next: 0,
        }
    }

    /// Adds an event, dropping the oldest past the bound.
    pub fn push(&mut self, kind: EventKind, wired: u32, free: u32) {
        self.next += 1;
        let e = Event {
            seq: self.next,
            kind,
            wired,
            free,
        };
        if self.ring.len() < self.bound {
            self.ring.push(e);
        } else {
            self.ring[self.oldest] = e;
            self.oldest = (self.oldest + 1) % self.bound;
        }
    }

    /// Every event recorded so far (dropped ones included).
    pub fn total(&self) -> u64 {
        self.next
    }

    /// How many events were dropped to keep the bound.
    pub fn dropped(&self) -> u64 {
        self.next - self.ring.len() as u64
    }

    /// The kept events, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Event> {
        self.ring[self.oldest..]
            .iter()
            .chain(self.ring[..self.oldest].iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evict(n: u64) -> EventKind {
        EventKind::Evict {
            owner: Owner::Anon {
                guest: GuestId(0),
                vpn: crate::base::addr::Vpn(n),
            },
        }
    }

    #[test]
    fn keeps_the_last_events_and_counts_the_dropped() {
        let mut log = EventLog::new(3);
        for i in 0..5 {
            log.push(evict(i), i as u32, 10);
        }
        assert_eq!((log.total(), log.dropped()), (5, 2));
        let seqs: Vec<u64> = log.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![3, 4, 5]);
        assert_eq!(log.iter().last().unwrap().wired, 4);
    }
}
