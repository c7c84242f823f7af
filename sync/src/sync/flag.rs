//! [`Flag`]: a flag tasks can wait for: Python's `asyncio.Event` and
//! `threading.Event`.
//!
//! It is called `Flag`, not `Event`, because in spindle an *event* is what
//! the reactor reports (`spindle::reactor::Event`: "this descriptor is
//! ready"); the two would be confused in docs and imports.
//!
//! One `Mutex` guards the flag and a [`WaitList`] of waiting tasks.
//! `set` raises the flag, unlinks every waiter and wakes them; `clear`
//! lowers the flag; `wait` returns at once while the flag is up, and
//! otherwise queues.
//!
//! A waiter that was queued when `set` ran completes even if `clear` runs
//! before it is polled again: being unlinked by `set` *is* its signal (its
//! node, not the current flag, is what it checks). That is Python's rule
//! too: `wait()` returns `True` once the event was set while waiting. A
//! dropped waiter just leaves the list; `set` is for everyone, so there is
//! nothing to pass on.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use crate::coop;
use crate::loom::{lock, Mutex};
use crate::park::block_on_thread;
use crate::wait_list::{WaitList, WaiterId};
use crate::wake_list::WakeList;

struct State {
    set: bool,
    waiters: WaitList<()>,
}

/// A settable, clearable flag that tasks can wait on: Python's
/// `threading.Event` and `asyncio.Event` (`set`, `clear`, `is_set`,
/// `wait`), under a name that cannot be confused with the reactor's
/// `Event`.
///
/// ```
/// use std::sync::Arc;
/// use spindle_runtime::sync::Flag;
///
/// spindle_runtime::block_on(async {
///     let green = Arc::new(Flag::new());
///     let cars: Vec<_> = (0..3)
///         .map(|i| {
///             let green = green.clone();
///             spindle_runtime::spawn(async move {
///                 green.wait().await; // wait for the green light
///                 i
///             })
///         })
///         .collect();
///     spindle_runtime::yield_now().await;
///     green.set();
///     for car in cars {
///         car.await.unwrap();
///     }
///     assert!(green.is_set());
/// });
/// ```
#[doc(alias = "Event")]
pub struct Flag {
    state: Mutex<State>,
}

impl Flag {
    /// A flag that is not set.
    pub fn new() -> Flag {
        Flag {
            state: Mutex::new(State {
                set: false,
                waiters: WaitList::new(),
            }),
        }
    }

    /// Sets the flag and wakes every waiting task. Later `wait`s return at
    /// once until [`clear`](Self::clear).
    pub fn set(&self) {
        let mut wakers = WakeList::new();
        let mut state = lock(&self.state);
        state.set = true;
        state.waiters.drain(&mut wakers, |_| {});
        drop(state);
        wakers.wake_all();
    }

    /// Lowers the flag: later `wait`s block until the next `set`.
    pub fn clear(&self) {
        lock(&self.state).set = false;
    }

    /// True while the flag is set.
    pub fn is_set(&self) -> bool {
        lock(&self.state).set
    }

    /// Waits until the flag is set; returns at once if it already is.
    /// Cancel safe.
    pub async fn wait(&self) {
        FlagWait {
            flag: self,
            waiter: None,
        }
        .await
    }

    /// Blocks this OS thread until the flag is set (Python's
    /// `threading.Event.wait()`).
    ///
    /// # Panics
    /// If called inside a spindle runtime (use `wait().await` there).
    #[track_caller]
    pub fn blocking_wait(&self) {
        block_on_thread(self.wait())
    }
}

impl Default for Flag {
    fn default() -> Flag {
        Flag::new()
    }
}

impl fmt::Debug for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flag").field("set", &self.is_set()).finish()
    }
}

struct FlagWait<'a> {
    flag: &'a Flag,
    waiter: Option<WaiterId>,
}

impl Future for FlagWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.waiter.is_none() {
            // Only before queueing may the budget make us yield.
            ready!(coop::poll_proceed(cx));
        }
        let mut state = lock(&this.flag.state);
        match this.waiter {
            None if state.set => Poll::Ready(()),
            None => {
                this.waiter = Some(state.waiters.push_back((), cx.waker()));
                Poll::Pending
            }
            Some(id) if state.waiters.is_linked(id) => {
                state.waiters.register(id, cx.waker());
                Poll::Pending
            }
            Some(id) => {
                state.waiters.remove(id);
                this.waiter = None;
                Poll::Ready(())
            }
        }
    }
}

impl Drop for FlagWait<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.waiter.take() {
            lock(&self.flag.state).waiters.remove(id);
        }
    }
}
