//! Wiring and shared-memory limits, and the errno each one gives.
//!
//! | limit | like | checked by | exceeded |
//! |---|---|---|---|
//! | `memlock`: bytes a guest may hold POSIX-locked | `RLIMIT_MEMLOCK` | `mlock`, `mlockall`, new mappings under `MCL_FUTURE` | `mlock`: `EAGAIN`; `mlockall` and `MCL_FUTURE` mappings: `ENOMEM` (as NetBSD) |
//! | `wired_max`: frames wired machine-wide | `uvmexp.wiredmax` | the same, and `SHM_LOCK` | as above; `SHM_LOCK`: `ENOMEM` |
//! | `shmmax`: bytes in one segment | `SHMMAX` | `shmget` | `EINVAL` |
//! | `shmmni`: segments | `SHMMNI` | `shmget` | `ENOSPC` |
//! | `shmall`: pages in all segments | `SHMALL` | `shmget` | `ENOSPC` |
//!
//! Locked memory counts the pages of entries carrying the POSIX lock flag; SVID wirings need
//! privilege and are not counted against it. The wired maximum counts frames that would newly
//! become wired, exactly (a page already wired by someone else costs nothing more).
//! A check happens before any state changes, so an exceeded limit leaves everything as it was.

use crate::base::addr::PAGE_SIZE;

/// The machine's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Default per-guest locked-memory limit, in bytes.
    pub memlock: u64,
    /// Most frames wired at once, machine-wide.
    pub wired_max: u64,
    /// Largest segment, in bytes.
    pub shmmax: u64,
    /// Most segments.
    pub shmmni: u32,
    /// Most pages in all segments together.
    pub shmall: u64,
}

impl Limits {
    /// Defaults for a machine of `frames` frames: no per-guest lock limit, three quarters of
    /// memory wirable (NetBSD allows a third; small test machines want more), 256 segments of at
    /// most 1 GiB and 4 GiB in all.
    pub fn for_frames(frames: u32) -> Limits {
        Limits {
            memlock: u64::MAX,
            wired_max: (u64::from(frames) * 3).div_ceil(4),
            shmmax: 1 << 30,
            shmmni: 256,
            shmall: (4u64 << 30) / PAGE_SIZE,
        }
    }

    /// Whether a guest holding `locked` pages may lock `more` under a limit of `limit_bytes`.
    pub fn memlock_allows(locked: u64, more: u64, limit_bytes: u64) -> bool {
        locked.saturating_add(more).saturating_mul(PAGE_SIZE) <= limit_bytes
    }

    /// Whether `more` frames may become wired when `wired` already are, in a pool of `frames`.
    pub fn wired_allows(&self, wired: u64, more: u64, frames: u64) -> bool {
        wired.saturating_add(more) <= self.wired_max.min(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memlock_limit_is_in_bytes_and_inclusive() {
        assert!(Limits::memlock_allows(1, 1, 2 * PAGE_SIZE));
        assert!(!Limits::memlock_allows(1, 2, 2 * PAGE_SIZE));
        assert!(Limits::memlock_allows(u64::MAX / 2, 10, u64::MAX));
    }

    #[test]
    fn wired_max_is_capped_by_physical_memory() {
        let mut l = Limits::for_frames(8);
        assert_eq!(l.wired_max, 6);
        assert!(l.wired_allows(5, 1, 8) && !l.wired_allows(6, 1, 8));
        l.wired_max = 100;
        assert!(!l.wired_allows(8, 1, 8));
    }
}
