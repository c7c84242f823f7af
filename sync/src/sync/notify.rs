//! [`Notify`]: wake one task or all of them, with no data attached.
//!
//! One `Mutex` guards a FIFO [`WaitList`] of waiting [`Notified`] futures
//! and a single stored permit.
//!
//! * `notify_one` unlinks the first waiter, marks it `One` and wakes it. With
//!   nobody waiting it stores the permit instead (at most one: notifying
//!   twice with nobody waiting still wakes only one later `notified()`).
//! * `notify_waiters` marks every queued waiter `All`, wakes them, and
//!   stores nothing. It also bumps a generation counter, so a `Notified`
//!   created before the call but not yet polled completes too (the
//!   "create the future, check a condition, then await" pattern).
//! * A `Notified` polled for the first time takes the stored permit if there
//!   is one, and otherwise queues up.
//!
//! # Why cancellation is safe
//!
//! The notification is recorded in the waiter's node, which only the future
//! frees. If a `Notified` that was picked by `notify_one` is dropped before
//! it saw the notification, its `Drop` passes it on exactly as `notify_one`
//! would: to the next queued waiter, or into the stored permit. So a
//! `notify_one` is never lost to a timeout. A dropped `All` notification is
//! simply gone; it was meant for everyone already, and the others got theirs.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::loom::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::{lock, Mutex};
use crate::park::block_on_thread;
use crate::wait_list::{WaitList, WaiterId};
use crate::wake_list::WakeList;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Signal {
    Waiting,
    One,
    All,
}

struct State {
    permit: bool,
    waiters: WaitList<Signal>,
}

/// Wakes waiting tasks: one at a time, with a stored permit, or all at once.
///
/// ```
/// use std::sync::Arc;
/// use spindle_runtime::sync::Notify;
///
/// spindle_runtime::block_on(async {
///     let notify = Arc::new(Notify::new());
///     let waiter = {
///         let notify = notify.clone();
///         spindle_runtime::spawn(async move {
///             notify.notified().await;
///             "woken"
///         })
///     };
///     notify.notify_one(); // stored if the task has not started waiting yet
///     assert_eq!(waiter.await.unwrap(), "woken");
/// });
/// ```
pub struct Notify {
    state: Mutex<State>,
    /// Count of `notify_waiters` calls; changed only under `state`'s lock.
    generation: AtomicUsize,
}

impl Notify {
    /// A `Notify` with no stored permit and no waiters.
    pub fn new() -> Notify {
        Notify {
            state: Mutex::new(State {
                permit: false,
                waiters: WaitList::new(),
            }),
            generation: AtomicUsize::new(0),
        }
    }

    /// A future that completes at the next notification (or at once, taking
    /// the stored permit, if there is one).
    ///
    /// A `notify_waiters` call made after this returns counts even if the
    /// future has not been polled yet. Cancel safe: see the module docs.
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            generation: self.generation.load(SeqCst),
            waiter: None,
            done: false,
        }
    }

    /// Waits for a notification by parking this OS thread, for plain
    /// threads: `notified().await` for code that runs no runtime. Takes the
    /// stored permit at once if there is one.
    ///
    /// # Panics
    /// If called inside a spindle runtime (use `notified().await` there).
    #[track_caller]
    pub fn blocking_notified(&self) {
        block_on_thread(self.notified())
    }

    /// Wakes the first waiting task; with none waiting, stores a permit
    /// for the next `notified()` (at most one is stored).
    pub fn notify_one(&self) {
        let mut wakers = WakeList::new();
        let mut state = lock(&self.state);
        state.notify_one(&mut wakers);
        drop(state);
        wakers.wake_all();
    }

    /// Wakes every task waiting right now (and every `Notified` already
    /// created); stores no permit.
    pub fn notify_waiters(&self) {
        let mut wakers = WakeList::new();
        let mut state = lock(&self.state);
        self.generation.fetch_add(1, SeqCst);
        state.waiters.drain(&mut wakers, |s| *s = Signal::All);
        drop(state);
        wakers.wake_all();
    }
}

impl State {
    fn notify_one(&mut self, wakers: &mut WakeList) {
        match self.waiters.pop_front() {
            Some((signal, waker)) => {
                *signal = Signal::One;
                wakers.push(waker);
            }
            None => self.permit = true,
        }
    }
}

impl Default for Notify {
    fn default() -> Notify {
        Notify::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("Notify")
            .field("permit", &state.permit)
            .field("waiters", &state.waiters.len())
            .finish()
    }
}

/// The future of [`Notify::notified`].
#[must_use = "futures do nothing unless polled"]
pub struct Notified<'a> {
    notify: &'a Notify,
    /// `notify.generation` when this was created.
    generation: usize,
    waiter: Option<WaiterId>,
    done: bool,
}

impl Notified<'_> {
    /// Queues this future for [`Notify::notify_one`] now, before it is first
    /// polled, so a notification sent between this call and the first poll
    /// is this future's (a `notify_one` with the future queued goes to it,
    /// not into the stored permit). Returns true if the future has been
    /// notified already: its next poll is ready.
    ///
    /// ```
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use spindle_runtime::sync::Notify;
    ///
    /// let notify = Notify::new();
    /// let mut first = pin!(notify.notified());
    /// let mut second = pin!(notify.notified());
    /// assert!(!second.as_mut().enable()); // queued: nobody notified yet
    /// notify.notify_one(); // goes to `second`, the one queued
    /// assert!(second.as_mut().enable());
    /// spindle_runtime::block_on(async {
    ///     second.await;
    ///     // `first` was never queued, and no permit was stored for it.
    ///     let polled = std::future::poll_fn(|cx| {
    ///         std::task::Poll::Ready(first.as_mut().poll(cx).is_pending())
    ///     });
    ///     assert!(polled.await);
    /// });
    /// ```
    pub fn enable(self: Pin<&mut Self>) -> bool {
        let this = self.get_mut();
        if this.done {
            return true;
        }
        let mut state = lock(&this.notify.state);
        match this.waiter {
            // Queued with a waker that does nothing: the first poll
            // registers the task's own.
            None => this.first_look(&mut state, Waker::noop()),
            // Unlinked from the queue means notified; the next poll takes it.
            Some(id) => !state.waiters.is_linked(id),
        }
    }

    /// The first look, under the lock: takes a `notify_waiters` that came
    /// after this future was made, or the stored permit (true, and done),
    /// or queues the future with `waker` (false).
    fn first_look(&mut self, state: &mut State, waker: &Waker) -> bool {
        if self.notify.generation.load(SeqCst) != self.generation {
            // A notify_waiters came after we were created.
        } else if state.permit {
            state.permit = false;
        } else {
            self.waiter = Some(state.waiters.push_back(Signal::Waiting, waker));
            return false;
        }
        self.done = true;
        true
    }
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(());
        }
        let mut state = lock(&this.notify.state);
        match this.waiter {
            None => {
                let done = this.first_look(&mut state, cx.waker());
                return if done { Poll::Ready(()) } else { Poll::Pending };
            }
            Some(id) => {
                if state.waiters.is_linked(id) {
                    state.waiters.register(id, cx.waker());
                    return Poll::Pending;
                }
                state.waiters.remove(id);
                this.waiter = None;
            }
        }
        this.done = true;
        Poll::Ready(())
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let Some(id) = self.waiter.take() else {
            return;
        };
        let mut wakers = WakeList::new();
        let mut state = lock(&self.notify.state);
        let (signal, _) = state.waiters.remove(id);
        if signal == Signal::One {
            // Picked by notify_one but never observed: pass it on.
            state.notify_one(&mut wakers);
        }
        drop(state);
        wakers.wake_all();
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified")
            .field("queued", &self.waiter.is_some())
            .field("done", &self.done)
            .finish()
    }
}
