//! [`StealQueue`]: a worker's bounded run queue, which idle workers steal
//! from through a [`Stealer`].
//!
//! The multi-threaded scheduler (issue 13) is its user: every worker owns
//! one `StealQueue` and hands a `Stealer` of it to every other worker. Until
//! that scheduler lands nothing in the runtime calls this module, but its
//! unit tests, stress test and loom models (`tests/steal_loom.rs`) do.
//!
//! # Who does what
//!
//! One thread, the *owner* (the worker running the queue), pushes and pops.
//! Any number of *thieves* (other workers, each the owner of its own queue)
//! take half of the tasks at once with [`Stealer::steal_into`]. The owner's
//! operations take no lock and make no system call: a push is two loads and
//! a store, a pop one compare-and-swap. The design is tokio's
//! (`runtime/scheduler/multi_thread/queue.rs`), itself a bounded cousin of
//! the Chase-Lev deque; this is a fresh write of it.
//!
//! # The ring and its three indices
//!
//! Tasks sit in a ring of [`CAPACITY`] (256) slots. Indices are `u32`s that
//! only ever grow (wrapping at 2^32); a slot is `index % CAPACITY`, and
//! `CAPACITY` is a power of two so that is a mask. Subtracting two indices
//! with wrapping arithmetic gives a distance even across the wrap.
//!
//! ```text
//!            steal        real                         tail
//!              |            |                            |
//!   ... free | being stolen | queued: the owner pops here | free ...
//!              \___________/ \__________________________/
//!            a thief copies      pop takes `real`; push
//!            these out           writes at `tail`
//! ```
//!
//! - `tail` is where the owner writes the next task. Only the owner stores
//!   it; thieves load it to see how many tasks there are.
//! - `head` packs two indices into one `AtomicU64`, so that both change in
//!   one compare-and-swap: `real`, the next task to hand out, and `steal`,
//!   the first slot a thief may still be reading. With no steal under way
//!   they are equal. A thief *claims* tasks by moving `real` forward past
//!   them while leaving `steal` behind; it then copies the claimed slots
//!   into its own queue and finally moves `steal` up to `real`. Between the
//!   two steps the slots `steal..real` belong to the thief: the owner may
//!   neither hand them out (they are before `real`) nor overwrite them (a
//!   push checks against `steal`, not `real`, for room).
//! - Only one steal can be under way per queue: a thief that sees
//!   `steal != real` gives up at once (another thief is busy there; it
//!   tries elsewhere) rather than wait.
//!
//! # Pop is FIFO
//!
//! [`StealQueue::pop`] takes the oldest task, from the same end thieves
//! take from. That keeps the guarantee the current-thread runtime gives:
//! a task woken is run after the tasks woken before it, so no task starves
//! behind a pair that keep waking each other. (The locality win of running
//! the task just woken next, LIFO, is the job of a separate one-task "LIFO
//! slot" in the scheduler, with its own limit, as tokio does; a LIFO pop
//! from the tail here would also race thieves for the last task in a way
//! the packed head cannot settle in one compare-and-swap.)
//!
//! # When the queue is full
//!
//! A push into a full queue never blocks and never drops a task: the owner
//! claims the older half of its queue (one compare-and-swap of `head`, as a
//! thief would) and moves those tasks, plus the new one, to the runtime's
//! injection queue in one batch under one lock ([`Inject::push_batch`]).
//! Other workers find them there. Should a steal be under way at that
//! moment, the older tasks are partly the thief's, so just the new task
//! goes to the injection queue.
//!
//! # Dropping a queue with tasks in it
//!
//! The scheduler must empty its queues at shutdown (every task is cancelled
//! through the task lists first), so a queue dropped with tasks in it is a
//! scheduler bug. `Drop` drains the queue all the same, releasing each
//! task's reference so that a release build leaks nothing, and a debug
//! build then fails an assertion naming the bug (unless the thread is
//! already panicking, which would turn one failure into an abort).

use std::cell::Cell;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::Arc;

#[cfg(all(loom, test))]
use loom::sync::atomic::{AtomicU32, AtomicU64};
#[cfg(not(all(loom, test)))]
use std::sync::atomic::{AtomicU32, AtomicU64};

use super::inject::Inject;
use crate::task::loom::UnsafeCell;
use crate::task::raw::TaskRef;

/// How many tasks a queue holds. A power of two, so a slot is an index
/// masked with `CAPACITY - 1`. The loom models use a ring of four, so that
/// filling it, wrapping around it and overflowing it take a few steps.
#[cfg(not(all(loom, test)))]
pub(crate) const CAPACITY: usize = 256;
/// How many tasks a queue holds (four in the loom models).
#[cfg(all(loom, test))]
pub(crate) const CAPACITY: usize = 4;

const _: () = assert!(CAPACITY.is_power_of_two() && CAPACITY <= u32::MAX as usize / 2);

const MASK: u32 = CAPACITY as u32 - 1;
/// How many of its tasks a full queue moves to the injection queue.
const HALF: u32 = CAPACITY as u32 / 2;

/// The owner's end of a worker's run queue: push and pop.
///
/// `Send` (a worker may be built on one thread and run on another) but not
/// `Sync`: the protocol relies on one thread doing the owner's operations,
/// and `&StealQueue` not crossing threads is how the compiler enforces it.
pub(crate) struct StealQueue {
    ring: Arc<Ring>,
    _not_sync: PhantomData<Cell<()>>,
}

/// A thief's handle on another worker's queue. Clonable, `Send` and `Sync`.
#[derive(Clone)]
pub(crate) struct Stealer {
    ring: Arc<Ring>,
}

/// The memory both ends share.
struct Ring {
    /// `steal` in the high 32 bits, `real` in the low (see the module doc).
    head: AtomicU64,
    /// The next slot the owner writes. Stored only by the owner.
    tail: AtomicU32,
    /// The slots. A slot between `steal` and `tail` holds a task; any other
    /// is logically empty (it may hold the bits of a task moved out).
    slots: Box<[UnsafeCell<MaybeUninit<TaskRef>>; CAPACITY]>,
}

// SAFETY: the slots are what makes `Ring` not `Sync` on its own. Each slot
// is written only by the owner, and only while it lies outside
// `steal..tail` (no one reads it); it is read by whoever claimed it through
// the compare-and-swap on `head` (the owner's pop or overflow, or one
// thief), exactly once. The release/acquire pairs on `tail` and `head`
// order each write before the read and each read before the next write.
// The tasks themselves (`TaskRef`) are `Send`.
unsafe impl Sync for Ring {}
// SAFETY: as above; the ring owns `TaskRef`s, which are `Send`.
unsafe impl Send for Ring {}

fn unpack(head: u64) -> (u32, u32) {
    ((head >> 32) as u32, head as u32)
}

fn pack(steal: u32, real: u32) -> u64 {
    (u64::from(steal) << 32) | u64::from(real)
}

impl Ring {
    /// Writes a task into the slot of `index`.
    ///
    /// # Safety
    /// The caller is the ring's owner and the slot lies outside
    /// `steal..tail`: nobody reads it, and what it held was moved out.
    unsafe fn write(&self, index: u32, task: TaskRef) {
        let slot = &self.slots[(index & MASK) as usize];
        // SAFETY: by the caller's contract no one else touches the slot.
        slot.with_mut(|slot| unsafe { (*slot).write(task) });
    }

    /// Moves the task out of the slot of `index`.
    ///
    /// # Safety
    /// The caller claimed the slot (moved `real` past it with the
    /// compare-and-swap on `head`), so it holds a task that no one else
    /// will read, and the owner will not overwrite it until `steal` moves
    /// past it.
    unsafe fn take(&self, index: u32) -> TaskRef {
        let slot = &self.slots[(index & MASK) as usize];
        // SAFETY: by the caller's contract the slot holds a task that is
        // ours to move out, exactly once.
        slot.with(|slot| unsafe { (*slot).assume_init_read() })
    }

    /// How many tasks are queued and not claimed by a thief.
    fn len(&self) -> usize {
        let (_, real) = unpack(self.head.load(Acquire));
        let tail = self.tail.load(Acquire);
        tail.wrapping_sub(real) as usize
    }
}

impl StealQueue {
    /// An empty queue.
    pub(crate) fn new() -> StealQueue {
        let slots: Box<[UnsafeCell<MaybeUninit<TaskRef>>]> = (0..CAPACITY)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect();
        let Ok(slots) = slots.try_into() else {
            unreachable!("the iterator yields CAPACITY slots")
        };
        StealQueue {
            ring: Arc::new(Ring {
                head: AtomicU64::new(0),
                tail: AtomicU32::new(0),
                slots,
            }),
            _not_sync: PhantomData,
        }
    }

    /// A handle other workers steal through.
    pub(crate) fn stealer(&self) -> Stealer {
        Stealer {
            ring: self.ring.clone(),
        }
    }

    /// How many tasks the owner could pop now.
    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether the owner has nothing to pop.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `tail` as the owner sees it. Only this thread stores it, so a
    /// relaxed load returns its own last store.
    fn tail(&self) -> u32 {
        self.ring.tail.load(Relaxed)
    }

    /// Queues a task at the back. In a full queue, moves the older half and
    /// `task` to `overflow` in one batch (see the module doc); never blocks.
    pub(crate) fn push_back(&self, mut task: TaskRef, overflow: &Inject) {
        let ring = &*self.ring;
        loop {
            task = match self.push_if_room(task) {
                Ok(()) => return,
                Err(back) => back,
            };
            let (steal, real) = unpack(ring.head.load(Acquire));
            let tail = self.tail();
            if steal != real {
                // Full, but a thief is emptying part of it: the older half is
                // partly its. Only the new task moves.
                overflow.push_batch(std::iter::once(task));
                return;
            }
            match self.overflow_half(task, real, tail, overflow) {
                Ok(()) => return,
                // A thief claimed tasks since we loaded `head`: there may be
                // room now, so look again.
                Err(back) => task = back,
            }
        }
    }

    /// Queues a task at the back if the ring has a free slot, or gives it
    /// back. Never moves anything elsewhere, so it may run under the
    /// injection queue's lock (a batch taken from it, `Inject::pop_batch`).
    pub(crate) fn push_if_room(&self, task: TaskRef) -> Result<(), TaskRef> {
        let ring = &*self.ring;
        // Acquire: a thief's final store of `steal` (release) comes after
        // its reads of the slots we may now overwrite.
        let (steal, _) = unpack(ring.head.load(Acquire));
        let tail = self.tail();
        if tail.wrapping_sub(steal) < CAPACITY as u32 {
            // SAFETY: `tail` is outside `steal..tail`, and we own the ring.
            unsafe { ring.write(tail, task) };
            // Release: a thief that reads the new tail sees the task.
            ring.tail.store(tail.wrapping_add(1), Release);
            return Ok(());
        }
        Err(task)
    }

    /// Moves the older half of a full queue, then `task`, to `overflow`.
    /// Gives `task` back if a thief changed `head` since the caller loaded it.
    fn overflow_half(
        &self,
        task: TaskRef,
        head: u32,
        tail: u32,
        overflow: &Inject,
    ) -> Result<(), TaskRef> {
        debug_assert_eq!(tail.wrapping_sub(head), CAPACITY as u32);
        let ring = &*self.ring;
        // Claim `head..head + HALF` the way a thief would, but move `steal`
        // along too: we read the slots before anyone can write them again
        // (only we write them, and only after this call returns).
        let claimed = pack(head, head);
        let after = pack(head.wrapping_add(HALF), head.wrapping_add(HALF));
        if ring
            .head
            .compare_exchange(claimed, after, Release, Relaxed)
            .is_err()
        {
            return Err(task);
        }
        // The iterator runs under the injection queue's lock: it only moves
        // pointers out of slots, it cannot block or panic.
        let older = (0..HALF).map(|i| {
            // SAFETY: the compare-and-swap above claimed these slots for us.
            unsafe { ring.take(head.wrapping_add(i)) }
        });
        overflow.push_batch(older.chain(std::iter::once(task)));
        Ok(())
    }

    /// Takes the oldest task (FIFO; see the module doc for why).
    pub(crate) fn pop(&self) -> Option<TaskRef> {
        let ring = &*self.ring;
        let mut head = ring.head.load(Acquire);
        let index = loop {
            let (steal, real) = unpack(head);
            if real == self.tail() {
                return None;
            }
            let next_real = real.wrapping_add(1);
            // With no steal under way both indices move; otherwise `steal`
            // stays where the thief left it, and the thief moves it up later.
            let next = if steal == real {
                pack(next_real, next_real)
            } else {
                pack(steal, next_real)
            };
            match ring.head.compare_exchange(head, next, AcqRel, Acquire) {
                Ok(_) => break real,
                Err(actual) => head = actual,
            }
        };
        // SAFETY: the compare-and-swap moved `real` past `index` for us.
        Some(unsafe { ring.take(index) })
    }
}

impl Drop for StealQueue {
    fn drop(&mut self) {
        let mut left = 0usize;
        while let Some(task) = self.pop() {
            drop(task);
            left += 1;
        }
        if !std::thread::panicking() {
            debug_assert_eq!(left, 0, "a worker's run queue was dropped with tasks in it");
        }
    }
}

impl Stealer {
    /// How many tasks the victim's owner could pop now (a snapshot: the
    /// owner and other thieves keep changing it).
    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether the victim's queue looked empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves half of the victim's tasks (rounded up) into `dst`, the
    /// thief's own queue, and returns one of them to run now. `None` if the
    /// victim had nothing, another thief was already at it, or `dst` is
    /// more than half full (it would not have room for half a queue; a
    /// thief with that much work should run it first).
    pub(crate) fn steal_into(&self, dst: &StealQueue) -> Option<TaskRef> {
        debug_assert!(
            !Arc::ptr_eq(&self.ring, &dst.ring),
            "a worker stole from itself"
        );
        let dst_ring = &*dst.ring;
        let dst_tail = dst.tail();
        let (dst_steal, _) = unpack(dst_ring.head.load(Acquire));
        if dst_tail.wrapping_sub(dst_steal) > HALF {
            return None;
        }
        let moved = self.steal_half_into(dst_ring, dst_tail);
        if moved == 0 {
            return None;
        }
        // The last task moved is the one to run; the others become visible
        // to `dst`'s thieves with the tail store.
        let kept = moved - 1;
        // SAFETY: we (dst's owner) just wrote this slot, beyond dst's tail,
        // where no one else looks.
        let task = unsafe { dst_ring.take(dst_tail.wrapping_add(kept)) };
        if kept > 0 {
            dst_ring.tail.store(dst_tail.wrapping_add(kept), Release);
        }
        Some(task)
    }

    /// Claims half the victim's tasks, copies them to `dst` from
    /// `dst_tail` on (without publishing them), and releases the claim.
    /// Returns how many were moved.
    fn steal_half_into(&self, dst: &Ring, dst_tail: u32) -> u32 {
        let src = &*self.ring;
        let mut head = src.head.load(Acquire);
        // Step 1: claim, by moving `real` forward and leaving `steal`.
        let (first, count, claimed) = loop {
            let (steal, real) = unpack(head);
            if steal != real {
                // Another thief is at work here.
                return 0;
            }
            // Acquire: pairs with the owner's release of `tail`, so the
            // slots up to it hold the tasks it wrote.
            let tail = src.tail.load(Acquire);
            let queued = tail.wrapping_sub(real);
            let count = queued - queued / 2;
            if count == 0 {
                return 0;
            }
            let claimed = pack(steal, real.wrapping_add(count));
            match src.head.compare_exchange(head, claimed, AcqRel, Acquire) {
                Ok(_) => break (real, count, claimed),
                Err(actual) => head = actual,
            }
        };
        assert!(count <= HALF, "a steal claimed more than half a queue");
        // Step 2: copy. `dst_tail..dst_tail + count` is free in `dst`:
        // the caller checked `dst` is at most half full.
        for i in 0..count {
            // SAFETY: step 1 claimed these source slots for us, and the
            // destination slots lie beyond `dst`'s tail, which only we (its
            // owner) write.
            unsafe {
                let task = src.take(first.wrapping_add(i));
                dst.write(dst_tail.wrapping_add(i), task);
            }
        }
        // Step 3: release the claim by moving `steal` up to `real`. The
        // owner may have popped meanwhile (moving `real` on), so retry with
        // what it left.
        let mut head = claimed;
        loop {
            let (steal, real) = unpack(head);
            // Checked in every build (a steal is the slow path): a second
            // thief here would mean tasks read twice or overwritten.
            assert_eq!(steal, first, "only one steal runs at a time");
            // Release: the owner, reading `steal` before it reuses these
            // slots, sees our reads of them as done.
            match src
                .head
                .compare_exchange(head, pack(real, real), AcqRel, Acquire)
            {
                Ok(_) => return count,
                Err(actual) => head = actual,
            }
        }
    }
}

impl std::fmt::Debug for StealQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StealQueue")
            .field("len", &self.len())
            .finish()
    }
}

impl std::fmt::Debug for Stealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stealer").field("len", &self.len()).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
