//! The unbounded channel's handles: [`UnboundedSender`], whose `send` is a
//! plain function that never waits (usable from any code, async or not),
//! and [`UnboundedReceiver`].
//!
//! Both sit on `chan.rs` with an infinite capacity: a send is one short
//! critical section (push, take the receiver's waker), and the receiver
//! pops from its private batch without touching any shared memory.

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};

use super::bounded::ClosedWaiter;
use super::chan::{Chan, Rx, UNBOUNDED};
use super::error::{SendError, TryRecvError};
use crate::loom::Arc;
use crate::park::block_on_thread;

/// Sends values into an [`unbounded`](super::unbounded) channel, without
/// ever waiting; clone it for more producers.
///
/// ```
/// use spindle_runtime::channel::mpsc;
///
/// let (tx, mut rx) = mpsc::unbounded();
/// // Plain synchronous code can send:
/// std::thread::spawn(move || {
///     for i in 0..3 {
///         tx.send(i).unwrap();
///     }
/// });
/// spindle_runtime::block_on(async {
///     let mut sum = 0;
///     while let Some(i) = rx.recv().await {
///         sum += i;
///     }
///     assert_eq!(sum, 3);
/// });
/// ```
pub struct UnboundedSender<T> {
    chan: Arc<Chan<T>>,
}

/// Receives the values of an [`unbounded`](super::unbounded) channel. Also
/// a [`Stream`](futures_core::Stream).
pub struct UnboundedReceiver<T> {
    rx: Rx<T>,
}

pub(super) fn new<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let chan = Chan::new(UNBOUNDED);
    let tx = UnboundedSender { chan: chan.clone() };
    (tx, UnboundedReceiver { rx: Rx::new(chan) })
}

impl<T> UnboundedSender<T> {
    /// Queues `value`; never waits. Fails, handing the value back, if the
    /// receiver is closed or dropped.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        let mut sh = self.chan.lock();
        if sh.closed {
            return Err(SendError(value));
        }
        let waker = Chan::push(&mut sh, value);
        drop(sh);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// True once the receiver is closed or dropped.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Waits until the receiver is closed or dropped.
    pub async fn closed(&self) {
        let mut waiter = ClosedWaiter {
            chan: &self.chan,
            id: None,
        };
        poll_fn(|cx| self.chan.poll_closed(&mut waiter.id, cx)).await
    }

    /// True if both senders feed the same channel.
    pub fn same_channel(&self, other: &UnboundedSender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// A handle that does not keep the channel open; see
    /// [`WeakUnboundedSender`].
    pub fn downgrade(&self) -> WeakUnboundedSender<T> {
        WeakUnboundedSender {
            chan: self.chan.clone(),
        }
    }
}

/// An unbounded sender that does not count as one: it does not keep the
/// receiver from ending. [`upgrade`](Self::upgrade) it to send.
pub struct WeakUnboundedSender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> WeakUnboundedSender<T> {
    /// An [`UnboundedSender`], if some sender still exists.
    pub fn upgrade(&self) -> Option<UnboundedSender<T>> {
        self.chan.upgrade_sender().then(|| UnboundedSender {
            chan: self.chan.clone(),
        })
    }
}

impl<T> Clone for WeakUnboundedSender<T> {
    fn clone(&self) -> Self {
        WeakUnboundedSender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> fmt::Debug for WeakUnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::WeakUnboundedSender")
            .finish_non_exhaustive()
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        UnboundedSender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for UnboundedSender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

receiver_api!(
    UnboundedReceiver,
    "Closes the channel: every send from now on fails with its value \
handed back, and `closed()` wakes. Values already buffered can still be \
received; then `recv` returns `None`."
);

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::UnboundedSender")
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for UnboundedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::UnboundedReceiver")
            .finish_non_exhaustive()
    }
}
