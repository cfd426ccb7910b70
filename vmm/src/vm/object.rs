//! Shared memory objects: the backing of SysV segments, with pages by offset.
//!
//! An object has a fixed number of pages, each untouched, resident or swapped, and a host store
//! holding the resident ones' data. Every guest that attaches the segment maps these same pages;
//! an object may also hold its own wiring on every page (a SHM_LOCKed segment), which keeps them
//! resident with nobody attached.

use crate::vm::host::HostStore;
use crate::vm::page::PageSlot;
use std::io;

/// A segment's pages.
#[derive(Debug)]
pub struct VmObject {
    pages: Vec<PageSlot>,
    store: HostStore,
}

impl VmObject {
    /// An object of `pages` untouched pages.
    pub fn new(name: &str, pages: u64) -> io::Result<VmObject> {
        Ok(VmObject {
            pages: vec![PageSlot::Untouched; pages as usize],
            store: HostStore::new(name, pages)?,
        })
    }

    /// Number of pages.
    pub fn pages(&self) -> u64 {
        self.pages.len() as u64
    }

    /// The slot of page `pgoff`.
    pub fn get(&self, pgoff: u64) -> PageSlot {
        self.pages[pgoff as usize]
    }

    /// Sets the slot of page `pgoff`.
    pub fn set(&mut self, pgoff: u64, slot: PageSlot) {
        self.pages[pgoff as usize] = slot;
    }

    /// The host store holding resident pages' data.
    pub fn store(&self) -> &HostStore {
        &self.store
    }

    /// Every page with its slot.
    pub fn slots(&self) -> impl Iterator<Item = (u64, PageSlot)> + '_ {
        self.pages.iter().enumerate().map(|(i, s)| (i as u64, *s))
    }
}
