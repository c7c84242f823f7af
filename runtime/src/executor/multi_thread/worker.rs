//! A worker's loop: run what is local, search when out of work, park when
//! the search finds nothing; and `block_in_place`, which hands the loop to
//! a stand-in thread while the worker's own thread blocks.
//!
//! ```text
//!   loop {
//!       stop if the runtime shuts down (or, for a stand-in, when handed back)
//!       next task: every inject_interval-th from the injection queues, else
//!                  LIFO slot (at most LIFO_LIMIT in a row) -> pinned queue
//!                  and StealQueue (alternating) -> own and group injection
//!       found: (stop searching; the last searcher wakes another if some
//!              queue still holds work) run it; every event_interval polls,
//!              turn the reactor without blocking
//!       none:  search (steal half of a victim's queue, the group's injection
//!              queue); still none: park (sleepers list, then turn(block))
//!       after a turn: wake a sleeper if this worker now holds two or more
//!              runnable tasks (the turn's own wakes notify nobody)
//!   }
//! ```

use std::cell::Cell;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use crate::task::raw::TaskRef;
use crate::task::JoinHandle;

use super::super::steal::{self, StealQueue};
use super::super::{context, Local};
use super::{Arrival, Group};

/// How many tasks may run from the LIFO slot in a row before the queue gets
/// a turn: a pair of tasks that keep waking each other would otherwise
/// starve everything queued behind them.
const LIFO_LIMIT: u32 = 3;

/// A worker's own state, in its `Local`.
pub(crate) struct Worker {
    pub(crate) group: Arc<Group>,
    pub(crate) index: usize,
    /// This worker's `Send` tasks; others steal from the far end.
    pub(crate) queue: StealQueue,
    /// The task woken last on this worker: it runs next. Not stealable.
    pub(super) lifo: Cell<Option<TaskRef>>,
    lifo_streak: Cell<u32>,
    /// Counted among the group's searchers (see `idle.rs`).
    searching: Cell<bool>,
    /// Set while this worker turns its reactor: the tasks its events and
    /// timers wake are queued without waking anyone, and one notify (if
    /// any) follows the turn (see [`Worker::turned`]).
    in_turn: Cell<bool>,
    /// Which victim the next search starts at.
    next_victim: Cell<usize>,
    /// Set once this worker's own thread has aborted its pinned tasks at
    /// shutdown (`Local::abort_tasks`).
    pub(super) pinned_aborted: Cell<bool>,
}

/// The hand-over between the thread blocked in `block_in_place` (the
/// worker's own, or a stand-in whose task blocked in turn) and the stand-in
/// thread running the worker's loop meanwhile. One per `block_in_place`
/// call, so that a nested one hands back only its own stand-in.
pub(super) struct StandIn {
    /// The worker's thread wants its loop back.
    hand_back: AtomicBool,
}

impl Worker {
    pub(crate) fn new(group: Arc<Group>, index: usize, queue: StealQueue) -> Worker {
        Worker {
            group,
            index,
            queue,
            lifo: Cell::new(None),
            lifo_streak: Cell::new(0),
            searching: Cell::new(false),
            in_turn: Cell::new(false),
            next_victim: Cell::new(index + 1),
            pinned_aborted: Cell::new(false),
        }
    }

    /// Queues a `Send` task at the back of this worker's queue (overflowing
    /// to the group's), and wakes an idle worker to take it if one should be.
    pub(crate) fn push_back(&self, task: TaskRef) {
        self.queue.push_back(task, &self.group.inject);
        if !self.in_turn.get() && self.group.idle.should_notify() {
            self.group.notify_parked();
        }
    }

    /// A turn of the reactor is over: wake an idle worker if this one now
    /// holds more tasks than the one it will run next, and nobody is
    /// searching already.
    ///
    /// Events come in batches: one notify per turn, after it, rather than
    /// one on the first of the batch's pushes, which would also come while
    /// a parked worker still counts itself asleep, and could pick itself
    /// as the sleeper to wake (an eventfd write to its own reactor). A
    /// single task woken needs nobody else: this worker, awake, runs it.
    fn turned(&self) {
        self.in_turn.set(false);
        if self.searching.get() {
            return; // a searcher that finds work hands on (`found_work`)
        }
        let lifo = self.lifo.take();
        let runnable = usize::from(lifo.is_some()) + self.queue.len();
        self.lifo.set(lifo);
        if runnable > 1 {
            self.group.notify_parked();
        }
    }

    /// A `Send` task woken on this worker: into the LIFO slot; the task that
    /// was there moves to the queue (where others may steal it).
    pub(crate) fn push_woken(&self, task: TaskRef) {
        if let Some(prev) = self.lifo.replace(Some(task)) {
            self.push_back(prev);
        }
    }

    fn metrics(&self) -> &super::WorkerMetrics {
        &self.group.workers[self.index].metrics
    }

    /// Leaves the searching state after finding work; the last searcher to
    /// do so wakes another worker if more work waits in some queue.
    ///
    /// Only then: with nothing left to take, the sleeper would wake, search,
    /// find nothing and sleep again (with two workers, it is often the very
    /// worker the task was just stolen from). Work pushed while we were
    /// searching is not missed by the look: its pusher saw a searcher and
    /// woke nobody, having published the task before its read-modify-write
    /// of the idle word, which our `transition_from_searching` (another
    /// RMW of that word) comes after; a push after ours sees no searcher
    /// and notifies by itself.
    fn found_work(&self) {
        if self.searching.replace(false)
            && self.group.idle.transition_from_searching()
            && self.group.has_stealable_work()
        {
            self.group.notify_parked();
        }
    }
}

/// Which thread runs the loop.
#[derive(Clone, Copy)]
pub(super) enum Role<'a> {
    /// The worker's own thread: runs everything, shuts the worker down.
    Owner,
    /// A stand-in while the owner blocks: never touches pinned tasks (they
    /// may not be `Send`), stops when handed back (its `StandIn`) or at
    /// shutdown.
    StandIn(&'a StandIn),
}

impl Role<'_> {
    /// A stand-in whose blocked thread wants the loop back.
    fn handed_back(self) -> bool {
        match self {
            Role::Owner => false,
            Role::StandIn(stand_in) => stand_in.hand_back.load(SeqCst),
        }
    }
}

impl Local {
    pub(super) fn worker(&self) -> &Worker {
        self.worker.as_ref().expect("a worker's Local")
    }

    /// The worker thread's body: the loop, then the worker's share of the
    /// runtime's shutdown.
    pub(crate) fn run_worker(self) {
        // Taken first: if this thread unwinds, the guards still count it at
        // the stop gate (the other workers do not wait for it forever) and
        // among the threads that ended.
        let _exit = Arrival::exited(self.worker().group.clone());
        let arrival = Arrival::stopped(self.worker().group.clone());
        {
            let _enter = context::enter(&self);
            self.worker_loop(Role::Owner);
        }
        // Nobody polls any task from here on, anywhere, before anyone drops
        // a future (a future of ours may be running elsewhere).
        arrival.wait();
        self.shutdown();
        // Its reactor and eventfd close here, before the thread counts as
        // ended.
        drop(self);
    }

    fn worker_loop(&self, role: Role) {
        let worker = self.worker();
        let group = &*worker.group;
        let shared = &*self.shared;
        let event_interval = self.config.event_interval;
        let mut since_turn = 0;
        let mut tick: u32 = 0;
        loop {
            let shutdown = group.shutdown.load(SeqCst);
            if shutdown {
                // Drop what can be dropped before the stop gate (abort.rs).
                self.abort_tasks(role);
                self.drain_queued(role);
            }
            if shutdown || role.handed_back() {
                if let Role::StandIn(_) = role {
                    // Hand the worker back as the owner left it: awake and
                    // not searching (the owner was running a task).
                    worker.found_work();
                }
                return;
            }
            tick = tick.wrapping_add(1);
            let task = self
                .next_worker_task(tick, role)
                .or_else(|| self.search(role));
            match task {
                Some(task) => {
                    worker.found_work();
                    worker.metrics().polled();
                    self.run(task);
                    since_turn += 1;
                    if since_turn >= event_interval {
                        worker.in_turn.set(true);
                        self.turn(false);
                        worker.turned();
                        since_turn = 0;
                    }
                }
                None => {
                    self.park(role);
                    since_turn = 0;
                }
            }
            // A notify (or the stand-in hand-back) sets main_woken; it has
            // done its job once we are awake.
            shared.main_woken.store(false, SeqCst);
        }
    }

    /// The next task this worker has of its own.
    fn next_worker_task(&self, tick: u32, role: Role) -> Option<TaskRef> {
        let worker = self.worker();
        let group = &*worker.group;
        let own_inject = || match role {
            Role::Owner => self.shared.inject.pop(),
            Role::StandIn(_) => None,
        };
        if tick.is_multiple_of(self.config.inject_interval) {
            if let Some(task) = own_inject().or_else(|| group.inject.pop()) {
                return Some(task);
            }
        }
        if worker.lifo_streak.get() < LIFO_LIMIT {
            if let Some(task) = worker.lifo.take() {
                worker.lifo_streak.set(worker.lifo_streak.get() + 1);
                return Some(task);
            }
        } else if let Some(task) = worker.lifo.take() {
            // The slot had its turns: its task waits in line like the rest.
            worker.push_back(task);
        }
        worker.lifo_streak.set(0);
        let pinned = || match role {
            Role::Owner => self.run_queue.borrow_mut().pop_front(),
            Role::StandIn(_) => None,
        };
        // Pinned and stealable tasks take turns, so neither kind starves.
        let local = if tick.is_multiple_of(2) {
            pinned().or_else(|| worker.queue.pop())
        } else {
            worker.queue.pop().or_else(pinned)
        };
        local
            .or_else(own_inject)
            .or_else(|| self.take_from_group_inject())
    }

    /// Takes a task from the group's injection queue, and this worker's
    /// share of the ones behind it (as tokio does: the queue's length over
    /// the number of workers, at most half a run queue) into its own run
    /// queue, under one hold of the lock. The queue fills when a worker's
    /// run queue overflows (a reactor turn that woke hundreds of tasks);
    /// taking its tasks one lock at a time cost more than running them.
    fn take_from_group_inject(&self) -> Option<TaskRef> {
        let worker = self.worker();
        let group = &*worker.group;
        if group.inject.is_empty() {
            return None;
        }
        let share = group.inject.len() / group.workers.len();
        let more = share.min(steal::CAPACITY / 2);
        group
            .inject
            .pop_batch(more, |task| worker.queue.push_if_room(task))
    }

    /// Looks for work elsewhere: steals half of another worker's queue, or
    /// takes from the group's injection queue.
    fn search(&self, _role: Role) -> Option<TaskRef> {
        let worker = self.worker();
        let group = &*worker.group;
        if !worker.searching.get() {
            if !group.idle.transition_to_searching() {
                return None;
            }
            worker.searching.set(true);
        }
        let n = group.workers.len();
        let start = worker.next_victim.get();
        worker.next_victim.set(start.wrapping_add(1));
        for k in 0..n {
            let victim = (start + k) % n;
            if victim == worker.index {
                continue;
            }
            if let Some(task) = group.workers[victim].stealer.steal_into(&worker.queue) {
                worker.metrics().stole();
                return Some(task);
            }
        }
        self.take_from_group_inject()
    }

    /// Sleeps in this worker's reactor until IO, a timer or a notify.
    fn park(&self, role: Role) {
        let worker = self.worker();
        let group = &*worker.group;
        let last_searcher = group
            .idle
            .transition_to_parked(worker.index, worker.searching.replace(false));
        if last_searcher && group.has_stealable_work() {
            // Work published before we counted ourselves asleep: make sure
            // somebody (perhaps us) gets it (see idle.rs).
            group.notify_parked();
        }
        worker.metrics().parked();
        let stopping = group.shutdown.load(SeqCst) || role.handed_back();
        let may_block = !stopping;
        worker.in_turn.set(true);
        self.turn(may_block);
        if group.idle.unpark_worker(worker.index) {
            // A notifier woke us, and counted us searching.
            worker.searching.set(true);
        }
        worker.turned();
    }

    /// Called by `Local::shutdown`: the worker's queues, emptied (their
    /// tasks were cancelled through their homes' task lists).
    pub(crate) fn drain_worker_queues(&self) {
        if let Some(worker) = &self.worker {
            drop(worker.lifo.take());
            while worker.queue.pop().is_some() {}
        }
    }
}

/// Runs `f`, which blocks, on this worker's thread, while a stand-in
/// thread runs the worker's loop: its queue, reactor and timers keep going.
pub(crate) fn block_in_place<F: FnOnce() -> R, R>(f: F) -> R {
    enum Hand {
        /// A worker: a stand-in runs its loop meanwhile.
        StandIn(StandInGuard),
        /// The block_on thread of a multi-threaded runtime: not a worker,
        /// so blocking it holds up only its own future and pinned tasks,
        /// as blocking inside `block_on` does anywhere.
        Main,
    }
    let handed = context::with_current(|local| {
        if local.is_some_and(|l| l.shared.is_mt_block_on_thread()) {
            return Ok(Hand::Main);
        }
        let local = local.filter(|l| l.worker.is_some());
        let Some(local) = local else {
            return Err(if context::is_inside() {
                "block_in_place called on a current-thread runtime: its only thread \
                 would block, and every task with it; use spawn_blocking, or a \
                 multi-threaded runtime (Runtime::builder().multi_thread())"
            } else {
                "block_in_place called outside a multi-threaded spindle runtime's worker"
            });
        };
        let worker = local.worker();
        let io_uring = local.shared.io.poller.backend() == spindle_reactor::Backend::IoUring;
        if worker.group.workers.len() == 1 && io_uring {
            // The stand-in may not wait on the worker's ring, and there is
            // no other worker's reactor for IO made meanwhile: a socket
            // made in `f`, or by a task on the stand-in, would wait for
            // `f`, and `f` waiting on it would never return.
            return Err(
                "block_in_place called on a one-worker runtime whose poller is io_uring: only \
                 this thread may wait on the worker's ring, so IO made while f runs would wait \
                 for f; use spawn_blocking, two workers or more, or another poller",
            );
        }
        Ok(Hand::StandIn(StandInGuard::start(local)))
    });
    match handed {
        Ok(Hand::Main) => {
            let _out_of_worker = context::suspend_current();
            f()
        }
        Ok(Hand::StandIn(guard)) => {
            let out = {
                // While `f` runs this thread is not the worker: spindle calls
                // in `f` go through the thread-safe paths of the runtime it
                // entered, and never touch the `Local` the stand-in drives.
                let _out_of_worker = context::suspend_current_into(guard.enter_instead.clone());
                f()
            };
            drop(guard);
            out
        }
        Err(message) => panic!("{message}"),
    }
}

/// Runs the stand-in while it lives; dropping it takes the loop back.
struct StandInGuard {
    stand_in: Arc<StandIn>,
    thread: Option<std::thread::JoinHandle<()>>,
    shared: Arc<crate::executor::Shared>,
    /// The worker `f` enters instead of its own: timers, sockets, spawns
    /// and io_uring operations made in `f` go to one that runs. Its own
    /// ring is turned by nobody until `f` returns (a stand-in never enters
    /// it), nor, on the io_uring poller, its reactor (the stand-in sleeps
    /// on the poller's notify: `Local::wait_on_poller`). `None` with one
    /// worker.
    enter_instead: Option<Arc<crate::executor::Shared>>,
}

/// The `Local` pointer, sent to the stand-in thread.
struct LocalPtr(*const Local);

// SAFETY: the stand-in thread uses the `Local` only while the thread that
// called `block_in_place` (the worker's own, or a stand-in whose task called
// it in turn) is inside it, where that thread does not touch the `Local` (its
// thread-local pointer to it is suspended), and that thread waits for the
// stand-in thread to exit (join) before it touches the `Local` again. So the
// `Local` is used by one thread at a time, with the thread spawn and join
// ordering each hand-over. Pinned tasks, which may hold values that must not
// change threads, are never polled by a stand-in (`Role::StandIn`), and none
// is spawned on one (`spawn_local` refuses).
unsafe impl Send for LocalPtr {}

impl StandInGuard {
    fn start(local: &Local) -> StandInGuard {
        let worker = local.worker();
        let stand_in = Arc::new(StandIn {
            hand_back: AtomicBool::new(false),
        });
        let shared = local.shared.clone();
        let ptr = LocalPtr(local);
        let its_stand_in = stand_in.clone();
        let role = format!("worker-{}-stand-in", worker.index);
        let thread = local
            .config
            .threads()
            .spawn(&role, move || {
                let ptr = ptr;
                // SAFETY: see `LocalPtr`: the worker's thread does not use
                // the `Local` until this thread has exited.
                let local = unsafe { &*ptr.0 };
                let _enter = context::enter(local);
                context::set_stand_in();
                local.worker_loop(Role::StandIn(&its_stand_in));
            })
            .expect("spindle: could not start a thread for block_in_place");
        StandInGuard {
            stand_in,
            thread: Some(thread),
            shared,
            enter_instead: worker.group.worker_after(&local.shared).cloned(),
        }
    }
}

impl Drop for StandInGuard {
    fn drop(&mut self) {
        self.stand_in.hand_back.store(true, SeqCst);
        if let Some(thread) = self.thread.take() {
            // Wake the stand-in if it sleeps in the reactor, and wait until
            // it has let go of the loop.
            self.shared.wake_main();
            let _ = thread.join();
        }
    }
}

/// Spawns a `Send` future from a worker: its home is this worker.
pub(crate) fn spawn_on_worker<F>(local: &Local, future: F) -> JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let worker = local.worker();
    let (notified, owned, join) = crate::task::raw::allocate(future, local.shared.clone(), 0);
    if super::adopt_into(&local.shared, owned) {
        worker.push_back(notified);
    }
    JoinHandle::new(join)
}
