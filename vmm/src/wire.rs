//! The wiring rules: POSIX locks are a flag, SVID and kernel wirings are a count.
//!
//! An entry's wiring state is the pair ([`EntryFlags::MLOCKED`], `wire_count`). POSIX
//! `mlock`/`munlock` set and clear the flag (not balanced: a second `mlock` changes nothing, one
//! `munlock` undoes any number of them). `SHM_LOCK`/`SHM_UNLOCK` and kernel wirings add and
//! remove one count each (balanced). Removing a mapping clears both.
//!
//! Invariants stated here and checked by the audit:
//! - An entry is wired exactly when [`is_wired`] says so; nothing else reads the flag or the count
//!   to decide that.
//! - The pages under an entry hold one page-level wiring for that entry exactly while the entry is
//!   wired; [`WireOp::apply`] reports the only two moments that changes ([`Transition`]), and only
//!   then does page-level work happen. So `mlock` of a range that `SHM_LOCK` already holds, and
//!   `munlock` of it, touch no page.
//! - A count never goes below zero: a release with no hold is reported as corrupt state, not
//!   wrapped.

use crate::addr::{GuestId, PageRange, Vpn};
use crate::errno::Errno;
use crate::machine::State;
use crate::map::{Backing, Entry, EntryFlags};
use crate::page::PageSlot;

/// The one predicate: is an entry with this flag and count wired?
#[inline]
pub fn is_wired(flags: EntryFlags, wire_count: u32) -> bool {
    flags.contains(EntryFlags::MLOCKED) || wire_count > 0
}

/// A change to one entry's wiring state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireOp {
    /// POSIX lock: set the flag (idempotent).
    Mlock,
    /// POSIX unlock: clear the flag (idempotent; the count is left alone).
    Munlock,
    /// Take one SVID or kernel wiring.
    Hold,
    /// Drop one SVID or kernel wiring.
    Release,
    /// The mapping is going away: clear the flag and the count, whatever they were.
    Remove,
}

/// What a [`WireOp`] did to an entry's wired state, and so to its pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Wired before and after, or unwired before and after: no page work.
    Unchanged,
    /// The entry became wired: every page under it takes one wiring.
    Wire,
    /// The entry stopped being wired: every page under it drops one wiring.
    Unwire,
}

/// The state an entry had before an operation, to undo it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Saved {
    flags: EntryFlags,
    wire_count: u32,
}

/// A [`WireOp::Release`] found no hold to release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountUnderflow;

/// Decides the page-level consequence of going from one (flag, count) state to another.
pub fn transition(before: (EntryFlags, u32), after: (EntryFlags, u32)) -> Transition {
    match (is_wired(before.0, before.1), is_wired(after.0, after.1)) {
        (false, true) => Transition::Wire,
        (true, false) => Transition::Unwire,
        _ => Transition::Unchanged,
    }
}

impl WireOp {
    /// Applies the operation to `entry` and says what must happen to its pages.
    pub fn apply(self, entry: &mut Entry) -> Result<(Transition, Saved), CountUnderflow> {
        let saved = Saved {
            flags: entry.flags,
            wire_count: entry.wire_count,
        };
        let (mut flags, mut count) = (entry.flags, entry.wire_count);
        match self {
            WireOp::Mlock => flags.insert(EntryFlags::MLOCKED),
            WireOp::Munlock => flags.remove(EntryFlags::MLOCKED),
            WireOp::Hold => count = count.checked_add(1).ok_or(CountUnderflow)?,
            WireOp::Release => count = count.checked_sub(1).ok_or(CountUnderflow)?,
            WireOp::Remove => {
                flags.remove(EntryFlags::MLOCKED);
                count = 0;
            }
        }
        entry.flags = flags;
        entry.wire_count = count;
        Ok((
            transition((saved.flags, saved.wire_count), (flags, count)),
            saved,
        ))
    }
}

impl Saved {
    /// Puts an entry back as it was before the operation that returned this.
    pub fn restore(self, entry: &mut Entry) {
        entry.flags = self.flags;
        entry.wire_count = self.wire_count;
    }
}

/// Page-level wiring, driven by the entry-level rules above.
impl State {
    /// Wires every page under `[start, end)` of an entry with `backing` in guest `g`, bringing
    /// each in first. On failure the pages wired so far are unwired again.
    pub(crate) fn wire_pages(
        &mut self,
        g: GuestId,
        range: PageRange,
        backing: Backing,
    ) -> Result<(), Errno> {
        let base = range.start;
        for vpn in range.iter() {
            let o = State::owner_of(g, offset_backing(backing, vpn.0 - base.0), vpn);
            match self.page_in(o) {
                Ok(f) => self.pool.wire(f),
                Err(e) => {
                    self.unwire_pages(g, PageRange::new(base, vpn), backing)?;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Drops one wiring from every page under `[start, end)` of an entry with `backing`.
    pub(crate) fn unwire_pages(
        &mut self,
        g: GuestId,
        range: PageRange,
        backing: Backing,
    ) -> Result<(), Errno> {
        let base = range.start;
        for vpn in range.iter() {
            let o = State::owner_of(g, offset_backing(backing, vpn.0 - base.0), vpn);
            let PageSlot::Resident(f) = self.slot(o) else {
                return Err(self.corrupted(
                    "wire-resident",
                    format!(
                        "{g:?} page {:?} of a wired entry is not resident",
                        vpn.addr()
                    ),
                ));
            };
            if self.pool.unwire(f).is_err() {
                return Err(self.corrupted(
                    "wire-underflow",
                    format!("{g:?} page {:?} ({f:?}) unwired below zero", vpn.addr()),
                ));
            }
        }
        Ok(())
    }

    /// Applies `op` to every entry of guest `g` that lies in `range` and satisfies `pick`, doing
    /// the page-level work each transition asks for. The caller has clipped at the range's ends.
    /// Keeps the guest's locked-page count. On failure every entry is put back as it was.
    pub(crate) fn wire_entries(
        &mut self,
        g: GuestId,
        range: PageRange,
        op: WireOp,
        pick: impl Fn(&Entry) -> bool,
    ) -> Result<(), Errno> {
        let starts = self.guest(g)?.map.starts_in(range);
        let mut done: Vec<(Vpn, Saved, Transition)> = Vec::new();
        let mut result = Ok(());
        for s in starts {
            let vm = self.guests.get_mut(&g).expect("guest checked above");
            let e = vm.map.get_mut(s).expect("entry listed above");
            if !pick(e) {
                continue;
            }
            let was_locked = e.is_mlocked();
            let (t, saved) = match op.apply(e) {
                Ok(x) => x,
                Err(CountUnderflow) => {
                    result = Err(self.corrupted(
                        "entry-count-underflow",
                        format!("{g:?} entry at {:?} released with no hold", s.addr()),
                    ));
                    break;
                }
            };
            let (erange, backing, now_locked) = (e.range(), e.backing, e.is_mlocked());
            if t != Transition::Unchanged {
                tracing::debug!(target: "vmm::wire", guest = g.0, start = erange.start.addr().0, pages = erange.pages(), ?op, transition = ?t, mlocked = now_locked, count = e.wire_count, "entry wiring");
            }
            let r = match t {
                Transition::Wire => self.wire_pages(g, erange, backing),
                Transition::Unwire => self.unwire_pages(g, erange, backing),
                Transition::Unchanged => Ok(()),
            };
            let vm = self.guests.get_mut(&g).expect("guest checked above");
            if let Err(err) = r {
                saved.restore(vm.map.get_mut(s).expect("entry still there"));
                result = Err(err);
                break;
            }
            if was_locked != now_locked {
                if now_locked {
                    vm.locked_pages += erange.pages();
                } else {
                    vm.locked_pages -= erange.pages();
                }
            }
            done.push((s, saved, t));
        }
        if result.is_err() {
            for (s, saved, t) in done.into_iter().rev() {
                let vm = self.guests.get_mut(&g).expect("guest checked above");
                let e = vm.map.get_mut(s).expect("entry still there");
                let was_locked = e.is_mlocked();
                saved.restore(e);
                let (erange, backing, now_locked) = (e.range(), e.backing, e.is_mlocked());
                if was_locked != now_locked {
                    if now_locked {
                        vm.locked_pages += erange.pages();
                    } else {
                        vm.locked_pages -= erange.pages();
                    }
                }
                // Only wiring operations can fail, so only wirings need undoing.
                if t == Transition::Wire {
                    self.unwire_pages(g, erange, backing)?;
                }
            }
        }
        result
    }
}

/// The backing of the page `delta` pages into an entry whose first page has `backing`.
fn offset_backing(backing: Backing, delta: u64) -> Backing {
    match backing {
        Backing::Anon => Backing::Anon,
        Backing::Shm { id, pgoff } => Backing::Shm {
            id,
            pgoff: pgoff + delta,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Vpn;
    use crate::map::{Backing, Prot};

    fn entry() -> Entry {
        Entry::new(Vpn(0), Vpn(4), Prot::RW, Prot::RW, Backing::Anon)
    }

    #[test]
    fn mlock_twice_then_munlock_once_unwires() {
        let mut e = entry();
        assert_eq!(WireOp::Mlock.apply(&mut e).unwrap().0, Transition::Wire);
        assert_eq!(
            WireOp::Mlock.apply(&mut e).unwrap().0,
            Transition::Unchanged
        );
        assert_eq!(WireOp::Munlock.apply(&mut e).unwrap().0, Transition::Unwire);
        assert!(!e.is_wired());
    }

    #[test]
    fn munlock_does_not_unwire_what_a_count_holds() {
        let mut e = entry();
        assert_eq!(WireOp::Hold.apply(&mut e).unwrap().0, Transition::Wire);
        assert_eq!(
            WireOp::Mlock.apply(&mut e).unwrap().0,
            Transition::Unchanged
        );
        assert_eq!(
            WireOp::Munlock.apply(&mut e).unwrap().0,
            Transition::Unchanged
        );
        assert!(e.is_wired());
        assert_eq!(WireOp::Release.apply(&mut e).unwrap().0, Transition::Unwire);
    }

    #[test]
    fn release_does_not_unwire_what_mlock_holds() {
        let mut e = entry();
        WireOp::Mlock.apply(&mut e).unwrap();
        assert_eq!(WireOp::Hold.apply(&mut e).unwrap().0, Transition::Unchanged);
        assert_eq!(
            WireOp::Release.apply(&mut e).unwrap().0,
            Transition::Unchanged
        );
        assert!(e.is_wired());
    }

    #[test]
    fn release_without_hold_is_reported_not_wrapped() {
        let mut e = entry();
        assert_eq!(WireOp::Release.apply(&mut e), Err(CountUnderflow));
        assert_eq!(e.wire_count, 0);
    }

    #[test]
    fn remove_clears_flag_and_count() {
        let mut e = entry();
        WireOp::Mlock.apply(&mut e).unwrap();
        WireOp::Hold.apply(&mut e).unwrap();
        WireOp::Hold.apply(&mut e).unwrap();
        assert_eq!(WireOp::Remove.apply(&mut e).unwrap().0, Transition::Unwire);
        assert_eq!((e.flags, e.wire_count), (EntryFlags::empty(), 0));
    }

    #[test]
    fn restore_undoes_an_operation() {
        let mut e = entry();
        let (_, saved) = WireOp::Mlock.apply(&mut e).unwrap();
        saved.restore(&mut e);
        assert!(!e.is_wired());
    }
}
