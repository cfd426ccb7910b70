//! Swap: page-sized slots over a backing store.
//!
//! The backing is an unlinked temporary file by default, host memory (a `memfd`) or a file the
//! user names. Slots are handed out from a bitmap; a freed slot's storage is punched out so the
//! backing does not keep dead pages. A full swap is an error the caller sees ([`Swap::alloc`]
//! returns `None`), never a panic.
//!
//! Invariant (checked by the audit): a slot is in use exactly when one swapped-out page names it.

use crate::base::addr::{SwapSlot, PAGE_SIZE};
use crate::base::types::{Invariant, Violation};
use crate::vm::host;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// Where swapped-out pages are kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SwapBacking {
    /// An unlinked file in the temporary directory.
    #[default]
    TempFile,
    /// Host memory (useful for tests; it still frees the frames' pages).
    Memory,
    /// A file at this path, created or truncated.
    Path(PathBuf),
}

/// The swap area.
#[derive(Debug)]
pub struct Swap {
    file: File,
    used_bits: Vec<u64>,
    capacity: u32,
    used: u32,
    hint: usize,
    punch_on_free: bool,
}

impl Swap {
    /// A swap area of `slots` pages on `backing`.
    pub fn new(backing: &SwapBacking, slots: u32) -> io::Result<Swap> {
        let file = match backing {
            SwapBacking::TempFile => tempfile::tempfile()?,
            SwapBacking::Memory => host::memfd("vmm-swap")?,
            SwapBacking::Path(p) => OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(p)?,
        };
        file.set_len(u64::from(slots) * PAGE_SIZE)?;
        Ok(Swap {
            file,
            used_bits: vec![0; (slots as usize).div_ceil(64)],
            capacity: slots,
            used: 0,
            hint: 0,
            punch_on_free: *backing == SwapBacking::Memory,
        })
    }

    /// Total slots.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Slots in use.
    pub fn used(&self) -> u32 {
        self.used
    }

    /// Whether `slot` is in use.
    pub fn is_used(&self, slot: SwapSlot) -> bool {
        slot.0 < self.capacity && self.used_bits[slot.0 as usize / 64] & (1 << (slot.0 % 64)) != 0
    }

    /// Takes a free slot; `None` when swap is full.
    pub fn alloc(&mut self) -> Option<SwapSlot> {
        let words = self.used_bits.len();
        for k in 0..words {
            let w = (self.hint + k) % words;
            let free = !self.used_bits[w];
            if free == 0 {
                continue;
            }
            let bit = free.trailing_zeros();
            let slot = w as u32 * 64 + bit;
            if slot >= self.capacity {
                continue;
            }
            self.used_bits[w] |= 1 << bit;
            self.used += 1;
            self.hint = w;
            return Some(SwapSlot(slot));
        }
        None
    }

    /// Frees a slot and gives its storage back.
    pub fn free(&mut self, slot: SwapSlot) {
        debug_assert!(self.is_used(slot), "freeing unused {slot:?}");
        self.used_bits[slot.0 as usize / 64] &= !(1 << (slot.0 % 64));
        self.used -= 1;
        // In memory, a dead page is host memory held for nothing: give it back. On a file it is
        // disk, overwritten when the slot is reused, and the punch would cost every page-in a
        // system call.
        if self.punch_on_free {
            let _ = host::punch_hole(&self.file, u64::from(slot.0) * PAGE_SIZE, PAGE_SIZE);
        }
    }

    /// Frees `n` consecutive slots from `first`, with one punch for their storage.
    pub fn free_run(&mut self, first: SwapSlot, n: u32) {
        for s in first.0..first.0 + n {
            debug_assert!(self.is_used(SwapSlot(s)), "freeing unused slot {s}");
            self.used_bits[s as usize / 64] &= !(1 << (s % 64));
        }
        self.used -= n;
        if self.punch_on_free {
            let _ = host::punch_hole(
                &self.file,
                u64::from(first.0) * PAGE_SIZE,
                u64::from(n) * PAGE_SIZE,
            );
        }
    }

    /// Reads `buf.len()` bytes, consecutive slots' pages, from `first` on.
    pub fn read_run(&self, first: SwapSlot, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, u64::from(first.0) * PAGE_SIZE)
    }

    /// Writes one page into a slot.
    pub fn write(&self, slot: SwapSlot, data: &[u8]) -> io::Result<()> {
        self.file.write_all_at(data, u64::from(slot.0) * PAGE_SIZE)
    }

    /// Reads one page from a slot.
    pub fn read(&self, slot: SwapSlot, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, u64::from(slot.0) * PAGE_SIZE)
    }

    /// Checks swap's own invariant: the use counter is the number of slots marked used, and no
    /// slot past the capacity is. Whether each used slot holds a page is the machine's audit.
    pub fn check(&self) -> Result<(), Violation> {
        let marked: u32 = self.used_bits.iter().map(|w| w.count_ones()).sum();
        let beyond = (self.capacity..self.used_bits.len() as u32 * 64)
            .any(|s| self.used_bits[s as usize / 64] & (1 << (s % 64)) != 0);
        if marked != self.used || beyond {
            return Err(Violation::new(
                Invariant::SwapCount,
                format!(
                    "swap counts {} slots in use, {marked} are marked{}",
                    self.used,
                    if beyond { ", some past the end" } else { "" }
                ),
            ));
        }
        Ok(())
    }

    /// Bytes of storage the backing holds now.
    pub fn backing_bytes(&self) -> io::Result<u64> {
        host::host_bytes(&self.file)
    }

    /// Makes every later write of the backing fail while reads still work, as a disk that went
    /// read-only would: for tests of the paths that must put a page back.
    #[cfg(test)]
    pub(crate) fn break_writes(&mut self) {
        use std::os::fd::AsRawFd;
        // The backing opened again through its descriptor, read-only (it may be unlinked).
        let path = format!("/proc/self/fd/{}", self.file.as_raw_fd());
        self.file = File::open(path).expect("the backing opens again read-only");
    }

    /// Makes every later read and write of the backing fail, as a disk that died would: for
    /// tests of the paths that meet a failing swap.
    #[cfg(test)]
    pub(crate) fn break_backing(&mut self) {
        // A directory opened for reading refuses positional reads and writes (EISDIR, EBADF).
        self.file = File::open("/").expect("the root directory opens");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_run_out_without_panicking_and_come_back() {
        let mut s = Swap::new(&SwapBacking::Memory, 3).unwrap();
        let a = s.alloc().unwrap();
        let _b = s.alloc().unwrap();
        let _c = s.alloc().unwrap();
        assert_eq!(s.alloc(), None);
        s.free(a);
        assert_eq!(s.alloc(), Some(a));
        assert_eq!(s.used(), 3);
    }

    #[test]
    fn data_survives_a_round_trip_through_each_backing() {
        let dir = tempfile::tempdir().unwrap();
        for b in [
            SwapBacking::TempFile,
            SwapBacking::Memory,
            SwapBacking::Path(dir.path().join("swap")),
        ] {
            let mut s = Swap::new(&b, 70).unwrap();
            let slots: Vec<_> = (0..70).map(|_| s.alloc().unwrap()).collect();
            let page: Vec<u8> = (0..PAGE_SIZE).map(|i| (i % 251) as u8).collect();
            s.write(slots[69], &page).unwrap();
            let mut back = vec![0; PAGE_SIZE as usize];
            s.read(slots[69], &mut back).unwrap();
            assert_eq!(back, page, "{b:?}");
        }
    }

    #[test]
    fn check_finds_a_counter_out_of_step_with_the_slots() {
        let mut s = Swap::new(&SwapBacking::Memory, 70).unwrap();
        let a = s.alloc().unwrap();
        s.alloc().unwrap();
        s.free(a);
        s.check().unwrap();
        s.used += 1;
        assert_eq!(s.check().unwrap_err().invariant, Invariant::SwapCount);
    }

    #[test]
    fn a_broken_backing_fails_reads_and_writes() {
        let mut s = Swap::new(&SwapBacking::Memory, 4).unwrap();
        let a = s.alloc().unwrap();
        s.break_backing();
        assert!(s.write(a, &[1; PAGE_SIZE as usize]).is_err());
        assert!(s.read(a, &mut [0; PAGE_SIZE as usize]).is_err());
    }

    #[test]
    fn a_read_only_backing_reads_and_refuses_writes() {
        for b in [SwapBacking::TempFile, SwapBacking::Memory] {
            let mut s = Swap::new(&b, 4).unwrap();
            let a = s.alloc().unwrap();
            s.write(a, &[3; PAGE_SIZE as usize]).unwrap();
            s.break_writes();
            let mut back = [0u8; PAGE_SIZE as usize];
            s.read(a, &mut back).unwrap();
            assert_eq!(back, [3; PAGE_SIZE as usize], "{b:?}");
            assert!(s.write(a, &[1; PAGE_SIZE as usize]).is_err(), "{b:?}");
        }
    }

    #[test]
    fn freed_slots_give_their_storage_back() {
        let mut s = Swap::new(&SwapBacking::Memory, 4).unwrap();
        let a = s.alloc().unwrap();
        s.write(a, &vec![7; PAGE_SIZE as usize]).unwrap();
        assert_eq!(s.backing_bytes().unwrap(), PAGE_SIZE);
        s.free(a);
        assert_eq!(s.backing_bytes().unwrap(), 0);
    }
}
