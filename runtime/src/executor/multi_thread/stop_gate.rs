//! Where the workers meet at shutdown.
//!
//! A worker drops its tasks' futures only once *every* worker has stopped
//! polling: a future of ours may be running on another worker until then
//! (a task's home and the worker that polls it need not be the same). So
//! each worker arrives at the gate when it leaves its loop, and waits
//! until all have.
//!
//! It is a countdown rather than a `std::sync::Barrier` because a worker
//! may never arrive in the ordinary way: its thread failed to start
//! (`MultiThread::start` counts it at once), or it unwound from a panic
//! outside any task (a bug, or a user's waker that panics when the
//! reactor wakes it: its [`Arrival`] guard counts it as it unwinds). A
//! barrier would keep the others waiting for it forever, and the thread
//! dropping the runtime with them.

use std::sync::{Arc, Condvar, Mutex};

use super::Group;

/// A countdown of the workers that have not yet stopped polling.
pub(crate) struct StopGate {
    left: Mutex<usize>,
    all_stopped: Condvar,
}

impl StopGate {
    pub(crate) fn new(workers: usize) -> StopGate {
        StopGate {
            left: Mutex::new(workers),
            all_stopped: Condvar::new(),
        }
    }

    /// Counts one worker as stopped, without waiting for the others.
    pub(crate) fn arrive(&self) {
        let mut left = self.left.lock().unwrap_or_else(|e| e.into_inner());
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.all_stopped.notify_all();
        }
    }

    /// Counts the calling worker as stopped, and waits until every worker
    /// has been counted.
    fn arrive_and_wait(&self) {
        let mut left = self.left.lock().unwrap_or_else(|e| e.into_inner());
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.all_stopped.notify_all();
            return;
        }
        while *left > 0 {
            left = self
                .all_stopped
                .wait(left)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// A worker's place at the gate, taken when its thread starts: it arrives
/// through [`Arrival::wait`], or, if the thread unwinds first, when the
/// guard is dropped.
pub(crate) struct Arrival {
    group: Option<Arc<Group>>,
}

impl Arrival {
    pub(crate) fn new(group: Arc<Group>) -> Arrival {
        Arrival { group: Some(group) }
    }

    /// This worker has stopped polling: wait for the others.
    pub(crate) fn wait(mut self) {
        if let Some(group) = self.group.take() {
            group.stopped.arrive_and_wait();
        }
    }
}

impl Drop for Arrival {
    fn drop(&mut self) {
        if let Some(group) = self.group.take() {
            group.stopped.arrive();
        }
    }
}
