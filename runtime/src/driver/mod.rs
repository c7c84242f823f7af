//! The IO driver: turns readiness events from the poller into task wake-ups.
//!
//! Each registered file descriptor has a [`ScheduledIo`]: its readiness bits
//! and one waker slot per direction. The descriptor is added to epoll once,
//! edge-triggered, for both directions, with the address of its
//! `ScheduledIo` as the token. When `epoll_wait` reports it, [`dispatch`]
//! sets the readiness bits and wakes the reader and/or the writer:
//!
//! ```text
//!  epoll_wait -> Event{token} -> ScheduledIo{readiness |= READABLE}
//!            -> reader waker -> task SCHEDULED -> run queue -> poll_read
//! ```
//!
//! A `ScheduledIo` is freed when its [`Registration`] drops. On the runtime's
//! own thread that is immediate: events are dispatched in one go between
//! task polls, so no event for it can be waiting. From another thread the
//! free is deferred to the runtime's next turn (`release_pending`).

mod readiness;
mod registration;

pub(crate) use registration::{Direction, Registration, ScheduledIo, WaitSlot, Waiter};

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;

use spindle_reactor::{Event, Poller};

/// The thread-safe part of the IO driver, kept in the runtime's `Shared`.
pub(crate) struct IoShared {
    pub(crate) poller: Poller,
    registrations: AtomicUsize,
    // Boxed on purpose: the address is the epoll token and must not move.
    #[allow(clippy::vec_box)]
    pending_release: Mutex<Vec<Box<ScheduledIo>>>,
    has_pending: AtomicBool,
}

impl IoShared {
    pub(crate) fn new(poller: Poller) -> IoShared {
        IoShared {
            poller,
            registrations: AtomicUsize::new(0),
            pending_release: Mutex::new(Vec::new()),
            has_pending: AtomicBool::new(false),
        }
    }

    pub(crate) fn has_registrations(&self) -> bool {
        self.registrations.load(SeqCst) != 0
    }

    /// Frees the `ScheduledIo`s whose registrations were dropped off-thread.
    pub(crate) fn release_pending(&self) {
        if self.has_pending.swap(false, SeqCst) {
            let list = std::mem::take(
                &mut *self
                    .pending_release
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()),
            );
            drop(list);
        }
    }

    fn defer_release(&self, io: Box<ScheduledIo>) {
        self.pending_release
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(io);
        self.has_pending.store(true, SeqCst);
    }
}

/// Applies one readiness event to its `ScheduledIo` and wakes its waiters.
///
/// # Safety
/// The event's token must be the address of a live `ScheduledIo`.
pub(crate) unsafe fn dispatch(event: &Event) {
    let io = &*(event.token().0 as *const ScheduledIo);
    io.set_readiness(event);
}
