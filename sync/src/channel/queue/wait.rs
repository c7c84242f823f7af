//! The futures of [`Queue::get`](super::Queue::get),
//! [`Queue::put`](super::Queue::put) and [`Queue::join`](super::Queue::join),
//! and what each gives back when it is dropped before completing.
//!
//! ```text
//!   first poll: possible now? --yes--> do it, Ready
//!                 | no
//!                 v
//!   queue a node, Pending
//!                 |  a put / get / close unlinks the node, marking it
//!                 v  `held` if it set an item / slot aside for us
//!   next poll:  still linked --------> Pending (new waker stored)
//!               held ----------------> take what was held, Ready
//!               closed, nothing held -> fail, Ready
//!   drop:       held ----------------> give it back: hand the item / slot
//!                                      to the next waiter, or leave it free
//! ```
//!
//! The first poll charges one unit of the task's cooperative budget before
//! touching anything.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{QueueClosed, State};
use crate::coop;
use crate::loom::{lock, Mutex};
use crate::wait_list::WaiterId;
use crate::wake_list::WakeList;

/// The future of `Queue::get`.
pub(super) struct Get<'a, T> {
    state: &'a Mutex<State<T>>,
    id: Option<WaiterId>,
}

impl<'a, T> Get<'a, T> {
    pub(super) fn new(state: &'a Mutex<State<T>>) -> Get<'a, T> {
        Get { state, id: None }
    }
}

impl<T> Future for Get<'_, T> {
    type Output = Result<T, QueueClosed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.id.is_none() && coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        let mut wakers = WakeList::new();
        let mut st = lock(self.state);
        let result = match self.id {
            None if st.available() > 0 => Ok(st.pop(&mut wakers)),
            None if st.closed => Err(QueueClosed(())),
            None => {
                self.id = Some(st.getters.push_back(false, cx.waker()));
                return Poll::Pending;
            }
            Some(id) if st.getters.is_linked(id) => {
                st.getters.register(id, cx.waker());
                return Poll::Pending;
            }
            Some(id) => {
                self.id = None;
                let (held, _) = st.getters.remove(id);
                if held {
                    st.held_items -= 1;
                    Ok(st.pop(&mut wakers))
                } else if st.available() > 0 {
                    // Unlinked by close; the queue is still being drained.
                    Ok(st.pop(&mut wakers))
                } else {
                    Err(QueueClosed(()))
                }
            }
        };
        drop(st);
        wakers.wake_all();
        Poll::Ready(result)
    }
}

impl<T> Drop for Get<'_, T> {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let mut wakers = WakeList::new();
        let mut st = lock(self.state);
        let (held, _) = st.getters.remove(id);
        if held {
            // Pass the item on to the next getter (or leave it available).
            st.held_items -= 1;
            st.hand_items(&mut wakers);
        }
        drop(st);
        wakers.wake_all();
    }
}

/// The future of `Queue::put`.
pub(super) struct Put<'a, T> {
    state: &'a Mutex<State<T>>,
    id: Option<WaiterId>,
    value: Option<T>,
}

// `T` is moved, never pinned.
impl<T> Unpin for Put<'_, T> {}

impl<'a, T> Put<'a, T> {
    pub(super) fn new(state: &'a Mutex<State<T>>, value: T) -> Put<'a, T> {
        Put {
            state,
            id: None,
            value: Some(value),
        }
    }

    fn take_value(&mut self) -> T {
        self.value
            .take()
            .expect("Queue::put polled after completion")
    }
}

impl<T> Future for Put<'_, T> {
    type Output = Result<(), QueueClosed<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        // Checked before any slot is taken, so misuse cannot leak one.
        assert!(this.value.is_some(), "Queue::put polled after completion");
        if this.id.is_none() && coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        let mut wakers = WakeList::new();
        let mut st = lock(this.state);
        let can_put = match this.id {
            None if st.closed => false,
            None if st.free() > 0 => true,
            None => {
                this.id = Some(st.putters.push_back(false, cx.waker()));
                return Poll::Pending;
            }
            Some(id) if st.putters.is_linked(id) => {
                st.putters.register(id, cx.waker());
                return Poll::Pending;
            }
            Some(id) => {
                this.id = None;
                let (held, _) = st.putters.remove(id);
                if held {
                    st.held_slots -= 1;
                }
                if st.closed {
                    // The slot we held (if any) is of no use to anyone now.
                    false
                } else {
                    debug_assert!(held, "putters are only unlinked with a slot, or by close");
                    true
                }
            }
        };
        let result = if can_put {
            let value = this.take_value();
            st.push(value, &mut wakers);
            Ok(())
        } else {
            Err(QueueClosed(this.take_value()))
        };
        drop(st);
        wakers.wake_all();
        Poll::Ready(result)
    }
}

impl<T> Drop for Put<'_, T> {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let mut wakers = WakeList::new();
        let mut st = lock(self.state);
        let (held, _) = st.putters.remove(id);
        if held {
            // Pass the slot on to the next putter (or leave it free).
            st.held_slots -= 1;
            st.hand_slots(&mut wakers);
        }
        drop(st);
        wakers.wake_all();
        // `self.value`, if still here, is dropped by the caller's drop of
        // the future, outside the lock.
    }
}

/// The future of `Queue::join`.
pub(super) struct Join<'a, T> {
    state: &'a Mutex<State<T>>,
    id: Option<WaiterId>,
}

impl<'a, T> Join<'a, T> {
    pub(super) fn new(state: &'a Mutex<State<T>>) -> Join<'a, T> {
        Join { state, id: None }
    }
}

impl<T> Future for Join<'_, T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = lock(self.state);
        match self.id {
            None if st.unfinished == 0 => return Poll::Ready(()),
            None => self.id = Some(st.joiners.push_back((), cx.waker())),
            Some(id) if st.joiners.is_linked(id) => st.joiners.register(id, cx.waker()),
            Some(id) => {
                // Unlinked by the task_done that reached zero. Like Python's
                // `join`, that moment counts even if items came in since.
                st.joiners.remove(id);
                self.id = None;
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}

impl<T> Drop for Join<'_, T> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            lock(self.state).joiners.remove(id);
        }
    }
}
