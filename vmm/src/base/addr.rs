//! Addresses, page numbers and identifiers, and the one place where page rounding and range
//! arithmetic happen.
//!
//! Guest addresses are offsets in a guest's address space (its wasm linear memory). They are
//! carried as `u64` so that `addr + len` of any two wasm32 values never overflows; every range a
//! caller hands in goes through [`PageRange::rounded`] or [`PageRange::aligned`], which check
//! overflow and the address-space limit once.

use crate::base::errno::Errno;
use std::fmt;

/// The page size of every address space, in bytes (the host page size on x86-64 and the size
/// `getpagesize()` reports to guests).
pub const PAGE_SIZE: u64 = guest_abi::PAGE_SIZE as u64;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = PAGE_SIZE.trailing_zeros();

/// A byte address in a guest's address space.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Vaddr(pub u64);

/// A virtual page number in a guest's address space.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Vpn(pub u64);

/// A physical frame: an index into the machine's frame pool.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrameId(pub u32);

/// A page-sized slot in the swap backing store.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SwapSlot(pub u32);

/// A SysV shared-memory identifier, as `shmget` returns it (slot index and sequence number).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShmId(pub i32);

/// A guest of a machine.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GuestId(pub u32);

/// One `shmat` of a guest: the attachment its map entries belong to (numbered per guest, never
/// reused).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttachId(pub u64);

macro_rules! debug_as {
    ($t:ident, $fmt:literal) => {
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, $fmt, self.0)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, $fmt, self.0)
            }
        }
    };
}
debug_as!(Vaddr, "{:#x}");
debug_as!(Vpn, "vpn {:#x}");
debug_as!(FrameId, "frame {}");
debug_as!(SwapSlot, "swap slot {}");
debug_as!(ShmId, "shmid {}");
debug_as!(GuestId, "guest {}");
debug_as!(AttachId, "attachment {}");

impl Vaddr {
    /// The page that holds this address.
    pub fn vpn(self) -> Vpn {
        Vpn(self.0 >> PAGE_SHIFT)
    }
    /// Whether the address is on a page boundary.
    pub fn is_aligned(self) -> bool {
        self.0 & (PAGE_SIZE - 1) == 0
    }
    /// The offset of the address within its page.
    pub fn page_offset(self) -> u64 {
        self.0 & (PAGE_SIZE - 1)
    }
}

impl Vpn {
    /// The first address of the page.
    pub fn addr(self) -> Vaddr {
        Vaddr(self.0 << PAGE_SHIFT)
    }
    /// The page `n` pages further on.
    pub fn plus(self, n: u64) -> Vpn {
        Vpn(self.0 + n)
    }
}

impl FrameId {
    /// The frame's index in the pool.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Bytes to whole pages, rounding up.
pub fn pages_for(bytes: u64) -> u64 {
    bytes.div_ceil(PAGE_SIZE)
}

/// A half-open range of pages `[start, end)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageRange {
    /// First page.
    pub start: Vpn,
    /// One past the last page.
    pub end: Vpn,
}

impl fmt::Debug for PageRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, {:#x})", self.start.addr().0, self.end.addr().0)
    }
}

impl PageRange {
    /// The range `[start, end)`.
    pub fn new(start: Vpn, end: Vpn) -> PageRange {
        debug_assert!(start <= end);
        PageRange { start, end }
    }

    /// The pages touched by `[addr, addr + len)`: the address rounded down and the end rounded
    /// up, as `mlock` and `mincore` take them. `EINVAL` if the end overflows; `ENOMEM` if it
    /// passes `limit` (the size of the address space).
    pub fn rounded(addr: Vaddr, len: u64, limit: u64) -> Result<PageRange, Errno> {
        let end = addr.0.checked_add(len).ok_or(Errno::EINVAL)?;
        let end = end.checked_add(PAGE_SIZE - 1).ok_or(Errno::EINVAL)? & !(PAGE_SIZE - 1);
        if end > limit {
            return Err(Errno::ENOMEM);
        }
        Ok(PageRange::new(addr.vpn(), Vaddr(end).vpn()))
    }

    /// Like [`PageRange::rounded`], but the address must be page aligned (`EINVAL` if not), as
    /// `munmap`, `mprotect` and `mmap(MAP_FIXED)` take it.
    pub fn aligned(addr: Vaddr, len: u64, limit: u64) -> Result<PageRange, Errno> {
        if !addr.is_aligned() {
            return Err(Errno::EINVAL);
        }
        PageRange::rounded(addr, len, limit)
    }

    /// Number of pages.
    pub fn pages(&self) -> u64 {
        self.end.0 - self.start.0
    }

    /// Whether the range holds no page.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// Size in bytes.
    pub fn bytes(&self) -> u64 {
        self.pages() << PAGE_SHIFT
    }

    /// Whether `vpn` lies in the range.
    pub fn contains(&self, vpn: Vpn) -> bool {
        self.start <= vpn && vpn < self.end
    }

    /// The overlap of two ranges, if any.
    pub fn intersect(&self, other: &PageRange) -> Option<PageRange> {
        let s = self.start.max(other.start);
        let e = self.end.min(other.end);
        (s < e).then(|| PageRange::new(s, e))
    }

    /// Every page of the range, in order.
    pub fn iter(&self) -> impl Iterator<Item = Vpn> {
        (self.start.0..self.end.0).map(Vpn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB4: u64 = 1 << 32;

    #[test]
    fn rounded_range_covers_every_touched_page() {
        let r = PageRange::rounded(Vaddr(4095), 2, GIB4).unwrap();
        assert_eq!((r.start, r.end), (Vpn(0), Vpn(2)));
        let r = PageRange::rounded(Vaddr(8192), 0, GIB4).unwrap();
        assert!(r.is_empty());
    }

    #[test]
    fn range_past_the_address_space_is_enomem_and_overflow_is_einval() {
        assert_eq!(
            PageRange::rounded(Vaddr(GIB4 - 4096), 4097, GIB4),
            Err(Errno::ENOMEM)
        );
        assert_eq!(
            PageRange::rounded(Vaddr(u64::MAX - 10), 100, GIB4),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            PageRange::rounded(Vaddr(u64::MAX - 4000), 1, GIB4),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn aligned_range_rejects_unaligned_addresses() {
        assert_eq!(
            PageRange::aligned(Vaddr(12), 4096, GIB4),
            Err(Errno::EINVAL)
        );
        assert_eq!(PageRange::aligned(Vaddr(4096), 1, GIB4).unwrap().pages(), 1);
    }

    #[test]
    fn intersection_of_disjoint_ranges_is_none() {
        let a = PageRange::new(Vpn(0), Vpn(4));
        let b = PageRange::new(Vpn(4), Vpn(8));
        assert_eq!(a.intersect(&b), None);
        let c = PageRange::new(Vpn(2), Vpn(6));
        assert_eq!(a.intersect(&c), Some(PageRange::new(Vpn(2), Vpn(4))));
    }
}
