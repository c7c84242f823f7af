//! [`JobHandle`]: the one result of a pool job, and [`MapHandle`]: many, in order.
//!
//! A job's result travels through the crate's [one-shot
//! channel](crate::channel::oneshot): the pool keeps the sending end (a
//! [`JobResult`]), the handle the receiving end. So the same handle serves
//! async code (`.await` is the receiver's poll), plain threads (`wait` is
//! its `blocking_recv`) and, with one addition, callback style: the three
//! ways Python's `concurrent.futures.Future` is used.
//!
//! The addition is a small cell for an [`on_done`](JobHandle::on_done)
//! callback, shared by both ends. Whoever finishes the job (a pool thread,
//! or the process pool's driver task when the answer arrives) calls
//! [`JobResult::complete`], which, holding the cell's lock, either calls the
//! callback that is there or sends the result down the channel. `on_done`,
//! holding the same lock, either takes a result already sent or leaves its
//! callback in the cell: one of the two sees the other, so the result is
//! delivered exactly once. A `JobResult` dropped without an answer (a pool
//! torn down around its job) answers [`PoolError::ShutDown`], so nothing
//! waits forever.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use super::PoolError;
use crate::channel::oneshot::{self, error::TryRecvError};
use crate::executor::context;

type Callback<R> = Box<dyn FnOnce(Result<R, PoolError>) + Send>;

/// What both ends of one job share besides the channel.
struct Shared<R> {
    /// The `on_done` callback, if one was given before the result came.
    callback: Mutex<Option<Callback<R>>>,
    /// Set by `complete`, for [`JobHandle::is_finished`].
    finished: AtomicBool,
}

impl<R> Shared<R> {
    fn lock(&self) -> MutexGuard<'_, Option<Callback<R>>> {
        self.callback.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A new job's two ends: the pool's [`JobResult`] and the caller's [`JobHandle`].
pub(crate) fn job_channel<R>() -> (JobResult<R>, JobHandle<R>) {
    let (tx, rx) = oneshot::channel();
    let shared = Arc::new(Shared {
        callback: Mutex::new(None),
        finished: AtomicBool::new(false),
    });
    (
        JobResult {
            tx: Some(tx),
            shared: shared.clone(),
        },
        JobHandle { rx, shared },
    )
}

/// The pool's end of one job: delivers its result, once.
pub(crate) struct JobResult<R> {
    /// `None` once the result is delivered.
    tx: Option<oneshot::Sender<Result<R, PoolError>>>,
    shared: Arc<Shared<R>>,
}

impl<R> JobResult<R> {
    /// Delivers the job's result: to the `on_done` callback if there is
    /// one (called here, on this thread), else to the handle. A handle
    /// that was dropped drops the result.
    pub(crate) fn complete(mut self, result: Result<R, PoolError>) {
        self.deliver(result);
    }

    fn deliver(&mut self, result: Result<R, PoolError>) {
        let Some(tx) = self.tx.take() else { return };
        let mut callback = self.shared.lock();
        self.shared.finished.store(true, Ordering::Release);
        if let Some(callback) = callback.take() {
            drop(tx);
            callback(result);
            return;
        }
        // Sent under the lock: `on_done` sees either the callback slot
        // empty and the value sent, or its callback taken here.
        let _ = tx.send(result);
    }
}

impl<R> Drop for JobResult<R> {
    /// A job dropped without an answer (only when a pool is torn down
    /// around it) still answers its handle, with [`lost`]'s error: an
    /// awaiting task or a waiting thread must not hang.
    fn drop(&mut self) {
        self.deliver(Err(lost()));
    }
}

/// What a handle reports if its job's [`JobResult`] was dropped without
/// an answer (only when a pool is torn down around a job).
fn lost() -> PoolError {
    PoolError::ShutDown
}

/// The pending result of one job submitted to a pool.
///
/// * `.await` it (it is a `Future<Output = Result<R, PoolError>>`);
/// * or block a plain thread on it with [`wait`](JobHandle::wait);
/// * or hand the result to a callback with [`on_done`](JobHandle::on_done).
///
/// Dropping the handle does not cancel the job: it runs, and its result is
/// dropped.
#[must_use = "a JobHandle does nothing unless awaited, waited on or given a callback"]
pub struct JobHandle<R> {
    rx: oneshot::Receiver<Result<R, PoolError>>,
    shared: Arc<Shared<R>>,
}

impl<R> JobHandle<R> {
    /// A handle whose result is already known (a submission refused at once).
    pub(crate) fn ready(result: Result<R, PoolError>) -> JobHandle<R> {
        let (done, handle) = job_channel();
        done.complete(result);
        handle
    }

    /// True once the job has finished (its result is waiting, or was handed out).
    pub fn is_finished(&self) -> bool {
        self.shared.finished.load(Ordering::Acquire)
    }

    /// Blocks this thread until the job finishes and returns its result:
    /// Python's `future.result()`.
    ///
    /// # Panics
    /// If called on a thread that is running a spindle runtime (inside
    /// `block_on` or a task): that would stop every other task on the
    /// thread, possibly the very one that delivers this result. Use
    /// `.await` there.
    #[track_caller]
    pub fn wait(self) -> Result<R, PoolError> {
        assert!(
            !context::is_inside(),
            "JobHandle::wait would block a spindle runtime's thread; use `.await` inside a runtime"
        );
        self.rx.blocking_recv().unwrap_or_else(|_| Err(lost()))
    }

    /// Hands the result to `callback` when the job finishes, instead of
    /// keeping it for the handle: Python's `add_done_callback` and
    /// `apply_async(callback=..)`.
    ///
    /// The callback runs on whichever thread finishes the job: a pool
    /// thread for a [`ThreadPool`](super::ThreadPool), the runtime thread
    /// (inside the pool's driver task) for a
    /// [`ProcessPool`](super::ProcessPool); or right here if the job has
    /// already finished. Keep it short and non-blocking; send the result
    /// on (a channel, a counter) rather than doing heavy work in it.
    pub fn on_done<F>(mut self, callback: F)
    where
        F: FnOnce(Result<R, PoolError>) + Send + 'static,
    {
        let mut slot = self.shared.lock();
        match self.rx.try_recv() {
            Ok(result) => {
                drop(slot);
                callback(result);
            }
            Err(TryRecvError::Empty) => *slot = Some(Box::new(callback)),
            Err(TryRecvError::Closed) => {
                drop(slot);
                callback(Err(lost()));
            }
        }
    }
}

impl<R> Future for JobHandle<R> {
    type Output = Result<R, PoolError>;

    /// # Panics
    /// If polled again after it returned its result.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|received| received.unwrap_or_else(|_| Err(lost())))
    }
}

impl<R> fmt::Debug for JobHandle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// The results of a `map`: a future of `Result<Vec<R>, PoolError>` with the
/// results in the order of the inputs, or the first error (in input order).
///
/// All jobs were submitted when `map` returned; this only collects them.
/// After an error the remaining jobs still run; their results are dropped.
#[must_use = "a MapHandle does nothing unless awaited or waited on"]
pub struct MapHandle<R> {
    pending: std::vec::IntoIter<JobHandle<R>>,
    current: Option<JobHandle<R>>,
    results: Vec<R>,
}

impl<R> MapHandle<R> {
    pub(crate) fn new(handles: Vec<JobHandle<R>>) -> MapHandle<R> {
        let results = Vec::with_capacity(handles.len());
        let mut pending = handles.into_iter();
        MapHandle {
            current: pending.next(),
            pending,
            results,
        }
    }

    /// The number of jobs not yet collected.
    pub fn remaining(&self) -> usize {
        self.pending.len() + usize::from(self.current.is_some())
    }

    /// Blocks this thread until every job has finished: the blocking `map`.
    ///
    /// # Panics
    /// Inside a spindle runtime, like [`JobHandle::wait`].
    #[track_caller]
    pub fn wait(mut self) -> Result<Vec<R>, PoolError> {
        while let Some(handle) = self.current.take() {
            self.results.push(handle.wait()?);
            self.current = self.pending.next();
        }
        Ok(std::mem::take(&mut self.results))
    }
}

// Results are moved in and out, never pinned in place.
impl<R> Unpin for MapHandle<R> {}

impl<R> Future for MapHandle<R> {
    type Output = Result<Vec<R>, PoolError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        while let Some(handle) = &mut this.current {
            match Pin::new(handle).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    this.current = None;
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(value)) => {
                    this.results.push(value);
                    this.current = this.pending.next();
                }
            }
        }
        Poll::Ready(Ok(std::mem::take(&mut this.results)))
    }
}

impl<R> fmt::Debug for MapHandle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapHandle")
            .field("remaining", &self.remaining())
            .finish()
    }
}
