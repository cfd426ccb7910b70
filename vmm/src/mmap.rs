//! The memory-management calls on a guest's address space: `mmap`, `munmap`, `mprotect`,
//! `mincore`, `mlock`, `munlock`, `mlockall`, `munlockall`, and guest exit.
//!
//! Each call validates everything and checks its limits before it changes anything, so a call
//! that fails leaves no state changed; the few failures that can only show up part-way (no frame
//! could be had while wiring) are rolled back by `State::wire_entries`.

use crate::addr::{AttachId, GuestId, PageRange, Vaddr, Vpn};
use crate::errno::Errno;
use crate::limits::Limits;
use crate::machine::State;
use crate::map::{Backing, Entry, Prot};
use crate::page::{Owner, PageSlot};
use crate::wire::WireOp;
use bitflags::bitflags;

bitflags! {
    /// `mmap` flags (numbers from `guest-abi`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct MapFlags: u32 {
        /// Shared (anonymous shared memory behaves as private here: no guest can fork).
        const SHARED = guest_abi::mman::MAP_SHARED as u32;
        /// Private.
        const PRIVATE = guest_abi::mman::MAP_PRIVATE as u32;
        /// Exactly at the address, replacing what is there.
        const FIXED = guest_abi::mman::MAP_FIXED as u32;
        /// Anonymous memory.
        const ANON = guest_abi::mman::MAP_ANON as u32;
    }
}

impl MapFlags {
    /// Decodes a guest's `flags` argument: `EINVAL` for unknown bits.
    pub fn from_guest(bits: i32) -> Result<MapFlags, Errno> {
        u32::try_from(bits)
            .ok()
            .and_then(MapFlags::from_bits)
            .ok_or(Errno::EINVAL)
    }
}

bitflags! {
    /// `mlockall` flags (numbers from `guest-abi`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct MlockallFlags: u32 {
        /// Lock every current mapping.
        const CURRENT = guest_abi::mman::MCL_CURRENT as u32;
        /// Lock every future mapping.
        const FUTURE = guest_abi::mman::MCL_FUTURE as u32;
    }
}

impl MlockallFlags {
    /// Decodes a guest's `flags` argument: `EINVAL` for none or unknown bits.
    pub fn from_guest(bits: i32) -> Result<MlockallFlags, Errno> {
        u32::try_from(bits)
            .ok()
            .and_then(MlockallFlags::from_bits)
            .filter(|f| !f.is_empty())
            .ok_or(Errno::EINVAL)
    }
}

/// The lowest page an address-less `mmap` or `shmat` picks, so that no mapping lands at 0.
pub(crate) const PLACEMENT_FLOOR: Vpn = Vpn(1);

impl State {
    fn limit_bytes(&self) -> u64 {
        self.cfg.space_pages * crate::addr::PAGE_SIZE
    }

    /// Frames that would newly become wired if every unwired entry in `range` (of those `pick`
    /// accepts) were wired: pages not resident, or resident with no wiring yet. A segment page
    /// mapped twice in the range counts once.
    pub(crate) fn frames_to_wire(
        &self,
        g: GuestId,
        range: PageRange,
        pick: impl Fn(&Entry) -> bool,
    ) -> u64 {
        let vm = &self.guests[&g];
        let mut n = 0;
        let mut shared = std::collections::HashSet::new();
        for e in vm
            .map
            .overlapping(range)
            .filter(|e| !e.is_wired() && pick(e))
        {
            for vpn in e.range().intersect(&range).iter().flat_map(|r| r.iter()) {
                let o = State::owner_of(g, e.backing_at(vpn), vpn);
                match self.slot(o) {
                    PageSlot::Resident(f) if self.pool.frame(f).wire_count > 0 => {}
                    _ if matches!(o, Owner::Object { .. }) => n += u64::from(shared.insert(o)),
                    _ => n += 1,
                }
            }
        }
        n
    }

    /// Whether `pages` fresh pages may start locked (`MCL_FUTURE`), counted in full.
    fn future_lock_allows(&self, g: GuestId, pages: u64) -> bool {
        let vm = &self.guests[&g];
        Limits::memlock_allows(vm.locked_pages, pages, vm.memlock_limit)
            && self.cfg.limits.wired_allows(
                self.pool.wired() as u64,
                pages,
                self.pool.total() as u64,
            )
    }

    /// Checks the locked-memory limit and the wired maximum for locking `range` of guest `g`.
    pub(crate) fn check_lock_limits(
        &self,
        g: GuestId,
        range: PageRange,
        pick: impl Fn(&Entry) -> bool + Copy,
    ) -> bool {
        let vm = &self.guests[&g];
        let more_locked: u64 = vm
            .map
            .overlapping(range)
            .filter(|e| !e.is_mlocked() && pick(e))
            .filter_map(|e| e.range().intersect(&range))
            .map(|r| r.pages())
            .sum();
        Limits::memlock_allows(vm.locked_pages, more_locked, vm.memlock_limit)
            && self.cfg.limits.wired_allows(
                self.pool.wired() as u64,
                self.frames_to_wire(g, range, pick),
                self.pool.total() as u64,
            )
    }

    /// Inserts a fresh entry and, under `MCL_FUTURE`, locks it. `ENOMEM` (limits or memory)
    /// removes it again.
    pub(crate) fn insert_entry(&mut self, g: GuestId, entry: Entry) -> Result<(), Errno> {
        let (range, backing, prot) = (entry.range(), entry.backing, entry.prot);
        let vm = self.guest_mut(g)?;
        if backing == Backing::Anon {
            vm.amap.reserve(range);
        }
        vm.map.insert(entry);
        tracing::debug!(target: "vmm::map", guest = g.0, start = range.start.addr().0, pages = range.pages(), ?backing, ?prot, "map");
        if let Err(e) = self.pmap_enter(g, range, backing, prot) {
            self.remove_range(g, range)?;
            return Err(e);
        }
        // A PROT_NONE mapping is never locked, as NetBSD's uvm_mmaplock returns before wiring
        // one (and as `mlock` refuses one).
        if !self.guests[&g].map.wire_future || prot.is_empty() {
            return Ok(());
        }
        let r = if self.check_lock_limits(g, range, |_| true) {
            self.guest_mut(g)?.map.clip_range(range);
            let r = self
                .wire_entries(g, range, self.rules().lock_op(), |_| true)
                .map_err(|_| Errno::ENOMEM);
            self.guest_mut(g)?.map.merge_around(range);
            r
        } else {
            Err(Errno::ENOMEM)
        };
        if r.is_err() {
            self.remove_range(g, range)?;
        }
        r
    }

    pub(crate) fn mmap(
        &mut self,
        g: GuestId,
        addr: Vaddr,
        len: u64,
        prot: Prot,
        flags: MapFlags,
    ) -> Result<Vaddr, Errno> {
        self.guest(g)?;
        if !flags.contains(MapFlags::ANON)
            || flags.contains(MapFlags::SHARED | MapFlags::PRIVATE)
            || len == 0
        {
            return Err(Errno::EINVAL);
        }
        let limit = self.limit_bytes();
        let range = if flags.contains(MapFlags::FIXED) {
            let r = PageRange::aligned(addr, len, limit)?;
            if self.guests[&g].map.wire_future
                && !prot.is_empty()
                && !self.future_lock_allows(g, r.pages())
            {
                // Checked before the old mappings go (counting the new range in full, whatever
                // it replaces), so a refused call changes nothing.
                return Err(Errno::ENOMEM);
            }
            self.remove_range(g, r)?;
            r
        } else {
            let pages = PageRange::rounded(Vaddr(0), len, limit)
                .map_err(|_| Errno::ENOMEM)?
                .pages();
            let map = &self.guests[&g].map;
            let start = map
                .find_space(pages, addr.vpn().max(PLACEMENT_FLOOR))
                .or_else(|| map.find_space(pages, PLACEMENT_FLOOR))
                .ok_or(Errno::ENOMEM)?;
            PageRange::new(start, start.plus(pages))
        };
        self.insert_entry(
            g,
            Entry::new(range.start, range.end, prot, Prot::ALL, Backing::Anon),
        )?;
        Ok(range.start.addr())
    }

    /// Removes every entry in `range`, really unwiring each (flag and count), and frees the
    /// anonymous pages it mapped. An attachment left with no page mapped ends there under the
    /// mapping rule ([`crate::semantics::AttachmentLife`]).
    pub(crate) fn remove_range(&mut self, g: GuestId, range: PageRange) -> Result<(), Errno> {
        tracing::debug!(target: "vmm::map", guest = g.0, start = range.start.addr().0, pages = range.pages(), "unmap");
        self.guest_mut(g)?.map.clip_range(range);
        self.wire_entries(g, range, WireOp::Remove, |_| true)?;
        let mut attachments: Vec<AttachId> = self.guests[&g]
            .map
            .overlapping(range)
            .filter_map(|e| e.attachment)
            .collect();
        attachments.dedup();
        for s in self.guests[&g].map.starts_in(range) {
            let e = self
                .guests
                .get_mut(&g)
                .expect("checked")
                .map
                .remove(s)
                .expect("listed");
            if e.backing == Backing::Anon {
                self.free_anon(g, e.range())?;
            }
        }
        self.pmap_remove(g, range)?;
        self.end_unmapped_attachments(g, &attachments)
    }

    /// Frees the frames, swap slots and host memory of guest `g`'s anonymous pages in `range`.
    fn free_anon(&mut self, g: GuestId, range: PageRange) -> Result<(), Errno> {
        for vpn in range.iter() {
            let o = Owner::Anon { guest: g, vpn };
            match self.slot(o) {
                PageSlot::Untouched => continue,
                PageSlot::Resident(f) => {
                    if self.pool.frame(f).wire_count != 0 {
                        return Err(self.corrupted(
                            "free-wired",
                            format!(
                                "{g:?} page {:?} freed while {f:?} is still wired",
                                vpn.addr()
                            ),
                        ));
                    }
                    self.pool.release(f);
                }
                PageSlot::Swapped(slot) => self.swap.free(slot),
            }
            self.set_slot(o, PageSlot::Untouched);
        }
        let _ = self.guests[&g]
            .amap
            .store()
            .release(range.start.0, range.pages());
        Ok(())
    }

    pub(crate) fn munmap(&mut self, g: GuestId, addr: Vaddr, len: u64) -> Result<(), Errno> {
        self.guest(g)?;
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let range = PageRange::aligned(addr, len, self.limit_bytes()).map_err(|_| Errno::EINVAL)?;
        self.remove_range(g, range)
    }

    pub(crate) fn mprotect(
        &mut self,
        g: GuestId,
        addr: Vaddr,
        len: u64,
        prot: Prot,
    ) -> Result<(), Errno> {
        let range = PageRange::aligned(addr, len, self.limit_bytes())?;
        let vm = self.guest_mut(g)?;
        if !vm.map.is_fully_mapped(range) {
            return Err(Errno::ENOMEM);
        }
        if vm
            .map
            .overlapping(range)
            .any(|e| !e.max_prot.contains(prot))
        {
            return Err(Errno::EACCES);
        }
        vm.map.clip_range(range);
        for s in vm.map.starts_in(range) {
            vm.map.get_mut(s).expect("listed").prot = prot;
        }
        vm.map.merge_around(range);
        tracing::debug!(target: "vmm::map", guest = g.0, start = range.start.addr().0, pages = range.pages(), ?prot, "protect");
        self.pmap_protect(g, range, prot)
    }

    pub(crate) fn mincore(&mut self, g: GuestId, addr: Vaddr, len: u64) -> Result<Vec<u8>, Errno> {
        let range = PageRange::aligned(addr, len, self.limit_bytes())?;
        let vm = self.guest(g)?;
        if !vm.map.is_fully_mapped(range) {
            return Err(Errno::ENOMEM);
        }
        let mut out = Vec::with_capacity(range.pages() as usize);
        for e in vm.map.overlapping(range) {
            for vpn in e.range().intersect(&range).iter().flat_map(|r| r.iter()) {
                let resident = matches!(
                    self.slot(State::owner_of(g, e.backing_at(vpn), vpn)),
                    PageSlot::Resident(_)
                );
                out.push(u8::from(resident));
            }
        }
        Ok(out)
    }

    /// `mlock`. A range with a hole is `ENOMEM`; one with a `PROT_NONE` entry is `EINVAL`, as
    /// NetBSD's uvm_map_pageable refuses to wire one (its test `t_mlock.c`, `mlock_mmap`,
    /// requires the failure). Either way nothing changes.
    pub(crate) fn mlock(&mut self, g: GuestId, addr: Vaddr, len: u64) -> Result<(), Errno> {
        let range = PageRange::rounded(addr, len, self.limit_bytes())?;
        let map = &self.guest(g)?.map;
        if !map.is_fully_mapped(range) {
            return Err(Errno::ENOMEM);
        }
        if map.overlapping(range).any(|e| e.prot.is_empty()) {
            return Err(Errno::EINVAL);
        }
        if !self.check_lock_limits(g, range, |_| true) {
            return Err(Errno::EAGAIN);
        }
        self.guest_mut(g)?.map.clip_range(range);
        let r = self.wire_entries(g, range, self.rules().lock_op(), |_| true);
        self.guest_mut(g)?.map.merge_around(range);
        r.map_err(|e| if e == Errno::ENOMEM { Errno::EAGAIN } else { e })
    }

    pub(crate) fn munlock(&mut self, g: GuestId, addr: Vaddr, len: u64) -> Result<(), Errno> {
        let range = PageRange::rounded(addr, len, self.limit_bytes())?;
        if !self.guest(g)?.map.is_fully_mapped(range) {
            return Err(Errno::ENOMEM);
        }
        self.guest_mut(g)?.map.clip_range(range);
        let r = self.rules().munlock(self, g, range);
        self.guest_mut(g)?.map.merge_around(range);
        r
    }

    /// `mlockall`. `MCL_CURRENT` locks every entry that is not `PROT_NONE` (as NetBSD);
    /// `MCL_FUTURE` makes later mappings start locked. `MCL_CURRENT` alone leaves an earlier
    /// `MCL_FUTURE` in force (as NetBSD).
    pub(crate) fn mlockall(&mut self, g: GuestId, flags: MlockallFlags) -> Result<(), Errno> {
        let all = self.whole_space();
        self.guest(g)?;
        if flags.is_empty() {
            return Err(Errno::EINVAL);
        }
        if flags.contains(MlockallFlags::CURRENT) {
            let accessible = |e: &Entry| !e.prot.is_empty();
            if !self.check_lock_limits(g, all, accessible) {
                return Err(Errno::ENOMEM);
            }
            let r = self.wire_entries(g, all, self.rules().lock_op(), accessible);
            self.guest_mut(g)?.map.merge_around(all);
            r.map_err(|_| Errno::ENOMEM)?;
        }
        if flags.contains(MlockallFlags::FUTURE) {
            self.guest_mut(g)?.map.wire_future = true;
        }
        Ok(())
    }

    pub(crate) fn munlockall(&mut self, g: GuestId) -> Result<(), Errno> {
        let all = self.whole_space();
        self.guest_mut(g)?.map.wire_future = false;
        let r = self.rules().munlockall(self, g);
        self.guest_mut(g)?.map.merge_around(all);
        r
    }

    /// Guest exit: detach every segment, remove every mapping, forget the guest.
    pub(crate) fn exit(&mut self, g: GuestId) -> Result<(), Errno> {
        while let Some(a) = self.guest(g)?.attachments.first().copied() {
            self.shmdt(g, a.va.addr())?;
        }
        self.remove_range(g, self.whole_space())?;
        self.views.remove(&g);
        self.guests.remove(&g);
        Ok(())
    }
}
