//! [`Shared`]: the thread-safe half of a runtime, and [`schedule`], which
//! routes a task's wake-up to the right queue.
//!
//! Every task header, every IO registration and every [`Handle`](crate::Handle)
//! holds an `Arc<Shared>`, so anything here may be called from any thread:
//! the injection queue, the park flags and the eventfd write that wakes a
//! sleeping loop, the IO driver and the blocking pool, and the queues of
//! timer changes made on threads that do not run the loop (the wheel itself
//! is owner-thread only, in `Local`; the loop applies these queues at its
//! next turn, see `turn.rs`).

use std::future::Future;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};

use crate::blocking::BlockingPool;
use crate::driver::IoShared;
use crate::task::raw::{self, TaskRef, NOT_OWNED};
use crate::task::JoinHandle;
use crate::time::remote::RemoteTimer;
use crate::time::Clock;

use super::context;
use super::inject::Inject;
use super::local::cancel_and_complete;
use super::multi_thread::MtLink;
use super::park::Parker;

/// The thread-safe half of a runtime.
pub(crate) struct Shared {
    /// Tasks woken or spawned from other threads.
    pub(super) inject: Inject,
    /// The future passed to `block_on` was woken.
    pub(super) main_woken: AtomicBool,
    /// Whether the loop is (about to be) blocked in `epoll_wait`, and
    /// whether someone already wrote the eventfd for this sleep.
    pub(super) parker: Parker,
    pub(crate) io: IoShared,
    pub(crate) blocking: BlockingPool,
    /// Timer entries to remove, from `Sleep`s dropped on other threads.
    pub(super) timer_cancels: Mutex<Vec<usize>>,
    pub(super) has_timer_cancels: AtomicBool,
    /// Timers to insert, from `Sleep`s polled on threads that only entered
    /// the runtime; `None` once the runtime has shut down.
    pub(super) timer_inserts: Mutex<Option<Vec<Arc<RemoteTimer>>>>,
    pub(super) has_timer_inserts: AtomicBool,
    /// The runtime's clock, which the test clock can pause (`time/clock.rs`).
    pub(crate) clock: Clock,
    /// Set when this is a worker (or the block_on thread) of a
    /// multi-threaded runtime; empty on a current-thread runtime.
    pub(crate) mt: OnceLock<MtLink>,
    /// The completion ring of `spindle::uring`, made on first use.
    pub(crate) uring: OnceLock<Arc<crate::uring::Driver>>,
}

impl Shared {
    /// The shared half of a new runtime, over an opened IO driver.
    pub(super) fn new(io: IoShared, blocking: BlockingPool) -> Shared {
        Shared {
            inject: Inject::new(),
            main_woken: AtomicBool::new(false),
            parker: Parker::new(),
            io,
            blocking,
            timer_cancels: Mutex::new(Vec::new()),
            has_timer_cancels: AtomicBool::new(false),
            timer_inserts: Mutex::new(Some(Vec::new())),
            has_timer_inserts: AtomicBool::new(false),
            clock: Clock::new(std::time::Instant::now()),
            mt: OnceLock::new(),
            uring: OnceLock::new(),
        }
    }

    /// Wakes the loop if it is asleep in `epoll_wait`.
    pub(crate) fn unpark(&self) {
        if self.parker.unpark() {
            // Failure to write an eventfd means the process is out of order
            // already; the loop will still wake at its next timer.
            let _ = self.io.poller.notify();
        }
    }

    /// True for the `block_on` thread's half of a multi-threaded runtime:
    /// the thread that is no worker (it holds no task list, its tasks are
    /// all pinned to it) and turns its reactor only while a `block_on`
    /// runs there.
    pub(crate) fn is_mt_block_on_thread(&self) -> bool {
        self.mt.get().is_some_and(|link| link.owned.is_none())
    }

    /// Queues a task from another thread. On a runtime that has shut down
    /// the task is already complete, so the reference is simply dropped.
    ///
    /// On a multi-threaded runtime a task that may run anywhere goes to the
    /// workers' shared injection queue instead, and one idle worker is woken
    /// for it; a pinned one goes home, to its own thread's queue.
    pub(crate) fn schedule_remote(&self, task: TaskRef) {
        if !task.header().vtable.pinned {
            if let Some(link) = self.mt.get() {
                if link.owned.is_some() {
                    match link.group() {
                        Some(group) => group.schedule(task),
                        None => drop(task), // the runtime is gone
                    }
                    return;
                }
            }
        }
        if self.inject.push(task).is_ok() {
            self.unpark();
        }
    }

    /// Spawns a `Send` future from any thread.
    pub(crate) fn spawn_remote<F>(self: &Arc<Self>, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if let Some(link) = self.mt.get() {
            // A multi-threaded runtime: the workers take it.
            match link.group() {
                Some(group) => return group.spawn(future),
                None => return spawn_cancelled(self, future),
            }
        }
        let (notified, owned, join) = raw::allocate(future, self.clone(), NOT_OWNED);
        // The task-list reference travels with the task and is taken back by
        // the executor when it first sees the task (`Local::adopt`).
        let owned = owned.into_raw();
        match self.inject.push(notified) {
            Ok(()) => self.unpark(),
            Err(notified) => {
                // SAFETY: the runtime is gone; this thread holds the only
                // queue reference, so it may drop the (Send) future itself.
                let owned = unsafe { TaskRef::from_raw(owned) };
                cancel_and_complete(&owned);
                drop(notified);
            }
        }
        JoinHandle::new(join)
    }

    /// Removes a timer entry from another thread; applied at the next turn.
    pub(crate) fn cancel_timer_remote(&self, key: usize) {
        self.timer_cancels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(key);
        self.has_timer_cancels.store(true, SeqCst);
    }

    /// Queues a timer from a thread that does not run the loop, and wakes
    /// the loop so it inserts the timer before it next sleeps. False if the
    /// runtime has shut down.
    pub(crate) fn insert_timer_remote(&self, timer: Arc<RemoteTimer>) -> bool {
        match &mut *self.timer_inserts.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(list) => list.push(timer),
            None => return false,
        }
        self.has_timer_inserts.store(true, SeqCst);
        self.unpark();
        true
    }

    /// At shutdown: refuses further remote timers and tells those still
    /// queued that the runtime is gone (their `Sleep`s then panic with the
    /// reason instead of waiting for a loop that will never insert them).
    pub(crate) fn orphan_remote_timers(&self) {
        let queued = self
            .timer_inserts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        for timer in queued.into_iter().flatten() {
            timer.orphan();
        }
    }

    /// Wakes the future passed to `block_on` (on a worker, which has no
    /// such future: makes its loop look at the queues again).
    pub(crate) fn wake_main(&self) {
        self.main_woken.store(true, SeqCst);
        self.unpark();
    }
}

/// A task whose runtime has gone: it is completed as cancelled at once.
fn spawn_cancelled<F>(shared: &Arc<Shared>, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (notified, owned, join) = raw::allocate(future, shared.clone(), NOT_OWNED);
    cancel_and_complete(&owned);
    drop((notified, owned));
    JoinHandle::new(join)
}

/// Sends a wake to the runtime that owns `task`: onto the local run queue
/// if we are on that runtime's thread, else through its injection queue.
///
/// On a multi-threaded runtime, a `Send` task woken on any of its workers
/// runs on that worker (its LIFO slot): see `multi_thread`.
pub(crate) fn schedule(task: TaskRef) {
    let task = context::with_current(|local| match local {
        Some(local) if ptr::eq(Arc::as_ptr(&local.shared), &*task.header().shared) => {
            local.push_woken(task);
            None
        }
        Some(local) if local.is_worker_of(&task) => {
            local.push_woken(task);
            None
        }
        _ => Some(task),
    });
    if let Some(task) = task {
        let shared = task.header().shared.clone();
        shared.schedule_remote(task);
    }
}
