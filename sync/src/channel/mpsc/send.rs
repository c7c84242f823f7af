//! How a bounded sender waits for a slot, and what it gives back when its
//! future is dropped: the protocol behind [`Sender::send`](super::Sender::send)
//! and [`Sender::reserve`](super::Sender::reserve).
//!
//! ```text
//!   poll 1: room (and nobody queued)?  --yes--> used += 1, push, Ready
//!              | no
//!              v
//!   queue in send_waiters (FIFO), Pending
//!              |
//!   the receiver frees a slot --> settle assigns it: node unlinked, marked,
//!              |                   used += 1 on the waiter's behalf, woken
//!              v
//!   poll n: node assigned? --yes--> remove node, push, Ready
//!   drop:   node assigned? --yes--> remove node, release_slot: the slot
//!                                   goes to the next waiter (or back to free)
//!           not assigned  -------> remove node; nothing was taken
//! ```
//!
//! A send that is dropped thus either never pushed (its value is dropped
//! with the future, still owned by the caller's code) or pushed in full;
//! a slot is never stranded.
//!
//! The first poll charges one unit of the task's cooperative budget,
//! before anything is taken.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::chan::{Chan, Shared, SlotWait};
use super::error::SendError;
use crate::coop;
use crate::wait_list::WaiterId;
use crate::wake_list::WakeList;

/// Waiting for a slot: the queue node of a `send` or `reserve` future.
pub(super) struct SlotWaiter<'a, T> {
    pub(super) chan: &'a Chan<T>,
    /// Slots wanted: 1, or `n` for `reserve_many` (at most the capacity).
    pub(super) wanted: usize,
    pub(super) id: Option<WaiterId>,
}

impl<T> SlotWaiter<'_, T> {
    /// Takes a slot (`Ok`) or finds the channel closed (`Err`), calling `f`
    /// under the lock with the slot taken. Budget is charged on the first
    /// poll only, before anything is taken.
    pub(super) fn poll_slot<R>(
        &mut self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut Shared<T>) -> R,
    ) -> Poll<Result<R, ()>> {
        let chan = self.chan;
        let Some(id) = self.id else {
            if coop::poll_proceed(cx).is_pending() {
                return Poll::Pending;
            }
            let mut sh = chan.lock();
            if sh.closed {
                return Poll::Ready(Err(()));
            }
            let wanted = self.wanted;
            if sh.send_waiters.is_empty() {
                if sh.used + wanted > chan.cap {
                    chan.absorb(&mut sh);
                }
                if sh.used + wanted <= chan.cap {
                    sh.used += wanted;
                    return Poll::Ready(Ok(f(&mut sh)));
                }
            }
            let mut wakers = WakeList::new();
            let request = SlotWait {
                wanted,
                assigned: false,
            };
            let id = sh.send_waiters.push_back(request, cx.waker());
            chan.settle(&mut sh, &mut wakers);
            if sh.send_waiters.is_linked(id) {
                self.id = Some(id);
                drop(sh);
                wakers.wake_all();
                return Poll::Pending;
            }
            // Slots were freed meanwhile and `settle` gave us one.
            sh.send_waiters.remove(id);
            let r = f(&mut sh);
            drop(sh);
            wakers.wake_all();
            return Poll::Ready(Ok(r));
        };
        let mut wakers = WakeList::new();
        let mut sh = chan.lock();
        if sh.send_waiters.is_linked(id) {
            sh.send_waiters.register(id, cx.waker());
            return Poll::Pending;
        }
        self.id = None;
        let (request, _) = sh.send_waiters.remove(id);
        let result = if sh.closed {
            if request.assigned {
                chan.release_slots(&mut sh, request.wanted, &mut wakers);
            }
            Err(())
        } else {
            Ok(f(&mut sh))
        };
        drop(sh);
        wakers.wake_all();
        Poll::Ready(result)
    }
}

impl<T> Drop for SlotWaiter<'_, T> {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let mut wakers = WakeList::new();
        let mut sh = self.chan.lock();
        let (request, _) = sh.send_waiters.remove(id);
        if request.assigned {
            // Pass the slots on: to the next waiter, or back to the pool.
            self.chan
                .release_slots(&mut sh, request.wanted, &mut wakers);
        }
        drop(sh);
        wakers.wake_all();
    }
}

/// The future of [`Sender::send`].
pub(super) struct SendFut<'a, T> {
    pub(super) waiter: SlotWaiter<'a, T>,
    pub(super) value: Option<T>,
}

// `T` is moved, never pinned.
impl<T> Unpin for SendFut<'_, T> {}

impl<T> Future for SendFut<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        // Checked before any slot is taken, so misuse cannot leak one.
        assert!(this.value.is_some(), "Send polled after completion");
        let value = &mut this.value;
        let rx_waker = match this.waiter.poll_slot(cx, |sh| {
            Chan::push(sh, value.take().expect("Send polled after completion"))
        }) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(w)) => w,
            Poll::Ready(Err(())) => {
                let value = value.take().expect("Send polled after completion");
                return Poll::Ready(Err(SendError(value)));
            }
        };
        if let Some(w) = rx_waker {
            w.wake();
        }
        Poll::Ready(Ok(()))
    }
}
