//! The multi-threaded runtime: N workers, each a current-thread executor
//! of its own, that take work from each other when they run out.
//!
//! # A worker is a current-thread runtime, plus stealing
//!
//! Each worker thread runs a [`Local`] exactly like a current-thread
//! runtime's: its own poller (epoll, ...) and eventfd, its own timer wheel,
//! its own blocking pool, its own `Shared` half. What a worker adds is a
//! [`StealQueue`] for its `Send` tasks, a one-task LIFO slot, and a place
//! in the [`Group`], through which idle workers steal:
//!
//! ```text
//!                         Group (Arc, one per runtime)
//!            inject: tasks from outside the workers (Handle::spawn, the
//!                    block_on thread's spawn, wakes from other threads)
//!            idle:   who sleeps, who searches (idle.rs)
//!            workers[i]: the worker's Shared (to wake it) and Stealer
//!                 |                         |
//!      worker 0 --+--                       +-- worker 1
//!      Local: poller, wheel, pinned queue   Local: ...
//!      lifo slot -> StealQueue  <-- steal half --  (when worker 1 is idle)
//! ```
//!
//! ## Where a task runs
//!
//! * `spawn` on a worker: the task's home is that worker (its header points
//!   at the worker's `Shared`, and it sits in the worker's task list); it
//!   goes to the back of the worker's `StealQueue`, and an idle worker is
//!   woken to take it if nobody is searching already.
//! * A wake on a worker, of a `Send` task of the same runtime: the task runs
//!   *where it was woken*: into that worker's LIFO slot (the task that was
//!   there moves to the queue). A task woken by a socket's readiness thus
//!   runs on the worker whose reactor saw it, next, with its data hot in
//!   the cache; a ping-pong between two tasks stays on one worker.
//! * A wake from any other thread: the task goes to the group's injection
//!   queue, and an idle worker is woken.
//! * `spawn_local` (a `!Send` future): the task is *pinned*
//!   ([`Vtable::pinned`](crate::task::raw::Vtable)). It lives in its
//!   worker's private run queue (`Local::run_queue`), which no one steals
//!   from; a wake from elsewhere sends it home through its worker's own
//!   injection queue.
//!
//! ## Why one reactor per worker
//!
//! The issue's choice: one reactor shared by the workers, or one each. One
//! each keeps every piece of the current-thread runtime as it is (the IO
//! driver, the timer wheel and the park/unpark handshake are exactly the
//! ones the current-thread runtime has, already proven and modelled), keeps
//! a socket's events on one thread, and needs no lock around the reactor.
//! A socket is registered with the reactor of the worker that created it,
//! and may be polled from any worker: its readiness wakes the task, and the
//! wake moves the task to the registering worker. One created off the
//! workers (on the block_on thread, or under `Handle::enter`) joins the
//! first worker's reactor (`Group::io_worker`), since the block_on thread's
//! own turns only while a `block_on` runs there. The cost: a worker that
//! runs one task for a long time delays its own sockets' events and timers
//! (the other workers' are unaffected) until its next turn, at most
//! `event_interval` polls away, as on the current-thread runtime;
//! `block_in_place` is the way out for a task that must block.
//! (Two ways for an idle worker to collect a busy worker's events without
//! being woken, tokio's effect, were measured and not kept: see
//! docs/architecture.md, "Why one reactor per worker".)
//!
//! ## Going idle and waking up
//!
//! A worker with nothing in its LIFO slot, queues or injection queues
//! *searches*: it steals half of another worker's `StealQueue` (starting at
//! a different victim each time) and looks at the group's injection queue.
//! Finding nothing, it *parks*: it puts itself on the sleepers list and
//! blocks in its own poller, where IO, its timers and a notify (its
//! eventfd) wake it. Who wakes whom, and why a burst of tasks wakes only one
//! worker, is in `idle.rs`. The tasks a worker's own reactor turn wakes are
//! queued without waking anyone; after the turn, one sleeper is woken if the
//! worker holds more than the task it runs next (`worker.rs`,
//! `Worker::turned`).
//!
//! ## The block_on thread
//!
//! `Runtime::block_on` runs on the caller's thread, which is not a worker:
//! it polls the main future and the tasks it `spawn_local`s there (pinned
//! to it), and sends every `spawn` of a `Send` future to the workers.
//!
//! ## Shutdown
//!
//! Dropping the runtime stops every worker at its next look at its queues.
//! The first to look aborts every worker's `Send` tasks (as
//! `JoinHandle::abort` does) and drops the idle ones at once; each worker's
//! own thread does the same with its pinned tasks; a task inside a poll on
//! another thread is dropped by that thread when the poll returns. Each
//! worker then drops what waits in the queues it may take from. Then the
//! workers wait until none of them is polling, and each drops the futures
//! of the tasks still in its list, on its own thread (pinned ones must be
//! dropped there), closes its reactor, and exits; the dropping thread joins
//! them, closes the injection queue, and shuts the block_on thread's own
//! half down.

mod abort;
mod countdown;
mod idle;
mod metrics;
mod worker;

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle as ThreadHandle;

use crate::task::list::TaskList;
use crate::task::raw::{self, TaskRef};
use crate::task::JoinHandle;

use super::inject::Inject;
use super::steal::{StealQueue, Stealer};
use super::{cancel_and_complete, Config, Local, Shared};

pub(crate) use countdown::Arrival;
use countdown::Countdown;
pub(crate) use idle::Idle;
pub use metrics::RuntimeMetrics;
pub(crate) use metrics::WorkerMetrics;
pub(crate) use worker::{block_in_place, spawn_on_worker, Worker};

/// What a runtime's workers share (one `Arc` per runtime).
pub(crate) struct Group {
    /// Tasks sent to the workers from elsewhere.
    pub(crate) inject: Inject,
    pub(crate) idle: Idle,
    pub(crate) workers: Box<[WorkerRemote]>,
    /// Set when the runtime drops: workers stop at their next look.
    pub(crate) shutdown: AtomicBool,
    /// Set by the first worker (or stand-in) that aborts every task at
    /// shutdown (`Local::abort_tasks`).
    pub(crate) aborted: AtomicBool,
    /// Met by every worker once it has stopped polling, before any drops
    /// its tasks' futures (see `countdown.rs`).
    pub(crate) stopped: Countdown,
    /// Counts down as worker threads end (`Runtime::shutdown_timeout`).
    pub(crate) exited: Countdown,
    /// Round-robin home for tasks spawned from outside the workers.
    next_home: AtomicUsize,
}

/// One worker, as the others (and outside threads) see it.
pub(crate) struct WorkerRemote {
    /// The worker's own half: its eventfd wakes it, its task list holds the
    /// tasks whose home it is.
    pub(crate) shared: Arc<Shared>,
    pub(crate) stealer: Stealer,
    pub(crate) metrics: WorkerMetrics,
}

/// What a `Shared` knows of the multi-threaded runtime it is part of.
pub(crate) struct MtLink {
    group: Weak<Group>,
    /// The group's address: tells "same runtime" without an upgrade.
    pub(crate) group_id: usize,
    /// The tasks whose home this worker is: a list any worker may complete
    /// a task in (the current-thread runtime's is a `RefCell` in `Local`).
    /// `None` for the block_on thread, whose tasks are all pinned to it.
    pub(crate) owned: Option<OwnedTasks>,
}

/// A worker's task list, in shards, each behind its own lock.
///
/// A task is put in by the worker that spawns it and taken out by whichever
/// worker completes it, often another (it was stolen). With one lock, the
/// spawning worker and the stealing one queued on it for every task: a
/// profile of a million spawns on two workers had 70% of the time in that
/// lock. A task's shard is picked by its id, and a thread's ids come in
/// runs of consecutive numbers, so neighbouring tasks fall in different
/// shards and the two workers rarely meet (tokio shards its lists alike).
pub(crate) struct OwnedTasks {
    shards: Box<[Mutex<OwnedShard>]>,
}

/// One shard of a worker's task list.
pub(crate) struct OwnedShard {
    pub(crate) tasks: TaskList,
    /// Set once the worker has dropped its tasks: later spawns onto it are
    /// cancelled at once.
    pub(crate) closed: bool,
}

impl OwnedTasks {
    /// A list of `shards` shards (a power of two).
    fn new(shards: usize) -> OwnedTasks {
        debug_assert!(shards.is_power_of_two());
        OwnedTasks {
            shards: (0..shards)
                .map(|_| {
                    Mutex::new(OwnedShard {
                        tasks: TaskList::new(),
                        closed: false,
                    })
                })
                .collect(),
        }
    }

    /// The locked shard that holds (or will hold) the task of `header`:
    /// its lock guards the task's `owned_index`.
    pub(crate) fn shard_of(&self, header: &crate::task::raw::Header) -> MutexGuard<'_, OwnedShard> {
        let index = header.id.as_u64() as usize & (self.shards.len() - 1);
        self.shards[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes every shard (a task spawned onto one from then on is
    /// cancelled at its spawn) and takes out every task in it.
    pub(crate) fn close_and_drain(&self) -> Vec<TaskRef> {
        let mut tasks = Vec::new();
        for mut shard in self.each_shard() {
            shard.closed = true;
            tasks.extend(shard.tasks.drain());
        }
        tasks
    }

    /// Every shard, locked one at a time, in turn.
    pub(crate) fn each_shard(&self) -> impl Iterator<Item = MutexGuard<'_, OwnedShard>> {
        self.shards
            .iter()
            .map(|shard| shard.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl MtLink {
    /// The group, while the runtime lives.
    pub(crate) fn group(&self) -> Option<Arc<Group>> {
        self.group.upgrade()
    }
}

/// The running workers of a multi-threaded runtime, owned by its `Runtime`.
pub(crate) struct MultiThread {
    pub(crate) group: Arc<Group>,
    threads: Vec<ThreadHandle<()>>,
}

impl Group {
    /// Wakes a sleeping worker if new work calls for one (see `idle.rs`).
    pub(crate) fn notify_parked(&self) {
        if let Some(worker) = self.idle.worker_to_notify() {
            self.workers[worker].shared.wake_main();
        }
    }

    /// The next worker's shared half, in turn: the home of a task spawned
    /// from outside the workers.
    fn next_worker(&self) -> &Arc<Shared> {
        let index = self.next_home.fetch_add(1, Relaxed) % self.workers.len();
        &self.workers[index].shared
    }

    /// The worker whose reactor and timer wheel take the IO objects and
    /// timers made off the workers (`context::current_io_shared`): the
    /// first. Always the same one, so that a descriptor registered twice
    /// from there is refused (`EEXIST`), as on a single reactor.
    pub(crate) fn io_worker(&self) -> &Arc<Shared> {
        &self.workers[0].shared
    }

    /// The worker after the one whose shared half is `shared`, if there is
    /// another: the one `f` of a `block_in_place` enters instead of its own
    /// worker, and where a stand-in on an io_uring poller registers new IO
    /// (`context::current_io_shared`).
    pub(crate) fn worker_after(&self, shared: &Shared) -> Option<&Arc<Shared>> {
        let n = self.workers.len();
        let index = self
            .workers
            .iter()
            .position(|w| std::ptr::eq(&*w.shared, shared))?;
        (n > 1).then(|| &self.workers[(index + 1) % n].shared)
    }

    /// True if some queue a searcher looks at holds a task.
    pub(crate) fn has_stealable_work(&self) -> bool {
        !self.inject.is_empty() || self.workers.iter().any(|w| !w.stealer.is_empty())
    }

    /// Sends a task that may run on any worker to the group's injection
    /// queue, and wakes a worker for it. On a runtime shutting down the task
    /// is already in (or past) its home's cancellation: the reference drops.
    pub(crate) fn schedule(&self, task: TaskRef) {
        if self.inject.push(task).is_ok() {
            self.notify_parked();
        }
    }

    /// Spawns a `Send` future from outside the workers: its home is the
    /// next worker in turn, and it goes through the injection queue.
    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shared = self.next_worker();
        let (notified, owned, join) = raw::allocate(future, shared.clone(), 0);
        if adopt_into(shared, owned) {
            self.schedule(notified);
        }
        JoinHandle::new(join)
    }
}

/// Puts a new task into its home worker's task list. False if the worker
/// has shut down: the task has been completed as cancelled instead.
pub(crate) fn adopt_into(home: &Shared, owned: TaskRef) -> bool {
    let list = home
        .mt
        .get()
        .and_then(|link| link.owned.as_ref())
        .expect("a multi-threaded task's home is a worker");
    let mut list = list.shard_of(owned.header());
    if list.closed {
        drop(list);
        // SAFETY (of the drop of the future inside): the task never ran and
        // this thread holds its only queue and list references.
        cancel_and_complete(&owned);
        return false;
    }
    let slot = owned.header().owned_index.get();
    let index = list.tasks.insert(owned);
    // SAFETY: a multi-threaded task's `owned_index` is only touched under
    // the lock of its shard of its home's list, which we hold.
    unsafe { *slot = index };
    true
}

impl MultiThread {
    /// Starts `workers` worker threads, each with a runtime built from
    /// `config`, and links `main` (the block_on thread's shared half) to them.
    pub(crate) fn start(
        config: &Config,
        workers: usize,
        main: &Arc<Shared>,
    ) -> io::Result<MultiThread> {
        let workers = workers.max(1);
        // Every worker's half is built here, so that a failure (out of
        // descriptors) is an error from `build`, not a panic on a thread.
        let mut locals = Vec::with_capacity(workers);
        for _ in 0..workers {
            // One blocking pool for the runtime: its limits are the runtime's.
            locals.push(Local::with_blocking_pool(
                config.clone(),
                main.blocking.clone(),
            )?);
        }
        let queues: Vec<StealQueue> = (0..workers).map(|_| StealQueue::new()).collect();
        let group = Arc::new(Group {
            inject: Inject::new(),
            idle: Idle::new(workers),
            workers: locals
                .iter()
                .zip(&queues)
                .map(|(local, queue)| WorkerRemote {
                    shared: local.shared.clone(),
                    stealer: queue.stealer(),
                    metrics: WorkerMetrics::default(),
                })
                .collect(),
            shutdown: AtomicBool::new(false),
            aborted: AtomicBool::new(false),
            stopped: Countdown::new(workers),
            exited: Countdown::new(workers),
            next_home: AtomicUsize::new(0),
        });
        let group_id = Arc::as_ptr(&group) as usize;
        let link = |owned: bool| MtLink {
            group: Arc::downgrade(&group),
            group_id,
            // Four shards per worker, as tokio has (a power of two).
            owned: owned.then(|| OwnedTasks::new((workers * 4).next_power_of_two())),
        };
        for local in &locals {
            // A fresh Shared: nobody else has set it.
            let _ = local.shared.mt.set(link(true));
        }
        let _ = main.mt.set(link(false));
        let mut threads = Vec::with_capacity(workers);
        for (index, (mut local, queue)) in locals.into_iter().zip(queues).enumerate() {
            local.worker = Some(Worker::new(group.clone(), index, queue));
            let thread = config
                .threads()
                .spawn(&format!("worker-{index}"), move || local.run_worker());
            match thread {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    // Stop the ones started. This one and those after it
                    // never will arrive at the stop gate: count them now.
                    for _ in index..workers {
                        group.stopped.arrive();
                        group.exited.arrive();
                    }
                    let mut mt = MultiThread { group, threads };
                    mt.shutdown();
                    return Err(e);
                }
            }
        }
        Ok(MultiThread { group, threads })
    }

    /// Tells every worker to stop and waits until all have dropped their
    /// tasks and exited.
    pub(crate) fn shutdown(&mut self) {
        self.stop();
        self.join_all();
    }

    /// Tells every worker to stop and waits, for at most `timeout`, until
    /// all have dropped their tasks and exited; then joins them, as
    /// [`shutdown`](Self::shutdown) does. A worker still busy then (a task
    /// that has not returned from its poll) is left running: it stops at
    /// its next look at its queues, drops its tasks and exits on its own,
    /// with nobody joining it. True if every worker had exited.
    pub(crate) fn shutdown_timeout(&mut self, timeout: std::time::Duration) -> bool {
        self.stop();
        if self.group.exited.wait_timeout(timeout) {
            self.join_all();
            return true;
        }
        // Detached: the threads end by themselves. The injection queue
        // stays open for the late worker's drain; whatever is left in it
        // goes with the group.
        self.threads.clear();
        false
    }

    /// Joins every worker (stopped by [`stop`](Self::stop)), closes the
    /// injection queue and lets go of the references it still held, then
    /// reports the first worker's panic, if any.
    fn join_all(&mut self) {
        // Join every worker before reporting a panic: the others are
        // still dropping their tasks and closing their descriptors.
        let mut first_panic = None;
        let mut dead = Vec::new();
        for (index, thread) in self.threads.drain(..).enumerate() {
            if let Err(panic) = thread.join() {
                first_panic.get_or_insert(panic);
                dead.push(index);
            }
        }
        // Only now: until every worker is joined, another may still run
        // (drop) one of the dead worker's tasks.
        for index in dead {
            abort::release_dead_worker(&self.group.workers[index]);
        }
        // Every task still queued there is in its home's list, which held
        // a reference of its own until the home cancelled it.
        drop(self.group.inject.close());
        // A worker's panic is a bug in spindle, or a waker of the user's
        // that panicked when the reactor or a timer woke it (tasks' own
        // panics are caught); report it rather than hide it.
        if let Some(panic) = first_panic {
            if !std::thread::panicking() {
                std::panic::resume_unwind(panic);
            }
        }
    }

    /// Sets the shutdown flag and wakes every worker. The injection queue
    /// stays open until the workers are joined: the workers' drains take
    /// the tasks in it (and those woken into it meanwhile) and drop them
    /// (`drain_queued` in `abort.rs`); a task spawned from outside now
    /// is adopted by a home still open, or cancelled at its spawn.
    fn stop(&self) {
        self.group.shutdown.store(true, SeqCst);
        // The runtime's one blocking pool (every worker holds it): queued
        // jobs are cancelled now, not after the gate, so that one holding
        // what a `block_in_place` closure waits for is dropped too.
        if let Some(worker) = self.group.workers.first() {
            worker.shared.blocking.shutdown();
        }
        for worker in self.group.workers.iter() {
            worker.shared.wake_main();
        }
    }
}
