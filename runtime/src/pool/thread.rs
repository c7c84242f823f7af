//! [`ThreadPool`]: `n` threads and a queue, Python's `ThreadPoolExecutor(n)`.
//!
//! The pool starts all its threads in [`ThreadPool::new`] and keeps them
//! until shutdown; none come and go with demand (that is what the
//! runtime's own blocking pool behind [`spawn_blocking`](crate::spawn_blocking)
//! does). A submission wraps the closure in a job that runs it under
//! `catch_unwind` and completes the handle's slot, pushes the job on a
//! mutex-protected queue and wakes one idle thread through a condition
//! variable. A thread pops jobs until the queue is empty, then sleeps on
//! the condition variable.
//!
//! [`shutdown`](ThreadPool::shutdown) marks the queue closed: threads run
//! every job still queued, then see "closed and empty" and exit, and
//! `shutdown` joins them. Dropping the pool does the same.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::error::panic_message;
use super::handle::job_channel;
use super::{JobHandle, MapHandle, PoolError};

type Job = Box<dyn FnOnce() + Send>;

/// A fixed pool of `n` threads running submitted closures.
///
/// It needs no runtime: submit from anywhere, `.await` the handles in a
/// task or [`wait`](JobHandle::wait) on them from a plain thread.
///
/// ```
/// use spindle_runtime::pool::ThreadPool;
///
/// let pool = ThreadPool::new(4);
/// let handle = pool.submit(|| (1..=100u64).sum::<u64>());
/// assert_eq!(handle.wait(), Ok(5050));
/// let squares = pool.map_blocking(|x: u64| x * x, 1..=5);
/// assert_eq!(squares, Ok(vec![1, 4, 9, 16, 25]));
/// pool.shutdown();
/// ```
pub struct ThreadPool {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    size: usize,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
}

struct State {
    jobs: VecDeque<Job>,
    idle: usize,
    closed: bool,
}

impl ThreadPool {
    /// Starts a pool of `n` threads (named `spindle-pool-<i>`).
    ///
    /// # Panics
    /// If `n` is 0, or if the OS refuses to start a thread.
    pub fn new(n: usize) -> ThreadPool {
        assert!(n > 0, "a ThreadPool needs at least one thread");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                idle: 0,
                closed: false,
            }),
            work: Condvar::new(),
        });
        let threads = (0..n)
            .map(|i| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("spindle-pool-{i}"))
                    .spawn(move || shared.work())
                    .expect("cannot start a ThreadPool thread")
            })
            .collect();
        ThreadPool {
            shared,
            threads: Mutex::new(threads),
            size: n,
        }
    }

    /// The number of threads.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Queues `f` and returns a handle to its result at once. A panic in
    /// `f` becomes [`PoolError::Panicked`]; after [`shutdown`](ThreadPool::shutdown)
    /// the handle reports [`PoolError::ShutDown`].
    pub fn submit<F, R>(&self, f: F) -> JobHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (job, handle) = job(f);
        match self.push(std::iter::once(job)) {
            Ok(()) => handle,
            Err(()) => JobHandle::ready(Err(PoolError::ShutDown)),
        }
    }

    /// Runs `f` on every item, spread over the pool, and returns a future of
    /// the results in input order (or the first error, in input order).
    /// All jobs are queued before this returns.
    pub fn map<T, R, F, I>(&self, f: F, items: I) -> MapHandle<R>
    where
        I: IntoIterator<Item = T>,
        T: Send + 'static,
        F: Fn(T) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        let f = Arc::new(f);
        let (jobs, handles): (Vec<Job>, Vec<JobHandle<R>>) = items
            .into_iter()
            .map(|item| {
                let f = f.clone();
                job(move || f(item))
            })
            .unzip();
        if self.push(jobs).is_err() {
            let refused = handles
                .iter()
                .map(|_| JobHandle::ready(Err(PoolError::ShutDown)))
                .collect();
            return MapHandle::new(refused);
        }
        MapHandle::new(handles)
    }

    /// [`map`](ThreadPool::map), blocking this thread until all results are in.
    ///
    /// # Panics
    /// Inside a spindle runtime (see [`JobHandle::wait`]).
    #[track_caller]
    pub fn map_blocking<T, R, F, I>(&self, f: F, items: I) -> Result<Vec<R>, PoolError>
    where
        I: IntoIterator<Item = T>,
        T: Send + 'static,
        F: Fn(T) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        self.map(f, items).wait()
    }

    /// Stops taking jobs, lets the threads finish every job already queued,
    /// and joins them: Python's `shutdown(wait=True)`. It blocks the calling
    /// thread until then (inside a runtime, prefer awaiting the handles
    /// first). Later submissions report [`PoolError::ShutDown`]. Calling it
    /// again does nothing; called from one of the pool's own jobs, it joins
    /// the other threads only.
    pub fn shutdown(&self) {
        self.shared.lock().closed = true;
        self.shared.work.notify_all();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        let me = std::thread::current().id();
        for thread in threads {
            if thread.thread().id() != me {
                let _ = thread.join();
            }
        }
    }

    fn push(&self, jobs: impl IntoIterator<Item = Job>) -> Result<(), ()> {
        let mut state = self.shared.lock();
        if state.closed {
            return Err(());
        }
        let before = state.jobs.len();
        state.jobs.extend(jobs);
        let wake = (state.jobs.len() - before).min(state.idle);
        drop(state);
        if wake == 1 {
            self.shared.work.notify_one();
        } else if wake > 1 {
            self.shared.work.notify_all();
        }
        Ok(())
    }
}

/// Wraps `f` in a job that runs it under `catch_unwind` and delivers its result.
fn job<F, R>(f: F) -> (Job, JobHandle<R>)
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (done, handle) = job_channel();
    let job = Box::new(move || {
        let result =
            catch_unwind(AssertUnwindSafe(f)).map_err(|p| PoolError::Panicked(panic_message(&*p)));
        done.complete(result);
    });
    (job, handle)
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A pool thread: run jobs until the queue is closed and empty.
    fn work(&self) {
        loop {
            let job = {
                let mut state = self.lock();
                loop {
                    if let Some(job) = state.jobs.pop_front() {
                        break job;
                    }
                    if state.closed {
                        return;
                    }
                    state.idle += 1;
                    state = self.work.wait(state).unwrap_or_else(|e| e.into_inner());
                    state.idle -= 1;
                }
            };
            // The job catches its own panic; this catches one from an
            // `on_done` callback, so the thread survives it.
            let _ = catch_unwind(AssertUnwindSafe(job));
        }
    }
}

impl Drop for ThreadPool {
    /// Same as [`shutdown`](ThreadPool::shutdown): waits for queued jobs.
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("ThreadPool")
            .field("size", &self.size)
            .field("queued", &state.jobs.len())
            .field("closed", &state.closed)
            .finish()
    }
}
