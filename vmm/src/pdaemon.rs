//! The pagedaemon: frees frames by paging out unwired pages.
//!
//! Victims come from the pageout queue by second chance ([`crate::page::PagePool::clock_victim`]):
//! a page referenced since the hand last passed keeps its frame once more. A victim's data is
//! written to a swap slot, its host memory is released (which also removes it from every guest
//! that maps the host store: a segment page leaves all its attachers at once), and its frame goes
//! back to the free list. Every page is treated as dirty: the host gives no dirty bit for a
//! store page, so a page-out always writes.
//!
//! Wired frames are on no queue and are never chosen. When nothing can be paged out (everything
//! wired, or swap full), the allocation that needed a frame fails with `ENOMEM`.

use crate::addr::FrameId;
use crate::errno::Errno;
use crate::machine::{Machine, State};
use crate::page::{Owner, PageSlot};
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

impl State {
    /// Takes a frame for `o`. Keeping frames free ahead of demand is the pagedaemon thread's
    /// work; only when the free list is empty does the allocation page out itself, a batch of
    /// the free target (at least one) so the next faults find frames.
    pub(crate) fn alloc_frame(&mut self, o: Owner) -> Result<FrameId, Errno> {
        if self.pool.free_count() == 0 {
            self.reclaim(self.cfg.free_target.max(1) as usize);
        }
        self.pool.alloc(o).ok_or(Errno::ENOMEM)
    }

    /// Pages out up to `n` unwired pages; returns how many.
    pub(crate) fn reclaim(&mut self, n: usize) -> usize {
        let mut done = 0;
        while done < n {
            let Some(f) = self.pool.clock_victim() else {
                break;
            };
            if self.evict(f).is_err() {
                break;
            }
            done += 1;
        }
        done
    }

    /// Writes one unwired page to swap, releases its host memory and frees its frame.
    fn evict(&mut self, f: FrameId) -> Result<(), Errno> {
        let fr = self.pool.frame(f);
        debug_assert_eq!(fr.wire_count, 0, "evicting wired {f:?}");
        let o = fr.owner.expect("a queued frame has an owner");
        let maps = self.mappings_of(o);
        if !self.pmap_page_remove(&maps) {
            self.pmap_page_restore(&maps);
            self.pool.requeue(f);
            return Err(Errno::ENOMEM);
        }
        let Some(slot) = self.swap.alloc() else {
            self.pmap_page_restore(&maps);
            return Err(Errno::ENOMEM);
        };
        let mut buf = std::mem::take(&mut self.scratch);
        let (store, idx) = self.store(o);
        let r = store
            .read_page(idx, &mut buf)
            .and_then(|()| self.swap.write(slot, &buf))
            .and_then(|()| store.release(idx, 1));
        self.scratch = buf;
        if r.is_err() {
            self.swap.free(slot);
            self.pmap_page_restore(&maps);
            self.pool.requeue(f);
            return Err(Errno::EIO);
        }
        self.set_slot(o, PageSlot::Swapped(slot));
        self.pool.release(f);
        self.pmap_page_restore(&maps);
        self.stats.evictions += 1;
        tracing::trace!(target: "vmm::pdaemon", owner = ?o, frame = f.index(), slot = slot.0, "evict");
        Ok(())
    }
}

/// A pagedaemon thread: wakes every `period` and, while fewer than the machine's free target
/// frames are free, pages out unwired pages, so that faults find a free frame without waiting
/// for a page-out. Stopped and joined when dropped.
#[derive(Debug)]
pub struct Pagedaemon {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Machine {
    /// Starts a pagedaemon thread for this machine.
    pub fn start_pagedaemon(&self, period: Duration) -> std::io::Result<Pagedaemon> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let (m, s) = (self.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("pagedaemon".into())
            .spawn(move || loop {
                {
                    let mut stopped = s.0.lock();
                    if !*stopped {
                        s.1.wait_for(&mut stopped, period);
                    }
                    if *stopped {
                        return;
                    }
                }
                m.with(|st| {
                    let target = st.cfg.free_target as usize;
                    let free = st.pool.free_count();
                    if free < target {
                        st.stats.pdaemon_runs += 1;
                        st.reclaim(target - free);
                    }
                });
            })?;
        Ok(Pagedaemon {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Pagedaemon {
    fn drop(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
