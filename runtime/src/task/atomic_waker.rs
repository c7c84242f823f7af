//! [`AtomicWaker`]: one slot for a `Waker`, written by a waiter and fired by a
//! notifier on another thread, with no lock.
//!
//! The slot is guarded by a two-bit state. `register` takes the REGISTERING
//! bit while it writes the waker; `wake` sets the WAKING bit. If a wake
//! arrives while a registration holds the slot, the registering side sees the
//! WAKING bit when it lets go and performs the wake itself, so no wake-up is
//! ever lost and neither side waits for the other.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};
use std::task::Waker;

use super::loom::{AtomicUsize, UnsafeCell};

const WAITING: usize = 0;
const REGISTERING: usize = 0b01;
const WAKING: usize = 0b10;

pub(crate) struct AtomicWaker {
    state: AtomicUsize,
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: access to `waker` is serialised by `state`: only the thread that
// moved it from WAITING to REGISTERING, or that set WAKING while it was
// WAITING, touches the cell, and `Waker` itself is Send + Sync.
unsafe impl Send for AtomicWaker {}
// SAFETY: as above.
unsafe impl Sync for AtomicWaker {}

impl AtomicWaker {
    pub(crate) fn new() -> AtomicWaker {
        AtomicWaker {
            state: AtomicUsize::new(WAITING),
            waker: UnsafeCell::new(None),
        }
    }

    /// Stores `waker` to be woken by the next [`wake`](Self::wake). If one
    /// that wakes the same task is already stored, nothing is cloned.
    pub(crate) fn register(&self, waker: &Waker) {
        match self
            .state
            .compare_exchange(WAITING, REGISTERING, Acquire, Acquire)
            .unwrap_or_else(|s| s)
        {
            WAITING => {
                // SAFETY: we hold the REGISTERING bit, so no one else reads or
                // writes the cell until we release it.
                self.waker.with_mut(|slot| unsafe {
                    match &mut *slot {
                        Some(old) if old.will_wake(waker) => {}
                        slot => *slot = Some(waker.clone()),
                    }
                });
                if self
                    .state
                    .compare_exchange(REGISTERING, WAITING, AcqRel, Acquire)
                    .is_err()
                {
                    // A wake came in while we held the slot; it could not
                    // touch the cell, so we deliver it ourselves.
                    // SAFETY: the state is REGISTERING | WAKING: still ours.
                    let waker = self.waker.with_mut(|slot| unsafe { (*slot).take() });
                    self.state.swap(WAITING, AcqRel);
                    if let Some(w) = waker {
                        w.wake();
                    }
                }
            }
            WAKING => {
                // A wake is being delivered to the old waker right now; make
                // sure the new one hears it too.
                waker.wake_by_ref();
            }
            _ => {
                // Another thread is registering at the same time. Only one
                // waiter per slot is supported; waking is the safe answer.
                waker.wake_by_ref();
            }
        }
    }

    /// Takes the stored waker out and wakes it.
    #[allow(dead_code)] // the runtime uses `take` and `wake_by_ref`; the loom models use this too
    pub(crate) fn wake(&self) {
        if let Some(w) = self.take() {
            w.wake();
        }
    }

    /// Wakes the stored waker but keeps it, so a waiter that registers the
    /// same waker again pays no clone.
    pub(crate) fn wake_by_ref(&self) {
        if self.state.fetch_or(WAKING, AcqRel) == WAITING {
            self.waker.with(|slot| {
                // SAFETY: we moved the state from WAITING to WAKING: the cell is ours.
                if let Some(w) = unsafe { &*slot } {
                    w.wake_by_ref();
                }
            });
            self.state.fetch_and(!WAKING, Release);
        }
    }

    /// Removes the stored waker, if the slot is free to touch.
    pub(crate) fn take(&self) -> Option<Waker> {
        if self.state.fetch_or(WAKING, AcqRel) == WAITING {
            // SAFETY: we moved the state from WAITING to WAKING: the cell is ours.
            let waker = self.waker.with_mut(|slot| unsafe { (*slot).take() });
            self.state.fetch_and(!WAKING, Release);
            waker
        } else {
            None
        }
    }
}

impl Default for AtomicWaker {
    fn default() -> Self {
        AtomicWaker::new()
    }
}
