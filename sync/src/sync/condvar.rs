//! [`Condvar`]: wait for a condition on data behind a [`Mutex`].
//!
//! # Relation to Python's `Condition`
//!
//! Python's `threading.Condition(lock)` / `asyncio.Condition(lock)` bundles
//! a lock with a wait queue: `wait()` must be called with the lock held (a
//! `RuntimeError` otherwise), releases it, sleeps until notified and takes
//! it again; `wait_for(predicate)` loops until the predicate is true;
//! `notify(n)` / `notify_all()` wake waiters. Here the lock is a separate
//! [`Mutex<T>`] that owns the data, and holding it is proven by the type
//! system: [`wait`](Condvar::wait) takes the `MutexGuard` by value and gives
//! one back. `with cond: while not pred(): cond.wait()` becomes
//! `guard = cv.wait_while(guard, |d| !pred(d)).await` (note the negation:
//! `wait_while` waits *while* the closure is true, `wait_for` *until* the
//! predicate is). As in Python and every condvar, a wake-up only means
//! "look again": always re-check the condition (`wait_while` does).
//!
//! # How it works
//!
//! A `std` mutex guards a FIFO [`WaitList`] of waiters. `wait` first queues
//! its node (while the caller still holds the `Mutex<T>`), then unlocks the
//! mutex, then waits to be unlinked, then locks the mutex again. Because it
//! is queued before it unlocks, a notifier that changes the data under the
//! mutex and then notifies is sure to see it: no wake-up can be lost in the
//! gap. `notify_one` unlinks the first waiter marked `One`; `notify_all`
//! unlinks them all. With nobody waiting a notification does nothing (unlike
//! [`Notify`](super::Notify), a condvar stores no permit).
//!
//! # Cancellation
//!
//! A waiter dropped after `notify_one` picked it, but before it saw that,
//! passes the notification to the next queued waiter, so the wake-up is not
//! lost. A `wait` future dropped at any point drops the guard it was given:
//! the mutex is unlocked (or, if it was dropped while re-locking, its place
//! in the mutex's queue is given up) and the caller gets no guard back.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::mutex::MutexGuard;
use crate::loom::{lock, Mutex as StateMutex};
use crate::park::block_on_thread;
use crate::wait_list::{WaitList, WaiterId};
use crate::wake_list::WakeList;

#[cfg(doc)]
use super::Mutex;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Signal {
    Waiting,
    One,
    All,
}

/// A condition variable for tasks, used with a spindle [`Mutex`].
///
/// ```
/// use std::sync::Arc;
/// use spindle_runtime::sync::{Condvar, Mutex};
///
/// spindle_runtime::block_on(async {
///     let pair = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
///     let consumer = {
///         let pair = pair.clone();
///         spindle_runtime::spawn(async move {
///             let (items, cv) = &*pair;
///             let mut items = cv.wait_while(items.lock().await, |v| v.is_empty()).await;
///             items.pop().unwrap()
///         })
///     };
///     spindle_runtime::yield_now().await;
///     let (items, cv) = &*pair;
///     items.lock().await.push("item");
///     cv.notify_one();
///     assert_eq!(consumer.await.unwrap(), "item");
/// });
/// ```
pub struct Condvar {
    waiters: StateMutex<WaitList<Signal>>,
}

impl Condvar {
    /// A condition variable with no waiters.
    pub fn new() -> Condvar {
        Condvar {
            waiters: StateMutex::new(WaitList::new()),
        }
    }

    /// Unlocks the mutex behind `guard`, waits for a notification, and
    /// locks it again. May also return without the condition having changed
    /// (another waiter's cancelled notification can be passed to it): check
    /// the condition in a loop, or use [`wait_while`](Self::wait_while).
    pub async fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let mutex = MutexGuard::mutex(&guard);
        // Queue first, unlock second: see the module docs.
        let id = lock(&self.waiters).push_back(Signal::Waiting, Waker::noop());
        let wait = CondWait {
            condvar: self,
            waiter: Some(id),
        };
        drop(guard);
        wait.await;
        mutex.lock().await
    }

    /// Waits until `condition` returns `false`, checking it under the lock
    /// first and again after every wake-up. Python's `wait_for(pred)` is
    /// `wait_while(guard, |d| !pred(d))`.
    pub async fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> MutexGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard).await;
        }
        guard
    }

    /// [`wait`](Self::wait) by parking this OS thread, for plain threads
    /// (Python's `threading.Condition.wait()`); take the guard with
    /// [`Mutex::blocking_lock`]. Threads and tasks may wait on the same
    /// condition variable.
    ///
    /// # Panics
    /// If called inside a spindle runtime (use `wait(guard).await` there).
    #[track_caller]
    pub fn blocking_wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        block_on_thread(self.wait(guard))
    }

    /// [`wait_while`](Self::wait_while) by parking this OS thread, for
    /// plain threads (Python's `threading.Condition.wait_for()` with the
    /// condition negated).
    ///
    /// # Panics
    /// If called inside a spindle runtime (use `wait_while(..).await` there).
    #[track_caller]
    pub fn blocking_wait_while<'a, T: ?Sized, F>(
        &self,
        guard: MutexGuard<'a, T>,
        condition: F,
    ) -> MutexGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        block_on_thread(self.wait_while(guard, condition))
    }

    /// Wakes the task that has waited longest, if any.
    pub fn notify_one(&self) {
        let mut wakers = WakeList::new();
        let mut waiters = lock(&self.waiters);
        notify_first(&mut waiters, &mut wakers);
        drop(waiters);
        wakers.wake_all();
    }

    /// Wakes every task waiting now.
    pub fn notify_all(&self) {
        let mut wakers = WakeList::new();
        let mut waiters = lock(&self.waiters);
        waiters.drain(&mut wakers, |s| *s = Signal::All);
        drop(waiters);
        wakers.wake_all();
    }
}

fn notify_first(waiters: &mut WaitList<Signal>, wakers: &mut WakeList) {
    if let Some((signal, waker)) = waiters.pop_front() {
        *signal = Signal::One;
        wakers.push(waker);
    }
}

impl Default for Condvar {
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar")
            .field("waiters", &lock(&self.waiters).len())
            .finish()
    }
}

/// Waits to be unlinked by a notification; created already queued.
struct CondWait<'a> {
    condvar: &'a Condvar,
    waiter: Option<WaiterId>,
}

impl Future for CondWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(id) = this.waiter else {
            return Poll::Ready(());
        };
        let mut waiters = lock(&this.condvar.waiters);
        if waiters.is_linked(id) {
            waiters.register(id, cx.waker());
            return Poll::Pending;
        }
        waiters.remove(id);
        this.waiter = None;
        Poll::Ready(())
    }
}

impl Drop for CondWait<'_> {
    fn drop(&mut self) {
        let Some(id) = self.waiter.take() else {
            return;
        };
        let mut wakers = WakeList::new();
        let mut waiters = lock(&self.condvar.waiters);
        let (signal, _) = waiters.remove(id);
        if signal == Signal::One {
            notify_first(&mut waiters, &mut wakers);
        }
        drop(waiters);
        wakers.wake_all();
    }
}
