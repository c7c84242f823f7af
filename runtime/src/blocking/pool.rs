//! The blocking pool: a queue of jobs and threads that come and go with demand.
//!
//! `spawn` pushes a job under the pool's mutex, then wakes an idle thread
//! (condition variable) or, if none is idle and the limit allows, starts a new
//! one. A thread runs jobs until the queue is empty, then waits on the
//! condition variable; after `keep_alive` with nothing to do it exits.
//!
//! When the runtime shuts down the pool stops taking jobs, cancels those
//! still queued (their handles report cancelled), and lets idle threads exit.
//! Jobs already running finish on their own threads; nobody waits for them.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Waker};
use std::time::Duration;

use super::BlockingTask;
use crate::executor::{cancel_and_complete, publish_completion, Shared, RELEASED};
use crate::task::raw::{self, TaskRef};
use crate::task::{JoinHandle, ToRunning};

/// Limits of a blocking pool, set through the runtime [`Builder`](crate::Builder).
#[derive(Clone, Debug)]
pub(crate) struct PoolConfig {
    pub(crate) max_threads: usize,
    pub(crate) keep_alive: Duration,
}

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig {
            max_threads: 512,
            keep_alive: Duration::from_secs(10),
        }
    }
}

pub(crate) struct BlockingPool {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    wake: Condvar,
    config: PoolConfig,
}

struct State {
    queue: VecDeque<TaskRef>,
    threads: usize,
    idle: usize,
    shutdown: bool,
}

impl BlockingPool {
    pub(crate) fn new(config: PoolConfig) -> BlockingPool {
        BlockingPool {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    threads: 0,
                    idle: 0,
                    shutdown: false,
                }),
                wake: Condvar::new(),
                config,
            }),
        }
    }

    /// Queues a blocking job of the runtime `shared`.
    pub(crate) fn spawn<F, R>(&self, job: BlockingTask<F>, shared: &Arc<Shared>) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        // A blocking job is on no runtime's task list: give that reference back.
        let (notified, owned, join) = raw::allocate(job, shared.clone(), RELEASED);
        drop(owned);
        let mut state = self.inner.lock();
        if state.shutdown {
            drop(state);
            cancel_and_complete(&notified);
            return JoinHandle::new(join);
        }
        state.queue.push_back(notified);
        if state.idle > 0 {
            self.inner.wake.notify_one();
        } else if state.threads < self.inner.config.max_threads {
            let inner = self.inner.clone();
            let started = std::thread::Builder::new()
                .name("spindle-blocking".into())
                .spawn(move || inner.work());
            match started {
                Ok(_) => state.threads += 1,
                Err(e) if state.threads == 0 => {
                    // No thread will ever run the job: fail it rather than hang.
                    let job = state.queue.pop_back().expect("just pushed");
                    drop(state);
                    eprintln!("spindle: cannot start a blocking-pool thread: {e}");
                    cancel_and_complete(&job);
                }
                // Existing threads will get to the job.
                Err(_) => {}
            }
        }
        JoinHandle::new(join)
    }

    /// Cancels queued jobs and lets idle threads exit.
    pub(crate) fn shutdown(&self) {
        let queued = {
            let mut state = self.inner.lock();
            state.shutdown = true;
            std::mem::take(&mut state.queue)
        };
        self.inner.wake.notify_all();
        for job in queued {
            cancel_and_complete(&job);
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A pool thread's life: run jobs, wait a while for more, exit.
    fn work(&self) {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                run(job);
                state = self.lock();
                continue;
            }
            if state.shutdown {
                break;
            }
            state.idle += 1;
            let (next, timeout) = self
                .wake
                .wait_timeout(state, self.config.keep_alive)
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            state.idle -= 1;
            if timeout.timed_out() && state.queue.is_empty() {
                break;
            }
        }
        state.threads -= 1;
    }
}

/// Runs one job on this pool thread and publishes its result.
fn run(job: TaskRef) {
    let header = job.header();
    let ptr = job.as_ptr();
    match header.state.transition_to_running() {
        ToRunning::Done => {}
        // Aborted while queued: drop the closure unrun.
        // SAFETY: the task is RUNNING and only this thread touches its stage;
        // a blocking job's future is Send, so any thread may drop it.
        ToRunning::Cancel => unsafe {
            (header.vtable.cancel)(ptr);
            publish_completion(&job);
        },
        ToRunning::Poll => {
            let mut cx = Context::from_waker(Waker::noop());
            // SAFETY: as above; `BlockingTask` finishes in its first poll
            // (a panic is caught and stored as the output).
            let finished = unsafe { (header.vtable.poll)(ptr, &mut cx) };
            debug_assert!(finished);
            publish_completion(&job);
        }
    }
}
