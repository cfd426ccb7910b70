//! SysV segments as data: the segment table, ids, permissions and what `IPC_STAT` reports.
//!
//! A [`Segment`] owns the [`VmObject`] its attachers map, with its key, mode, attach count and
//! lock state. Ids carry a sequence number in their high bits, so a stale id of a removed
//! segment finds nothing. The calls that act on segments are in [`crate::calls::shm`]; this part knows
//! nothing of maps or guests.
//!
//! Invariants (checked by the audit): a segment's `nattch` is the number of attachments guests
//! hold; `object_wired` equals `locked` except where a rule set replays a bug.

use crate::base::addr::ShmId;
use crate::base::types::{Cred, Invariant, IpcPerm, ShmidDs, Violation};
use crate::vm::object::VmObject;
use guest_abi::ipc;

/// One segment.
#[derive(Debug)]
pub struct Segment {
    /// Its identifier.
    id: ShmId,
    /// Its key (`IPC_PRIVATE` once marked for removal).
    key: i32,
    /// Size in bytes, as asked for.
    size: u64,
    /// Owner, creator, mode.
    perm: IpcPerm,
    /// The pages.
    object: VmObject,
    /// Attachments across all guests.
    nattch: u32,
    /// SHM_LOCK state (the mark `IPC_STAT` shows).
    locked: bool,
    /// `SHM_LOCK`s not yet undone, where the rules count them (illumos' `shm_lkcnt`); 0
    /// under every other rule set.
    lock_count: u32,
    /// Whether the object holds its own wiring on each of its resident pages (every page is
    /// resident then, except under a lazy `SHM_LOCK`, [`crate::base::types::Policy::lazy_shm_lock`]).
    /// Equal to `locked` except under `netbsd-2019`, which can leave the mark set after
    /// unwiring the object.
    object_wired: bool,
    /// Marked by IPC_RMID.
    removed: bool,
    /// Pages of entries mapping the segment, in every guest, that are wired on their own
    /// account (the POSIX flag or a count): kept by every wiring transition, so that `SHM_LOCK`
    /// and `SHM_UNLOCK` look for such entries only when there are some. The audit recomputes it.
    entry_wired_pages: u64,
    cpid: u32,
    lpid: u32,
    atime: u32,
    dtime: u32,
    ctime: u32,
}

/// What a new segment starts with.
#[derive(Debug)]
pub struct NewSegment {
    /// Its key.
    pub key: i32,
    /// Size in bytes, as asked for.
    pub size: u64,
    /// Owner, creator, mode.
    pub perm: IpcPerm,
    /// Its pages.
    pub object: VmObject,
    /// The creating guest.
    pub cpid: u32,
    /// When it was created (seconds since the Epoch).
    pub now: u32,
}

impl Segment {
    /// Its identifier.
    #[inline]
    pub fn id(&self) -> ShmId {
        self.id
    }

    /// Its key (`IPC_PRIVATE` once marked for removal).
    pub fn key(&self) -> i32 {
        self.key
    }

    /// Size in bytes, as asked for.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Owner, creator, mode.
    pub fn perm(&self) -> &IpcPerm {
        &self.perm
    }

    /// The pages.
    #[inline]
    pub fn object(&self) -> &VmObject {
        &self.object
    }

    /// The pages, to change (the object is a part of its own, with its own writers).
    #[inline]
    pub fn object_mut(&mut self) -> &mut VmObject {
        &mut self.object
    }

    /// Whether `IPC_RMID` marked it.
    pub fn removed(&self) -> bool {
        self.removed
    }

    /// Attachments across all guests.
    pub fn nattch(&self) -> u32 {
        self.nattch
    }

    /// The `SHM_LOCK` mark (what `IPC_STAT` shows as `SHM_LOCKED`).
    pub fn locked(&self) -> bool {
        self.locked
    }

    /// `SHM_LOCK`s not yet undone, where the rule set counts them.
    pub fn lock_count(&self) -> u32 {
        self.lock_count
    }

    /// Whether the object holds its own wiring on its resident pages.
    pub fn object_wired(&self) -> bool {
        self.object_wired
    }

    /// Pages of entries mapping the segment that are wired on their own account.
    pub fn entry_wired_pages(&self) -> u64 {
        self.entry_wired_pages
    }

    /// Sets the `SHM_LOCK` mark; says whether it changed.
    pub fn set_locked(&mut self, locked: bool) -> bool {
        std::mem::replace(&mut self.locked, locked) != locked
    }

    /// Sets the count of `SHM_LOCK`s not yet undone.
    pub fn set_lock_count(&mut self, count: u32) {
        self.lock_count = count;
    }

    /// Records whether the object holds its own wiring.
    pub fn set_object_wired(&mut self, wired: bool) {
        self.object_wired = wired;
    }

    /// Keeps [`Segment::entry_wired_pages`] through `pages` pages of its entries becoming wired
    /// on their own account (`wired`) or ceasing to be.
    pub fn count_entry_wired_pages(&mut self, pages: u64, wired: bool) {
        if wired {
            self.entry_wired_pages += pages;
        } else {
            self.entry_wired_pages = self.entry_wired_pages.saturating_sub(pages);
        }
    }

    /// Sets the attach count directly, bypassing every rule: for tests that plant an
    /// inconsistency for the audit to find.
    #[cfg(test)]
    pub(crate) fn corrupt_nattch(&mut self, nattch: u32) {
        self.nattch = nattch;
    }

    /// Its size in pages.
    pub fn pages(&self) -> u64 {
        self.object.pages()
    }

    /// An attach by the guest with pid `pid` at `now` (seconds since the Epoch).
    pub fn attached(&mut self, pid: u32, now: u32) {
        self.nattch += 1;
        self.lpid = pid;
        self.atime = now;
    }

    /// A detach by the guest with pid `pid` at `now`.
    pub fn detached(&mut self, pid: u32, now: u32) {
        self.nattch -= 1;
        self.lpid = pid;
        self.dtime = now;
    }

    /// `IPC_SET`'s change of owner and mode at `now`.
    pub fn set_owner(&mut self, uid: u32, gid: u32, mode: u32, now: u32) {
        self.perm.uid = uid;
        self.perm.gid = gid;
        self.perm.mode = mode & ipc::MODE_MASK as u32;
        self.ctime = now;
    }

    /// `IPC_RMID`'s mark at `now`: the key becomes private, new attaches are refused.
    pub fn mark_removed(&mut self, now: u32) {
        self.removed = true;
        self.key = ipc::IPC_PRIVATE;
        self.ctime = now;
    }

    /// What `IPC_STAT` reports.
    pub fn stat(&self) -> ShmidDs {
        let mut perm = self.perm;
        if self.locked {
            perm.mode |= guest_abi::shmid_ds::SHM_LOCKED as u32;
        }
        if self.removed {
            perm.mode |= guest_abi::shmid_ds::SHM_DEST as u32;
        }
        ShmidDs {
            perm,
            key: self.key,
            segsz: self.size,
            lpid: self.lpid,
            cpid: self.cpid,
            nattch: self.nattch,
            atime: self.atime,
            dtime: self.dtime,
            ctime: self.ctime,
        }
    }
}

struct Slot {
    seq: u16,
    seg: Option<Segment>,
}

/// The machine's segments.
pub struct ShmTable {
    slots: Vec<Slot>,
    max: u32,
    pages: u64,
}

impl std::fmt::Debug for ShmTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|s| (s.id, s.key, s.pages())))
            .finish()
    }
}

const IDX_BITS: u32 = 16;

impl ShmTable {
    /// Sets the table's page total directly, bypassing every rule: for tests that plant an
    /// inconsistency for the audit to find.
    #[cfg(test)]
    pub(crate) fn corrupt_pages(&mut self, pages: u64) {
        self.pages = pages;
    }

    /// A table of at most `max` segments.
    pub fn new(max: u32) -> ShmTable {
        ShmTable {
            slots: Vec::new(),
            max: max.min(1 << IDX_BITS),
            pages: 0,
        }
    }

    /// The live segment with this id (`None` for a stale or bad id).
    pub fn get(&self, id: ShmId) -> Option<&Segment> {
        let (idx, seq) = split(id)?;
        let s = self.slots.get(idx)?;
        s.seg.as_ref().filter(|_| s.seq == seq)
    }

    /// Mutable [`ShmTable::get`].
    pub fn get_mut(&mut self, id: ShmId) -> Option<&mut Segment> {
        let (idx, seq) = split(id)?;
        let s = self.slots.get_mut(idx)?;
        if s.seq != seq {
            return None;
        }
        s.seg.as_mut()
    }

    /// Every live segment.
    pub fn iter(&self) -> impl Iterator<Item = &Segment> {
        self.slots.iter().filter_map(|s| s.seg.as_ref())
    }

    /// The segment in slot `idx` (what Linux's `SHM_STAT` names by index), if any.
    pub fn at_index(&self, idx: u32) -> Option<&Segment> {
        self.slots.get(idx as usize)?.seg.as_ref()
    }

    /// The highest slot index in use, if any segment exists (Linux's `ipc_get_maxidx`).
    pub fn max_index(&self) -> Option<u32> {
        self.slots
            .iter()
            .rposition(|s| s.seg.is_some())
            .map(|i| i as u32)
    }

    /// Pages in all segments.
    pub fn total_pages(&self) -> u64 {
        self.pages
    }

    /// The live, unremoved segment with this key.
    pub fn find_key(&self, key: i32) -> Option<ShmId> {
        self.iter()
            .find(|s| s.key == key && !s.removed)
            .map(|s| s.id)
    }

    /// Adds a segment in a free slot; `None` when the table is full.
    pub fn insert(&mut self, new: NewSegment) -> Option<ShmId> {
        let idx = self.free_slot()?;
        let id = ShmId((i32::from(self.slots[idx].seq) << IDX_BITS) | idx as i32);
        self.pages += new.object.pages();
        self.slots[idx].seg = Some(Segment {
            id,
            key: new.key,
            size: new.size,
            perm: new.perm,
            object: new.object,
            nattch: 0,
            locked: false,
            lock_count: 0,
            object_wired: false,
            entry_wired_pages: 0,
            removed: false,
            cpid: new.cpid,
            lpid: 0,
            atime: 0,
            dtime: 0,
            ctime: new.now,
        });
        Some(id)
    }

    /// Whether another segment fits (a free slot or room for one).
    pub fn has_room(&self) -> bool {
        self.slots.iter().any(|s| s.seg.is_none()) || (self.slots.len() as u32) < self.max
    }

    fn free_slot(&mut self) -> Option<usize> {
        if let Some(i) = self.slots.iter().position(|s| s.seg.is_none()) {
            return Some(i);
        }
        if (self.slots.len() as u32) < self.max {
            self.slots.push(Slot { seq: 0, seg: None });
            return Some(self.slots.len() - 1);
        }
        None
    }

    /// Checks the table's own invariant: its page total is the sum of its segments' sizes, and
    /// each segment sits in the slot its id names.
    pub fn check(&self) -> Result<(), Violation> {
        let pages: u64 = self.iter().map(|s| s.pages()).sum();
        if pages != self.pages {
            return Err(Violation::new(
                Invariant::ShmPages,
                format!(
                    "the table counts {} pages, its segments hold {pages}",
                    self.pages
                ),
            ));
        }
        if let Some(s) = self
            .iter()
            .find(|s| self.get(s.id).is_none_or(|t| t.id != s.id))
        {
            return Err(Violation::new(
                Invariant::ShmPages,
                format!("{:?} is not found under its own id", s.id),
            ));
        }
        Ok(())
    }

    /// Removes the segment, returning it (its pages are the caller's to free).
    pub fn take(&mut self, id: ShmId) -> Option<Segment> {
        let (idx, _) = split(id)?;
        let s = self.slots.get_mut(idx)?;
        let seg = s.seg.take()?;
        s.seq = (s.seq + 1) & 0x7fff;
        self.pages -= seg.pages();
        Some(seg)
    }
}

fn split(id: ShmId) -> Option<(usize, u16)> {
    let raw = id.0 as u32;
    (id.0 >= 0).then_some(((raw & 0xffff) as usize, (raw >> IDX_BITS) as u16))
}

/// SysV permission check: may `cred` have `want` (a 3-bit rwx mask) on a segment with `perm`?
/// `bypass` is the caller's privilege to skip the check ([`Cred::may_bypass_ipc_perms`]);
/// otherwise the owner's, group's or others' bits decide, by effective ids (Linux
/// `ipc/util.c:ipcperms`).
pub fn ipc_allows(cred: Cred, perm: &IpcPerm, want: u32, bypass: bool) -> bool {
    if bypass {
        return true;
    }
    let bits = if cred.uid == perm.uid || cred.uid == perm.cuid {
        perm.mode >> 6
    } else if cred.gid == perm.gid || cred.gid == perm.cgid {
        perm.mode >> 3
    } else {
        perm.mode
    };
    bits & want & 0o7 == want
}

/// Read permission, as a 3-bit mask for [`ipc_allows`].
pub const R: u32 = 0o4;
/// Write permission, as a 3-bit mask for [`ipc_allows`].
pub const W: u32 = 0o2;

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(mode: u32) -> IpcPerm {
        IpcPerm {
            uid: 10,
            gid: 20,
            cuid: 11,
            cgid: 21,
            mode,
        }
    }

    #[test]
    fn owner_group_and_other_bits_apply_in_that_order() {
        let p = perm(0o640);
        assert!(ipc_allows(Cred::new(10, 99), &p, R | W, false));
        assert!(
            ipc_allows(Cred::new(11, 99), &p, R | W, false),
            "the creator counts as owner"
        );
        assert!(ipc_allows(Cred::new(50, 20), &p, R, false));
        assert!(!ipc_allows(Cred::new(50, 20), &p, W, false));
        assert!(!ipc_allows(Cred::new(50, 50), &p, R, false));
        assert!(ipc_allows(Cred::ROOT, &perm(0), R | W, true));
        assert!(!ipc_allows(Cred::ROOT, &perm(0), R, false));
    }

    #[test]
    fn stale_ids_are_not_found() {
        let t = ShmTable::new(4);
        assert!(t.get(ShmId(0)).is_none());
        assert!(t.get(ShmId(-5)).is_none());
        assert!(t.get(ShmId(1 << 16)).is_none());
    }
}
