//! [`ProcessPool`]: `n` worker processes, Python's `ProcessPoolExecutor(n)`.
//!
//! # Life of a task
//!
//! 1. `submit(f, arg)` encodes a TASK frame (see `frame.rs`; descriptors
//!    the argument holds are duplicated and kept with it) and pushes it
//!    on the pool's queue; `dispatch` moves it at once to the worker with
//!    the fewest unanswered tasks, as long as that worker has fewer than
//!    `pipeline_depth` (default 256). The worker's driver task is woken.
//! 2. The driver (one task per worker on the runtime that created the pool,
//!    `driver.rs`) writes all of its worker's unsent frames with one
//!    `writev`, and reads answers, many per `read`. Answers come back in
//!    the order the tasks were sent and are matched by task id; each
//!    decodes into its `JobHandle`. A frame with descriptors starts a
//!    `sendmsg` of its own that carries them (`SCM_RIGHTS`), and the
//!    descriptors of an answer are taken in arrival order (`frame.rs`).
//! 3. If the worker dies (EOF on its socket), the driver reaps it and reads
//!    the worker's shared `RunSlot`: the task that was running fails with
//!    [`PoolError::WorkerDied`]; the others it held go back to the front of
//!    the queue; a new worker is started in its place.
//!
//! # Start methods
//!
//! See [`StartMethod`](super::StartMethod): re-executing the program (the
//! default) or forking from a fork server (`forkserver.rs`). `builder.rs`
//! starts the workers, through a `spawn::Starter` kept in `Inner`.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use super::builder::ProcessPoolBuilder;
use super::call;
use super::driver;
use super::frame;
use super::handle::job_channel;
use super::spawn::Starter;
use super::wire::{from_bytes, take_outgoing_fds, with_incoming_fds, Wire};
use super::{JobHandle, MapHandle, PoolError};

/// A pool of worker processes running `fn(A) -> R` jobs.
///
/// See the [module docs](super) for how workers start (nothing is needed
/// in `main`) and [`Wire`] for the argument and result types; values
/// holding descriptors (an `OwnedFd`, a pipe end) are passed with them.
/// Create it inside a runtime; it may be used (submitted to, awaited)
/// from any thread.
///
/// A job is sent to the worker holding the fewest unanswered jobs, up to
/// [`pipeline_depth`](ProcessPoolBuilder::pipeline_depth) per worker; the
/// rest wait in the pool's queue. Each worker's connection is driven by a
/// task on the pool's runtime, which writes many jobs per system call and
/// reads many answers per system call. A job whose worker dies fails with
/// [`PoolError::WorkerDied`]; the other jobs that worker held are sent
/// again (they had not started, or their answers died with it), and a
/// replacement worker is started.
///
/// Dropping the pool starts a graceful shutdown without waiting: queued
/// tasks still run and their handles still resolve while the runtime runs,
/// then the workers exit. [`shutdown`](ProcessPool::shutdown) does the same
/// and waits until every worker has exited and been reaped.
pub struct ProcessPool {
    inner: Arc<Inner>,
}

/// What to do with a task's answer: its result bytes and the descriptors
/// that came with them, or why there is none.
pub(super) type Completion = Box<dyn FnOnce(Result<(&[u8], Vec<OwnedFd>), PoolError>) + Send>;

/// A task on its way: the encoded frame and the descriptors that travel
/// with it (both kept until answered, to be sent again if its worker
/// dies) and what to do with the answer.
pub(super) struct Task {
    pub(super) id: u64,
    pub(super) frame: Vec<u8>,
    pub(super) fds: Vec<OwnedFd>,
    /// How many of `fds` the current worker has been sent.
    pub(super) fds_sent: usize,
    pub(super) done: Completion,
}

pub(super) struct Inner {
    state: Mutex<State>,
    pub(super) starter: Starter,
    depth: usize,
}

pub(super) struct State {
    next_id: u64,
    pub(super) queue: VecDeque<Task>,
    pub(super) workers: Vec<WorkerState>,
    pub(super) closing: bool,
    pub(super) broken: Option<String>,
    /// Worker slots whose process exists or will be replaced.
    pub(super) live: usize,
    pub(super) shutdown_waiters: Vec<Waker>,
}

pub(super) struct WorkerState {
    /// The worker process, until reaped.
    pub(super) pid: Option<u32>,
    /// Takes new tasks (has a process, write side open).
    pub(super) accepting: bool,
    /// Sent or being sent, unanswered, in sending order.
    pub(super) inflight: VecDeque<Task>,
    /// How many of `inflight` are completely written, and how much of the next.
    pub(super) written: usize,
    pub(super) offset: usize,
    /// The driver task, to wake when tasks arrive.
    pub(super) waker: Option<Waker>,
    /// Replacements in a row that could not start (see `faults.rs`).
    pub(super) failed_starts: u32,
}

impl WorkerState {
    pub(super) fn new(pid: u32) -> WorkerState {
        WorkerState {
            pid: Some(pid),
            accepting: true,
            inflight: VecDeque::new(),
            written: 0,
            offset: 0,
            waker: None,
            failed_starts: 0,
        }
    }
}

impl ProcessPool {
    /// A pool of `n` workers with default settings; see [`ProcessPool::builder`].
    pub fn new(n: usize) -> io::Result<ProcessPool> {
        ProcessPool::builder().workers(n).build()
    }

    /// A builder, defaulting to as many workers as
    /// [`available_parallelism`](std::thread::available_parallelism).
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder::new()
    }

    pub(super) fn from_inner(inner: Arc<Inner>) -> ProcessPool {
        ProcessPool { inner }
    }

    /// Sends `func(arg)` to a worker and returns a handle to the result.
    ///
    /// The task is handed to a worker at once (unless every worker already
    /// holds `pipeline_depth` tasks); the handle resolves when the answer
    /// comes back. A panic in `func` gives [`PoolError::Panicked`]; a worker
    /// that dies while running it gives [`PoolError::WorkerDied`].
    ///
    /// `func` must be compiled into the program itself: a function that
    /// lives in a shared library (see `-C prefer-dynamic`) cannot be found
    /// by a worker, and the handle resolves at once to
    /// [`PoolError::Rejected`] without sending anything.
    pub fn submit<A, R>(&self, func: fn(A) -> R, arg: A) -> JobHandle<R>
    where
        A: Wire + 'static,
        R: Wire + Send + 'static,
    {
        let site = match call::call_site(func) {
            Ok(site) => site,
            Err(why) => return refused(why),
        };
        let (task, handle) = task(site, &arg);
        self.inner.enqueue(vec![task]);
        handle
    }

    /// Submits `func(item)` for every item; the returned future gives the
    /// results in input order (or the first error in input order). All
    /// tasks are queued before `map` returns and flow to the workers in
    /// pipelined batches. `func` is checked as in [`submit`](Self::submit).
    pub fn map<A, R, I>(&self, func: fn(A) -> R, items: I) -> MapHandle<R>
    where
        I: IntoIterator<Item = A>,
        A: Wire + 'static,
        R: Wire + Send + 'static,
    {
        let site = match call::call_site(func) {
            Ok(site) => site,
            Err(why) => {
                let handles = items.into_iter().map(|_| refused(why.clone())).collect();
                return MapHandle::new(handles);
            }
        };
        let (tasks, handles) = items.into_iter().map(|item| task(site, &item)).unzip();
        self.inner.enqueue(tasks);
        MapHandle::new(handles)
    }

    /// Stops taking tasks, waits for every queued task to finish, then for
    /// every worker to exit; reaps them all. Later submissions report
    /// [`PoolError::ShutDown`].
    pub async fn shutdown(&self) {
        self.inner.close();
        poll_fn(|cx| {
            let mut state = self.inner.lock();
            if state.live == 0 {
                return Poll::Ready(());
            }
            state.shutdown_waiters.push(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// The pids of the current worker processes (for diagnostics and tests).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.inner
            .lock()
            .workers
            .iter()
            .filter_map(|w| w.pid)
            .collect()
    }

    /// The number of worker slots.
    pub fn size(&self) -> usize {
        self.inner.lock().workers.len()
    }
}

/// A handle that has already failed: the call was refused before sending.
fn refused<R: Wire + Send + 'static>(why: String) -> JobHandle<R> {
    JobHandle::ready(Err(PoolError::Rejected(why)))
}

/// Encodes a TASK frame (id filled in later) and the completion that
/// decodes its answer into a new handle.
fn task<A: Wire, R: Wire + Send + 'static>(site: call::CallSite, arg: &A) -> (Task, JobHandle<R>) {
    let mut bytes = Vec::with_capacity(64);
    let start = frame::begin(&mut bytes, frame::TASK, 0);
    site.encode(&mut bytes);
    arg.encode(&mut bytes);
    let fds = take_outgoing_fds();
    frame::set_fds(&mut bytes, start, fds.len());
    frame::finish(&mut bytes, start);
    let (result, handle) = job_channel();
    let done: Completion = Box::new(move |answer: Result<(&[u8], Vec<OwnedFd>), PoolError>| {
        result.complete(answer.and_then(|(body, fds)| {
            with_incoming_fds(fds, || from_bytes::<R>(body)).map_err(PoolError::Decode)
        }));
    });
    (
        Task {
            id: 0,
            frame: bytes,
            fds,
            fds_sent: 0,
            done,
        },
        handle,
    )
}

impl Inner {
    pub(super) fn new(pids: &[u32], starter: Starter, depth: usize) -> Arc<Inner> {
        Arc::new(Inner {
            state: Mutex::new(State {
                next_id: 0,
                queue: VecDeque::new(),
                workers: pids.iter().copied().map(WorkerState::new).collect(),
                closing: false,
                broken: None,
                live: pids.len(),
                shutdown_waiters: Vec::new(),
            }),
            starter,
            depth,
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues tasks and hands them to workers, or fails them if the pool is closed.
    fn enqueue(&self, tasks: Vec<Task>) {
        let mut state = self.lock();
        let refusal = if let Some(why) = &state.broken {
            Some(PoolError::Broken(why.clone()))
        } else if state.closing || state.live == 0 {
            Some(PoolError::ShutDown)
        } else {
            None
        };
        if let Some(error) = refusal {
            drop(state);
            fail_all(tasks, &error);
            return;
        }
        for mut task in tasks {
            state.next_id += 1;
            task.id = state.next_id;
            frame::set_id(&mut task.frame, task.id);
            state.queue.push_back(task);
        }
        let wakers = state.dispatch(self.depth);
        drop(state);
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Moves queued tasks to workers; returns the drivers to wake.
    pub(super) fn dispatch(&self, state: &mut State) -> Vec<Waker> {
        state.dispatch(self.depth)
    }

    /// Starts a graceful shutdown: drivers close their workers once idle.
    pub(super) fn close(&self) {
        let mut state = self.lock();
        state.closing = true;
        let wakers: Vec<Waker> = state
            .workers
            .iter_mut()
            .filter_map(|w| w.waker.take())
            .collect();
        drop(state);
        wakers.into_iter().for_each(Waker::wake);
    }
}

impl State {
    fn dispatch(&mut self, depth: usize) -> Vec<Waker> {
        let mut wakers = Vec::new();
        while !self.queue.is_empty() {
            let Some(worker) = self
                .workers
                .iter_mut()
                .filter(|w| w.accepting)
                .min_by_key(|w| w.inflight.len())
            else {
                break;
            };
            if worker.inflight.len() >= depth {
                break;
            }
            if let Some(mut task) = self.queue.pop_front() {
                // Sent again in full if it comes back from a dead worker.
                task.fds_sent = 0;
                worker.inflight.push_back(task);
            }
            if let Some(waker) = worker.waker.take() {
                wakers.push(waker);
            }
        }
        wakers
    }

    /// A worker slot is gone for good: wake `shutdown` when it was the last.
    pub(super) fn slot_retired(&mut self) -> (Vec<Waker>, Vec<Task>) {
        self.live -= 1;
        if self.live > 0 {
            return (Vec::new(), Vec::new());
        }
        // Nobody left to run what is queued.
        let orphans = self.queue.drain(..).collect();
        (std::mem::take(&mut self.shutdown_waiters), orphans)
    }
}

/// Completes every task with `error`, catching panics of callbacks.
pub(super) fn fail_all(tasks: impl IntoIterator<Item = Task>, error: &PoolError) {
    for task in tasks {
        driver::complete(task.done, Err(error.clone()));
    }
}

impl Drop for ProcessPool {
    fn drop(&mut self) {
        self.inner.close();
    }
}

impl fmt::Debug for ProcessPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("ProcessPool")
            .field("workers", &state.workers.len())
            .field("start", &self.inner.starter.method())
            .field("queued", &state.queue.len())
            .field("closing", &state.closing)
            .finish()
    }
}
