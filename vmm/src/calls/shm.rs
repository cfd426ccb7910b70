//! SysV shared memory: `shmget`, `shmat`, `shmdt`, `shmctl`.
//!
//! The segments themselves (table, ids, permissions, `IPC_STAT` data) are [`crate::vm::segment`];
//! the object wiring and holds are [`crate::vm::wiring`]'s; this module is the calls.
//!
//! A segment owns a [`VmObject`]; every attachment is a map entry backed by that object, so all
//! attachers share the same pages (and the same host memory).
//!
//! `SHM_LOCK` is a segment state, not a call to undo one by one. While it is set (under the
//! proposed rules):
//! - the object holds one wiring of its own on each of its pages, so the segment stays resident
//!   with nobody attached;
//! - every entry mapping the segment, in any guest, attached before or after, is wired by the
//!   mark itself ([`crate::base::types::Policy::lock_covers_attachers`]): the one wiring predicate,
//!   `State::entry_wired`, consults the entry's flag, its count and its segment's mark. No
//!   attacher's entry is rewritten, so the call costs the same with one attacher or thousands;
//!   an entry also `mlock`ed hands its page wiring over to the object's while the mark is set.
//!
//! `SHM_UNLOCK` removes exactly that. Repeating either is a no-op, and neither touches any
//! entry's POSIX lock flag, so `munlock` never unwires what `SHM_LOCK` holds and `SHM_UNLOCK`
//! never unwires what `mlock` holds.
//!
//! `IPC_RMID` marks the segment: its key becomes private at once, new attaches fail with `EIDRM`,
//! and it is destroyed (pages, frames, swap slots, wirings) when its last attachment goes.
//! Permissions follow SysV: owner, group and other bits of the mode for `shmget`, `shmat` and
//! `IPC_STAT`; owner, creator or privilege for `IPC_SET` and `IPC_RMID`; privilege alone for
//! `SHM_LOCK` and `SHM_UNLOCK`.

use crate::base::addr::{pages_for, GuestId, PageRange, ShmId, Vaddr, PAGE_SIZE};
use crate::base::errno::Errno;
use crate::base::events::EventKind;
use crate::base::types::{Attachment, AttachmentLife, Owner};
use crate::calls::mmap::{self, PLACEMENT_FLOOR};
use crate::calls::unmap;
use crate::rules;
use crate::vm::map::{Backing, Entry, Prot};
use crate::vm::object::VmObject;
use crate::vm::page::PageSlot;
use crate::vm::segment::{NewSegment, Segment, R, W};
use crate::vm::state::State;
use guest_abi::ipc;

pub use crate::base::types::{IpcPerm, ShmCmd, ShmLimitsInfo, ShmUsage, ShmidDs};
pub use crate::vm::segment::{ipc_allows, ShmTable};

/// `shmget(key, size, shmflg)`: finds the segment with `key`, or creates one (always for
/// `IPC_PRIVATE`, else under `IPC_CREAT`) with the mode bits of `shmflg`.
///
/// Errors: `EEXIST` for `IPC_CREAT | IPC_EXCL` on an existing key; `EACCES` when the mode
/// bits asked for are not granted; `EINVAL` for a size above the existing segment's, or a
/// new size of 0 or above `shmmax`; `ENOENT` for a missing key without `IPC_CREAT`;
/// `ENOSPC` past `shmall` or `shmmni`; `ENOMEM` when the host refuses the segment's
/// memory. Nothing changes on failure.
pub(crate) fn shmget(
    s: &mut State,
    g: GuestId,
    key: i32,
    size: u64,
    shmflg: i32,
) -> Result<ShmId, Errno> {
    let cred = s.guest(g)?.cred();
    let want_mode = (shmflg & ipc::MODE_MASK) as u32;
    if key != ipc::IPC_PRIVATE {
        if let Some(id) = s.shm.find_key(key) {
            if shmflg & (ipc::IPC_CREAT | ipc::IPC_EXCL) == ipc::IPC_CREAT | ipc::IPC_EXCL {
                return Err(Errno::EEXIST);
            }
            let seg = s.seg(id)?;
            // Asking for access bits checks them, as NetBSD's shmget does.
            let want = (want_mode >> 6) | ((want_mode >> 3) & 0o7) | (want_mode & 0o7);
            if !ipc_allows(
                cred,
                seg.perm(),
                want & 0o6,
                cred.may_bypass_ipc_perms(&s.policy),
            ) {
                return Err(Errno::EACCES);
            }
            if size > seg.size() {
                return Err(Errno::EINVAL);
            }
            return Ok(id);
        }
        if shmflg & ipc::IPC_CREAT == 0 {
            return Err(Errno::ENOENT);
        }
    }
    let limits = s.cfg.limits;
    if size == 0 || size > limits.shmmax {
        return Err(Errno::EINVAL);
    }
    let pages = pages_for(size);
    if s.shm.total_pages() + pages > limits.shmall {
        return Err(Errno::ENOSPC);
    }
    if !s.shm.has_room() {
        return Err(Errno::ENOSPC);
    }
    let object = VmObject::new("vmm-shm", pages).map_err(|_| Errno::ENOMEM)?;
    let now = s.now();
    let id = s
        .shm
        .insert(NewSegment {
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
            cpid: s.guest(g)?.pid(),
            now,
        })
        .expect("room checked above");
    tracing::debug!(target: "vmm::shm", guest = g.0, shmid = id.0, key, pages, "segment created");
    Ok(id)
}

/// `shmat`: at `addr` (rounded down to `SHMLBA` under `SHM_RND`), or where the map has room
/// when `addr` is `None`; returns the address. The new entry belongs to a new attachment;
/// under `proposed` it is wired by the segment's mark while the segment is `SHM_LOCK`ed.
///
/// Errors: `EINVAL` for unknown flags, an unknown id, an unaligned address, or a range that
/// passes the address space or is not free; `EIDRM` for a segment marked removed;
/// `EACCES` without read (and, without `SHM_RDONLY`, write) permission; `ENOMEM` when no
/// room is free or `MCL_FUTURE` cannot lock it. Undone on failure: the entry is removed and
/// no attachment is recorded.
pub(crate) fn shmat(
    s: &mut State,
    g: GuestId,
    id: ShmId,
    addr: Option<Vaddr>,
    shmflg: i32,
) -> Result<Vaddr, Errno> {
    let cred = s.guest(g)?.cred();
    if shmflg & !(ipc::SHM_RDONLY | ipc::SHM_RND) != 0 {
        return Err(Errno::EINVAL);
    }
    let seg = s.named_seg(id)?;
    if seg.removed() {
        if let Some(e) = s.policy.answers.attach_removed {
            return Err(e);
        }
    }
    let rdonly = shmflg & ipc::SHM_RDONLY != 0;
    if !ipc_allows(
        cred,
        seg.perm(),
        if rdonly { R } else { R | W },
        cred.may_bypass_ipc_perms(&s.policy),
    ) {
        return Err(Errno::EACCES);
    }
    let pages = seg.pages();
    let limit = s.cfg.space_pages;
    let map = &s.guest(g)?.map;
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
    let aid = s.guest_mut(g)?.new_attach_id();
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
    mmap::insert_entry(s, g, entry)?;
    s.guest_mut(g)?.add_attachment(Attachment {
        id: aid,
        va: start,
        pages,
        shm: id,
    });
    let (pid, now) = (s.guest(g)?.pid(), s.now());
    let seg = s.shm.get_mut(id).expect("checked above");
    seg.attached(pid, now);
    tracing::debug!(target: "vmm::shm", guest = g.0, shmid = id.0, at = start.addr().0, nattch = seg.nattch(), "attach");
    Ok(start.addr())
}

/// `shmdt(addr)`: detaches the newest attachment made at `addr`. Under
/// [`AttachmentLife::Mapping`] it removes exactly that attachment's remaining pages; under
/// [`AttachmentLife::Record`] its whole range, whatever is mapped there now. The segment
/// goes with its last attachment if it was marked removed.
///
/// Errors: `EINVAL` when no attachment was made at `addr`. Nothing changes on failure.
pub(crate) fn shmdt(s: &mut State, g: GuestId, addr: Vaddr) -> Result<(), Errno> {
    let vm = s.guest(g)?;
    // Newest first, as NetBSD's list walk finds it; under the mapping rule the newest is
    // the one that maps `addr` (see `AttachmentLife`).
    if !addr.is_aligned() {
        return Err(Errno::EINVAL);
    }
    let a = vm.newest_attachment_at(addr.vpn()).ok_or(Errno::EINVAL)?;
    match s.policy.attachment_life {
        AttachmentLife::Mapping => {
            let pieces: Vec<PageRange> = vm
                .map
                .overlapping(a.range())
                .filter(|e| e.attachment() == Some(a.id))
                .map(|e| e.range())
                .collect();
            // Removing the last piece ends the attachment.
            for r in pieces {
                unmap::remove_range(s, g, r)?;
            }
        }
        AttachmentLife::Record => unmap::remove_range(s, g, a.range())?,
    }
    if s.guest(g)?.attachments().iter().any(|x| x.id == a.id) {
        unmap::end_attachment(s, g, a.id)?;
    }
    Ok(())
}

/// `shmctl(id, cmd)`: `IPC_STAT` returns the status; `IPC_SET` changes owner and mode;
/// `IPC_RMID` marks the segment (destroyed at once if nobody is attached); `SHM_LOCK` and
/// `SHM_UNLOCK` do what the rule set says ([`crate::rules`]).
///
/// Errors: `EINVAL` for an unknown id; `EACCES` for `IPC_STAT` without read permission;
/// `EPERM` for `IPC_SET`/`IPC_RMID` by neither owner, creator nor privileged, and for
/// `SHM_LOCK`/`SHM_UNLOCK` unprivileged; `ENOMEM` when `SHM_LOCK` passes the wired maximum
/// or finds no frame (everything it wired is unwired again); under `netbsd-2019`, `EIO`
/// as NetBSD's `shm_memlock` gave it.
pub(crate) fn shmctl(
    s: &mut State,
    g: GuestId,
    id: ShmId,
    cmd: ShmCmd,
) -> Result<Option<ShmidDs>, Errno> {
    let cred = s.guest(g)?.cred();
    let seg = s.named_seg(id)?;
    // Linux `ipc/util.c:ipcctl_obtain_check`: owner, creator, or `CAP_SYS_ADMIN`.
    let owner = cred.may_administer_ipc(&s.policy)
        || cred.uid == seg.perm().uid
        || cred.uid == seg.perm().cuid;
    match cmd {
        ShmCmd::Stat => {
            if !ipc_allows(cred, seg.perm(), R, cred.may_bypass_ipc_perms(&s.policy)) {
                return Err(Errno::EACCES);
            }
            Ok(Some(seg.stat()))
        }
        ShmCmd::Set { uid, gid, mode } => {
            if !owner {
                return Err(Errno::EPERM);
            }
            let now = s.now();
            let seg = s.shm.get_mut(id).expect("checked above");
            seg.set_owner(uid, gid, mode, now);
            Ok(None)
        }
        ShmCmd::Rmid => {
            if !owner {
                return Err(Errno::EPERM);
            }
            let now = s.now();
            let seg = s.shm.get_mut(id).expect("checked above");
            seg.mark_removed(now);
            let attached = seg.nattch() > 0;
            tracing::debug!(target: "vmm::shm", guest = g.0, shmid = id.0, "marked for removal");
            s.record(EventKind::Segment {
                guest: Some(g),
                shm: id,
                what: "marked for removal",
            });
            if !attached {
                unmap::destroy_segment(s, id)?;
            }
            Ok(None)
        }
        ShmCmd::Lock | ShmCmd::Unlock => {
            let rs = rules::of(s);
            rs.may_shm_lock(s, g, id, cmd == ShmCmd::Lock)?;
            if cmd == ShmCmd::Lock {
                rs.shm_lock(s, g, id)?;
            } else {
                rs.shm_unlock(s, g, id)?;
            }
            Ok(None)
        }
    }
}

/// Linux's `shmctl(IPC_INFO)`: the machine's limits, and the highest segment index in use
/// (0 when there is none), which the call returns (`ipc/shm.c:shmctl_ipc_info`: `SHMMIN` is 1
/// and `SHMSEG` is `SHMMNI`).
///
/// Errors: `EINVAL` where the rule set has no such command.
pub(crate) fn ipc_info(s: &State) -> Result<(ShmLimitsInfo, u32), Errno> {
    if !s.policy.answers.shm_info {
        return Err(Errno::EINVAL);
    }
    let l = s.cfg.limits;
    let info = ShmLimitsInfo {
        shmmax: l.shmmax,
        shmmin: 1,
        shmmni: u64::from(l.shmmni),
        shmseg: u64::from(l.shmmni),
        shmall: l.shmall,
    };
    Ok((info, s.shm.max_index().unwrap_or(0)))
}

/// Linux's `shmctl(SHM_INFO)`: what the segments use, in pages, and the highest index in use
/// (`ipc/shm.c:shmctl_shm_info`, `shm_get_stat`).
///
/// Errors: `EINVAL` where the rule set has no such command.
pub(crate) fn shm_info(s: &State) -> Result<(ShmUsage, u32), Errno> {
    if !s.policy.answers.shm_info {
        return Err(Errno::EINVAL);
    }
    let mut u = ShmUsage {
        used_ids: 0,
        shm_tot: 0,
        shm_rss: 0,
        shm_swp: 0,
    };
    for seg in s.shm.iter() {
        u.used_ids += 1;
        u.shm_tot += seg.pages();
        for pgoff in 0..seg.pages() {
            match s.slot(Owner::Object {
                shm: seg.id(),
                pgoff,
            }) {
                PageSlot::Resident(_) => u.shm_rss += 1,
                PageSlot::Swapped(_) => u.shm_swp += 1,
                PageSlot::Untouched => {}
            }
        }
    }
    Ok((u, s.shm.max_index().unwrap_or(0)))
}

/// Linux's `shmctl(SHM_STAT)` and `shmctl(SHM_STAT_ANY)` (`any`): the status of the segment
/// at table index `idx`, and its id, which the call returns (`ipc/shm.c:shmctl_stat`).
///
/// Errors: `EINVAL` for an index with no segment, or where the rule set has no such command;
/// `EACCES` for `SHM_STAT` without read permission (`SHM_STAT_ANY` asks none).
pub(crate) fn shm_stat_index(
    s: &State,
    g: GuestId,
    idx: u32,
    any: bool,
) -> Result<(ShmId, ShmidDs), Errno> {
    if !s.policy.answers.shm_info {
        return Err(Errno::EINVAL);
    }
    let cred = s.guest(g)?.cred();
    let seg = s.shm.at_index(idx).ok_or(Errno::EINVAL)?;
    if !any && !ipc_allows(cred, seg.perm(), R, cred.may_bypass_ipc_perms(&s.policy)) {
        return Err(Errno::EACCES);
    }
    Ok((seg.id(), seg.stat()))
}

impl State {
    /// The segment a call names by id: `EINVAL` if there is none, or if it was removed and the
    /// rules take a removed id out of the id space at once (illumos).
    fn named_seg(&self, id: ShmId) -> Result<&Segment, Errno> {
        let seg = self.seg(id)?;
        if seg.removed() && self.policy.answers.rmid_hides_id {
            return Err(Errno::EINVAL);
        }
        Ok(seg)
    }
}
