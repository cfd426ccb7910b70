//! Physical frames: a fixed pool, each frame owned by one page, with a wire count and a place on
//! exactly one queue.
//!
//! The pool is the machine's physical memory. A frame's data lives in host memory: the page of
//! the owner's host store ([`crate::vm::host::HostStore`]) that the frame is resident in. The pool
//! bounds how many such host pages exist at once: a page needs a frame to be resident, and giving
//! the frame up ([`crate::vm::pdaemon`]) releases the host page.
//!
//! Invariants (checked by the audit):
//! - a free frame has no owner, no wirings, and is on the free list exactly once;
//! - a frame in use has an owner whose page slot names this frame, and back;
//! - a frame in use is on the pageout queue exactly when its wire count is zero; otherwise it is
//!   wired and on no queue; `wired()` counts the wired frames.

use crate::base::addr::{FrameId, SwapSlot};
use crate::base::types::{Invariant, Owner, Violation};
use std::collections::HashSet;

/// Where a page lives when it has no frame, or which frame holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PageSlot {
    /// Never touched: reads as zeros, needs a frame on first touch.
    #[default]
    Untouched,
    /// In memory, in this frame.
    Resident(FrameId),
    /// Paged out, in this swap slot.
    Swapped(SwapSlot),
}

const NIL: u32 = u32::MAX;

/// The queue a frame is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queue {
    /// On the free list.
    Free,
    /// In use and pageable: on the pageout (clock) queue.
    Pageout,
    /// In use and wired: on no queue.
    Wired,
}

/// One physical frame.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The page it holds, if in use.
    owner: Option<Owner>,
    /// Page-level wirings: one per wired entry mapping it, one for a SHM_LOCKed segment.
    /// Changed only by [`PagePool::wire`] and [`PagePool::unwire`].
    wire_count: u32,
    /// Second-chance bit: set when the page is faulted or accessed through the host.
    referenced: bool,
    /// The queue the frame is on.
    queue: Queue,
    prev: u32,
    next: u32,
}

impl Frame {
    /// The page it holds, if in use.
    #[inline]
    pub fn owner(&self) -> Option<Owner> {
        self.owner
    }

    /// Whether the page was touched since the pagedaemon last looked (second chance).
    #[inline]
    pub fn referenced(&self) -> bool {
        self.referenced
    }

    /// The queue the frame is on.
    #[inline]
    pub fn queue(&self) -> Queue {
        self.queue
    }

    /// Page-level wirings of the frame.
    pub fn wire_count(&self) -> u32 {
        self.wire_count
    }

    /// Whether the frame is wired: the one question, asked of the count here and nowhere else.
    #[inline]
    pub fn is_wired(&self) -> bool {
        self.wire_count > 0
    }
}

/// A frame would have been unwired below zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameUnderflow(pub FrameId);

/// The frame pool with its free list and pageout queue.
#[derive(Debug)]
pub struct PagePool {
    frames: Vec<Frame>,
    free: Vec<FrameId>,
    head: u32,
    tail: u32,
    pageout_len: usize,
    wired: usize,
    peak_wired: usize,
}

impl PagePool {
    /// A pool of `n` free frames.
    pub fn new(n: u32) -> PagePool {
        let frames = (0..n)
            .map(|_| Frame {
                owner: None,
                wire_count: 0,
                referenced: false,
                queue: Queue::Free,
                prev: NIL,
                next: NIL,
            })
            .collect();
        PagePool {
            frames,
            free: (0..n).rev().map(FrameId).collect(),
            head: NIL,
            tail: NIL,
            pageout_len: 0,
            wired: 0,
            peak_wired: 0,
        }
    }

    /// Total frames.
    pub fn total(&self) -> usize {
        self.frames.len()
    }
    /// Frames on the free list.
    pub fn free_count(&self) -> usize {
        self.free.len()
    }
    /// Frames on the pageout queue.
    pub fn pageout_count(&self) -> usize {
        self.pageout_len
    }
    /// Frames with a non-zero wire count.
    pub fn wired(&self) -> usize {
        self.wired
    }
    /// The most frames ever wired at once.
    pub fn peak_wired(&self) -> usize {
        self.peak_wired
    }

    /// One frame.
    pub fn frame(&self, f: FrameId) -> &Frame {
        &self.frames[f.index()]
    }

    /// Every frame with its id.
    pub fn iter(&self) -> impl Iterator<Item = (FrameId, &Frame)> {
        self.frames
            .iter()
            .enumerate()
            .map(|(i, fr)| (FrameId(i as u32), fr))
    }

    /// Takes a free frame for `owner`; it goes on the pageout queue, referenced.
    pub fn alloc(&mut self, owner: Owner) -> Option<FrameId> {
        let f = self.free.pop()?;
        let fr = &mut self.frames[f.index()];
        debug_assert!(fr.owner.is_none() && fr.wire_count == 0);
        fr.owner = Some(owner);
        fr.referenced = true;
        self.push_tail(f);
        Some(f)
    }

    /// Returns an unwired frame to the free list.
    pub fn release(&mut self, f: FrameId) {
        debug_assert_eq!(
            self.frames[f.index()].wire_count,
            0,
            "freeing a wired {f:?}"
        );
        if self.frames[f.index()].queue == Queue::Pageout {
            self.unlink(f);
        }
        let fr = &mut self.frames[f.index()];
        fr.owner = None;
        fr.referenced = false;
        fr.queue = Queue::Free;
        self.free.push(f);
    }

    /// Adds one wiring; the first takes the frame off the pageout queue.
    pub fn wire(&mut self, f: FrameId) {
        let fr = &mut self.frames[f.index()];
        debug_assert!(fr.owner.is_some());
        fr.wire_count += 1;
        if fr.wire_count == 1 {
            self.unlink(f);
            self.frames[f.index()].queue = Queue::Wired;
            self.wired += 1;
            self.peak_wired = self.peak_wired.max(self.wired);
        }
    }

    /// Drops one wiring; the last puts the frame back on the pageout queue.
    pub fn unwire(&mut self, f: FrameId) -> Result<(), FrameUnderflow> {
        let fr = &mut self.frames[f.index()];
        fr.wire_count = fr.wire_count.checked_sub(1).ok_or(FrameUnderflow(f))?;
        if fr.wire_count == 0 {
            self.wired -= 1;
            self.push_tail(f);
        }
        Ok(())
    }

    /// Marks the frame recently used.
    pub fn touch(&mut self, f: FrameId) {
        self.frames[f.index()].referenced = true;
    }

    /// The next victim of the second-chance clock: referenced frames at the head lose their
    /// bit and go to the tail; the first unreferenced one is returned (it stays queued). `None`
    /// when the queue is empty.
    pub fn clock_victim(&mut self) -> Option<FrameId> {
        for _ in 0..=2 * self.pageout_len {
            let f = FrameId(self.head);
            if self.head == NIL {
                return None;
            }
            if !self.frames[f.index()].referenced {
                return Some(f);
            }
            self.frames[f.index()].referenced = false;
            self.unlink(f);
            self.push_tail(f);
        }
        None
    }

    /// Moves a frame that could not be paged out to the queue's tail.
    pub fn requeue(&mut self, f: FrameId) {
        if self.frames[f.index()].queue == Queue::Pageout {
            self.unlink(f);
            self.push_tail(f);
        }
    }

    /// The frames on the pageout queue, head first (for the audit).
    pub fn pageout_queue(&self) -> Vec<FrameId> {
        let mut out = Vec::with_capacity(self.pageout_len);
        let mut cur = self.head;
        while cur != NIL && out.len() <= self.frames.len() {
            out.push(FrameId(cur));
            cur = self.frames[cur as usize].next;
        }
        out
    }

    /// Sets a frame's wire count directly, bypassing every rule: for tests that plant an
    /// inconsistency for the audit to find.
    #[doc(hidden)]
    pub fn corrupt_wire_count(&mut self, f: FrameId, count: u32) {
        self.frames[f.index()].wire_count = count;
    }

    /// Checks the pool's own invariants: every frame is on the queue its owner and wire count
    /// call for, the free list and the pageout queue hold each of their frames once, and the
    /// counters agree. Whether owners and pages name each other is the machine's audit.
    pub fn check(&self) -> Result<(), Violation> {
        let fail = |i, d| Err(Violation::new(i, d));
        let mut wired = 0;
        for (f, fr) in self.iter() {
            let want = match (fr.owner, fr.wire_count) {
                (None, 0) => Queue::Free,
                (None, n) => {
                    return fail(
                        Invariant::QueueFree,
                        format!("{f:?} has no owner but {n} wirings"),
                    )
                }
                (Some(_), 0) => Queue::Pageout,
                (Some(_), _) => Queue::Wired,
            };
            if fr.queue != want {
                let inv = if fr.owner.is_none() {
                    Invariant::QueueFree
                } else {
                    Invariant::QueueState
                };
                return fail(
                    inv,
                    format!("{f:?} with {} wirings is on {:?}", fr.wire_count, fr.queue),
                );
            }
            wired += usize::from(want == Queue::Wired);
        }
        if wired != self.wired {
            return fail(
                Invariant::QueueWiredCount,
                format!("pool counts {} wired frames, {wired} are", self.wired),
            );
        }
        let free: HashSet<FrameId> = self.free.iter().copied().collect();
        let free_frames = self.iter().filter(|(_, fr)| fr.owner.is_none()).count();
        if free.len() != self.free.len() || free.len() != free_frames {
            return fail(
                Invariant::QueueFree,
                format!(
                    "free list has {} entries ({} distinct) for {free_frames} free frames",
                    self.free.len(),
                    free.len()
                ),
            );
        }
        let queue = self.pageout_queue();
        let queued: HashSet<FrameId> = queue.iter().copied().collect();
        let pageable = self
            .iter()
            .filter(|(_, fr)| fr.owner.is_some() && !fr.is_wired())
            .count();
        if queued.len() != queue.len() || queue.len() != pageable || queue.len() != self.pageout_len
        {
            return fail(
                Invariant::QueuePageout,
                format!(
                    "pageout queue has {} entries ({} distinct), counter {}, for {pageable} pageable frames",
                    queue.len(),
                    queued.len(),
                    self.pageout_len
                ),
            );
        }
        Ok(())
    }

    fn push_tail(&mut self, f: FrameId) {
        let i = f.0;
        self.frames[i as usize].prev = self.tail;
        self.frames[i as usize].next = NIL;
        self.frames[i as usize].queue = Queue::Pageout;
        if self.tail == NIL {
            self.head = i;
        } else {
            self.frames[self.tail as usize].next = i;
        }
        self.tail = i;
        self.pageout_len += 1;
    }

    fn unlink(&mut self, f: FrameId) {
        let (prev, next) = (self.frames[f.index()].prev, self.frames[f.index()].next);
        debug_assert_eq!(self.frames[f.index()].queue, Queue::Pageout);
        if prev == NIL {
            self.head = next;
        } else {
            self.frames[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.frames[next as usize].prev = prev;
        }
        let fr = &mut self.frames[f.index()];
        fr.prev = NIL;
        fr.next = NIL;
        self.pageout_len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::addr::{GuestId, Vpn};

    fn owner(n: u64) -> Owner {
        Owner::Anon {
            guest: GuestId(0),
            vpn: Vpn(n),
        }
    }

    #[test]
    fn pool_runs_out_and_refills() {
        let mut p = PagePool::new(2);
        let a = p.alloc(owner(0)).unwrap();
        let _b = p.alloc(owner(1)).unwrap();
        assert!(p.alloc(owner(2)).is_none());
        p.release(a);
        assert_eq!(p.free_count(), 1);
        assert!(p.alloc(owner(2)).is_some());
    }

    #[test]
    fn wired_frames_leave_the_pageout_queue_and_come_back() {
        let mut p = PagePool::new(3);
        let a = p.alloc(owner(0)).unwrap();
        p.wire(a);
        p.wire(a);
        assert_eq!((p.pageout_count(), p.wired()), (0, 1));
        p.unwire(a).unwrap();
        assert_eq!(p.frame(a).queue, Queue::Wired);
        p.unwire(a).unwrap();
        assert_eq!((p.pageout_count(), p.wired(), p.peak_wired()), (1, 0, 1));
        assert_eq!(p.unwire(a), Err(FrameUnderflow(a)));
    }

    #[test]
    fn clock_gives_referenced_frames_a_second_chance() {
        let mut p = PagePool::new(3);
        let a = p.alloc(owner(0)).unwrap();
        let b = p.alloc(owner(1)).unwrap();
        assert_eq!(
            p.clock_victim(),
            Some(a),
            "both referenced: a loses its bit first, then b, then a is the victim"
        );
        p.touch(a);
        assert_eq!(p.clock_victim(), Some(b));
        assert_eq!(p.pageout_queue().len(), 2);
    }

    #[test]
    fn check_finds_a_wire_count_changed_behind_the_queues() {
        let mut p = PagePool::new(2);
        let a = p.alloc(owner(0)).unwrap();
        p.check().unwrap();
        p.corrupt_wire_count(a, 1);
        assert_eq!(p.check().unwrap_err().invariant, Invariant::QueueState);
    }

    #[test]
    fn check_finds_a_free_frame_with_wirings() {
        let mut p = PagePool::new(2);
        p.alloc(owner(0)).unwrap();
        p.check().unwrap();
        let free = p.free[0];
        p.frames[free.index()].wire_count = 1;
        assert_eq!(p.check().unwrap_err().invariant, Invariant::QueueFree);
    }

    #[test]
    fn check_finds_the_wired_counter_out_of_step() {
        let mut p = PagePool::new(2);
        let a = p.alloc(owner(0)).unwrap();
        p.wire(a);
        p.check().unwrap();
        p.wired += 1;
        assert_eq!(p.check().unwrap_err().invariant, Invariant::QueueWiredCount);
    }

    #[test]
    fn check_finds_the_pageout_counter_out_of_step() {
        let mut p = PagePool::new(2);
        p.alloc(owner(0)).unwrap();
        p.check().unwrap();
        p.pageout_len += 1;
        assert_eq!(p.check().unwrap_err().invariant, Invariant::QueuePageout);
    }

    #[test]
    fn clock_finds_nothing_when_everything_is_wired() {
        let mut p = PagePool::new(2);
        let a = p.alloc(owner(0)).unwrap();
        p.wire(a);
        assert_eq!(p.clock_victim(), None);
    }
}
