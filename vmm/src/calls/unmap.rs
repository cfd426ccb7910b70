//! Taking mappings away: `munmap`'s work, shared by every call that removes pages (`munmap`,
//! `MAP_FIXED` over old mappings, `shmdt`, exit), and the end of attachments and segments.
//!
//! Removing a mapping really unwires it, whatever its flag and count ([`WireOp::Remove`]),
//! frees the anonymous pages it mapped (frames, swap slots and host memory), takes it out of the
//! guest's view, and, under the mapping rule ([`crate::base::types::AttachmentLife::Mapping`]), ends
//! every attachment left with no page mapped. Ending the last attachment of a segment marked by
//! `IPC_RMID` destroys it.

use crate::base::addr::{AttachId, GuestId, PageRange, ShmId};
use crate::base::errno::Errno;
use crate::base::events::EventKind;
use crate::base::types::Owner;
use crate::base::types::{AttachmentLife, Invariant};
use crate::vm::map::Backing;
use crate::vm::page::PageSlot;
use crate::vm::pmap;
use crate::vm::state::State;
use crate::vm::wire::WireOp;
use crate::vm::wiring::{self, Reshape};

/// Removes every entry in `range`, really unwiring each (flag and count), and frees the
/// anonymous pages it mapped. An attachment left with no page mapped ends there under the
/// mapping rule ([`crate::rules::AttachmentLife`]).
pub(crate) fn remove_range(s: &mut State, g: GuestId, range: PageRange) -> Result<(), Errno> {
    tracing::debug!(target: "vmm::map", guest = g.0, start = range.start.addr().0, pages = range.pages(), "unmap");
    // Clip, unwire and remove; the merge afterwards finds a hole, or (if unwiring found
    // corrupt state) puts the clipped entries back together.
    let attachments = wiring::with_clipped(s, g, range, Reshape::Merge, |s| {
        wiring::wire_entries(s, g, range, WireOp::Remove, |_| true)?;
        let mut attachments: Vec<AttachId> = s.guests[&g]
            .map
            .overlapping(range)
            .filter_map(|e| e.attachment())
            .collect();
        attachments.dedup();
        for start in s.guests[&g].map.starts_in(range) {
            let e = s
                .guests
                .get_mut(&g)
                .expect("checked")
                .map
                .remove(start)
                .expect("listed");
            if e.backing() == Backing::Anon {
                s.free_anon(g, e.range())?;
            }
        }
        Ok(attachments)
    })?;
    pmap::pmap_remove(s, g, range)?;
    s.end_unmapped_attachments(g, &attachments)
}

/// Ends guest `g`'s attachment `aid` whose pages are gone from the map: one detach.
pub(crate) fn end_attachment(s: &mut State, g: GuestId, aid: AttachId) -> Result<(), Errno> {
    let vm = s.guest_mut(g)?;
    let pid = vm.pid();
    let a = vm
        .take_attachment(aid)
        .expect("ending a recorded attachment");
    let now = s.now();
    let seg = s.shm.get_mut(a.shm).expect("an attached segment exists");
    seg.detached(pid, now);
    tracing::debug!(target: "vmm::shm", guest = g.0, shmid = a.shm.0, nattch = seg.nattch(), "detach");
    if seg.nattch() == 0 && seg.removed() {
        destroy_segment(s, a.shm)?;
    }
    Ok(())
}

/// Frees a segment with no attachment left: its object's wirings, frames and swap slots.
pub(crate) fn destroy_segment(s: &mut State, id: ShmId) -> Result<(), Errno> {
    tracing::debug!(target: "vmm::shm", shmid = id.0, "segment destroyed");
    let guest = s.diag.caller();
    s.record(EventKind::Segment {
        guest,
        shm: id,
        what: "destroyed",
    });
    // The mark decides, as NetBSD's segment deallocation did (the two agree under the
    // proposed rules; the old ones can leave a mark over an object no longer wired).
    if s.shm.get(id).ok_or(Errno::EINVAL)?.locked() {
        wiring::unwire_object(s, id)?;
    }
    let seg = s.shm.take(id).expect("checked above");
    for (pgoff, slot) in seg.object().slots() {
        if let Err(f) = s.phys.free(slot) {
            return Err(s.corrupted(
                Invariant::FreeWired,
                format!("{id:?} page {pgoff} freed while {f:?} is still wired"),
            ));
        }
    }
    Ok(())
}

impl State {
    /// Frees the frames, swap slots and host memory of guest `g`'s anonymous pages in `range`.
    fn free_anon(&mut self, g: GuestId, range: PageRange) -> Result<(), Errno> {
        for vpn in range.iter() {
            let o = Owner::Anon { guest: g, vpn };
            if let Err(f) = self.phys.free(self.slot(o)) {
                return Err(self.corrupted(
                    Invariant::FreeWired,
                    format!(
                        "{g:?} page {:?} freed while {f:?} is still wired",
                        vpn.addr()
                    ),
                ));
            }
            self.set_slot(o, PageSlot::Untouched);
        }
        let _ = self.guests[&g]
            .amap
            .store()
            .release(range.start.0, range.pages());
        Ok(())
    }

    /// After `munmap`-like removal of entries that belonged to attachments `ids`: under
    /// [`AttachmentLife::Mapping`], ends each of them that no longer maps any page. Ids with no
    /// record (an attachment still being made) are skipped.
    fn end_unmapped_attachments(&mut self, g: GuestId, ids: &[AttachId]) -> Result<(), Errno> {
        if self.policy.attachment_life != AttachmentLife::Mapping {
            return Ok(());
        }
        for &aid in ids {
            let vm = self.guest(g)?;
            let Some(a) = vm.attachments().iter().find(|a| a.id == aid) else {
                continue;
            };
            if !vm.attachment_maps_a_page(a) {
                end_attachment(self, g, aid)?;
            }
        }
        Ok(())
    }
}
