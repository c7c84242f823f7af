//! [`Local`]: the runtime's own-thread half. It owns the run queue, the list
//! of tasks not yet finished, the timer wheel and the event buffer, and
//! runs one task at a time ([`Local::run`]).
//!
//! Only the thread that runs the loop touches these, so they sit in
//! `RefCell`s with no locking. The loop itself is in `block_on.rs`, a turn
//! of the reactor in `turn.rs`, and the teardown in `shutdown.rs`; they are
//! all `impl Local` blocks over the fields defined here.
//!
//! # The task list
//!
//! Every task not yet finished has an entry in `owned` (a `TaskList`, a
//! slab of one word per task, see `task/list.rs`), holding
//! one of its references, so shutdown can find and drop every future. The
//! entry's index lives in the task header (`owned_index`). A task spawned
//! on another thread starts as `NOT_OWNED` and is adopted the first time
//! the loop pops it; a finished task's index becomes [`RELEASED`].

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Waker};

use spindle_reactor::Events;

use crate::blocking::BlockingPool;
use crate::coop;
use crate::driver::{self, BackendFallback, IoShared};
use crate::task::list::TaskList;
use crate::task::raw::{self, TaskRef, NOT_OWNED};
use crate::task::{borrowed_waker, JoinHandle, ToComplete, ToCompleteReleasing, ToIdle, ToRunning};
use crate::time::wheel::TimerWheel;

use super::multi_thread::{self, Worker};
use super::reply_spin::ReplySpin;
use super::{Config, Shared};

/// `owned_index` of a task that has left its owner's task list.
pub(crate) const RELEASED: u32 = u32::MAX - 1;

/// The runtime's own-thread half.
pub(crate) struct Local {
    pub(crate) shared: Arc<Shared>,
    pub(crate) run_queue: RefCell<VecDeque<TaskRef>>,
    /// Every task not yet finished, so shutdown can drop their futures.
    pub(super) owned: RefCell<TaskList>,
    pub(crate) timers: RefCell<TimerWheel>,
    /// Filled by each wait on the poller.
    pub(super) events: RefCell<Events>,
    /// Wakers of due timers, reused between turns.
    pub(super) fired: RefCell<Vec<Waker>>,
    pub(super) config: Config,
    /// The backend asked for and refused, if the poller had to fall back.
    pub(crate) fallback: Option<BackendFallback>,
    /// Set on the workers of a multi-threaded runtime: their stealable
    /// queue and LIFO slot (`run_queue` then holds only pinned tasks).
    pub(crate) worker: Option<Worker>,
    /// Whether the next sleep first looks again for a while (a task
    /// expects another process's answer; see `reply_spin.rs`).
    pub(crate) reply_spin: ReplySpin,
}

impl Local {
    /// A new runtime: opens the poller (see `driver::open_poller`) and
    /// builds both halves around it.
    pub(crate) fn new(config: Config) -> std::io::Result<Local> {
        let blocking = BlockingPool::new(config.blocking.clone());
        Local::with_blocking_pool(config, blocking)
    }

    /// A new runtime thread's halves, whose `spawn_blocking` jobs go to
    /// `blocking` (a multi-threaded runtime's workers share the `block_on`
    /// thread's pool).
    pub(crate) fn with_blocking_pool(
        config: Config,
        blocking: BlockingPool,
    ) -> std::io::Result<Local> {
        let (poller, fallback) = driver::open_poller(config.poller)?;
        let shared = Arc::new(Shared::new(IoShared::new(poller), blocking));
        if config.start_paused {
            shared.clock.pause().expect("a new clock runs");
        }
        let wheel_start = shared.clock.start();
        Ok(Local {
            shared,
            run_queue: RefCell::new(VecDeque::with_capacity(256)),
            owned: RefCell::new(TaskList::new()),
            timers: RefCell::new(TimerWheel::new(wheel_start)),
            events: RefCell::new(Events::with_capacity(config.events_capacity)),
            fired: RefCell::new(Vec::new()),
            config,
            fallback,
            worker: None,
            reply_spin: ReplySpin::default(),
        })
    }

    /// Spawns a task that stays on this thread (`spawn_local`): its future
    /// need not be `Send`.
    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (notified, owned, join) = raw::allocate_pinned(future, self.shared.clone(), NOT_OWNED);
        if self.worker.is_some() {
            if multi_thread::adopt_into(&self.shared, owned) {
                self.run_queue.borrow_mut().push_back(notified);
            }
        } else {
            self.adopt(owned);
            self.run_queue.borrow_mut().push_back(notified);
        }
        JoinHandle::new(join)
    }

    /// Spawns a `Send` task from this runtime's thread (`spawn`). On a
    /// current-thread runtime it runs here; on a multi-threaded one it goes
    /// to this worker's stealable queue, or from the block_on thread, to
    /// the workers.
    pub(crate) fn spawn_send<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if self.worker.is_some() {
            return multi_thread::spawn_on_worker(self, future);
        }
        if self.shared.mt.get().is_some() {
            return self.shared.spawn_remote(future);
        }
        let (notified, owned, join) = raw::allocate(future, self.shared.clone(), NOT_OWNED);
        self.adopt(owned);
        self.run_queue.borrow_mut().push_back(notified);
        JoinHandle::new(join)
    }

    /// Queues a task woken on this thread: the run queue, or on a worker, the
    /// LIFO slot for a `Send` task.
    pub(crate) fn push_woken(&self, task: TaskRef) {
        match &self.worker {
            Some(worker) if !task.header().vtable.pinned => worker.push_woken(task),
            _ => self.run_queue.borrow_mut().push_back(task),
        }
    }

    /// Queues a task that was woken while it ran (it yielded): at the back.
    fn requeue(&self, task: TaskRef) {
        match &self.worker {
            Some(worker) if !task.header().vtable.pinned => worker.push_back(task),
            _ => self.run_queue.borrow_mut().push_back(task),
        }
    }

    /// True if this thread is a worker of the multi-threaded runtime `task`
    /// belongs to, and `task` may move here (it is not pinned).
    pub(crate) fn is_worker_of(&self, task: &TaskRef) -> bool {
        if self.worker.is_none() || task.header().vtable.pinned {
            return false;
        }
        match (self.shared.mt.get(), task.header().shared.mt.get()) {
            (Some(mine), Some(theirs)) => mine.group_id == theirs.group_id,
            _ => false,
        }
    }

    /// Puts a task into the task list, under the reference reserved for it.
    #[inline]
    fn adopt(&self, owned: TaskRef) {
        let slot = owned.header().owned_index.get();
        let index = self.owned.borrow_mut().insert(owned);
        // SAFETY: `owned_index` is only touched on the owner's thread.
        unsafe { *slot = index };
    }

    /// The next task to run: every `inject_interval` polls the injection
    /// queue goes first, otherwise the local queue does.
    #[inline]
    pub(super) fn next_task(&self, tick: u32) -> Option<TaskRef> {
        if tick.is_multiple_of(self.config.inject_interval) {
            if let Some(task) = self.shared.inject.pop() {
                return Some(task);
            }
        }
        let local = self.run_queue.borrow_mut().pop_front();
        local.or_else(|| self.shared.inject.pop())
    }

    /// Polls one task that was popped from a queue.
    pub(super) fn run(&self, task: TaskRef) {
        let header = task.header();
        let ptr = task.as_ptr();
        let action = header.state.transition_to_running();
        if action == ToRunning::Done {
            return;
        }
        // SAFETY: `owned_index` is only touched on the owner's thread.
        if unsafe { *header.owned_index.get() } == NOT_OWNED {
            // Spawned from another thread: take the reserved list reference.
            // SAFETY: `spawn_remote` forgot exactly this reference for us.
            self.adopt(unsafe { TaskRef::from_raw(ptr) });
        }
        if action == ToRunning::Cancel {
            // SAFETY: we are the owner thread and the task is RUNNING.
            unsafe { (header.vtable.cancel)(ptr) };
            return self.complete(task);
        }
        coop::reset();
        // SAFETY: `task` keeps a reference alive for the duration of the poll.
        let waker = unsafe { borrowed_waker(ptr) };
        let mut cx = Context::from_waker(&waker);
        // SAFETY: we are the owner thread and the task is RUNNING.
        if unsafe { (header.vtable.poll)(ptr, &mut cx) } {
            return self.complete(task);
        }
        match header.state.transition_to_idle() {
            ToIdle::Idle => drop(task),
            ToIdle::Requeue => self.requeue(task),
            ToIdle::Cancel => {
                // SAFETY: as above; the future is dropped instead of polled.
                unsafe { (header.vtable.cancel)(ptr) };
                self.complete(task)
            }
        }
    }

    /// Publishes a finished task's output and takes it off the task list.
    fn complete(&self, task: TaskRef) {
        if let Some(list) = task.header().shared.mt.get().and_then(|l| l.owned.as_ref()) {
            // A multi-threaded runtime's task: its home worker's list, which
            // any worker may change under the lock of the task's shard.
            let mut list = list.shard_of(task.header());
            let slot = task.header().owned_index.get();
            // SAFETY: under the lock of the task's shard of its home's list,
            // which guards `owned_index`.
            let index = unsafe { std::mem::replace(&mut *slot, RELEASED) };
            let owned = list.tasks.try_remove(index);
            drop(list);
            return match owned {
                Some(owned) => complete_releasing(owned, task),
                None => {
                    publish_completion(&task);
                    drop(task)
                }
            };
        }
        let slot = task.header().owned_index.get();
        // SAFETY: `owned_index` is only touched on the owner's thread.
        let index = unsafe { std::mem::replace(&mut *slot, RELEASED) };
        let owned = self.owned.borrow_mut().try_remove(index);
        match owned {
            // Usually one atomic: COMPLETE, and both our references back.
            Some(owned) => complete_releasing(owned, task),
            None => {
                publish_completion(&task);
                drop(task)
            }
        }
    }
}

/// Drops a task's future (if it has not finished) and completes it as cancelled.
pub(crate) fn cancel_and_complete(task: &TaskRef) {
    let header = task.header();
    if header.state.is_complete() {
        return;
    }
    // SAFETY: called on the owner thread while the task is not being polled
    // (or, for a task that never reached its runtime, by the only holder).
    unsafe { (header.vtable.cancel)(task.as_ptr()) };
    publish_completion(task);
}

/// [`publish_completion`] for the executor holding a task's run-queue and
/// task-list references (`queued`, `owned`): when the handle is not yet
/// waiting, marking COMPLETE gives both back in the same atomic step.
fn complete_releasing(owned: TaskRef, queued: TaskRef) {
    let header = queued.header();
    match header.state.transition_to_complete_releasing(2) {
        ToCompleteReleasing::Released => {
            // The transition took both references: forget them untouched.
            let _ = owned.into_raw();
            let _ = queued.into_raw();
        }
        ToCompleteReleasing::NotifyJoinHandle => {
            // SAFETY: our transition to COMPLETE reported the handle's waker.
            unsafe { header.wake_join_handle() };
            raw::drop_two(owned, queued);
        }
        ToCompleteReleasing::DropOutput => {
            // SAFETY: the JoinHandle is gone, so the output is ours to drop.
            unsafe { (header.vtable.drop_output)(queued.as_ptr()) };
            raw::drop_two(owned, queued);
        }
    }
}

/// Marks the task COMPLETE and hands the output to its `JoinHandle`, or
/// drops it if no one is waiting for it.
pub(crate) fn publish_completion(task: &TaskRef) {
    let header = task.header();
    match header.state.transition_to_complete() {
        // SAFETY: our transition to COMPLETE reported the handle's waker.
        ToComplete::NotifyJoinHandle => unsafe { header.wake_join_handle() },
        ToComplete::KeepOutput => {}
        // SAFETY: the JoinHandle is gone, so the output is ours to drop.
        ToComplete::DropOutput => unsafe { (header.vtable.drop_output)(task.as_ptr()) },
    }
}
