//! Waiting on a futex word in shared memory, from a plain thread or from a
//! task, without ever blocking the runtime's thread.
//!
//! The process locks ([`Mutex`](super::Mutex), [`Semaphore`](super::Semaphore),
//! [`Event`](super::Event)) each keep their state in a 32-bit word of a
//! shared [`Region`], changed only by atomic operations. When a caller must
//! wait, it sleeps on the word with `FUTEX_WAIT`, and whoever changes the
//! word in a way a sleeper cares about calls `FUTEX_WAKE`. The kernel keys
//! the sleepers by the physical page, so the processes meet in one queue.
//!
//! # Two ways to wait
//!
//! * [`Word::wait_blocking`] sleeps the calling thread: for the locks'
//!   `blocking_*` methods, for plain threads.
//! * [`Word::wait`] is for tasks. A futex cannot be registered with epoll,
//!   so the sleep happens on a blocking-pool thread
//!   ([`spawn_blocking`](crate::spawn_blocking)) while the task awaits that
//!   job's handle; the runtime's thread keeps running other tasks. The
//!   pool thread only *sleeps*: it never changes the word, so whatever
//!   happens to the waiting task, the pool thread cannot take a lock or a
//!   permit on its behalf. The task looks at the word itself once the
//!   sleep ends.
//!
//! Every sleep is bounded (the callers pass a timeout of at most a tenth of
//! a second or so): a waiter wakes up now and then even if no one wakes it,
//! which is when a mutex waiter checks whether the lock's owner is still
//! alive, and which bounds the life of a pool thread whose task went away.
//!
//! # A wake taken by a waiter that went away
//!
//! `FUTEX_WAKE(1)` wakes *one* sleeper, the one a lock's release hands the
//! lock to. If that sleeper was a pool thread whose task was dropped in
//! the meantime (a `timeout` around `lock()`, a `select!`), nobody would
//! take the lock and the other sleepers would only notice at their next
//! timeout. So the wake is passed on: a pool thread that finds its task
//! gone after the sleep, or a task dropped after its pool thread finished
//! but before it looked at the word, calls `FUTEX_WAKE(1)` once more. A
//! shared state word decides which of the two does it, so exactly one does
//! (`HandOff` in `protocol.rs`, checked under loom by `tests/ipc_loom.rs`).

use std::sync::atomic::AtomicU32;
use std::sync::Arc;
use std::time::Duration;

use super::protocol::HandOff;
use super::region::Region;
use crate::sys::futex;
pub(super) use crate::sys::futex::Woke;

/// A 32-bit word in a shared region, and the region that holds it mapped.
#[derive(Debug, Clone)]
pub(super) struct Word {
    region: Arc<Region>,
    offset: usize,
}

impl Word {
    /// The word at byte `offset` of `region` (4-aligned, inside it).
    pub(super) fn new(region: Arc<Region>, offset: usize) -> Word {
        // Check the layout once, here (`Region::word` panics otherwise).
        region.word(offset);
        Word { region, offset }
    }

    /// The region the word lives in.
    pub(super) fn region(&self) -> &Arc<Region> {
        &self.region
    }

    /// The word itself.
    #[inline]
    pub(super) fn atomic(&self) -> &AtomicU32 {
        self.region.word(self.offset)
    }

    /// Sleeps this thread while the word holds `expected`, at most
    /// `timeout`, or until woken.
    pub(super) fn wait_blocking(&self, expected: u32, timeout: Duration) -> Woke {
        futex::wait(self.atomic(), expected, timeout)
    }

    /// Wakes up to `n` sleepers (`u32::MAX`: all).
    pub(super) fn wake(&self, n: u32) {
        futex::wake(self.atomic(), n);
    }

    /// [`wait_blocking`](Word::wait_blocking) on a blocking-pool thread,
    /// awaited: the task's thread keeps running other tasks meanwhile.
    ///
    /// Cancel-safe: the future holds nothing but the sleep, and if it is
    /// dropped after a wake reached its pool thread, the wake is passed on
    /// to another sleeper (see the module docs).
    pub(super) async fn wait(&self, expected: u32, timeout: Duration) -> Woke {
        let state = Arc::new(HandOff::new());
        let job = {
            let (word, state) = (self.clone(), state.clone());
            crate::spawn_blocking(move || {
                let woke = word.wait_blocking(expected, timeout);
                if state.pool_thread_finished() {
                    // The task went away while we slept: hand on the wake
                    // we may have taken.
                    word.wake(1);
                }
                woke
            })
        };
        let mut pass_on = PassOnIfDropped {
            word: self,
            state: Some(state),
        };
        let result = job.await;
        // The task looks at the word itself from here on.
        pass_on.state = None;
        match result {
            Ok(woke) => woke,
            // The pool refused the job (its runtime is shutting down):
            // wait on the runtime's clock instead, so the caller's retry
            // loop does not spin.
            Err(_) => {
                crate::time::sleep(timeout).await;
                Woke::TimedOut
            }
        }
    }
}

/// Dropped with the task's future if it goes away while its pool thread
/// sleeps, or between the end of the sleep and the task's next look.
struct PassOnIfDropped<'a> {
    word: &'a Word,
    /// `None` once the task has the sleep's result.
    state: Option<Arc<HandOff>>,
}

impl Drop for PassOnIfDropped<'_> {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            if state.task_dropped() {
                // The pool thread finished before we went away, so it did
                // not pass anything on: its wake would be lost with us.
                self.word.wake(1);
            }
        }
    }
}

/// How long a waiter sleeps between two looks at the state of things
/// (for a mutex: whether its owner is alive). Starts short, so that a dead
/// owner is noticed within milliseconds, and doubles up to
/// [`Backoff::MAX`] while nothing changes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(2);
    /// The longest single sleep.
    pub(super) const MAX: Duration = Duration::from_millis(100);

    pub(super) fn new() -> Backoff {
        Backoff {
            next: Backoff::FIRST,
        }
    }

    /// The timeout for the next sleep (then doubled, up to the maximum).
    pub(super) fn next(&mut self) -> Duration {
        let now = self.next;
        self.next = (now * 2).min(Backoff::MAX);
        now
    }

    /// Back to the shortest sleep (something changed).
    pub(super) fn reset(&mut self) {
        self.next = Backoff::FIRST;
    }
}
