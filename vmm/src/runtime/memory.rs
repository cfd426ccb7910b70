//! Guest linear memories on the VM core: wasmtime's custom-memory hook.
//!
//! Every memory wasmtime creates for a guest is the guest's address space: the initial pages
//! are mapped anonymous memory, growth maps more, and the bytes wasm code touches are the guest's
//! [`View`]. wasmtime compiles code that elides bounds checks against the reservation plus guard
//! it asked for, so the view reserves exactly that and keeps everything beyond the memory's size
//! inaccessible.

#![allow(unsafe_code)]

use crate::base::addr::{Vaddr, PAGE_SIZE};
use crate::calls::mmap::MapFlags;
use crate::machine::{GuestConfig, Machine};
use crate::vm::map::Prot;
use crate::vm::pmap::View;
use crate::GuestId;
use std::cell::RefCell;
use std::sync::Arc;
use wasmtime::{LinearMemory, MemoryCreator, MemoryType};

/// Whose address space the next memory created on this thread is.
#[derive(Clone, Debug)]
pub enum MemoryTarget {
    /// This guest's.
    Guest(GuestId),
    /// A new guest's, added for each memory (for spec-test scripts, where every module
    /// instance is its own guest).
    NewGuest(GuestConfig),
}

thread_local! {
    static TARGET: RefCell<Option<(Machine, MemoryTarget)>> = const { RefCell::new(None) };
}

/// Runs `f` with memories created on this thread going to `target` on `machine`.
pub fn with_target<R>(machine: &Machine, target: MemoryTarget, f: impl FnOnce() -> R) -> R {
    let prev = TARGET.with(|t| t.replace(Some((machine.clone(), target))));
    let r = f();
    TARGET.with(|t| *t.borrow_mut() = prev);
    r
}

/// The memory creator given to wasmtime's `Config::with_host_memory`.
#[derive(Debug, Default)]
pub struct VmmMemoryCreator;

// SAFETY: every memory returned is a reservation of `reserved + guard` bytes at a fixed base,
// inaccessible beyond its size, zero-filled (fresh anonymous memory reads as zeros).
unsafe impl MemoryCreator for VmmMemoryCreator {
    fn new_memory(
        &self,
        _ty: MemoryType,
        minimum: usize,
        maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        let (machine, target) = TARGET
            .with(|t| t.borrow().clone())
            .ok_or("a guest memory can only be created by the vmm runtime (no target guest on this thread)")?;
        let reserved = reserved_size_in_bytes.ok_or("vmm needs a static memory reservation")?;
        let guest = match target {
            MemoryTarget::Guest(g) => g,
            MemoryTarget::NewGuest(gc) => machine
                .add_guest(gc)
                .map_err(|e| format!("adding a guest: {e}"))?,
        };
        let space = machine.config().space_pages * PAGE_SIZE;
        if minimum as u64 > space || maximum.is_some_and(|m| m < minimum) {
            return Err(format!(
                "memory of {minimum} bytes does not fit the {space}-byte address space"
            ));
        }
        if minimum > 0 {
            machine
                .mmap(
                    guest,
                    Vaddr(0),
                    minimum as u64,
                    Prot::RW,
                    MapFlags::ANON | MapFlags::PRIVATE | MapFlags::FIXED,
                )
                .map_err(|e| format!("mapping the initial {minimum} bytes: {e}"))?;
        }
        let view = machine
            .create_view(guest, reserved + guard_size_in_bytes)
            .map_err(|e| format!("creating the guest's memory view: {e}"))?;
        Ok(Box::new(GuestMemory {
            machine,
            guest,
            view,
            size: minimum,
            capacity: reserved.min(space as usize),
            maximum,
        }))
    }
}

/// A guest's linear memory.
///
/// `view` is declared before `machine` so that it drops first: the fault registry holds a raw
/// pointer to the machine's state for as long as the view is registered, and this memory's
/// `machine` may be the last handle keeping that state alive.
#[derive(Debug)]
pub struct GuestMemory {
    view: Arc<View>,
    machine: Machine,
    guest: GuestId,
    size: usize,
    capacity: usize,
    maximum: Option<usize>,
}

// SAFETY: the base never moves (the view is a fixed reservation), the first `size` bytes are
// mapped guest memory and everything after is inaccessible.
unsafe impl LinearMemory for GuestMemory {
    fn byte_size(&self) -> usize {
        self.size
    }

    fn byte_capacity(&self) -> usize {
        self.capacity
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        if new_size > self.capacity || self.maximum.is_some_and(|m| new_size > m) {
            wasmtime::bail!("memory cannot grow to {new_size} bytes");
        }
        if new_size > self.size {
            let flags = MapFlags::ANON | MapFlags::PRIVATE | MapFlags::FIXED;
            self.machine
                .mmap(
                    self.guest,
                    Vaddr(self.size as u64),
                    (new_size - self.size) as u64,
                    Prot::RW,
                    flags,
                )
                .map_err(|e| wasmtime::format_err!("growing guest memory: {e}"))?;
            self.size = new_size;
        }
        Ok(())
    }

    fn as_ptr(&self) -> *mut u8 {
        self.view.base()
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        self.machine.drop_view(self.guest);
    }
}
