//! The bounded channel's handles: [`Sender`] (with its waiting `send`,
//! `reserve` and their [`Permit`]) and [`Receiver`]. They sit on `chan.rs`;
//! the waiting of a sender for a slot is in `send.rs`.

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};

use super::chan::{Chan, Rx};
use super::error::{SendError, TryRecvError, TrySendError};
use super::send::{SendFut, SlotWaiter};
use crate::loom::Arc;
use crate::park::block_on_thread;
use crate::wait_list::WaiterId;
use crate::wake_list::WakeList;

/// Sends values into a bounded [`mpsc`](super) channel; clone it for more
/// producers. See [`channel`](super::channel).
///
/// ```
/// use spindle_runtime::channel::mpsc;
///
/// spindle_runtime::block_on(async {
///     let (tx, mut rx) = mpsc::channel(8);
///     for id in 0..3 {
///         let tx = tx.clone();
///         spindle_runtime::spawn(async move { tx.send(id).await.unwrap() });
///     }
///     drop(tx);
///     let mut got = Vec::new();
///     while let Some(v) = rx.recv().await {
///         got.push(v);
///     }
///     got.sort();
///     assert_eq!(got, [0, 1, 2]);
/// });
/// ```
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// Receives the values of a bounded [`mpsc`](super) channel. Also a
/// [`Stream`](futures_core::Stream).
pub struct Receiver<T> {
    rx: Rx<T>,
}

/// A slot reserved by [`Sender::reserve`]: sending through it cannot find
/// the channel full. Dropping it unused gives the slot back (to the next
/// waiting sender, if any).
///
/// ```
/// use spindle_runtime::channel::mpsc;
///
/// spindle_runtime::block_on(async {
///     let (tx, mut rx) = mpsc::channel(1);
///     let permit = tx.reserve().await.unwrap();
///     assert_eq!(tx.capacity(), 0);
///     permit.send("hello").unwrap();
///     assert_eq!(rx.recv().await, Some("hello"));
/// });
/// ```
pub struct Permit<'a, T> {
    chan: &'a Chan<T>,
}

pub(super) fn new<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Chan::new(cap);
    (
        Sender { chan: chan.clone() },
        Receiver { rx: Rx::new(chan) },
    )
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full. Fails, handing the
    /// value back, if the receiver is closed or dropped (also while waiting).
    ///
    /// Cancellation safe: if the future is dropped before it completes, the
    /// value was not sent (it is dropped with the future), and a slot that
    /// was already set aside for it goes to the next waiting sender.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        SendFut {
            waiter: SlotWaiter {
                chan: &self.chan,
                wanted: 1,
                id: None,
            },
            value: Some(value),
        }
        .await
    }

    /// Sends without waiting: fails with [`TrySendError::Full`] if there is
    /// no free slot, or if other senders are already waiting for one.
    ///
    /// ```
    /// use spindle_runtime::channel::mpsc::{self, error::TrySendError};
    ///
    /// let (tx, _rx) = mpsc::channel(1);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let chan = &*self.chan;
        let mut sh = chan.lock();
        if sh.closed {
            return Err(TrySendError::Closed(value));
        }
        if !sh.send_waiters.is_empty() {
            return Err(TrySendError::Full(value));
        }
        if sh.used >= chan.cap {
            chan.absorb(&mut sh);
            if sh.used >= chan.cap {
                return Err(TrySendError::Full(value));
            }
        }
        sh.used += 1;
        let waker = Chan::push(&mut sh, value);
        drop(sh);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Sends by parking this OS thread while the channel is full; for plain
    /// threads feeding async consumers.
    ///
    /// # Panics
    /// If called on a thread running a spindle runtime.
    #[track_caller]
    pub fn blocking_send(&self, value: T) -> Result<(), SendError<T>> {
        block_on_thread(self.send(value))
    }

    /// Waits for a free slot and reserves it. Fails if the receiver is
    /// closed or dropped. Cancellation safe like [`send`](Self::send).
    pub async fn reserve(&self) -> Result<Permit<'_, T>, SendError<()>> {
        let mut waiter = SlotWaiter {
            chan: &self.chan,
            wanted: 1,
            id: None,
        };
        match poll_fn(|cx| waiter.poll_slot(cx, |sh| sh.permits += 1)).await {
            Ok(()) => Ok(Permit { chan: &self.chan }),
            Err(()) => Err(SendError(())),
        }
    }

    /// Reserves a slot without waiting: fails with
    /// [`TrySendError::Full`] if none is free (or senders are waiting),
    /// [`TrySendError::Closed`] if the receiver is closed or dropped.
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        self.chan.try_reserve(1)?;
        Ok(Permit { chan: &self.chan })
    }

    /// Waits for `n` free slots and reserves them all at once (a waiter
    /// for `n` is served in its turn, and later ones wait behind it).
    /// Fails if the receiver is closed or dropped, or at once if `n`
    /// exceeds the channel's size (it could never be served).
    /// Cancellation safe like [`send`](Self::send).
    pub async fn reserve_many(&self, n: usize) -> Result<PermitIterator<'_, T>, SendError<()>> {
        if n > self.chan.cap {
            return Err(SendError(()));
        }
        if n == 0 {
            return Ok(PermitIterator {
                chan: &self.chan,
                n: 0,
            });
        }
        let mut waiter = SlotWaiter {
            chan: &self.chan,
            wanted: n,
            id: None,
        };
        match poll_fn(|cx| waiter.poll_slot(cx, |sh| sh.permits += n)).await {
            Ok(()) => Ok(PermitIterator {
                chan: &self.chan,
                n,
            }),
            Err(()) => Err(SendError(())),
        }
    }

    /// Reserves `n` slots without waiting; fails like
    /// [`try_reserve`](Self::try_reserve) (and with `Full` if `n` exceeds
    /// the channel's size).
    pub fn try_reserve_many(&self, n: usize) -> Result<PermitIterator<'_, T>, TrySendError<()>> {
        self.chan.try_reserve(n)?;
        Ok(PermitIterator {
            chan: &self.chan,
            n,
        })
    }

    /// A handle that does not keep the channel open: once every (strong)
    /// sender is gone the receiver ends, and [`WeakSender::upgrade`] then
    /// returns `None`.
    pub fn downgrade(&self) -> WeakSender<T> {
        WeakSender {
            chan: self.chan.clone(),
        }
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

    /// Free slots right now (the channel's size minus buffered values,
    /// reserved permits and slots handed to waiting senders).
    pub fn capacity(&self) -> usize {
        self.chan.capacity()
    }

    /// The size the channel was created with.
    pub fn max_capacity(&self) -> usize {
        self.chan.cap
    }

    /// True if both senders feed the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

/// A sender that does not count as one: it does not keep the receiver from
/// ending. [`upgrade`](Self::upgrade) it to send. (It keeps the channel's
/// allocation, not the channel, alive.)
pub struct WeakSender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> WeakSender<T> {
    /// A [`Sender`], if some sender still exists (else the channel has
    /// ended for good and this returns `None`).
    pub fn upgrade(&self) -> Option<Sender<T>> {
        self.chan.upgrade_sender().then(|| Sender {
            chan: self.chan.clone(),
        })
    }
}

impl<T> Clone for WeakSender<T> {
    fn clone(&self) -> Self {
        WeakSender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> fmt::Debug for WeakSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::WeakSender").finish_non_exhaustive()
    }
}

/// `n` slots reserved by [`Sender::reserve_many`]: yields a [`Permit`] per
/// slot. Slots not taken out as permits go back when it is dropped.
pub struct PermitIterator<'a, T> {
    chan: &'a Chan<T>,
    n: usize,
}

impl<'a, T> Iterator for PermitIterator<'a, T> {
    type Item = Permit<'a, T>;

    fn next(&mut self) -> Option<Permit<'a, T>> {
        if self.n == 0 {
            return None;
        }
        self.n -= 1;
        Some(Permit { chan: self.chan })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.n, Some(self.n))
    }
}

impl<T> ExactSizeIterator for PermitIterator<'_, T> {}

impl<T> Drop for PermitIterator<'_, T> {
    fn drop(&mut self) {
        if self.n == 0 {
            return;
        }
        let mut wakers = WakeList::new();
        let mut sh = self.chan.lock();
        sh.permits -= self.n;
        self.chan.release_slots(&mut sh, self.n, &mut wakers);
        drop(sh);
        wakers.wake_all();
    }
}

impl<T> fmt::Debug for PermitIterator<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::PermitIterator")
            .field("remaining", &self.n)
            .finish()
    }
}

/// Removes a `closed()` waiter's node if the future is dropped early.
pub(super) struct ClosedWaiter<'a, T> {
    pub(super) chan: &'a Chan<T>,
    pub(super) id: Option<WaiterId>,
}

impl<T> Drop for ClosedWaiter<'_, T> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.chan.cancel_closed(id);
        }
    }
}

impl<T> Permit<'_, T> {
    /// Sends `value` through the reserved slot. This cannot find the
    /// channel full, and succeeds even after [`Receiver::close`] (the slot
    /// was reserved before); it fails, handing the value back, only if the
    /// receiver has been dropped.
    pub fn send(self, value: T) -> Result<(), SendError<T>> {
        let chan = self.chan;
        std::mem::forget(self);
        chan.push_reserved(value).map_err(SendError)
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        let mut wakers = WakeList::new();
        let mut sh = self.chan.lock();
        sh.permits -= 1;
        self.chan.release_slot(&mut sh, &mut wakers);
        drop(sh);
        wakers.wake_all();
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

receiver_api!(
    Receiver,
    "Closes the channel: every send from now on (and every sender waiting \
for a slot) fails with its value handed back, and [`Sender::closed`] \
wakes. Values already buffered, and those sent through permits reserved \
before, can still be received; then `recv` returns `None`."
);

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Sender")
            .field("max_capacity", &self.chan.cap)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Receiver").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Permit").finish_non_exhaustive()
    }
}
