//! [`RawSemaphore`]: the fair, cancellation-safe counting semaphore that
//! `Semaphore`, `BoundedSemaphore`, `Mutex` and `RwLock` are built on.
//!
//! # State
//!
//! One `Mutex` guards a count of free permits, a `closed` flag and a FIFO
//! [`WaitList`] of waiters, each `{ wanted, assigned }`. The lock is only
//! held for a few arithmetic steps and list-link updates, never across an
//! `.await` and never while a `Waker` runs: wakers are collected into a
//! [`WakeList`] and called after the guard is dropped. Uncontended, a std
//! mutex is one atomic swap, so a waiter and a releaser on the same thread
//! cost no system call.
//!
//! # Hand-over, first come first served
//!
//! Permits never sit in the pool while someone waits. The invariant is:
//!
//! > if the queue is not empty, the pool is empty.
//!
//! * **Acquire.** If the queue is empty and the pool holds enough, take them
//!   and finish at once. Otherwise queue up at the back; if the queue was
//!   empty, take whatever the pool has as a down payment (`assigned`), which
//!   keeps the invariant.
//! * **Release.** Permits go to the head of the queue first. When the head
//!   has all it wanted it is unlinked (its node stays, holding `assigned`)
//!   and woken; the rest goes on to the next head, and only what nobody in
//!   the queue can use returns to the pool.
//!
//! So a newcomer can never overtake a queued waiter: it finds the pool empty
//! and queues behind. A large request at the head holds back smaller ones
//! behind it (the price of fairness; it is what stops writer starvation in
//! `RwLock`).
//!
//! # Why cancellation is safe
//!
//! Permits handed to a waiter are recorded in its node, not in the future's
//! local state, and only the future frees its node (under the lock):
//!
//! * polled after being unlinked: it removes the node and owns the permits;
//! * dropped instead (a timeout, an abort, a `select!` that chose another
//!   branch): `Drop` removes the node and releases whatever was `assigned`,
//!   fully or partly, through the same hand-over as a normal release, so it
//!   reaches the next waiter or the pool.
//!
//! There is no window in which permits belong to nobody, and a dropped
//! waiter can never keep a permit it was handed or leave a lock locked.
//!
//! `close` unlinks every waiter with `assigned` reset to zero (its partial
//! permits go back to the pool) and wakes them to see the error. A waiter
//! that had been fully granted before the close still gets its permits.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::semaphore::{AcquireError, TryAcquireError};
use crate::coop;
use crate::loom::{lock, Mutex};
use crate::wait_list::{WaitList, WaiterId};
use crate::wake_list::WakeList;

/// The most permits a semaphore can hold; leaves room to add without overflow.
pub(crate) const MAX_PERMITS: usize = usize::MAX >> 3;

struct Waiter {
    wanted: usize,
    assigned: usize,
}

struct State {
    /// Free permits; zero whenever `waiters` is not empty.
    permits: usize,
    closed: bool,
    waiters: WaitList<Waiter>,
    /// For a bounded semaphore, the most permits that may exist.
    bound: Option<usize>,
    /// Permits in existence (free, assigned or held); kept for `bound` only.
    total: usize,
}

/// The semaphore behind every lock in `sync`. See the module docs.
pub(crate) struct RawSemaphore {
    state: Mutex<State>,
}

impl RawSemaphore {
    /// A semaphore with `permits` free permits. With `bounded`, `add` may
    /// never bring the number of permits in existence above `permits`.
    pub(crate) fn new(permits: usize, bounded: bool) -> RawSemaphore {
        assert!(
            permits <= MAX_PERMITS,
            "a semaphore holds at most {MAX_PERMITS} permits"
        );
        RawSemaphore {
            state: Mutex::new(State {
                permits,
                closed: false,
                waiters: WaitList::new(),
                bound: bounded.then_some(permits),
                total: permits,
            }),
        }
    }

    /// An unbounded semaphore with `permits` free permits, in a `const`
    /// context (for statics). Not under loom, whose `Mutex::new` is not
    /// `const`.
    ///
    /// # Panics
    /// If `permits` exceeds `MAX_PERMITS` (at compile time, in a const).
    #[cfg(not(all(loom, test)))]
    pub(crate) const fn const_new(permits: usize) -> RawSemaphore {
        assert!(
            permits <= MAX_PERMITS,
            "a semaphore holds at most usize::MAX >> 3 permits"
        );
        RawSemaphore {
            state: Mutex::new(State {
                permits,
                closed: false,
                waiters: WaitList::new(),
                bound: None,
                total: permits,
            }),
        }
    }

    /// Takes up to `n` free permits out of existence; returns how many.
    pub(crate) fn forget_free(&self, n: usize) -> usize {
        let mut state = lock(&self.state);
        let n = n.min(state.permits);
        state.permits -= n;
        if state.bound.is_some() {
            state.total -= n;
        }
        n
    }

    /// Free permits right now.
    pub(crate) fn available(&self) -> usize {
        lock(&self.state).permits
    }

    pub(crate) fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    /// Takes `n` permits if they are free and nobody is queued.
    pub(crate) fn try_acquire(&self, n: usize) -> Result<(), TryAcquireError> {
        let mut state = lock(&self.state);
        if state.closed {
            return Err(TryAcquireError::Closed);
        }
        // A non-empty queue means an empty pool, so this cannot barge.
        if state.permits >= n {
            state.permits -= n;
            Ok(())
        } else {
            Err(TryAcquireError::NoPermits)
        }
    }

    /// Waits for `n` permits, in turn.
    pub(crate) fn acquire(&self, n: usize) -> Acquire<'_> {
        Acquire {
            sem: self,
            wanted: n,
            waiter: None,
        }
    }

    /// Gives back `n` held permits: to the waiters first, then the pool.
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut state = lock(&self.state);
        if state.waiters.is_empty() {
            // Nobody to hand permits to: the common, uncontended case.
            state.permits += n;
            return;
        }
        let mut wakers = WakeList::new();
        state.release(n, &mut wakers);
        drop(state);
        wakers.wake_all();
    }

    /// Creates `n` new permits. Fails, adding nothing, if that would make
    /// more permits exist than a bounded semaphore started with.
    pub(crate) fn add(&self, n: usize) -> Result<(), ()> {
        let mut wakers = WakeList::new();
        let mut state = lock(&self.state);
        match state.bound {
            Some(bound) if n > bound - state.total => return Err(()),
            Some(_) => state.total += n,
            None => assert!(
                n <= MAX_PERMITS - state.permits,
                "a semaphore holds at most {MAX_PERMITS} permits"
            ),
        }
        state.release(n, &mut wakers);
        drop(state);
        wakers.wake_all();
        Ok(())
    }

    /// Destroys `n` held permits (they will not come back).
    pub(crate) fn forget(&self, n: usize) {
        let mut state = lock(&self.state);
        if state.bound.is_some() {
            state.total -= n;
        }
    }

    /// Fails every queued and future acquire.
    pub(crate) fn close(&self) {
        let mut wakers = WakeList::new();
        let mut state = lock(&self.state);
        state.closed = true;
        let State {
            permits, waiters, ..
        } = &mut *state;
        waiters.drain(&mut wakers, |w| {
            *permits += std::mem::take(&mut w.assigned);
        });
        drop(state);
        wakers.wake_all();
    }
}

impl State {
    /// The hand-over: serve the queue from its head, keep the rest.
    fn release(&mut self, mut n: usize, wakers: &mut WakeList) {
        while let Some(head) = self.waiters.front_mut() {
            let give = n.min(head.wanted - head.assigned);
            head.assigned += give;
            n -= give;
            if head.assigned < head.wanted {
                break;
            }
            let (_, waker) = self.waiters.pop_front().expect("the head exists");
            wakers.push(waker);
        }
        self.permits += n;
    }
}

/// Waits for permits of a [`RawSemaphore`]; see the module docs.
///
/// Dropping it at any point returns whatever it had been handed.
pub(crate) struct Acquire<'a> {
    sem: &'a RawSemaphore,
    wanted: usize,
    /// Our node, while we are (or were) queued and have not taken it back.
    waiter: Option<WaiterId>,
}

impl Future for Acquire<'_> {
    type Output = Result<(), AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(id) = this.waiter else {
            // First poll. Only here may the budget make us yield: nothing
            // has been queued or assigned yet.
            ready!(coop::poll_proceed(cx));
            let mut state = lock(&this.sem.state);
            if state.closed {
                return Poll::Ready(Err(AcquireError(())));
            }
            if this.wanted == 0 || (state.waiters.is_empty() && state.permits >= this.wanted) {
                state.permits -= this.wanted;
                return Poll::Ready(Ok(()));
            }
            let assigned = state.permits.min(this.wanted);
            state.permits -= assigned;
            let waiter = Waiter {
                wanted: this.wanted,
                assigned,
            };
            this.waiter = Some(state.waiters.push_back(waiter, cx.waker()));
            return Poll::Pending;
        };
        let mut state = lock(&this.sem.state);
        if state.waiters.is_linked(id) {
            state.waiters.register(id, cx.waker());
            return Poll::Pending;
        }
        let (waiter, _) = state.waiters.remove(id);
        this.waiter = None;
        if waiter.assigned == waiter.wanted {
            Poll::Ready(Ok(()))
        } else {
            // Unlinked short of its request: only `close` does that.
            debug_assert!(state.closed && waiter.assigned == 0);
            Poll::Ready(Err(AcquireError(())))
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some(id) = self.waiter.take() else {
            return;
        };
        let mut wakers = WakeList::new();
        let mut state = lock(&self.sem.state);
        let (waiter, _) = state.waiters.remove(id);
        // Granted in full but never observed, or partly assigned while at
        // the head: either way the permits move on as a release would.
        if waiter.assigned > 0 {
            state.release(waiter.assigned, &mut wakers);
        }
        drop(state);
        wakers.wake_all();
    }
}
