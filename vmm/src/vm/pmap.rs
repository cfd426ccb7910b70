//! The pmap: what the machine state asks of host memory when maps change and pages move.
//!
//! UVM's pmap keeps the hardware's page tables in step with the VM map; here the "hardware" is
//! each guest's host view ([`crate::vm::host::View`]). When an entry is added, removed or
//! re-protected, the guest's view follows; before a page is paged out it is made inaccessible
//! in every view that maps it, found through the page's reverse map (the guest that owns an
//! anonymous page; every attachment of a segment page), as BSD's pv lists do.
//!
//! Guests without a view (the VM core used alone) need no host mapping, and every operation
//! here is then a no-op.

use crate::base::addr::{GuestId, PageRange, Vpn};
use crate::base::errno::Errno;
use crate::base::types::Invariant;
use crate::base::types::Owner;
use crate::vm::map::{Backing, Prot};
use crate::vm::state::State;

pub use crate::vm::host::{HostStore, PagingMode, View, MAX_VIEWS};

/// Every view address that maps page `o`: the owning guest's for an anonymous page, every
/// attacher's for a segment page (the segment's attachments are the page's reverse map).
pub(crate) fn mappings_of(s: &State, o: Owner) -> Vec<(GuestId, Vpn, Prot)> {
    let mut out = Vec::new();
    match o {
        Owner::Anon { guest, vpn } => {
            if s.views.contains_key(&guest) {
                if let Some(e) = s.guests.get(&guest).and_then(|vm| vm.map.lookup(vpn)) {
                    out.push((guest, vpn, e.prot()));
                }
            }
        }
        Owner::Object { shm, pgoff } => {
            for g in s.views.keys() {
                let Some(vm) = s.guests.get(g) else {
                    continue;
                };
                for a in vm
                    .attachments()
                    .iter()
                    .filter(|a| a.shm == shm && pgoff < a.pages)
                {
                    let vpn = a.va.plus(pgoff);
                    if let Some(e) = vm.map.lookup(vpn).filter(|e| e.attachment() == Some(a.id)) {
                        out.push((*g, vpn, e.prot()));
                    }
                }
            }
        }
    }
    out
}

/// Maps a new entry's pages into the guest's view, if it has one.
pub(crate) fn pmap_enter(
    s: &State,
    g: GuestId,
    range: PageRange,
    backing: Backing,
    prot: Prot,
) -> Result<(), Errno> {
    let Some(v) = s.views.get(&g) else {
        return Ok(());
    };
    let (file, page) = match backing {
        Backing::Anon => (s.guest(g)?.amap.store().file(), range.start.0),
        Backing::Shm { id, pgoff } => (
            s.shm.get(id).ok_or(Errno::EINVAL)?.object().store().file(),
            pgoff,
        ),
    };
    v.map(range, file, page, prot).map_err(|_| Errno::ENOMEM)
}

/// Takes a removed range out of the guest's view.
pub(crate) fn pmap_remove(s: &mut State, g: GuestId, range: PageRange) -> Result<(), Errno> {
    let Some(v) = s.views.get(&g) else {
        return Ok(());
    };
    if v.unmap(range).is_err() && v.protect(range, Prot::empty(), false).is_err() {
        return Err(s.corrupted(
            Invariant::PmapRemove,
            format!("{g:?} range {range:?} could not be removed from its view"),
        ));
    }
    Ok(())
}

/// Applies a protection change to the guest's view.
pub(crate) fn pmap_protect(
    s: &State,
    g: GuestId,
    range: PageRange,
    prot: Prot,
) -> Result<(), Errno> {
    let Some(v) = s.views.get(&g) else {
        return Ok(());
    };
    v.protect(range, prot, v.enters_eagerly())
        .map_err(|_| Errno::ENOMEM)
}

/// Makes page `o` inaccessible in every view before it is paged out. False if a view
/// refused, in which case the page must stay.
pub(crate) fn pmap_page_remove(s: &State, maps: &[(GuestId, Vpn, Prot)]) -> bool {
    maps.iter().all(|&(g, vpn, _)| {
        s.views[&g]
            .protect(PageRange::new(vpn, vpn.plus(1)), Prot::empty(), false)
            .is_ok()
    })
}

/// After a page-out: in userfault mode the views get their protection back (the hole now
/// faults by itself); in protect mode the page stays inaccessible until a fault enters it.
pub(crate) fn pmap_page_restore(s: &State, maps: &[(GuestId, Vpn, Prot)]) {
    for &(g, vpn, prot) in maps {
        let v = &s.views[&g];
        if v.enters_eagerly() {
            // A failure leaves the page inaccessible, which the fault handler repairs.
            let _ = v.protect(PageRange::new(vpn, vpn.plus(1)), prot, true);
        }
    }
}
