//! A one-shot channel: a single value sent once from one task (or thread) to
//! another, the async counterpart of a promise / future pair.
//!
//! ```
//! use spindle_runtime::channel::oneshot;
//!
//! spindle_runtime::block_on(async {
//!     let (tx, rx) = oneshot::channel();
//!     spindle_runtime::spawn(async move {
//!         let _ = tx.send(6 * 7);
//!     });
//!     assert_eq!(rx.await, Ok(42));
//! });
//! ```
//!
//! # Closing and dropping
//!
//! * [`Sender::send`] consumes the sender. If the receiver was already
//!   closed or dropped, the value comes back in `Err`; nothing is lost
//!   silently.
//! * Dropping the [`Sender`] without sending makes the receiver complete
//!   with [`RecvError`].
//! * [`Receiver::close`] (and dropping the receiver) makes every later
//!   `send` fail and wakes [`Sender::closed`]. A value sent *before* the
//!   close can still be taken with [`try_recv`](Receiver::try_recv) or by
//!   awaiting; dropping the receiver drops such a value at once.
//!
//! # How it works
//!
//! Lock-free. Both halves share one allocation: a value cell, a waker cell
//! for each side, and one atomic state word with four bits:
//!
//! | bit            | set by                        | means                                               |
//! |----------------|-------------------------------|-----------------------------------------------------|
//! | `VALUE_SENT`   | `send`                        | the value cell is full and now belongs to the receiver |
//! | `CLOSED`       | receiver close/drop, or sender drop without sending | no value will be sent any more    |
//! | `RX_WAKER_SET` | the receiver, after writing its waker | the sender may read (wake) the receiver's waker |
//! | `TX_WAKER_SET` | the sender, after writing its waker   | the receiver may read (wake) the sender's waker |
//!
//! Who may touch which cell follows from the bits, so no lock is needed:
//!
//! * **Value cell.** The sender writes it while `VALUE_SENT` is clear (the
//!   receiver never looks at it then), then sets `VALUE_SENT` with a
//!   compare-and-swap that fails if `CLOSED` is set; on failure it takes the
//!   value back out. After `VALUE_SENT` the cell is the receiver's alone.
//! * **A waker cell** is written only by its owner, and only while its
//!   `*_WAKER_SET` bit is clear; the owner then sets the bit (release), and
//!   from then on the other side may read it. To replace a stored waker the
//!   owner first clears the bit with `fetch_and`; if the returned state
//!   shows the other side has already finished (`VALUE_SENT` / `CLOSED`),
//!   the other side may be reading the cell right now, so the owner leaves
//!   it alone and simply re-checks the state (it is ready by then).
//! * **Waking.** Whoever sets `VALUE_SENT` or `CLOSED` looks at the state it
//!   replaced: if the other side's waker bit was set, it wakes that waker.
//!   Because setting the waker bit and setting the completion bit are both
//!   read-modify-writes of the same word, one of them sees the other: either
//!   the completer sees the waker, or the waiter sees the completion.
//!
//! The cells are dropped with the allocation, after both halves are gone.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::coop;
use crate::loom::atomic::{AtomicUsize, Ordering::*};
use crate::loom::{Arc, UnsafeCell};

const RX_WAKER_SET: usize = 0b0001;
const VALUE_SENT: usize = 0b0010;
const CLOSED: usize = 0b0100;
const TX_WAKER_SET: usize = 0b1000;

/// Creates a one-shot channel: a [`Sender`] for exactly one value and the
/// [`Receiver`] (a future) that gets it.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        state: AtomicUsize::new(0),
        value: UnsafeCell::new(None),
        rx_waker: UnsafeCell::new(None),
        tx_waker: UnsafeCell::new(None),
    });
    let tx = Sender {
        inner: Some(inner.clone()),
    };
    (tx, Receiver { inner: Some(inner) })
}

/// Sends the one value of a [`oneshot`](self) channel.
///
/// ```
/// use spindle_runtime::channel::oneshot;
///
/// let (tx, rx) = oneshot::channel::<String>();
/// drop(rx);
/// // The receiver is gone: the value comes back.
/// assert_eq!(tx.send("hi".to_string()), Err("hi".to_string()));
/// ```
pub struct Sender<T> {
    inner: Option<Arc<Inner<T>>>,
}

/// Receives the value of a [`oneshot`](self) channel: await it, or call
/// [`try_recv`](Receiver::try_recv) / [`blocking_recv`](Receiver::blocking_recv).
///
/// ```
/// use spindle_runtime::channel::oneshot::{self, error::TryRecvError};
///
/// let (tx, mut rx) = oneshot::channel();
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// tx.send(1).unwrap();
/// assert_eq!(rx.try_recv(), Ok(1));
/// ```
pub struct Receiver<T> {
    inner: Option<Arc<Inner<T>>>,
}

pub mod error;

use error::{RecvError, TryRecvError};

struct Inner<T> {
    state: AtomicUsize,
    value: UnsafeCell<Option<T>>,
    rx_waker: UnsafeCell<Option<Waker>>,
    tx_waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: every cell is accessed by one side at a time, as arbitrated by the
// state word (see the module docs); the value moves between threads, hence
// `T: Send`, and is never shared, so `T: Sync` is not needed.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Inner<T> {}

impl<T> Inner<T> {
    /// Takes the value out. Only the receiver calls this, after it saw
    /// `VALUE_SENT` with acquire ordering.
    fn take_value(&self) -> Option<T> {
        // SAFETY: VALUE_SENT is set, so the sender is done with the cell and
        // the receiver (the caller, through `&mut Receiver`) owns it.
        self.value.with_mut(|v| unsafe { (*v).take() })
    }

    /// Stores `waker` in the cell guarded by `bit` unless the state already
    /// has one of `done`. Returns the state seen if it has (ready now).
    fn register(
        &self,
        cell: &UnsafeCell<Option<Waker>>,
        bit: usize,
        done: usize,
        waker: &Waker,
    ) -> Result<(), usize> {
        let state = self.state.load(Acquire);
        if state & done != 0 {
            return Err(state);
        }
        if state & bit != 0 {
            // SAFETY: with the bit set the other side only reads the cell.
            let same = cell.with(|w| unsafe { (*w).as_ref().is_some_and(|w| w.will_wake(waker)) });
            if same {
                return Ok(());
            }
            let prev = self.state.fetch_and(!bit, AcqRel);
            if prev & done != 0 {
                // The other side finished and may be reading the cell.
                return Err(prev);
            }
        }
        // SAFETY: the bit is clear and only we set it: the other side will
        // not read the cell until we set it again.
        cell.with_mut(|w| unsafe { *w = Some(waker.clone()) });
        let prev = self.state.fetch_or(bit, AcqRel);
        if prev & done != 0 {
            return Err(prev);
        }
        Ok(())
    }
}

/// Wakes the waker in `cell`; the caller saw its `*_WAKER_SET` bit set in
/// the state it replaced when it set `VALUE_SENT` or `CLOSED`.
fn wake_cell(cell: &UnsafeCell<Option<Waker>>) {
    // SAFETY: the owner set the bit after writing the cell (release; the
    // caller read the state with acquire), and it does not write the cell
    // again once it sees the completion bit the caller just set.
    cell.with(|w| unsafe {
        if let Some(w) = &*w {
            w.wake_by_ref();
        }
    });
}

impl<T> Sender<T> {
    /// Sends `value`, consuming the sender. If the receiver was closed or
    /// dropped, the value is returned in `Err`.
    pub fn send(mut self, value: T) -> Result<(), T> {
        let inner = self
            .inner
            .take()
            .expect("the sender is only taken here and in drop");
        // SAFETY: VALUE_SENT is clear and only we set it, so the receiver
        // does not touch the value cell.
        inner.value.with_mut(|v| unsafe { *v = Some(value) });
        let mut state = inner.state.load(Relaxed);
        loop {
            if state & CLOSED != 0 {
                // SAFETY: VALUE_SENT was never set: the cell is still ours.
                let value = inner.value.with_mut(|v| unsafe { (*v).take() });
                return Err(value.expect("the value was stored just above"));
            }
            match inner
                .state
                .compare_exchange_weak(state, state | VALUE_SENT, AcqRel, Relaxed)
            {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        if state & RX_WAKER_SET != 0 {
            wake_cell(&inner.rx_waker);
        }
        Ok(())
    }

    /// True once the receiver has been closed or dropped: a `send` now
    /// would fail.
    pub fn is_closed(&self) -> bool {
        self.inner().state.load(Acquire) & CLOSED != 0
    }

    /// Waits until the receiver is closed or dropped, for a producer that
    /// wants to stop computing a value nobody will read.
    ///
    /// ```
    /// use spindle_runtime::channel::oneshot;
    ///
    /// spindle_runtime::block_on(async {
    ///     let (mut tx, rx) = oneshot::channel::<u32>();
    ///     spindle_runtime::spawn(async move { drop(rx) });
    ///     tx.closed().await;
    ///     assert!(tx.is_closed());
    /// });
    /// ```
    pub async fn closed(&mut self) {
        poll_fn(|cx| self.poll_closed(cx)).await
    }

    /// Polls for the receiver being closed or dropped; see [`closed`](Self::closed).
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let inner = self.inner();
        match inner.register(&inner.tx_waker, TX_WAKER_SET, CLOSED, cx.waker()) {
            Ok(()) => Poll::Pending,
            Err(_) => Poll::Ready(()),
        }
    }

    fn inner(&self) -> &Inner<T> {
        self.inner
            .as_deref()
            .expect("the sender is only taken by send")
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        let prev = inner.state.fetch_or(CLOSED, AcqRel);
        if prev & RX_WAKER_SET != 0 && prev & CLOSED == 0 {
            wake_cell(&inner.rx_waker);
        }
    }
}

impl<T> Receiver<T> {
    /// Takes the value if it has been sent, without waiting.
    ///
    /// Returns [`TryRecvError::Empty`] while the sender may still send, and
    /// [`TryRecvError::Closed`] once it cannot (the sender is gone, the
    /// channel was closed first, or the value was already taken).
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let Some(inner) = &self.inner else {
            return Err(TryRecvError::Closed);
        };
        let state = inner.state.load(Acquire);
        if state & VALUE_SENT != 0 {
            let value = inner.take_value();
            self.inner = None;
            value.ok_or(TryRecvError::Closed)
        } else if state & CLOSED != 0 {
            self.inner = None;
            Err(TryRecvError::Closed)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// Closes the channel without dropping the receiver: a later `send`
    /// fails (and gives its value back) and [`Sender::closed`] wakes. A
    /// value sent before the close can still be received.
    pub fn close(&mut self) {
        let Some(inner) = &self.inner else { return };
        let prev = inner.state.fetch_or(CLOSED, AcqRel);
        if prev & TX_WAKER_SET != 0 && prev & (CLOSED | VALUE_SENT) == 0 {
            wake_cell(&inner.tx_waker);
        }
    }

    /// Waits for the value by parking this OS thread; for code outside any
    /// runtime (a plain `std::thread`).
    ///
    /// # Panics
    /// If called on a thread running a spindle runtime (it would stall it).
    ///
    /// ```
    /// use spindle_runtime::channel::oneshot;
    ///
    /// let (tx, rx) = oneshot::channel();
    /// let t = std::thread::spawn(move || rx.blocking_recv());
    /// tx.send("done").unwrap();
    /// assert_eq!(t.join().unwrap(), Ok("done"));
    /// ```
    #[track_caller]
    pub fn blocking_recv(self) -> Result<T, RecvError> {
        crate::park::block_on_thread(self)
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    /// # Panics
    /// If polled again after it returned `Ready`.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self
            .inner
            .as_deref()
            .expect("oneshot::Receiver polled after completion");
        let state = match inner.register(
            &inner.rx_waker,
            RX_WAKER_SET,
            VALUE_SENT | CLOSED,
            cx.waker(),
        ) {
            Ok(()) => return Poll::Pending,
            Err(state) => state,
        };
        let result = if state & VALUE_SENT != 0 {
            // A ready value costs one unit of the task's budget.
            if coop::poll_proceed(cx).is_pending() {
                return Poll::Pending;
            }
            inner.take_value().ok_or(RecvError)
        } else {
            Err(RecvError)
        };
        self.inner = None;
        Poll::Ready(result)
    }
}

impl<T> futures_core::FusedFuture for Receiver<T> {
    /// True once the receiver has produced its result (by `.await` or
    /// `try_recv`): polling it again would panic.
    fn is_terminated(&self) -> bool {
        self.inner.is_none()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        let prev = inner.state.fetch_or(CLOSED, AcqRel);
        if prev & VALUE_SENT != 0 {
            // Drop an unreceived value now, not when the sender's last
            // reference happens to go.
            drop(inner.take_value());
        } else if prev & TX_WAKER_SET != 0 && prev & CLOSED == 0 {
            wake_cell(&inner.tx_waker);
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Receiver").finish_non_exhaustive()
    }
}
