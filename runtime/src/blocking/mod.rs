//! `spawn_blocking`: run blocking code on a pool of threads, await its result.
//!
//! An event loop on one thread must never block: while a task sits in a
//! blocking `read(2)` of a slow disk, or hashes a large file, no other task
//! on that thread runs and no timer fires. [`spawn_blocking`] moves such work
//! to the runtime's blocking pool and gives back an ordinary
//! [`JoinHandle`], so the task can `.await` the result while the loop
//! carries on.
//!
//! A blocking job is a task like any other (one allocation holding a
//! `BlockingTask` future, whose only poll runs the closure), so joining,
//! panics and `abort` work as they do for spawned futures. Two differences:
//! it is polled by a pool thread instead of the executor, and `abort` only
//! helps while the job is still queued: a closure that has started cannot be
//! interrupted and runs to the end.
//!
//! A closure runs with its runtime *entered* (see `executor::context`):
//! inside it `Handle::current()`, `spawn`, `spawn_blocking`, timers and new
//! sockets all reach the runtime that spawned the job.

mod buf;
mod pool;
#[cfg(test)]
mod tests;

pub(crate) use buf::Buf;
#[cfg(test)]
use pool::spinning_can_help;
pub(crate) use pool::{BlockingPool, PoolConfig, SPIN};

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::executor::context;
use crate::task::JoinHandle;

/// Runs `f` on the current runtime's blocking pool and returns a handle to
/// its result.
///
/// The pool starts threads on demand, up to a limit (default 512; see
/// [`Builder::max_blocking_threads`](crate::Builder::max_blocking_threads)),
/// and a thread that has been idle for the keep-alive time (default 10 s)
/// exits. A panic in `f` comes back as a [`JoinError`](crate::JoinError)
/// whose `is_panic()` is true.
///
/// ```
/// # spindle_runtime::block_on(async {
/// let sum = spindle_runtime::spawn_blocking(|| (1..=100u64).sum::<u64>()).await.unwrap();
/// assert_eq!(sum, 5050);
/// # });
/// ```
///
/// # Panics
/// If called outside a runtime. Use [`Handle::spawn_blocking`](crate::Handle::spawn_blocking)
/// from other threads.
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    match context::current_shared() {
        Some(shared) => shared.blocking.spawn(BlockingTask::new(f), &shared),
        None => panic!(
            "spindle::spawn_blocking must be called from inside a runtime; \
             use Handle::spawn_blocking from other threads"
        ),
    }
}

/// The future a blocking job is wrapped in: its one poll runs the closure.
pub(crate) struct BlockingTask<F> {
    f: Option<F>,
}

impl<F> BlockingTask<F> {
    pub(crate) fn new(f: F) -> BlockingTask<F> {
        BlockingTask { f: Some(f) }
    }
}

// The closure is moved out before it runs, never used in place: pinning
// the wrapper pins nothing.
impl<F> Unpin for BlockingTask<F> {}

impl<F: FnOnce() -> R, R> Future for BlockingTask<F> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let f = self.f.take().expect("a blocking task ran twice");
        Poll::Ready(f())
    }
}
