//! A watch channel: one value that a sender updates and any number of
//! receivers observe, each told when it changed since it last looked, as
//! in tokio's `sync::watch`.
//!
//! ```
//! use spindle_runtime::channel::watch;
//!
//! spindle_runtime::block_on(async {
//!     let (tx, mut rx) = watch::channel("starting");
//!     let task = spindle_runtime::spawn(async move {
//!         rx.wait_for(|state| *state == "ready").await.is_ok()
//!     });
//!     tx.send("loading").unwrap();
//!     tx.send("ready").unwrap();
//!     assert!(task.await.unwrap());
//! });
//! ```
//!
//! Only the latest value is kept: a receiver that looks rarely sees the
//! newest value, never a backlog. That makes it the channel for state
//! (a configuration, "shutting down", a progress figure), where
//! [`broadcast`](super::broadcast) is for events.
//!
//! # How it works
//!
//! The value sits in an `RwLock` next to an atomic `version` word: every
//! change adds 2, and bit 0 says every sender is gone. A change bumps the
//! version while it still holds the write lock, so a reader that holds the
//! read lock sees a value and a version that belong together
//! ([`Receiver::borrow_and_update`] relies on it). Each receiver keeps the
//! version it last saw; "changed" means the two differ.
//!
//! A receiver that has to wait queues itself in a waiter list under the
//! `waiters` mutex and looks at the version once more before unlocking; a
//! change takes that mutex after bumping the version and wakes the whole
//! list. Either the change sees the waiter or the waiter sees the change.
//! The sender waiting for the last receiver to go ([`Sender::closed`])
//! uses a second list under the same mutex.

use std::fmt;
use std::future::poll_fn;
use std::ops::Deref;
use std::task::{Context, Poll};

use crate::coop;
use crate::loom::atomic::{AtomicUsize, Ordering::*};
use crate::loom::{lock, read, write, Arc, Mutex, RwLock, RwLockReadGuard};
use crate::park::block_on_thread;
use crate::wait_list::{WaitList, WaiterId};
use crate::wake_list::WakeList;

/// Bit 0 of the version word: every sender is gone.
const CLOSED: usize = 1;
/// One change, in the version word.
const STEP: usize = 2;

/// The errors of the watch channel, named as in tokio.
pub mod error {
    use std::fmt;

    /// [`Sender::send`](super::Sender::send) found no receiver; the value
    /// is handed back.
    #[derive(PartialEq, Eq, Clone, Copy)]
    pub struct SendError<T>(pub T);

    impl<T> fmt::Debug for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("SendError").finish_non_exhaustive()
        }
    }

    impl<T> fmt::Display for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("watch channel has no receivers")
        }
    }

    impl<T> std::error::Error for SendError<T> {}

    /// `BrokenPipe`, with the error (and so the value) inside.
    impl<T: Send + Sync + 'static> From<SendError<T>> for std::io::Error {
        fn from(e: SendError<T>) -> std::io::Error {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, e)
        }
    }

    impl<T> SendError<T> {
        /// The value that was not sent.
        pub fn into_inner(self) -> T {
            self.0
        }
    }

    /// The sender is gone, so the value will not change any more.
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    pub struct RecvError(pub(super) ());

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("watch channel closed")
        }
    }

    impl std::error::Error for RecvError {}

    impl From<RecvError> for std::io::Error {
        fn from(e: RecvError) -> std::io::Error {
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, e)
        }
    }
}

use error::{RecvError, SendError};

/// Creates a watch channel holding `init`. Receivers start having seen it.
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: RwLock::new(init),
        version: AtomicUsize::new(0),
        rx_cnt: AtomicUsize::new(1),
        waiters: Mutex::new(Waiters {
            changed: WaitList::new(),
            closed: WaitList::new(),
        }),
    });
    let rx = Receiver {
        shared: shared.clone(),
        seen: 0,
    };
    (Sender { shared }, rx)
}

struct Shared<T> {
    value: RwLock<T>,
    /// Changes times `STEP`, plus `CLOSED`.
    version: AtomicUsize,
    rx_cnt: AtomicUsize,
    waiters: Mutex<Waiters>,
}

struct Waiters {
    /// Receivers waiting for a change.
    changed: WaitList<()>,
    /// Senders waiting for the last receiver to go.
    closed: WaitList<()>,
}

impl<T> Shared<T> {
    /// Wakes every receiver waiting for a change (after a version bump).
    fn notify_receivers(&self) {
        let mut wakers = WakeList::new();
        let mut waiters = lock(&self.waiters);
        waiters.changed.drain(&mut wakers, |_| {});
        drop(waiters);
        wakers.wake_all();
    }
}

/// Updates the value; dropping it closes the channel.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// Observes the value; clone it for more observers (a clone has seen what
/// the original has seen).
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The version this receiver last saw (without the `CLOSED` bit).
    seen: usize,
}

/// A read lock on the value, from [`Sender::borrow`],
/// [`Receiver::borrow`] and friends. Hold it briefly: while it lives, the
/// sender cannot change the value.
pub struct Ref<'a, T> {
    guard: RwLockReadGuard<'a, T>,
    has_changed: bool,
}

impl<T> Ref<'_, T> {
    /// True if the value was new to the receiver that borrowed it (always
    /// false for [`Sender::borrow`] and [`Receiver::borrow`]'s "already
    /// seen" values).
    pub fn has_changed(&self) -> bool {
        self.has_changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> Sender<T> {
    /// Replaces the value and notifies the receivers. Fails, handing the
    /// value back, if there is no receiver (use
    /// [`send_replace`](Self::send_replace) to set it regardless).
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.shared.rx_cnt.load(Acquire) == 0 {
            return Err(SendError(value));
        }
        self.send_replace(value);
        Ok(())
    }

    /// Replaces the value, whether or not anyone watches, notifies the
    /// receivers and returns the old value.
    pub fn send_replace(&self, mut value: T) -> T {
        self.send_modify(|old| std::mem::swap(old, &mut value));
        value
    }

    /// Changes the value in place and notifies the receivers, whether or
    /// not anyone watches.
    pub fn send_modify(&self, modify: impl FnOnce(&mut T)) {
        self.send_if_modified(|value| {
            modify(value);
            true
        });
    }

    /// Changes the value in place; notifies the receivers only if `modify`
    /// returns true. Returns what `modify` returned.
    pub fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        {
            let mut value = write(&self.shared.value);
            if !modify(&mut value) {
                return false;
            }
            // Under the write lock: a reader holding the read lock sees a
            // version that matches the value.
            self.shared.version.fetch_add(STEP, Release);
        }
        self.shared.notify_receivers();
        true
    }

    /// Reads the current value (without marking anything seen).
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: read(&self.shared.value),
            has_changed: false,
        }
    }

    /// True if there is no receiver left.
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }

    /// Waits until every receiver is gone.
    pub async fn closed(&self) {
        let mut waiter = ClosedWaiter {
            shared: &self.shared,
            id: None,
        };
        poll_fn(|cx| waiter.poll(cx)).await
    }

    /// A new receiver that has seen the current value.
    pub fn subscribe(&self) -> Receiver<T> {
        self.shared.rx_cnt.fetch_add(1, Relaxed);
        Receiver {
            shared: self.shared.clone(),
            seen: self.shared.version.load(Acquire) & !CLOSED,
        }
    }

    /// Live receivers.
    pub fn receiver_count(&self) -> usize {
        self.shared.rx_cnt.load(Acquire)
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.version.fetch_or(CLOSED, Release);
        self.shared.notify_receivers();
    }
}

/// The queue node of a [`Sender::closed`] future, removed if it is dropped.
struct ClosedWaiter<'a, T> {
    shared: &'a Shared<T>,
    id: Option<WaiterId>,
}

impl<T> ClosedWaiter<'_, T> {
    fn poll(&mut self, cx: &Context<'_>) -> Poll<()> {
        if self.shared.rx_cnt.load(Acquire) == 0 {
            return Poll::Ready(());
        }
        let mut waiters = lock(&self.shared.waiters);
        // Looked at again under the lock the last receiver takes to wake us.
        if self.shared.rx_cnt.load(Acquire) == 0 {
            return Poll::Ready(());
        }
        match self.id {
            Some(id) if waiters.closed.is_linked(id) => waiters.closed.register(id, cx.waker()),
            _ => {
                if let Some(id) = self.id.take() {
                    waiters.closed.remove(id);
                }
                self.id = Some(waiters.closed.push_back((), cx.waker()));
            }
        }
        Poll::Pending
    }
}

impl<T> Drop for ClosedWaiter<'_, T> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            lock(&self.shared.waiters).closed.remove(id);
        }
    }
}

impl<T> Receiver<T> {
    /// Reads the current value without marking it seen.
    /// [`Ref::has_changed`] says whether it is new to this receiver.
    pub fn borrow(&self) -> Ref<'_, T> {
        let guard = read(&self.shared.value);
        let version = self.shared.version.load(Acquire) & !CLOSED;
        Ref {
            guard,
            has_changed: version != self.seen,
        }
    }

    /// Reads the current value and marks it seen.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let guard = read(&self.shared.value);
        let version = self.shared.version.load(Acquire) & !CLOSED;
        let has_changed = version != self.seen;
        self.seen = version;
        Ref { guard, has_changed }
    }

    /// True if the value changed since this receiver last marked it seen.
    /// Fails once the sender is gone.
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        let version = self.shared.version.load(Acquire);
        if version & CLOSED != 0 {
            return Err(RecvError(()));
        }
        Ok(version != self.seen)
    }

    /// Marks the current value unseen, so the next `changed` returns at once.
    pub fn mark_changed(&mut self) {
        self.seen = self.seen.wrapping_sub(STEP);
    }

    /// Marks the current value seen.
    pub fn mark_unchanged(&mut self) {
        self.seen = self.shared.version.load(Acquire) & !CLOSED;
    }

    /// Waits for a value this receiver has not seen, and marks it seen.
    /// Returns at once if there already is one. Fails once the sender is
    /// gone and the latest value has been seen.
    ///
    /// Cancellation safe: nothing is marked seen unless it completes.
    pub async fn changed(&mut self) -> Result<(), RecvError> {
        let mut waiter = ChangedWaiter {
            shared: &self.shared,
            id: None,
        };
        let seen = &mut self.seen;
        poll_fn(|cx| waiter.poll(seen, cx)).await
    }

    /// Waits until the value satisfies `pred` (checking the current value
    /// first), marks it seen, and returns it borrowed. Fails if the sender
    /// goes before that.
    pub async fn wait_for(
        &mut self,
        mut pred: impl FnMut(&T) -> bool,
    ) -> Result<Ref<'_, T>, RecvError> {
        // Two disjoint borrows of `self`, so that the `Ref` returned from
        // inside the loop may borrow the value while the loop waits.
        let shared: &Shared<T> = &self.shared;
        let seen = &mut self.seen;
        loop {
            // In a block of its own, so the guard is not held across the
            // `.await` below (which would make the future `!Send`).
            let version = {
                let guard = read(&shared.value);
                let version = shared.version.load(Acquire);
                let has_changed = version & !CLOSED != *seen;
                *seen = version & !CLOSED;
                if pred(&guard) {
                    return Ok(Ref { guard, has_changed });
                }
                version
            };
            if version & CLOSED != 0 {
                return Err(RecvError(()));
            }
            let mut waiter = ChangedWaiter { shared, id: None };
            poll_fn(|cx| waiter.poll(seen, cx)).await?;
        }
    }

    /// [`changed`](Self::changed), parking this OS thread.
    ///
    /// # Panics
    /// If called on a thread running a spindle runtime.
    #[track_caller]
    pub fn blocking_changed(&mut self) -> Result<(), RecvError> {
        block_on_thread(self.changed())
    }

    /// True if both receivers watch the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

/// The queue node of a [`Receiver::changed`] future, removed if it is dropped.
struct ChangedWaiter<'a, T> {
    shared: &'a Shared<T>,
    id: Option<WaiterId>,
}

impl<T> ChangedWaiter<'_, T> {
    fn poll(&mut self, seen: &mut usize, cx: &mut Context<'_>) -> Poll<Result<(), RecvError>> {
        if coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        if let Some(ready) = Self::check(self.shared, seen) {
            return Poll::Ready(ready);
        }
        let mut waiters = lock(&self.shared.waiters);
        // A change bumps the version before it takes this lock to wake us:
        // looking again under it, we cannot miss one.
        if let Some(ready) = Self::check(self.shared, seen) {
            if let Some(id) = self.id.take() {
                waiters.changed.remove(id);
            }
            return Poll::Ready(ready);
        }
        match self.id {
            Some(id) if waiters.changed.is_linked(id) => waiters.changed.register(id, cx.waker()),
            _ => {
                if let Some(id) = self.id.take() {
                    waiters.changed.remove(id);
                }
                self.id = Some(waiters.changed.push_back((), cx.waker()));
            }
        }
        Poll::Pending
    }

    fn check(shared: &Shared<T>, seen: &mut usize) -> Option<Result<(), RecvError>> {
        let version = shared.version.load(Acquire);
        if version & !CLOSED != *seen {
            *seen = version & !CLOSED;
            return Some(Ok(()));
        }
        if version & CLOSED != 0 {
            return Some(Err(RecvError(())));
        }
        None
    }
}

impl<T> Drop for ChangedWaiter<'_, T> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            lock(&self.shared.waiters).changed.remove(id);
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.rx_cnt.fetch_add(1, Relaxed);
        Receiver {
            shared: self.shared.clone(),
            seen: self.seen,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.shared.rx_cnt.fetch_sub(1, AcqRel) != 1 {
            return;
        }
        let mut wakers = WakeList::new();
        let mut waiters = lock(&self.shared.waiters);
        waiters.closed.drain(&mut wakers, |_| {});
        drop(waiters);
        wakers.wake_all();
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Receiver")
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}
