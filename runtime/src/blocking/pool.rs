//! The blocking pool: a queue of jobs and threads that come and go with demand.
//!
//! `spawn` pushes a job under the pool's mutex, then wakes an idle thread
//! (condition variable) or, if none is idle and the limit allows, starts a new
//! one. A thread runs jobs until the queue is empty, then waits on the
//! condition variable; after `keep_alive` with nothing to do it exits.
//!
//! # Spinning before sleeping
//!
//! Handing a job to a sleeping thread costs a futex wake and a context
//! switch on each side, which dominates a short job. So a thread that has
//! just finished a job first spins for a few tens of microseconds, watching
//! the queue, before it sleeps (at most one thread spins at a time), and
//! `spawn` does not wake anyone when a spinner will pick the job up. The
//! executor does the same on its side (see `Local::turn`): while jobs are
//! running and recent jobs were short, it watches for their completion a
//! moment before blocking in the poller. Both spins are bounded by
//! [`SPIN`], so an idle pool or runtime goes to sleep promptly. Spinning is
//! skipped when the process can use only one CPU (there the spinner would
//! burn the very time slice the other side needs), and after a few spins in
//! a row that found nothing (say, the other CPU is busy elsewhere), until an
//! occasional probe succeeds again.
//!
//! # Every job gets a thread
//!
//! A blocking job may wait for another one (a blocking producer and its
//! consumer, the two halves of a pipe copy), so the pool must never leave a
//! queued job waiting behind a job that is running. `spawn` therefore hands
//! every job its own *taker*, a thread that is bound to come to the queue:
//!
//! 1. the spinning thread, if it has not been promised a job yet
//!    (`spinner_claimed`);
//! 2. else an idle thread: `spawn` moves it from `idle` to `notified` at
//!    once, under the lock, so a burst of spawns wakes as many threads as
//!    there are jobs, not the same sleeper over and over;
//! 3. else a new thread, below `max_threads`.
//!
//! Only at the limit does a job wait for a running one to finish. A woken
//! thread takes one `notified` ticket; a thread that wakes without a ticket
//! (a spurious wake-up, or another thread took it first) waits again, so
//! `idle == waiting threads - notified` holds at all times.
//!
//! When the runtime shuts down the pool stops taking jobs, cancels those
//! still queued (their handles report cancelled), and lets idle threads exit.
//! Jobs already running finish on their own threads; nobody waits for them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use super::BlockingTask;
use crate::executor::context;
use crate::executor::{cancel_and_complete, publish_completion, Shared, RELEASED};
use crate::task::raw::{self, TaskRef};
use crate::task::{JoinHandle, ToRunning};

/// Limits of a blocking pool, set through the runtime [`Builder`](crate::Builder).
#[derive(Clone, Debug)]
pub(crate) struct PoolConfig {
    pub(crate) max_threads: usize,
    pub(crate) keep_alive: Duration,
    /// How long a thread spins for the next job before it sleeps.
    pub(crate) spin: Duration,
    /// Name, stack size and hooks of the pool's threads.
    pub(crate) threads: crate::executor::ThreadConfig,
}

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig {
            max_threads: 512,
            keep_alive: Duration::from_secs(10),
            spin: SPIN,
            threads: Default::default(),
        }
    }
}

/// How long a pool thread (or the executor) watches for work before sleeping.
pub(crate) const SPIN: Duration = Duration::from_micros(50);

/// After this many spins in a row that found nothing, spinning stops (but
/// for an occasional probe) until one succeeds again.
const MAX_MISSES: u32 = 3;

/// True if this process may run on more than one CPU. On one CPU a spin
/// only burns the time slice the other side needs to make progress.
pub(crate) fn spinning_can_help() -> bool {
    static MULTI_CPU: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *MULTI_CPU.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}

/// A handle to a pool; clones share it (a multi-threaded runtime's workers
/// and its `block_on` thread use one pool, so its limits are the runtime's).
#[derive(Clone)]
pub(crate) struct BlockingPool {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    wake: Condvar,
    config: PoolConfig,
    /// Jobs in the queue, readable without the lock (for spinners).
    queued: AtomicUsize,
    /// Set at shutdown, so a spinner stops at once.
    closed: AtomicBool,
    /// Jobs queued or running: the executor spins only while this is non-zero.
    in_flight: AtomicUsize,
    /// A moving average of job durations, in nanoseconds.
    avg_job_ns: AtomicU64,
    /// Spins in a row (either side) that ended with nothing handed over.
    spin_misses: AtomicU32,
    /// Counts refused spins, to let one through now and then as a probe.
    spin_skips: AtomicU32,
}

struct State {
    queue: VecDeque<TaskRef>,
    threads: usize,
    /// Threads waiting on `wake` that no `spawn` has woken yet.
    idle: usize,
    /// Wake-ups sent to waiting threads and not yet taken by one.
    notified: usize,
    /// A thread is spinning, watching the queue.
    spinning: bool,
    /// The spinning thread is promised to a job already: the next job needs
    /// another thread.
    spinner_claimed: bool,
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
                    notified: 0,
                    spinning: false,
                    spinner_claimed: false,
                    shutdown: false,
                }),
                wake: Condvar::new(),
                config,
                queued: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
                in_flight: AtomicUsize::new(0),
                avg_job_ns: AtomicU64::new(u64::MAX),
                spin_misses: AtomicU32::new(0),
                spin_skips: AtomicU32::new(0),
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
        let refused = self.enqueue(&mut state, notified);
        drop(state);
        if let Some(job) = refused {
            cancel_and_complete(&job);
        }
        JoinHandle::new(join)
    }

    /// Queues `job` and finds it its taker (see the module docs). Gives the
    /// job back, to be cancelled once the lock is released, if no thread can
    /// ever run it.
    fn enqueue(&self, state: &mut State, job: TaskRef) -> Option<TaskRef> {
        state.queue.push_back(job);
        self.inner.queued.fetch_add(1, Ordering::SeqCst);
        self.inner.in_flight.fetch_add(1, Ordering::SeqCst);
        if state.spinning && !state.spinner_claimed {
            state.spinner_claimed = true;
        } else if state.idle > 0 {
            state.idle -= 1;
            state.notified += 1;
            self.inner.wake.notify_one();
        } else if state.threads < self.inner.config.max_threads {
            let inner = self.inner.clone();
            let started = self
                .inner
                .config
                .threads
                .spawn("blocking", move || inner.work());
            match started {
                Ok(_) => state.threads += 1,
                Err(e) if state.threads == 0 => {
                    // No thread will ever run the job: fail it rather than hang.
                    eprintln!("spindle: cannot start a blocking-pool thread: {e}");
                    self.inner.queued.fetch_sub(1, Ordering::SeqCst);
                    self.inner.in_flight.fetch_sub(1, Ordering::SeqCst);
                    return state.queue.pop_back();
                }
                // Existing threads will get to the job.
                Err(_) => {}
            }
        }
        // Else every thread is busy and the limit is reached: the job waits
        // for the first one that finishes.
        None
    }

    /// Cancels queued jobs and lets idle threads exit.
    pub(crate) fn shutdown(&self) {
        let queued = {
            let mut state = self.inner.lock();
            state.shutdown = true;
            self.inner.closed.store(true, Ordering::SeqCst);
            self.inner.queued.store(0, Ordering::SeqCst);
            std::mem::take(&mut state.queue)
        };
        self.inner
            .in_flight
            .fetch_sub(queued.len(), Ordering::SeqCst);
        self.inner.wake.notify_all();
        for job in queued {
            cancel_and_complete(&job);
        }
    }
}

impl BlockingPool {
    /// True if jobs are queued or running and recent jobs took less than
    /// [`SPIN`]: then a result is likely to come back within a spin.
    pub(crate) fn expects_result_soon(&self) -> bool {
        self.inner.in_flight.load(Ordering::SeqCst) > 0
            && self.inner.avg_job_ns.load(Ordering::Relaxed) < SPIN.as_nanos() as u64
            && self.inner.may_spin()
    }

    /// True while a job is queued or running. A job's result reaches the
    /// injection queue before the job stops counting here, so a caller that
    /// reads `false` and then finds the injection queue empty knows that no
    /// job result is on its way (the test clock's auto-advance relies on it).
    pub(crate) fn has_jobs_in_flight(&self) -> bool {
        self.inner.in_flight.load(Ordering::SeqCst) > 0
    }

    /// Tells the pool whether the executor's spin saw the result arrive.
    pub(crate) fn spin_result(&self, handed_over: bool) {
        self.inner.spin_result(handed_over);
    }
}

impl Inner {
    /// Whether spinning is worth trying now: several CPUs, and recent spins
    /// have paid off (after a run of misses, one attempt in 64 probes again).
    fn may_spin(&self) -> bool {
        if !spinning_can_help() {
            return false;
        }
        if self.spin_misses.load(Ordering::Relaxed) < MAX_MISSES {
            return true;
        }
        self.spin_skips
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(64)
    }

    fn spin_result(&self, handed_over: bool) {
        if handed_over {
            self.spin_misses.store(0, Ordering::Relaxed);
        } else {
            self.spin_misses.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A pool thread's life: run jobs, spin a moment for more, wait a while
    /// for more, exit.
    fn work(&self) {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                self.queued.fetch_sub(1, Ordering::SeqCst);
                drop(state);
                let start = Instant::now();
                run(job);
                self.record(start.elapsed());
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                state = self.lock();
                if state.queue.is_empty() && !state.spinning && !state.shutdown && self.may_spin() {
                    state.spinning = true;
                    drop(state);
                    let deadline = Instant::now() + self.config.spin;
                    while self.queued.load(Ordering::SeqCst) == 0
                        && !self.closed.load(Ordering::SeqCst)
                        && Instant::now() < deadline
                    {
                        std::hint::spin_loop();
                    }
                    self.spin_result(self.queued.load(Ordering::SeqCst) > 0);
                    state = self.lock();
                    // A job that claimed this spinner is in the queue now:
                    // the pop at the top of the loop takes it.
                    state.spinning = false;
                    state.spinner_claimed = false;
                }
                continue;
            }
            if state.shutdown {
                break;
            }
            state.idle += 1;
            let mut exit = false;
            loop {
                let (next, timeout) = self
                    .wake
                    .wait_timeout(state, self.config.keep_alive)
                    .unwrap_or_else(|e| e.into_inner());
                state = next;
                if state.notified > 0 {
                    // `spawn` already took us off `idle`.
                    state.notified -= 1;
                    break;
                }
                if state.shutdown || timeout.timed_out() {
                    state.idle -= 1;
                    exit = !state.shutdown;
                    break;
                }
                // A spurious wake-up, or another thread took the ticket.
            }
            if exit {
                break;
            }
        }
        state.threads -= 1;
    }

    /// Folds one job's duration into the moving average (weight 1/8).
    fn record(&self, took: Duration) {
        let ns = took.as_nanos().min(u64::MAX as u128 / 2) as u64;
        let avg = self.avg_job_ns.load(Ordering::Relaxed);
        let next = if avg == u64::MAX {
            ns
        } else {
            avg - avg / 8 + ns / 8
        };
        self.avg_job_ns.store(next, Ordering::Relaxed);
    }
}

#[cfg(test)]
impl BlockingPool {
    /// Runs `f` on the pool's state, for tests that wait for a thread to be
    /// idle or spinning.
    pub(crate) fn inspect<R>(&self, f: impl FnOnce(usize, bool) -> R) -> R {
        let state = self.inner.lock();
        f(state.idle, state.spinning)
    }

    /// Queues several jobs under one hold of the lock, so that no pool
    /// thread can change state between them (tests only).
    pub(crate) fn spawn_together<F, R>(
        &self,
        jobs: Vec<BlockingTask<F>>,
        shared: &Arc<Shared>,
    ) -> Vec<JoinHandle<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let mut state = self.inner.lock();
        let handles = jobs
            .into_iter()
            .map(|job| {
                let (notified, owned, join) = raw::allocate(job, shared.clone(), RELEASED);
                drop(owned);
                assert!(self.enqueue(&mut state, notified).is_none());
                JoinHandle::new(join)
            })
            .collect();
        drop(state);
        handles
    }
}

/// Runs one job on this pool thread and publishes its result.
fn run(job: TaskRef) {
    let header = job.header();
    // The closure sees the runtime that spawned it as the current one.
    let _entered = context::enter_shared(header.shared.clone());
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
