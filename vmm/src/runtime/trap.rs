//! Why a guest trapped, as one of a few kinds a test module can name.
//!
//! [`classify`] is the one place a guest's failure becomes a [`TrapKind`]. It asks the machine
//! first and the error wasmtime returned second, because the error alone cannot tell the causes
//! apart: guest code that loads from an unmapped page and guest code that stores to a read-only
//! one both fault in the guest's view, the machine refuses both, and wasmtime reports both as
//! "out of bounds memory access". The machine's record of the first fault it refused
//! ([`RefusedFault`]) says which.

use super::abi::CorruptStop;
use crate::base::types::{Access, FaultError, RefusedFault};

/// Why a guest trapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrapKind {
    /// An access to an address the guest may not touch at all: no mapping covers it (a page it
    /// unmapped, or past the end of its memory), its mapping is `PROT_NONE`, or it is a pointer
    /// past the end of memory handed to a WASI call.
    OutOfBounds,
    /// A store to a page mapped readable but not writable (a `SHM_RDONLY` attachment, memory
    /// `mprotect`ed to `PROT_READ`).
    WriteToReadOnly,
    /// A page the guest touched could have no frame: physical memory is wired full, or swap is
    /// full.
    OutOfMemory,
    /// The machine's state is corrupt (a rule set that replays a kernel bug broke an invariant):
    /// a call found it so, or the machine refused to resolve any more faults.
    Corrupt,
    /// The guest executed `unreachable` (what C's `abort` and a Rust guest's panic compile to).
    Unreachable,
    /// The host stopped the guest ([`super::stop_guest`]).
    Stopped,
    /// Any other trap: another wasm trap (an integer division by zero, the call stack
    /// exhausted, ...) or an error from a host function.
    Other,
}

impl TrapKind {
    /// Every kind.
    pub const ALL: [TrapKind; 7] = [
        TrapKind::OutOfBounds,
        TrapKind::WriteToReadOnly,
        TrapKind::OutOfMemory,
        TrapKind::Corrupt,
        TrapKind::Unreachable,
        TrapKind::Stopped,
        TrapKind::Other,
    ];

    /// The name a test module uses for it (`// vmm-expect-trap-kind: write-to-read-only`).
    pub fn name(self) -> &'static str {
        match self {
            TrapKind::OutOfBounds => "out-of-bounds",
            TrapKind::WriteToReadOnly => "write-to-read-only",
            TrapKind::OutOfMemory => "out-of-memory",
            TrapKind::Corrupt => "corrupt",
            TrapKind::Unreachable => "unreachable",
            TrapKind::Stopped => "stopped",
            TrapKind::Other => "other",
        }
    }

    /// The kind named `name`, if one is.
    pub fn from_name(name: &str) -> Option<TrapKind> {
        TrapKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for TrapKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The kind of a guest's trap, from what the machine recorded for the guest and, when the trap
/// came back from wasm, the error wasmtime returned.
///
/// In this order: a host call that found the machine corrupt; the first fault in the guest's
/// view that the machine refused (for a guest run to its end this is the trap's cause: guest
/// code traps at the access, host code acting for the guest at the next check); a stop by the
/// host (`stopped`, the machine's mark with no refused fault behind it); then the wasm trap
/// code, or a WASI call's bad pointer.
pub fn classify(
    error: Option<&wasmtime::Error>,
    refused: Option<RefusedFault>,
    stopped: bool,
) -> TrapKind {
    if error.is_some_and(|e| e.downcast_ref::<CorruptStop>().is_some()) {
        return TrapKind::Corrupt;
    }
    if let Some(r) = refused {
        return match r.error {
            FaultError::Corrupt => TrapKind::Corrupt,
            FaultError::OutOfMemory => TrapKind::OutOfMemory,
            FaultError::Protection if r.access == Access::Write && r.readable => {
                TrapKind::WriteToReadOnly
            }
            FaultError::Protection | FaultError::Unmapped => TrapKind::OutOfBounds,
        };
    }
    if stopped {
        return TrapKind::Stopped;
    }
    let Some(e) = error else {
        return TrapKind::Other;
    };
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::MemoryOutOfBounds) => return TrapKind::OutOfBounds,
        Some(wasmtime::Trap::UnreachableCodeReached) => return TrapKind::Unreachable,
        Some(_) => return TrapKind::Other,
        None => {}
    }
    let bad_pointer = e.chain().any(|c| {
        matches!(
            c.downcast_ref::<wiggle::GuestError>(),
            Some(wiggle::GuestError::PtrOutOfBounds(_) | wiggle::GuestError::PtrOverflow)
        )
    });
    if bad_pointer {
        TrapKind::OutOfBounds
    } else {
        TrapKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_found_by_its_name_and_no_other_name_is_a_kind() {
        for k in TrapKind::ALL {
            assert_eq!(TrapKind::from_name(k.name()), Some(k));
        }
        assert_eq!(TrapKind::from_name("segfault"), None);
    }
}
