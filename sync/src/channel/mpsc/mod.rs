//! Multi-producer, single-consumer channels: a stream of values from any
//! number of senders (tasks, threads, runtimes) to one receiver.
//!
//! * [`channel`]`(cap)` is **bounded**: at most `cap` values are buffered,
//!   and [`Sender::send`] waits while the channel is full. That waiting is
//!   the back-pressure that keeps a fast producer from outrunning a slow
//!   consumer and filling memory.
//! * [`unbounded`]`()` never makes a sender wait;
//!   [`UnboundedSender::send`] is a plain function, callable from sync code.
//!
//! ```
//! use spindle_runtime::channel::mpsc;
//!
//! spindle_runtime::block_on(async {
//!     let (tx, mut rx) = mpsc::channel(2);
//!     let producer = spindle_runtime::spawn(async move {
//!         for i in 0..10 {
//!             tx.send(i).await.unwrap(); // waits whenever 2 are buffered
//!         }
//!     });
//!     let mut sum = 0;
//!     while let Some(i) = rx.recv().await {
//!         sum += i;
//!     }
//!     assert_eq!(sum, 45);
//!     producer.await.unwrap();
//! });
//! ```
//!
//! # Ending, closing, dropping
//!
//! * When every sender is dropped, the receiver still gets everything
//!   buffered, then `recv` returns `None`.
//! * [`Receiver::close`] makes every later send fail at once, handing the
//!   value back in [`SendError`] / [`TrySendError::Closed`], wakes senders
//!   waiting for room (they fail the same way) and wakes
//!   [`Sender::closed`]. The receiver keeps draining what is buffered
//!   (and what outstanding [`Permit`]s send), then gets `None`.
//! * Dropping the receiver is a close that also drops every buffered value
//!   right away.
//!
//! # Guarantees
//!
//! * Values from one sender arrive in the order it sent them; senders
//!   waiting for room are served in the order they started waiting.
//! * `send`, `reserve`, `recv` and `closed` are cancellation safe: dropping
//!   the future at any `.await` loses nothing and strands no slot (see
//!   `send.rs`).
//! * Handles are `Send + Sync` when `T: Send`; `blocking_send` /
//!   `blocking_recv` serve plain OS threads.
//!
//! # Cost
//!
//! A send is one short critical section on an uncontended `std` mutex; a
//! receive pops from a private batch that is refilled by swapping buffers
//! under that same lock once per batch, and (bounded) gives its slot back
//! with a single atomic add. The design is in `chan.rs`.

/// The receiving half's methods and `Stream` impl, the same for the bounded
/// and the unbounded channel (only what `close` does to senders differs,
/// hence its doc comment as a parameter).
macro_rules! receiver_api {
    ($name:ident, $close_doc:literal) => {
        impl<T> $name<T> {
            /// Receives the next value, waiting while the channel is empty.
            /// Returns `None` once every sender is gone (or the receiver was
            /// closed) and everything buffered has been received.
            ///
            /// Cancellation safe: a value is only taken when the future completes.
            pub async fn recv(&mut self) -> Option<T> {
                poll_fn(|cx| self.rx.poll_recv(cx)).await
            }

            /// Polls for the next value; see [`recv`](Self::recv).
            pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
                self.rx.poll_recv(cx)
            }

            /// Receives without waiting.
            pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
                self.rx.try_recv()
            }

            /// Receives by parking this OS thread while the channel is empty.
            ///
            /// # Panics
            /// If called on a thread running a spindle runtime.
            #[track_caller]
            pub fn blocking_recv(&mut self) -> Option<T> {
                block_on_thread(self.recv())
            }

            #[doc = $close_doc]
            pub fn close(&mut self) {
                self.rx.close();
            }

            /// Values buffered right now.
            pub fn len(&self) -> usize {
                self.rx.len()
            }

            /// True if nothing is buffered right now.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// True once the channel is closed or every sender is gone
            /// (values may still be buffered: `recv` drains them first).
            pub fn is_closed(&self) -> bool {
                self.rx.chan.rx_is_closed()
            }

            /// Receives up to `limit` values into `buffer` (appended),
            /// waiting only while none is there; returns how many it added.
            /// Returns 0 once the channel has ended (or if `limit` is 0).
            ///
            /// Cancellation safe: values are only taken when it completes.
            pub async fn recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
                if limit == 0 {
                    return 0;
                }
                let Some(first) = poll_fn(|cx| self.rx.poll_recv(cx)).await else {
                    return 0;
                };
                buffer.reserve(limit.min(self.rx.len_hint() + 1));
                buffer.push(first);
                let mut n = 1;
                while n < limit {
                    match self.rx.try_recv() {
                        Ok(value) => buffer.push(value),
                        Err(_) => break,
                    }
                    n += 1;
                }
                n
            }
        }

        impl<T> FusedStream for $name<T> {
            /// True once the stream has returned `None` (it never yields
            /// again: no sender can come back).
            fn is_terminated(&self) -> bool {
                self.rx.is_terminated()
            }
        }

        impl<T> Stream for $name<T> {
            type Item = T;

            fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
                self.rx.poll_recv(cx)
            }
        }
    };
}

mod bounded;
mod chan;
pub mod error;
mod send;
mod unbounded;

pub use bounded::{Permit, PermitIterator, Receiver, Sender, WeakSender};
pub use error::{SendError, TryRecvError, TrySendError};
pub use unbounded::{UnboundedReceiver, UnboundedSender, WeakUnboundedSender};

/// Creates a bounded channel that buffers at most `cap` values.
///
/// # Panics
/// If `cap` is 0 (a rendezvous channel is not supported; use 1).
#[track_caller]
pub fn channel<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    assert!(cap > 0, "mpsc::channel: capacity must be greater than 0");
    assert!(
        cap < chan::UNBOUNDED / 2,
        "mpsc::channel: capacity too large"
    );
    bounded::new(cap)
}

/// Creates an unbounded channel: sends never wait.
pub fn unbounded<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    unbounded::new()
}

/// [`unbounded`] under tokio's name, so that `mpsc::unbounded_channel()`
/// ports unchanged.
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    unbounded::new()
}
