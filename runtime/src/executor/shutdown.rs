//! Tearing a runtime down ([`Local::shutdown`], run when the `Runtime`
//! drops): every future it still holds is dropped, on its own thread.
//!
//! The order matters:
//!
//! 1. Close the injection queue, so no task can reach the runtime any more
//!    (a late `Handle::spawn` cancels its task itself), and stop the
//!    blocking pool.
//! 2. Cancel the tasks that were in the injection queue but never ran, then
//!    every task in the task list. Dropping a future may spawn or wake other
//!    tasks, so the task list is drained until it stays empty.
//! 3. Tell the timers queued by other threads, and those in the wheel, that
//!    the runtime is gone (their `Sleep`s then fail instead of hanging).
//! 4. Shut the IO driver down: every registration still alive fails its
//!    operations from now on (see "When the runtime shuts down first" in
//!    the module docs of `driver`).
//! 5. Empty the run queues, last: steps 3 and 4 wake the tasks still
//!    waiting on timers and drivers, and on a multi-threaded runtime those
//!    may be tasks whose home is another worker (a socket registered here
//!    and polled from a task that lives there), which were not in this
//!    worker's task list.
//!
//! The runtime is entered on this thread meanwhile, so the `Drop` impls of
//! futures see it as the current runtime.

use std::time::Instant;

use crate::task::raw::{TaskRef, NOT_OWNED};
use crate::time::wheel::TimerWheel;

use super::{cancel_and_complete, context, Local, RELEASED};

impl Local {
    /// A worker's task list (multi-threaded runtime), if this is a worker.
    fn mt_owned(&self) -> Option<&super::multi_thread::OwnedTasks> {
        self.worker.as_ref()?;
        self.shared.mt.get()?.owned.as_ref()
    }

    /// Drops every task's future, and everything the runtime still holds.
    pub(crate) fn shutdown(&self) {
        let _enter = context::enter(self);
        let orphans = self.shared.inject.close();
        self.shared.blocking.shutdown();
        // Tasks that reached the injection queue but never ran. Their
        // futures' Drop impls may spawn more tasks: those land on the task
        // list, which the loop below empties.
        for task in orphans {
            // SAFETY: owner thread; tasks still in the injection queue were never adopted.
            if unsafe { *task.header().owned_index.get() } == NOT_OWNED {
                // SAFETY: `spawn_remote` reserved this reference.
                let owned = unsafe { TaskRef::from_raw(task.as_ptr()) };
                cancel_and_complete(&owned);
            }
        }
        // Dropping a future can spawn or wake other tasks; repeat until quiet.
        loop {
            let owned: Vec<TaskRef> = match self.mt_owned() {
                // A worker: its list, closed at once so that a task spawned
                // onto it from here on is cancelled at its spawn.
                Some(list) => list.close_and_drain(),
                None => self.owned.borrow_mut().drain().collect(),
            };
            if owned.is_empty() {
                break;
            }
            for task in owned {
                // SAFETY: owner thread (a worker's tasks are off its list
                // already, so no other thread reads this index any more).
                unsafe { *task.header().owned_index.get() = RELEASED };
                cancel_and_complete(&task);
            }
        }
        // Remote timers still queued, and those in the wheel (dropping the
        // wheel drops their wakers), learn that the runtime is gone.
        self.shared.orphan_remote_timers();
        let timers = std::mem::replace(
            &mut *self.timers.borrow_mut(),
            TimerWheel::new(Instant::now()),
        );
        drop(timers);
        // spindle::uring: cancel what is in flight and wait until the
        // kernel let go of its buffers (uring/driver.rs).
        if let Some(ring) = self.shared.uring.get() {
            ring.shutdown();
        }
        // IO objects that outlive the runtime fail from now on instead of
        // waiting for events that will never come.
        self.shared.io.shutdown();
        // Last, the run queues: the steps above wake the tasks still
        // waiting on timers and drivers, onto this thread's queues. Every
        // task's future is dropped by now, or (on a multi-threaded runtime,
        // a task whose home is another worker) by its home: what is left
        // here is the queue's reference, given back now.
        loop {
            let task = self.run_queue.borrow_mut().pop_front();
            if task.is_none() {
                break;
            }
        }
        self.drain_worker_queues();
    }
}
