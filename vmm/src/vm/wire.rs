//! The wiring rules: POSIX locks are a flag, SVID and kernel wirings are a count.
//!
//! An entry's wiring state is a [`WireState`]: the pair ([`EntryFlags::MLOCKED`], count). POSIX
//! `mlock`/`munlock` set and clear the flag (not balanced: a second `mlock` changes nothing, one
//! `munlock` undoes any number of them). Kernel wirings, and `SHM_LOCK`/`SHM_UNLOCK` under the
//! old rules, add and remove one count each (balanced). Removing a mapping clears both. Under
//! the proposed rules `SHM_LOCK` takes no count: it is the segment's state, which
//! `State::entry_wired` consults besides the flag and the count, and while it lasts the
//! segment's object wiring holds the pages for every entry mapping it
//! (`State::entry_holds_pages`).
//!
//! This module is pure: it decides, and [`crate::vm::wiring`] does the page-level work it asks for.
//!
//! Invariants stated here (the audit checks their consequences):
//! - The flag and the count are private to [`WireState`]: only [`WireOp::apply`] and
//!   [`Saved::restore`] (which undoes an `apply`) write them.
//! - An entry is wired on its own account exactly when [`WireState::wired_by_itself`] says so, and
//!   wired at all when `State::entry_wired` says so (that, or its segment's lock); nothing else
//!   combines the flag and the count to decide either. Code that needs one half alone (the audit checking
//!   that no count is held, the old rules' "is every entry counted") reads it with
//!   [`WireState::count`] or [`WireState::is_mlocked`] and says why.
//! - The pages under an entry hold one page-level wiring for that entry exactly while the entry is
//!   wired here and its segment's lock does not cover it; [`WireOp::apply`] reports the only two
//!   moments this state changes ([`Transition`]), and only then, and only for an entry its
//!   segment's lock does not cover, does page-level work happen. So `mlock` of a range that
//!   `SHM_LOCK` already holds, and `munlock` of it, touch no page.
//! - A count never goes below zero: a release with no hold is reported as corrupt state, not
//!   wrapped.

use bitflags::bitflags;

bitflags! {
    /// Per-entry flags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct EntryFlags: u32 {
        /// POSIX-locked (`mlock`, `mlockall`): not a count.
        const MLOCKED = 1 << 0;
        /// With `MLOCKED`: locked on fault (Linux's `VM_LOCKONFAULT`, from
        /// `mlock2(MLOCK_ONFAULT)` or `mlockall(MCL_ONFAULT)`). The lock brings nothing in: the
        /// pages resident hold the entry's wiring, and each page takes it as it comes in.
        /// Only anonymous entries carry it.
        const ONFAULT = 1 << 1;
    }
}

/// Is an entry with this flag and count wired on its own account? (A segment's lock can wire it
/// too: see `State::entry_wired`, the one predicate for "wired".)
#[inline]
pub fn wired_by_itself(flags: EntryFlags, wire_count: u32) -> bool {
    flags.contains(EntryFlags::MLOCKED) || wire_count > 0
}

/// An entry's wiring state: the POSIX flag and the SVID/kernel count. Fresh entries are
/// unwired; only [`WireOp::apply`] changes one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WireState {
    flags: EntryFlags,
    count: u32,
}

impl WireState {
    /// Whether the flag or the count holds the entry wired ([`wired_by_itself`]).
    #[inline]
    pub fn wired_by_itself(self) -> bool {
        wired_by_itself(self.flags, self.count)
    }

    /// Whether the POSIX lock flag is set.
    #[inline]
    pub fn is_mlocked(self) -> bool {
        self.flags.contains(EntryFlags::MLOCKED)
    }

    /// Whether the entry is locked on fault ([`EntryFlags::ONFAULT`]): wired, with only its
    /// resident pages holding the wiring.
    #[inline]
    pub fn locks_on_fault(self) -> bool {
        self.flags.contains(EntryFlags::ONFAULT)
    }

    /// The flags.
    pub fn flags(self) -> EntryFlags {
        self.flags
    }

    /// The SVID and kernel wirings (balanced holds).
    pub fn count(self) -> u32 {
        self.count
    }
}

/// A change to one entry's wiring state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireOp {
    /// POSIX lock: set the flag (idempotent; clears lock-on-fault, as a plain `mlock` of a
    /// lock-on-fault range does in Linux).
    Mlock,
    /// POSIX lock on fault: set the flag and [`EntryFlags::ONFAULT`].
    MlockOnFault,
    /// POSIX unlock: clear the flag and lock-on-fault (idempotent; the count is left alone).
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
pub struct Saved(WireState);

/// A [`WireOp::Release`] found no hold to release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountUnderflow;

/// Decides the page-level consequence of going from one wiring state to another.
pub fn transition(before: WireState, after: WireState) -> Transition {
    match (before.wired_by_itself(), after.wired_by_itself()) {
        (false, true) => Transition::Wire,
        (true, false) => Transition::Unwire,
        _ => Transition::Unchanged,
    }
}

impl WireOp {
    /// The operation's name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            WireOp::Mlock => "Mlock",
            WireOp::MlockOnFault => "MlockOnFault",
            WireOp::Munlock => "Munlock",
            WireOp::Hold => "Hold",
            WireOp::Release => "Release",
            WireOp::Remove => "Remove",
        }
    }

    /// Applies the operation to `w` and says what must happen to its pages. On an underflow
    /// `w` is unchanged.
    pub fn apply(self, w: &mut WireState) -> Result<(Transition, Saved), CountUnderflow> {
        let before = *w;
        let mut after = before;
        match self {
            WireOp::Mlock => {
                after.flags.insert(EntryFlags::MLOCKED);
                after.flags.remove(EntryFlags::ONFAULT);
            }
            WireOp::MlockOnFault => after
                .flags
                .insert(EntryFlags::MLOCKED | EntryFlags::ONFAULT),
            WireOp::Munlock => after
                .flags
                .remove(EntryFlags::MLOCKED | EntryFlags::ONFAULT),
            WireOp::Hold => after.count = after.count.checked_add(1).ok_or(CountUnderflow)?,
            WireOp::Release => after.count = after.count.checked_sub(1).ok_or(CountUnderflow)?,
            WireOp::Remove => after = WireState::default(),
        }
        *w = after;
        Ok((transition(before, after), Saved(before)))
    }
}

impl Saved {
    /// Puts a wiring state back as it was before the operation that returned this.
    pub fn restore(self, w: &mut WireState) {
        *w = self.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(op: WireOp, w: &mut WireState) -> Transition {
        op.apply(w).unwrap().0
    }

    #[test]
    fn mlock_twice_then_munlock_once_unwires() {
        let mut w = WireState::default();
        assert_eq!(apply(WireOp::Mlock, &mut w), Transition::Wire);
        assert_eq!(apply(WireOp::Mlock, &mut w), Transition::Unchanged);
        assert_eq!(apply(WireOp::Munlock, &mut w), Transition::Unwire);
        assert!(!w.wired_by_itself());
    }

    #[test]
    fn munlock_does_not_unwire_what_a_count_holds() {
        let mut w = WireState::default();
        assert_eq!(apply(WireOp::Hold, &mut w), Transition::Wire);
        assert_eq!(apply(WireOp::Mlock, &mut w), Transition::Unchanged);
        assert_eq!(apply(WireOp::Munlock, &mut w), Transition::Unchanged);
        assert!(w.wired_by_itself());
        assert_eq!(apply(WireOp::Release, &mut w), Transition::Unwire);
    }

    #[test]
    fn release_does_not_unwire_what_mlock_holds() {
        let mut w = WireState::default();
        apply(WireOp::Mlock, &mut w);
        assert_eq!(apply(WireOp::Hold, &mut w), Transition::Unchanged);
        assert_eq!(apply(WireOp::Release, &mut w), Transition::Unchanged);
        assert!(w.wired_by_itself());
    }

    #[test]
    fn release_without_hold_is_reported_not_wrapped() {
        let mut w = WireState::default();
        assert_eq!(WireOp::Release.apply(&mut w), Err(CountUnderflow));
        assert_eq!(w.count(), 0);
    }

    #[test]
    fn remove_clears_flag_and_count() {
        let mut w = WireState::default();
        apply(WireOp::Mlock, &mut w);
        apply(WireOp::Hold, &mut w);
        apply(WireOp::Hold, &mut w);
        assert_eq!(apply(WireOp::Remove, &mut w), Transition::Unwire);
        assert_eq!((w.flags(), w.count()), (EntryFlags::empty(), 0));
    }

    #[test]
    fn lock_on_fault_is_a_lock_that_mlock_and_munlock_end() {
        let mut w = WireState::default();
        assert_eq!(apply(WireOp::MlockOnFault, &mut w), Transition::Wire);
        assert!(w.is_mlocked() && w.locks_on_fault());
        assert_eq!(apply(WireOp::Mlock, &mut w), Transition::Unchanged);
        assert!(
            w.is_mlocked() && !w.locks_on_fault(),
            "a plain mlock populates"
        );
        assert_eq!(apply(WireOp::MlockOnFault, &mut w), Transition::Unchanged);
        assert_eq!(apply(WireOp::Munlock, &mut w), Transition::Unwire);
        assert_eq!(w.flags(), EntryFlags::empty());
    }

    #[test]
    fn restore_undoes_an_operation() {
        let mut w = WireState::default();
        let (_, saved) = WireOp::Mlock.apply(&mut w).unwrap();
        saved.restore(&mut w);
        assert!(!w.wired_by_itself());
    }
}
