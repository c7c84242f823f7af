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

mod bounded;
mod chan;
pub mod error;
mod send;
mod unbounded;

pub use bounded::{Permit, Receiver, Sender};
pub use error::{SendError, TryRecvError, TrySendError};
pub use unbounded::{UnboundedReceiver, UnboundedSender};

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
