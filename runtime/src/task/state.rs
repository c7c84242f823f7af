//! The task state word: lifecycle flags and the reference count in one atomic.
//!
//! ```text
//!  bit   0          1        2         3          4               5..
//!      SCHEDULED  RUNNING  COMPLETE  CANCELLED  JOIN_INTEREST   reference count
//! ```
//!
//! Keeping flags and count in one word lets each transition be a single
//! compare-and-swap, so a waker on any thread and the executor never disagree
//! about who must enqueue the task or free it.

use std::sync::atomic::Ordering::{AcqRel, Acquire};

use super::loom::AtomicUsize;

/// In a run queue, or woken while running (then it goes back in afterwards).
const SCHEDULED: usize = 1 << 0;
/// Being polled by its executor right now.
const RUNNING: usize = 1 << 1;
/// The future is gone; the output is stored or already taken.
const COMPLETE: usize = 1 << 2;
/// `abort()` was called; the next time the executor sees the task it drops it.
const CANCELLED: usize = 1 << 3;
/// A `JoinHandle` exists and will read the output.
const JOIN_INTEREST: usize = 1 << 4;
/// One reference: each of the `JoinHandle`, the owner's task list, a run-queue
/// entry and every `Waker` holds one.
const REF_ONE: usize = 1 << 5;
const REF_MASK: usize = !(REF_ONE - 1);

/// What the executor should do with a task it popped from a queue.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToRunning {
    /// Poll the future.
    Poll,
    /// Drop the future: the task was aborted.
    Cancel,
    /// Nothing: it already completed while its queue entry was waiting (a
    /// defensive case: shutdown and the blocking pool complete tasks only
    /// after taking them out of every queue).
    Done,
}

/// What the executor should do after a poll returned `Pending`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToIdle {
    /// Wait for a waker; the executor's reference is dropped.
    Idle,
    /// It was woken while running: put it back in the run queue.
    Requeue,
    /// It was aborted while running: drop the future now.
    Cancel,
}

pub(crate) struct State(AtomicUsize);

impl State {
    /// A new task: scheduled, with a `JoinHandle`, and three references (the
    /// handle, the owner's task list, and the run-queue entry).
    pub(crate) fn new() -> State {
        State(AtomicUsize::new(SCHEDULED | JOIN_INTEREST | (3 * REF_ONE)))
    }

    fn update<T>(&self, mut f: impl FnMut(usize) -> (Option<usize>, T)) -> T {
        let mut cur = self.0.load(Acquire);
        loop {
            let (next, out) = f(cur);
            let Some(next) = next else { return out };
            match self.0.compare_exchange_weak(cur, next, AcqRel, Acquire) {
                Ok(_) => return out,
                Err(actual) => cur = actual,
            }
        }
    }

    pub(crate) fn transition_to_running(&self) -> ToRunning {
        self.update(|s| {
            debug_assert!(s & RUNNING == 0);
            if s & COMPLETE != 0 {
                (Some(s & !SCHEDULED), ToRunning::Done)
            } else {
                let next = (s & !SCHEDULED) | RUNNING;
                let action = if s & CANCELLED != 0 {
                    ToRunning::Cancel
                } else {
                    ToRunning::Poll
                };
                (Some(next), action)
            }
        })
    }

    pub(crate) fn transition_to_idle(&self) -> ToIdle {
        self.update(|s| {
            debug_assert!(s & RUNNING != 0);
            if s & CANCELLED != 0 {
                (None, ToIdle::Cancel)
            } else if s & SCHEDULED != 0 {
                (Some(s & !RUNNING), ToIdle::Requeue)
            } else {
                (Some(s & !RUNNING), ToIdle::Idle)
            }
        })
    }

    /// Marks the future finished. Returns true if a `JoinHandle` still wants the output.
    pub(crate) fn transition_to_complete(&self) -> bool {
        let prev = self.update(|s| (Some((s & !(RUNNING | SCHEDULED)) | COMPLETE), s));
        prev & JOIN_INTEREST != 0
    }

    /// A wake. Returns true if the caller must enqueue the task, and then it
    /// has taken a new reference for the queue entry.
    pub(crate) fn transition_to_notified(&self) -> bool {
        self.update(|s| {
            if s & (COMPLETE | SCHEDULED) != 0 {
                (None, false)
            } else if s & RUNNING != 0 {
                (Some(s | SCHEDULED), false)
            } else {
                (Some((s | SCHEDULED) + REF_ONE), true)
            }
        })
    }

    /// An abort. Returns true if the caller must enqueue the task (with a new
    /// reference) so its executor drops the future.
    pub(crate) fn transition_to_cancelled(&self) -> bool {
        self.update(|s| {
            if s & (COMPLETE | CANCELLED) != 0 {
                (None, false)
            } else if s & (RUNNING | SCHEDULED) != 0 {
                (Some(s | CANCELLED), false)
            } else {
                (Some((s | CANCELLED | SCHEDULED) + REF_ONE), true)
            }
        })
    }

    /// The `JoinHandle` is going away. Returns true if the task had already
    /// completed, in which case the caller must drop the output.
    pub(crate) fn unset_join_interest(&self) -> bool {
        let prev = self.update(|s| (Some(s & !JOIN_INTEREST), s));
        prev & COMPLETE != 0
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.0.load(Acquire) & COMPLETE != 0
    }

    pub(crate) fn ref_inc(&self) {
        let prev = self
            .0
            .fetch_add(REF_ONE, std::sync::atomic::Ordering::Relaxed);
        if prev > isize::MAX as usize {
            std::process::abort();
        }
    }

    /// Drops one reference. Returns true if it was the last one.
    pub(crate) fn ref_dec(&self) -> bool {
        self.ref_dec_by(1)
    }

    /// Drops `n` references at once. Returns true if they were the last.
    pub(crate) fn ref_dec_by(&self, n: usize) -> bool {
        let prev = self.0.fetch_sub(n * REF_ONE, AcqRel);
        debug_assert!(prev & REF_MASK >= n * REF_ONE);
        prev & REF_MASK == n * REF_ONE
    }
}

// Plain unit tests; under `--cfg loom` the word is a loom atomic, usable only
// inside a model, and `tests/core_loom.rs` checks these transitions instead.
#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn wake_while_running_requeues() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert!(!s.transition_to_notified());
        assert_eq!(s.transition_to_idle(), ToIdle::Requeue);
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_idle(), ToIdle::Idle);
        assert!(s.transition_to_notified());
        assert!(!s.transition_to_notified());
    }

    #[test]
    fn abort_of_idle_task_enqueues_once() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_idle(), ToIdle::Idle);
        assert!(s.transition_to_cancelled());
        assert!(!s.transition_to_cancelled());
        assert_eq!(s.transition_to_running(), ToRunning::Cancel);
    }

    #[test]
    fn join_interest_and_completion_race_has_one_owner() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert!(s.transition_to_complete());
        assert!(s.unset_join_interest());
        let s = State::new();
        assert!(!s.unset_join_interest());
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert!(!s.transition_to_complete());
    }

    #[test]
    fn refcount_reaches_zero_once() {
        let s = State::new();
        assert!(!s.ref_dec());
        assert!(!s.ref_dec());
        assert!(s.ref_dec());
    }
}
