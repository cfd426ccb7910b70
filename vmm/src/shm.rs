//! SysV shared memory: `shmget`, `shmat`, `shmdt`, `shmctl`.
//!
//! A segment owns a [`VmObject`]; every attachment is a map entry backed by that object, so all
//! attachers share the same pages (and the same host memory).
//!
//! `SHM_LOCK` is a segment state, not a call to undo one by one. While it is set:
//! - the object holds one wiring of its own on each of its pages, so the segment stays resident
//!   with nobody attached;
//! - every entry mapping the segment, in any guest, attached before or after, holds one SVID
//!   count (a [`WireOp::Hold`]).
//!
//! `SHM_UNLOCK` removes exactly those. Repeating either is a no-op, and neither touches any
//! entry's POSIX lock flag, so `munlock` never unwires what `SHM_LOCK` holds and `SHM_UNLOCK`
//! never unwires what `mlock` holds.
//!
//! `IPC_RMID` marks the segment: its key becomes private at once, new attaches fail with `EIDRM`,
//! and it is destroyed (pages, frames, swap slots, wirings) when its last attachment goes.
//! Permissions follow SysV: owner, group and other bits of the mode for `shmget`, `shmat` and
//! `IPC_STAT`; owner, creator or privilege for `IPC_SET` and `IPC_RMID`; privilege alone for
//! `SHM_LOCK` and `SHM_UNLOCK`.

use crate::addr::{pages_for, AttachId, GuestId, PageRange, ShmId, Vaddr, PAGE_SIZE};
use crate::errno::Errno;
use crate::machine::{Attachment, Cred, State};
use crate::map::{Backing, Entry, Prot};
use crate::mmap::PLACEMENT_FLOOR;
use crate::object::VmObject;
use crate::page::{Owner, PageSlot};
use crate::semantics::AttachmentLife;
use crate::wire::WireOp;
use guest_abi::ipc;

/// A segment's owner, creator and permission bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpcPerm {
    /// Owner user.
    pub uid: u32,
    /// Owner group.
    pub gid: u32,
    /// Creator user.
    pub cuid: u32,
    /// Creator group.
    pub cgid: u32,
    /// Permission bits (`0o777`).
    pub mode: u32,
}

/// What `IPC_STAT` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShmidDs {
    /// Owner, creator and mode; the mode also carries `SHM_LOCKED`/`SHM_DEST` state bits.
    pub perm: IpcPerm,
    /// The key (`IPC_PRIVATE` once removed).
    pub key: i32,
    /// Size in bytes, as asked for at creation.
    pub segsz: u64,
    /// Guest of the last attach or detach.
    pub lpid: u32,
    /// Guest that created it.
    pub cpid: u32,
    /// Current attachments.
    pub nattch: u32,
    /// Machine tick of the last attach.
    pub atime: u32,
    /// Machine tick of the last detach.
    pub dtime: u32,
    /// Machine tick of the last change.
    pub ctime: u32,
}

/// A `shmctl` command, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShmCmd {
    /// Report the status.
    Stat,
    /// Set owner and mode.
    Set {
        /// New owner user.
        uid: u32,
        /// New owner group.
        gid: u32,
        /// New permission bits (only `0o777` is kept).
        mode: u32,
    },
    /// Mark for removal.
    Rmid,
    /// Wire the segment (SVID).
    Lock,
    /// Unwire the segment (SVID).
    Unlock,
}

impl ShmCmd {
    /// Whether a raw command number is one of these (IPC_SET's buffer is read by the caller).
    pub fn is_known(cmd: i32) -> bool {
        matches!(
            cmd,
            ipc::IPC_STAT | ipc::IPC_SET | ipc::IPC_RMID | ipc::SHM_LOCK | ipc::SHM_UNLOCK
        )
    }
}

/// One segment.
#[derive(Debug)]
pub struct Segment {
    /// Its identifier.
    pub id: ShmId,
    /// Its key (`IPC_PRIVATE` once marked for removal).
    pub key: i32,
    /// Size in bytes, as asked for.
    pub size: u64,
    /// Owner, creator, mode.
    pub perm: IpcPerm,
    /// The pages.
    pub object: VmObject,
    /// Attachments across all guests.
    pub nattch: u32,
    /// SHM_LOCK state (the mark `IPC_STAT` shows).
    pub locked: bool,
    /// Whether the object holds its own wiring on every page. Always equal to `locked` under
    /// the proposed rules; `netbsd-2019` can leave the mark set after unwiring the object.
    pub object_wired: bool,
    /// Marked by IPC_RMID.
    pub removed: bool,
    cpid: u32,
    lpid: u32,
    atime: u32,
    dtime: u32,
    ctime: u32,
}

impl Segment {
    /// Its size in pages.
    pub fn pages(&self) -> u64 {
        self.object.pages()
    }

    fn stat(&self) -> ShmidDs {
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

    /// Pages in all segments.
    pub fn total_pages(&self) -> u64 {
        self.pages
    }

    fn find_key(&self, key: i32) -> Option<ShmId> {
        self.iter()
            .find(|s| s.key == key && !s.removed)
            .map(|s| s.id)
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

    fn take(&mut self, id: ShmId) -> Option<Segment> {
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
pub fn ipc_allows(cred: Cred, perm: &IpcPerm, want: u32) -> bool {
    if cred.is_privileged() {
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

const R: u32 = 0o4;
const W: u32 = 0o2;

impl State {
    fn seg(&self, id: ShmId) -> Result<&Segment, Errno> {
        self.shm.get(id).ok_or(Errno::EINVAL)
    }

    pub(crate) fn shmget(
        &mut self,
        g: GuestId,
        key: i32,
        size: u64,
        shmflg: i32,
    ) -> Result<ShmId, Errno> {
        let cred = self.guest(g)?.cred;
        let want_mode = (shmflg & ipc::MODE_MASK) as u32;
        if key != ipc::IPC_PRIVATE {
            if let Some(id) = self.shm.find_key(key) {
                if shmflg & (ipc::IPC_CREAT | ipc::IPC_EXCL) == ipc::IPC_CREAT | ipc::IPC_EXCL {
                    return Err(Errno::EEXIST);
                }
                let seg = self.seg(id)?;
                // Asking for access bits checks them, as NetBSD's shmget does.
                let want = (want_mode >> 6) | ((want_mode >> 3) & 0o7) | (want_mode & 0o7);
                if !ipc_allows(cred, &seg.perm, want & 0o6) {
                    return Err(Errno::EACCES);
                }
                if size > seg.size {
                    return Err(Errno::EINVAL);
                }
                return Ok(id);
            }
            if shmflg & ipc::IPC_CREAT == 0 {
                return Err(Errno::ENOENT);
            }
        }
        let limits = self.cfg.limits;
        if size == 0 || size > limits.shmmax {
            return Err(Errno::EINVAL);
        }
        let pages = pages_for(size);
        if self.shm.total_pages() + pages > limits.shmall {
            return Err(Errno::ENOSPC);
        }
        let idx = self.shm.free_slot().ok_or(Errno::ENOSPC)?;
        let id = ShmId(((self.shm.slots[idx].seq as i32) << IDX_BITS) | idx as i32);
        let object =
            VmObject::new(&format!("vmm-shm-{}", id.0), pages).map_err(|_| Errno::ENOMEM)?;
        let now = self.tick();
        self.shm.slots[idx].seg = Some(Segment {
            id,
            key,
            size,
            perm: IpcPerm {
                uid: cred.uid,
                gid: cred.gid,
                cuid: cred.uid,
                cgid: cred.gid,
                mode: want_mode,
            },
            object,
            nattch: 0,
            locked: false,
            object_wired: false,
            removed: false,
            cpid: g.0,
            lpid: 0,
            atime: 0,
            dtime: 0,
            ctime: now,
        });
        self.shm.pages += pages;
        tracing::debug!(target: "vmm::shm", guest = g.0, shmid = id.0, key, pages, "segment created");
        Ok(id)
    }

    /// `shmat`: at `addr` (rounded down to `SHMLBA` under `SHM_RND`; `EINVAL` if unaligned,
    /// past the space or not free), or where the map has room when `addr` is `None`.
    pub(crate) fn shmat(
        &mut self,
        g: GuestId,
        id: ShmId,
        addr: Option<Vaddr>,
        shmflg: i32,
    ) -> Result<Vaddr, Errno> {
        let cred = self.guest(g)?.cred;
        if shmflg & !(ipc::SHM_RDONLY | ipc::SHM_RND) != 0 {
            return Err(Errno::EINVAL);
        }
        let seg = self.seg(id)?;
        if seg.removed {
            return Err(Errno::EIDRM);
        }
        let rdonly = shmflg & ipc::SHM_RDONLY != 0;
        if !ipc_allows(cred, &seg.perm, if rdonly { R } else { R | W }) {
            return Err(Errno::EACCES);
        }
        let (pages, locked) = (seg.pages(), seg.locked);
        let limit = self.cfg.space_pages;
        let map = &self.guest(g)?.map;
        let start = if let Some(addr) = addr {
            let a = if shmflg & ipc::SHM_RND != 0 {
                Vaddr(addr.0 & !(ipc::SHMLBA as u64 - 1))
            } else {
                addr
            };
            if !a.is_aligned() {
                return Err(Errno::EINVAL);
            }
            let r = PageRange::aligned(a, pages * PAGE_SIZE, limit * PAGE_SIZE)
                .map_err(|_| Errno::EINVAL)?;
            if !map.is_free(r) {
                return Err(Errno::EINVAL);
            }
            r.start
        } else {
            map.find_space(pages, PLACEMENT_FLOOR)
                .ok_or(Errno::ENOMEM)?
        };
        let range = PageRange::new(start, start.plus(pages));
        let prot = if rdonly { Prot::READ } else { Prot::RW };
        let max_prot = if rdonly {
            Prot::READ | Prot::EXEC
        } else {
            Prot::ALL
        };
        let vm = self.guest_mut(g)?;
        let aid = AttachId(vm.next_attach);
        vm.next_attach += 1;
        let entry = Entry::new(
            range.start,
            range.end,
            prot,
            max_prot,
            Backing::Shm { id, pgoff: 0 },
        )
        .of_attachment(aid);
        // The record is pushed once the entry is in place: removing the entry on a failure
        // below finds no record to end.
        self.insert_entry(g, entry)?;
        if locked && self.rules().attach_holds() {
            // The pages are already wired by the object, so this hold cannot run short of frames.
            if let Err(e) = self.wire_entries(g, range, WireOp::Hold, |e| e.attachment == Some(aid))
            {
                self.remove_range(g, range)?;
                return Err(e);
            }
            self.guest_mut(g)?.map.merge_around(range);
        }
        self.guest_mut(g)?.attachments.push(Attachment {
            id: aid,
            va: start,
            pages,
            shm: id,
        });
        let now = self.tick();
        let seg = self.shm.get_mut(id).expect("checked above");
        seg.nattch += 1;
        seg.lpid = g.0;
        seg.atime = now;
        tracing::debug!(target: "vmm::shm", guest = g.0, shmid = id.0, at = start.addr().0, nattch = seg.nattch, "attach");
        Ok(start.addr())
    }

    /// `shmdt(addr)`: detaches the newest attachment made at `addr` (`EINVAL` if there is none).
    /// Under [`AttachmentLife::Mapping`] it removes exactly that attachment's remaining pages;
    /// under [`AttachmentLife::Record`] its whole range, whatever is mapped there now. The
    /// segment goes with its last attachment if it was marked removed.
    pub(crate) fn shmdt(&mut self, g: GuestId, addr: Vaddr) -> Result<(), Errno> {
        let vm = self.guest(g)?;
        // Newest first, as NetBSD's list walk finds it; under the mapping rule the newest is
        // the one that maps `addr` (see `AttachmentLife`).
        let a = *vm
            .attachments
            .iter()
            .rev()
            .find(|a| a.va.addr() == addr)
            .ok_or(Errno::EINVAL)?;
        match self.rules().attachment_life() {
            AttachmentLife::Mapping => {
                let pieces: Vec<PageRange> = vm
                    .map
                    .overlapping(a.range())
                    .filter(|e| e.attachment == Some(a.id))
                    .map(|e| e.range())
                    .collect();
                // Removing the last piece ends the attachment.
                for r in pieces {
                    self.remove_range(g, r)?;
                }
            }
            AttachmentLife::Record => self.remove_range(g, a.range())?,
        }
        if self.guest(g)?.attachments.iter().any(|x| x.id == a.id) {
            self.end_attachment(g, a.id)?;
        }
        Ok(())
    }

    /// Ends guest `g`'s attachment `aid` whose pages are gone from the map: one detach.
    fn end_attachment(&mut self, g: GuestId, aid: AttachId) -> Result<(), Errno> {
        let vm = self.guest_mut(g)?;
        let i = vm
            .attachments
            .iter()
            .position(|a| a.id == aid)
            .expect("ending a recorded attachment");
        let a = vm.attachments.remove(i);
        let now = self.tick();
        let seg = self.shm.get_mut(a.shm).expect("an attached segment exists");
        seg.nattch -= 1;
        seg.lpid = g.0;
        seg.dtime = now;
        tracing::debug!(target: "vmm::shm", guest = g.0, shmid = a.shm.0, nattch = seg.nattch, "detach");
        if seg.nattch == 0 && seg.removed {
            self.destroy_segment(a.shm)?;
        }
        Ok(())
    }

    /// After `munmap`-like removal of entries that belonged to attachments `ids`: under
    /// [`AttachmentLife::Mapping`], ends each of them that no longer maps any page. Ids with no
    /// record (an attachment still being made) are skipped.
    pub(crate) fn end_unmapped_attachments(
        &mut self,
        g: GuestId,
        ids: &[AttachId],
    ) -> Result<(), Errno> {
        if self.rules().attachment_life() != AttachmentLife::Mapping {
            return Ok(());
        }
        for &aid in ids {
            let vm = self.guest(g)?;
            let Some(a) = vm.attachments.iter().find(|a| a.id == aid) else {
                continue;
            };
            if !vm
                .map
                .overlapping(a.range())
                .any(|e| e.attachment == Some(aid))
            {
                self.end_attachment(g, aid)?;
            }
        }
        Ok(())
    }

    /// Frees a segment with no attachment left: its object's wirings, frames and swap slots.
    fn destroy_segment(&mut self, id: ShmId) -> Result<(), Errno> {
        tracing::debug!(target: "vmm::shm", shmid = id.0, "segment destroyed");
        // The mark decides, as NetBSD's segment deallocation did (the two agree under the
        // proposed rules; the old ones can leave a mark over an object no longer wired).
        if self.seg(id)?.locked {
            self.unwire_object(id)?;
        }
        let seg = self.shm.take(id).expect("checked above");
        for (pgoff, slot) in seg.object.slots() {
            match slot {
                PageSlot::Untouched => {}
                PageSlot::Resident(f) => {
                    if self.pool.frame(f).wire_count != 0 {
                        return Err(self.corrupted(
                            "free-wired",
                            format!("{id:?} page {pgoff} freed while {f:?} is still wired"),
                        ));
                    }
                    self.pool.release(f);
                }
                PageSlot::Swapped(s) => self.swap.free(s),
            }
        }
        Ok(())
    }

    /// Takes the object's own wiring on every page of the segment, bringing pages in. On failure
    /// the pages wired so far are unwired again.
    pub(crate) fn wire_object(&mut self, id: ShmId) -> Result<(), Errno> {
        if self.seg(id)?.object_wired {
            return Err(self.corrupted(
                "object-wired-twice",
                format!("{id:?} took its object wiring while holding it"),
            ));
        }
        let pages = self.seg(id)?.pages();
        for pgoff in 0..pages {
            match self.page_in(Owner::Object { shm: id, pgoff }) {
                Ok(f) => self.pool.wire(f),
                Err(e) => {
                    for done in 0..pgoff {
                        self.unwire_object_page(id, done)?;
                    }
                    return Err(e);
                }
            }
        }
        self.shm.get_mut(id).expect("checked above").object_wired = true;
        Ok(())
    }

    /// Drops the object's own wiring from every page of the segment. Dropping a wiring the
    /// object does not hold is a double unwire: corrupt state.
    pub(crate) fn unwire_object(&mut self, id: ShmId) -> Result<(), Errno> {
        if !self.seg(id)?.object_wired {
            return Err(self.corrupted(
                "object-unwired-twice",
                format!("{id:?} dropped an object wiring it no longer held"),
            ));
        }
        for pgoff in 0..self.seg(id)?.pages() {
            self.unwire_object_page(id, pgoff)?;
        }
        self.shm.get_mut(id).expect("checked above").object_wired = false;
        Ok(())
    }

    fn unwire_object_page(&mut self, id: ShmId, pgoff: u64) -> Result<(), Errno> {
        match self.slot(Owner::Object { shm: id, pgoff }) {
            PageSlot::Resident(f) if self.pool.unwire(f).is_ok() => Ok(()),
            _ => Err(self.corrupted(
                "wire-underflow",
                format!("{id:?} page {pgoff} lost its SHM_LOCK wiring"),
            )),
        }
    }

    /// Applies `op` to every entry, in every guest, that maps segment `id`: the entries of its
    /// attachments, each of which belongs to exactly one, so each is acted on once.
    pub(crate) fn wire_attachments(&mut self, id: ShmId, op: WireOp) -> Result<(), Errno> {
        let targets: Vec<(GuestId, Attachment)> = self
            .guests
            .iter()
            .flat_map(|(&g, vm)| {
                vm.attachments
                    .iter()
                    .filter(|a| a.shm == id)
                    .map(move |&a| (g, a))
            })
            .collect();
        for (i, &(g, a)) in targets.iter().enumerate() {
            let mine = |e: &Entry| e.attachment == Some(a.id);
            if let Err(e) = self.wire_entries(g, a.range(), op, mine) {
                // Only taking holds can fail for want of memory; undo the ones taken. Dropping
                // them fails only on corrupt state, which stops the machine anyway.
                if op == WireOp::Hold {
                    for &(g, a) in targets[..i].iter().rev() {
                        self.wire_entries(g, a.range(), WireOp::Release, |e| {
                            e.attachment == Some(a.id)
                        })?;
                        self.guest_mut(g)?.map.merge_around(a.range());
                    }
                }
                return Err(e);
            }
            self.guest_mut(g)?.map.merge_around(a.range());
        }
        Ok(())
    }

    pub(crate) fn shmctl(
        &mut self,
        g: GuestId,
        id: ShmId,
        cmd: ShmCmd,
    ) -> Result<Option<ShmidDs>, Errno> {
        let cred = self.guest(g)?.cred;
        let seg = self.seg(id)?;
        let owner = cred.is_privileged() || cred.uid == seg.perm.uid || cred.uid == seg.perm.cuid;
        match cmd {
            ShmCmd::Stat => {
                if !ipc_allows(cred, &seg.perm, R) {
                    return Err(Errno::EACCES);
                }
                Ok(Some(seg.stat()))
            }
            ShmCmd::Set { uid, gid, mode } => {
                if !owner {
                    return Err(Errno::EPERM);
                }
                let now = self.tick();
                let seg = self.shm.get_mut(id).expect("checked above");
                seg.perm.uid = uid;
                seg.perm.gid = gid;
                seg.perm.mode = mode & ipc::MODE_MASK as u32;
                seg.ctime = now;
                Ok(None)
            }
            ShmCmd::Rmid => {
                if !owner {
                    return Err(Errno::EPERM);
                }
                let now = self.tick();
                let seg = self.shm.get_mut(id).expect("checked above");
                seg.removed = true;
                tracing::debug!(target: "vmm::shm", guest = g.0, shmid = id.0, "marked for removal");
                seg.key = ipc::IPC_PRIVATE;
                seg.ctime = now;
                if seg.nattch == 0 {
                    self.destroy_segment(id)?;
                }
                Ok(None)
            }
            ShmCmd::Lock | ShmCmd::Unlock => {
                if !cred.is_privileged() {
                    return Err(Errno::EPERM);
                }
                let rules = self.rules();
                if cmd == ShmCmd::Lock {
                    rules.shm_lock(self, g, id)?;
                } else {
                    rules.shm_unlock(self, g, id)?;
                }
                Ok(None)
            }
        }
    }

    /// Whether the object's pages may all become wired (`ENOMEM` if the wired maximum forbids).
    pub(crate) fn check_object_wiring(&self, id: ShmId) -> Result<(), Errno> {
        let seg = self.seg(id)?;
        let more = (0..seg.pages())
            .filter(|&pgoff| match seg.object.get(pgoff) {
                PageSlot::Resident(f) => self.pool.frame(f).wire_count == 0,
                _ => true,
            })
            .count() as u64;
        if self
            .cfg
            .limits
            .wired_allows(self.pool.wired() as u64, more, self.pool.total() as u64)
        {
            Ok(())
        } else {
            Err(Errno::ENOMEM)
        }
    }

    /// Sets the segment's SHM_LOCK mark.
    pub(crate) fn set_locked(&mut self, id: ShmId, locked: bool) {
        if let Some(seg) = self.shm.get_mut(id) {
            seg.locked = locked;
        }
    }
}

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
        assert!(ipc_allows(Cred { uid: 10, gid: 99 }, &p, R | W));
        assert!(
            ipc_allows(Cred { uid: 11, gid: 99 }, &p, R | W),
            "the creator counts as owner"
        );
        assert!(ipc_allows(Cred { uid: 50, gid: 20 }, &p, R));
        assert!(!ipc_allows(Cred { uid: 50, gid: 20 }, &p, W));
        assert!(!ipc_allows(Cred { uid: 50, gid: 50 }, &p, R));
        assert!(ipc_allows(Cred::ROOT, &perm(0), R | W));
    }

    #[test]
    fn stale_ids_are_not_found() {
        let mut t = ShmTable::new(4);
        let i = t.free_slot().unwrap();
        assert_eq!(i, 0);
        assert!(t.get(ShmId(0)).is_none());
        assert!(t.get(ShmId(-5)).is_none());
        assert!(t.get(ShmId(1 << 16)).is_none());
    }
}
