//! [`Readiness`]: one descriptor's ready bits and event counter (the tick)
//! in a single atomic word, and the two operations that race on it.
//!
//! ```text
//!  bits  0         1         2            3             4      5         6..15   16..
//!      READABLE  WRITABLE  READ_CLOSED  WRITE_CLOSED  ERROR  SHUTDOWN  unused  tick
//! ```
//!
//! `SHUTDOWN` is set once, when the runtime the descriptor is registered
//! with shuts down; no clear ever removes it.
//!
//! The driver [`set`](Readiness::set)s bits for every event and bumps the
//! tick. An IO operation takes a [`snapshot`](Readiness::snapshot) (the bits
//! of its direction plus the tick), tries the system call, and on
//! `WouldBlock` [`clear`](Readiness::clear)s the bits it saw, but only while
//! the tick is unchanged: an event that arrived after the snapshot may
//! report readiness the failed call never saw, and erasing it would leave
//! the task waiting for an edge that already came (a lost wake-up under
//! edge-triggered epoll). Packing bits and tick into one word makes the
//! "unchanged?" test and the clear a single compare-and-swap.
//!
//! This file is only the bit logic, so that `tests/core_loom.rs` can model
//! it on its own; `registration.rs` holds the wakers around it.

use std::sync::atomic::Ordering::{AcqRel, Acquire, SeqCst};

#[cfg(all(loom, test))]
use loom::sync::atomic::AtomicUsize;
#[cfg(not(all(loom, test)))]
use std::sync::atomic::AtomicUsize;

/// Data can be read (or a connection accepted).
pub(crate) const READABLE: usize = 1 << 0;
/// Data can be written.
pub(crate) const WRITABLE: usize = 1 << 1;
/// The peer shut down its sending half (reads will reach end of file).
pub(crate) const READ_CLOSED: usize = 1 << 2;
/// The peer can no longer receive (writes will fail).
pub(crate) const WRITE_CLOSED: usize = 1 << 3;
/// An error is pending on the descriptor.
pub(crate) const ERROR: usize = 1 << 4;
/// The runtime this descriptor is registered with has shut down: no event
/// will ever arrive again.
pub(crate) const SHUTDOWN: usize = 1 << 5;
const READY_MASK: usize = (1 << 16) - 1;
const TICK_ONE: usize = 1 << 16;

/// A snapshot of readiness, to clear exactly what was seen.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReadyEvent {
    tick: usize,
    ready: usize,
}

impl ReadyEvent {
    /// The bits seen.
    pub(crate) fn ready(&self) -> usize {
        self.ready
    }

    /// The same snapshot with only the bits of `bits` kept.
    pub(crate) fn retain(self, bits: usize) -> ReadyEvent {
        ReadyEvent {
            tick: self.tick,
            ready: self.ready & bits,
        }
    }
}

/// The readiness word of one registered descriptor.
pub(crate) struct Readiness(AtomicUsize);

impl Readiness {
    /// Nothing ready yet, tick zero.
    pub(crate) fn new() -> Readiness {
        Readiness(AtomicUsize::new(0))
    }

    /// An event reported `bits`: adds them and bumps the tick.
    pub(crate) fn set(&self, bits: usize) {
        let mut cur = self.0.load(Acquire);
        loop {
            let next = (cur & !READY_MASK).wrapping_add(TICK_ONE) | (cur & READY_MASK) | bits;
            // SeqCst pairs with the waiter's `waiting` increment and
            // re-check in `Registration::poll_ready_with`: one of the two
            // sees the other.
            match self.0.compare_exchange_weak(cur, next, SeqCst, Acquire) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// The bits of `mask` that are ready now, with the tick they were seen
    /// at; `None` if none is.
    pub(crate) fn snapshot(&self, mask: usize) -> Option<ReadyEvent> {
        let cur = self.0.load(SeqCst);
        let ready = cur & mask;
        (ready != 0).then_some(ReadyEvent {
            tick: cur & !READY_MASK,
            ready,
        })
    }

    /// Forgets the readiness `event` saw, unless an event arrived since
    /// (the tick moved). The closed bits are final and stay. Returns the
    /// readiness left after clearing, or `None` if nothing was cleared.
    pub(crate) fn clear(&self, event: ReadyEvent) -> Option<usize> {
        // ERROR too: a WouldBlock proves the pending error was consumed;
        // a sticky ERROR would make every later wait ready at once (spin).
        let clear = event.ready & (READABLE | WRITABLE | ERROR);
        let mut cur = self.0.load(Acquire);
        while cur & !READY_MASK == event.tick {
            match self
                .0
                .compare_exchange_weak(cur, cur & !clear, AcqRel, Acquire)
            {
                Ok(_) => return Some(cur & !clear),
                Err(actual) => cur = actual,
            }
        }
        None
    }
}
