//! Per-worker counters, and [`RuntimeMetrics`], the view of them that
//! [`Handle::metrics`](crate::Handle::metrics) gives.
//!
//! Each counter has one writer, its worker, so it is bumped with a relaxed
//! load and store (no locked instruction); readers on other threads see a
//! recent value, which is all a metric promises.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use super::Group;

/// One worker's counters.
#[derive(Default)]
pub(crate) struct WorkerMetrics {
    polls: AtomicU64,
    steals: AtomicU64,
    parks: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Relaxed) + 1, Relaxed);
}

impl WorkerMetrics {
    pub(crate) fn polled(&self) {
        bump(&self.polls);
    }
    pub(crate) fn stole(&self) {
        bump(&self.steals);
    }
    pub(crate) fn parked(&self) {
        bump(&self.parks);
    }
}

/// A view of a multi-threaded runtime's per-worker counters, from
/// [`Handle::metrics`](crate::Handle::metrics).
///
/// Every figure is read when asked, so two reads may differ; the counts only
/// grow. A current-thread runtime reports no workers (its one thread is not
/// a worker of a pool; see [`num_workers`](RuntimeMetrics::num_workers)).
///
/// ```
/// let rt = spindle_runtime::Runtime::builder().multi_thread().worker_threads(2).build()?;
/// let metrics = rt.handle().metrics();
/// rt.block_on(async { spindle_runtime::spawn(async {}).await.unwrap() });
/// assert_eq!(metrics.num_workers(), 2);
/// let polls: u64 = (0..2).map(|w| metrics.worker_poll_count(w)).sum();
/// assert!(polls >= 1);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct RuntimeMetrics {
    group: Option<Arc<Group>>,
}

impl RuntimeMetrics {
    pub(crate) fn new(group: Option<Arc<Group>>) -> RuntimeMetrics {
        RuntimeMetrics { group }
    }

    fn worker(&self, worker: usize) -> &super::WorkerRemote {
        let group = self
            .group
            .as_ref()
            .expect("a current-thread runtime has no workers");
        &group.workers[worker]
    }

    /// How many worker threads the runtime has: 0 on a current-thread runtime.
    pub fn num_workers(&self) -> usize {
        self.group.as_ref().map_or(0, |g| g.workers.len())
    }

    /// How many times `worker` has polled a task.
    ///
    /// # Panics
    /// If `worker >= num_workers()`.
    pub fn worker_poll_count(&self, worker: usize) -> u64 {
        self.worker(worker).metrics.polls.load(Relaxed)
    }

    /// How many times `worker` has stolen tasks from another worker (each
    /// steal takes half of the victim's queue).
    ///
    /// # Panics
    /// If `worker >= num_workers()`.
    pub fn worker_steal_count(&self, worker: usize) -> u64 {
        self.worker(worker).metrics.steals.load(Relaxed)
    }

    /// How many times `worker` has gone to sleep for lack of work.
    ///
    /// # Panics
    /// If `worker >= num_workers()`.
    pub fn worker_park_count(&self, worker: usize) -> u64 {
        self.worker(worker).metrics.parks.load(Relaxed)
    }

    /// How many tasks wait in `worker`'s stealable queue right now.
    ///
    /// # Panics
    /// If `worker >= num_workers()`.
    pub fn worker_local_queue_depth(&self, worker: usize) -> usize {
        self.worker(worker).stealer.len()
    }

    /// How many tasks wait in the runtime's injection queue (sent from
    /// outside the workers) right now.
    pub fn injection_queue_depth(&self) -> usize {
        self.group.as_ref().map_or(0, |g| g.inject.len())
    }
}

impl std::fmt::Debug for RuntimeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeMetrics")
            .field("num_workers", &self.num_workers())
            .finish_non_exhaustive()
    }
}
