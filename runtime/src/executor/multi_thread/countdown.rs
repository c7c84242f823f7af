//! Where the workers meet at shutdown, and how the runtime knows they have
//! all exited: two countdowns of the workers.
//!
//! * `Group::stopped`: a worker drops what is left in its task list only
//!   once *every* worker has stopped polling, since until then a future of
//!   ours may be running on another worker (a task's home and the worker
//!   that polls it need not be the same). So each worker arrives when it
//!   leaves its loop, and waits until all have. (What it could drop before,
//!   through the task state word, it has dropped already: `abort.rs`.)
//! * `Group::exited`: counts down as worker threads end;
//!   `Runtime::shutdown_timeout` waits on it for a while, where dropping
//!   the runtime joins every thread.
//!
//! They are countdowns rather than a `std::sync::Barrier` because a worker
//! may never arrive in the ordinary way: its thread failed to start
//! (`MultiThread::start` counts it at once), or it unwound from a panic
//! outside any task (a bug, or a user's waker that panics when the reactor
//! wakes it: its [`Arrival`] guards count it as it unwinds). A barrier
//! would keep the others waiting for it forever, and the thread dropping
//! the runtime with them.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::Group;

/// A count of workers yet to arrive.
pub(crate) struct Countdown {
    left: Mutex<usize>,
    all_arrived: Condvar,
}

impl Countdown {
    pub(crate) fn new(workers: usize) -> Countdown {
        Countdown {
            left: Mutex::new(workers),
            all_arrived: Condvar::new(),
        }
    }

    /// Counts one worker, without waiting for the others.
    pub(crate) fn arrive(&self) {
        let mut left = self.left.lock().unwrap_or_else(|e| e.into_inner());
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.all_arrived.notify_all();
        }
    }

    /// Counts the calling worker, and waits until every worker has been
    /// counted.
    fn arrive_and_wait(&self) {
        self.arrive();
        let mut left = self.left.lock().unwrap_or_else(|e| e.into_inner());
        while *left > 0 {
            left = self
                .all_arrived
                .wait(left)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Waits until every worker has been counted, for at most `timeout`;
    /// true if they all were.
    pub(crate) fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut left = self.left.lock().unwrap_or_else(|e| e.into_inner());
        while *left > 0 {
            let now = Instant::now();
            let Some(rest) = deadline.map(|d| d.saturating_duration_since(now)) else {
                // A timeout too far away to add: wait without one.
                left = self
                    .all_arrived
                    .wait(left)
                    .unwrap_or_else(|e| e.into_inner());
                continue;
            };
            if rest.is_zero() {
                return false;
            }
            left = self
                .all_arrived
                .wait_timeout(left, rest)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

/// A worker thread's place in one of the group's countdowns, taken when
/// the thread starts: it arrives through [`Arrival::wait`] (the stop gate),
/// or, if the thread ends first (for `exited`, always; for `stopped`, by
/// unwinding), when the guard is dropped.
pub(crate) struct Arrival {
    group: Option<Arc<Group>>,
    countdown: fn(&Group) -> &Countdown,
}

impl Arrival {
    /// A place at the stop gate (`Group::stopped`).
    pub(crate) fn stopped(group: Arc<Group>) -> Arrival {
        Arrival {
            group: Some(group),
            countdown: |g| &g.stopped,
        }
    }

    /// A place in the count of worker threads still alive (`Group::exited`).
    pub(crate) fn exited(group: Arc<Group>) -> Arrival {
        Arrival {
            group: Some(group),
            countdown: |g| &g.exited,
        }
    }

    /// This worker has arrived: wait for the others.
    pub(crate) fn wait(mut self) {
        if let Some(group) = self.group.take() {
            (self.countdown)(&group).arrive_and_wait();
        }
    }
}

impl Drop for Arrival {
    fn drop(&mut self) {
        if let Some(group) = self.group.take() {
            (self.countdown)(&group).arrive();
        }
    }
}
