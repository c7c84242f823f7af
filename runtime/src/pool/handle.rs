//! [`TaskHandle`]: the one result of a pool job, and [`MapHandle`]: many, in order.
//!
//! A handle and the pool share a `Slot`: a mutex around "result, waker,
//! callback" plus a condition variable. Whoever finishes the job (a pool
//! thread, or the process pool's driver task when the answer arrives)
//! calls `complete`, which does exactly one of three things:
//!
//! * a callback was registered ([`TaskHandle::on_done`]): call it with the result;
//! * otherwise store the result, wake the task that awaits the handle (if
//!   any) and notify the thread blocked in [`TaskHandle::wait`] (if any).
//!
//! So the same handle serves async code (`.await`), plain threads (`wait`)
//! and callback style, the three ways Python's `concurrent.futures.Future`
//! is used.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::PoolError;
use crate::executor::context;

type Callback<R> = Box<dyn FnOnce(Result<R, PoolError>) + Send>;

/// Where a job's result meets the code waiting for it.
pub(crate) struct Slot<R> {
    state: Mutex<SlotState<R>>,
    done: Condvar,
}

struct SlotState<R> {
    result: Option<Result<R, PoolError>>,
    /// The result was handed out (to `poll`, `wait` or a callback).
    taken: bool,
    waker: Option<Waker>,
    callback: Option<Callback<R>>,
}

impl<R> Slot<R> {
    pub(crate) fn new() -> Arc<Slot<R>> {
        Arc::new(Slot {
            state: Mutex::new(SlotState {
                result: None,
                taken: false,
                waker: None,
                callback: None,
            }),
            done: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, SlotState<R>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Delivers the job's result. Only the first call counts.
    pub(crate) fn complete(&self, result: Result<R, PoolError>) {
        let mut state = self.lock();
        if state.taken || state.result.is_some() {
            return;
        }
        if let Some(callback) = state.callback.take() {
            state.taken = true;
            drop(state);
            callback(result);
            return;
        }
        state.result = Some(result);
        let waker = state.waker.take();
        drop(state);
        self.done.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The pending result of one job submitted to a pool.
///
/// * `.await` it (it is a `Future<Output = Result<R, PoolError>>`);
/// * or block a plain thread on it with [`wait`](TaskHandle::wait);
/// * or hand the result to a callback with [`on_done`](TaskHandle::on_done).
///
/// Dropping the handle does not cancel the job: it runs, and its result is
/// dropped.
#[must_use = "a TaskHandle does nothing unless awaited, waited on or given a callback"]
pub struct TaskHandle<R> {
    slot: Arc<Slot<R>>,
}

impl<R> TaskHandle<R> {
    pub(crate) fn new(slot: Arc<Slot<R>>) -> TaskHandle<R> {
        TaskHandle { slot }
    }

    /// A handle whose result is already known (a submission refused at once).
    pub(crate) fn ready(result: Result<R, PoolError>) -> TaskHandle<R> {
        let slot = Slot::new();
        slot.complete(result);
        TaskHandle { slot }
    }

    /// True once the job has finished (its result is waiting, or was handed out).
    pub fn is_finished(&self) -> bool {
        let state = self.slot.lock();
        state.taken || state.result.is_some()
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
            "TaskHandle::wait would block a spindle runtime's thread; use `.await` inside a runtime"
        );
        let mut state = self.slot.lock();
        loop {
            if let Some(result) = state.result.take() {
                state.taken = true;
                return result;
            }
            assert!(!state.taken, "the result was already taken");
            state = self
                .slot
                .done
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
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
    pub fn on_done<F>(self, callback: F)
    where
        F: FnOnce(Result<R, PoolError>) + Send + 'static,
    {
        let mut state = self.slot.lock();
        match state.result.take() {
            Some(result) => {
                state.taken = true;
                drop(state);
                callback(result);
            }
            None if state.taken => {}
            None => state.callback = Some(Box::new(callback)),
        }
    }
}

impl<R> Future for TaskHandle<R> {
    type Output = Result<R, PoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.slot.lock();
        if let Some(result) = state.result.take() {
            state.taken = true;
            return Poll::Ready(result);
        }
        assert!(
            !state.taken,
            "TaskHandle polled after it returned its result"
        );
        match &mut state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            waker => *waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<R> fmt::Debug for TaskHandle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
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
    pending: std::vec::IntoIter<TaskHandle<R>>,
    current: Option<TaskHandle<R>>,
    results: Vec<R>,
}

impl<R> MapHandle<R> {
    pub(crate) fn new(handles: Vec<TaskHandle<R>>) -> MapHandle<R> {
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
    /// Inside a spindle runtime, like [`TaskHandle::wait`].
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
