//! Timers of threads that do not run the loop.
//!
//! A runtime's [`TimerWheel`](super::wheel::TimerWheel) lives on its own
//! thread, unlocked. A [`Sleep`](super::Sleep) polled on a thread that only
//! *entered* the runtime (a `spawn_blocking` closure driving a future with
//! another executor, say) cannot touch it. Instead it makes a
//! [`RemoteTimer`], shared between the `Sleep` and the loop:
//!
//! ```text
//!   other thread                      runtime thread (next turn)
//!   Sleep::poll
//!     RemoteTimer{deadline, waker} --> Shared::timer_inserts
//!     unpark the loop                   wheel.insert(deadline, WheelWaker)
//!                                       ... deadline passes ...
//!   Sleep::poll sees `fired` <------    WheelWaker::wake: fired = true,
//!                                        wake the Sleep's waker
//! ```
//!
//! Cancellation goes the other way: a dropped `Sleep` marks its timer
//! cancelled (an insert not yet applied is then skipped) and, once the loop
//! has given it a key, queues that key for removal like any `Sleep` dropped
//! off-thread.
//!
//! If the runtime shuts down first, its wheel is dropped with the
//! `WheelWaker` in it; dropping one that never fired marks the timer
//! *orphaned* and wakes the `Sleep`, whose poll then reports that the
//! runtime is gone instead of waiting forever.

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Wake, Waker};
use std::time::Instant;

/// A timer registered from a thread that does not run the loop.
#[derive(Debug)]
pub(crate) struct RemoteTimer {
    pub(crate) deadline: Instant,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The deadline passed (set by the loop).
    fired: bool,
    /// The loop dropped the timer unfired: its runtime shut down.
    orphaned: bool,
    /// The `Sleep` let go of it.
    cancelled: bool,
    /// The `Sleep`'s waker, woken when the timer fires.
    waker: Option<Waker>,
    /// The wheel key, once the loop inserted it.
    key: Option<usize>,
}

/// What a `Sleep` learns from polling its remote timer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RemotePoll {
    Pending,
    Fired,
    /// The runtime shut down before the deadline.
    Orphaned,
}

impl RemoteTimer {
    pub(crate) fn new(deadline: Instant, waker: &Waker) -> Arc<RemoteTimer> {
        Arc::new(RemoteTimer {
            deadline,
            state: Mutex::new(State {
                waker: Some(waker.clone()),
                ..State::default()
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called by the `Sleep`: has it fired? If not, `waker` is the one to wake.
    pub(crate) fn poll(&self, waker: &Waker) -> RemotePoll {
        let mut state = self.lock();
        if state.fired {
            return RemotePoll::Fired;
        }
        if state.orphaned {
            return RemotePoll::Orphaned;
        }
        match &state.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => state.waker = Some(waker.clone()),
        }
        RemotePoll::Pending
    }

    /// Called by the `Sleep` when it lets go: returns the wheel key to
    /// remove, if the loop has inserted the timer.
    pub(crate) fn cancel(&self) -> Option<usize> {
        let mut state = self.lock();
        state.cancelled = true;
        let waker = state.waker.take();
        let key = state.key.take();
        drop(state);
        drop(waker);
        key
    }

    /// Called by the loop: the waker to put in the wheel, or `None` if the
    /// `Sleep` already let go.
    pub(crate) fn wheel_waker(self: &Arc<Self>) -> Option<Waker> {
        if self.lock().cancelled {
            return None;
        }
        Some(Waker::from(Arc::new(WheelWaker(self.clone()))))
    }

    /// Called by the loop after inserting: remembers the wheel key. Returns
    /// false if the `Sleep` let go meanwhile (the caller removes the entry).
    pub(crate) fn set_key(&self, key: usize) -> bool {
        let mut state = self.lock();
        if state.cancelled {
            return false;
        }
        state.key = Some(key);
        true
    }

    /// The deadline passed: marks the timer fired and wakes the `Sleep`.
    pub(crate) fn fire(&self) {
        let waker = {
            let mut state = self.lock();
            state.fired = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The loop let go of the timer without firing it (its runtime shut down).
    pub(crate) fn orphan(&self) {
        let waker = {
            let mut state = self.lock();
            if state.fired || state.cancelled {
                return;
            }
            state.orphaned = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The waker the wheel holds for a remote timer.
struct WheelWaker(Arc<RemoteTimer>);

impl Wake for WheelWaker {
    fn wake(self: Arc<Self>) {
        self.0.fire();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fire();
    }
}

impl Drop for WheelWaker {
    fn drop(&mut self) {
        // Fired or cancelled: nothing to do. Otherwise the wheel was dropped
        // (runtime shut down) or the entry removed before its deadline.
        self.0.orphan();
    }
}
