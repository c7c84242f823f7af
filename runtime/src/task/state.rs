//! The task state word: lifecycle flags and the reference count in one atomic.
//!
//! ```text
//!  bit   0          1        2         3          4              5            6..
//!      SCHEDULED  RUNNING  COMPLETE  CANCELLED  JOIN_INTEREST  JOIN_WAKER   reference count
//! ```
//!
//! JOIN_WAKER guards the header's `join_waker` slot, the `JoinHandle`'s
//! waker, and doubles as its lock:
//!
//! * **Clear**: the slot belongs to the `JoinHandle` alone (the only party
//!   that ever writes it). It stores its waker there, then sets the bit
//!   (unless COMPLETE is set by then: it takes the output instead).
//! * **Set**: the slot is read-only for everyone. Completion, which reads
//!   the bit in the same compare-and-swap that sets COMPLETE, wakes the
//!   waker by reference and then clears the bit, handing the slot back. A
//!   handle that must store a different waker first clears the bit itself,
//!   which fails once COMPLETE is set (then completion may be reading).
//!
//! Both sides decide with read-modify-writes of this one word, so one comes
//! first: if the handle's, completion sees the bit (and the waker stored
//! before it); if completion's, the handle sees COMPLETE and takes the
//! output instead of waiting. A task whose handle never waited (awaited
//! only after the task finished, or dropped) completes without touching the
//! slot at all. This is the protocol tokio uses; it keeps the waker slot to
//! the waker itself, with no lock word of its own.
//!
//! Keeping flags and count in one word lets each transition be a single
//! compare-and-swap, so a waker on any thread and the executor never disagree
//! about who must enqueue the task or free it.
//!
//! Each transition answers with a small `#[must_use]` enum that names what
//! its caller must do next ([`ToRunning`], [`ToIdle`], [`ToComplete`],
//! [`ToCompleteReleasing`], [`ToNotified`], [`ToCancelled`], [`SetJoinWaker`],
//! [`UnsetJoinWaker`], [`DropJoin`], [`RefDec`]), rather than
//! a `bool` whose meaning changes from one method to the next. Ignoring one
//! is a compile warning, because every answer carries a duty: an enqueue
//! with the reference the transition took, an output to drop, an
//! allocation to free.

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
/// The `JoinHandle` has stored a waker in the header's `join_waker` slot,
/// which is read-only while this is set (see the module docs).
const JOIN_WAKER: usize = 1 << 5;
/// One reference: each of the `JoinHandle`, the owner's task list, a run-queue
/// entry and every `Waker` holds one.
const REF_ONE: usize = 1 << 6;
const REF_MASK: usize = !(REF_ONE - 1);

/// What the executor should do with a task it popped from a queue.
#[must_use]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
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
#[must_use]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum ToIdle {
    /// Wait for a waker; the executor's reference is dropped.
    Idle,
    /// It was woken while running: put it back in the run queue.
    Requeue,
    /// It was aborted while running: drop the future now.
    Cancel,
}

/// Who handles the output of a task that just completed.
#[must_use]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum ToComplete {
    /// A `JoinHandle` waits for the output: keep it and wake the handle's
    /// stored waker.
    NotifyJoinHandle,
    /// A `JoinHandle` still wants the output but stored no waker (it has
    /// not waited yet): keep the output; there is no one to wake.
    KeepOutput,
    /// The `JoinHandle` is gone: the completing side drops the output.
    DropOutput,
}

/// What the waker must do after a wake.
#[must_use]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum ToNotified {
    /// The task was idle: it is now SCHEDULED and a new reference was taken
    /// for its queue entry; the caller must enqueue it with that reference.
    Enqueue,
    /// Nothing to do: it is queued already, its executor is polling it and
    /// will requeue it, or it has completed.
    Handled,
}

/// What the aborting side must do after an abort.
#[must_use]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum ToCancelled {
    /// The task was idle: a new reference was taken for a queue entry; the
    /// caller must enqueue it so its executor drops the future.
    Enqueue,
    /// Nothing to do: it is queued or running (its executor sees the flag),
    /// or it had already completed or been aborted.
    Handled,
}

/// What the executor must do after [`State::transition_to_complete_releasing`].
#[must_use]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum ToCompleteReleasing {
    /// Done: the output waits for the `JoinHandle`, which is not waiting
    /// yet, and the executor's references were given back with the
    /// transition; the task must not be touched again.
    Released,
    /// A `JoinHandle` waits: wake its stored waker, then drop the references.
    NotifyJoinHandle,
    /// No `JoinHandle`: drop the output, then the references.
    DropOutput,
}

/// What a `JoinHandle` must do after [`State::set_join_waker`].
#[must_use]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum SetJoinWaker {
    /// Recorded: the task's completion will wake the stored waker.
    Registered,
    /// The task completed first: read the output now (no wake will come
    /// for this registration).
    Complete,
}

/// The bits a `JoinHandle` looks at before it touches its waker slot.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct JoinSnapshot {
    /// COMPLETE is set: the output is there (or was taken).
    pub(crate) complete: bool,
    /// JOIN_WAKER is set: the slot holds a waker and is read-only.
    pub(crate) join_waker: bool,
}

/// What a `JoinHandle` may do after [`State::unset_join_waker`].
#[must_use]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum UnsetJoinWaker {
    /// The slot is the handle's again: it may write it.
    Unset,
    /// The task completed first: leave the slot alone, read the output.
    Complete,
}

/// What a dropped `JoinHandle` must do after [`State::drop_join_handle`].
#[must_use]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum DropJoin {
    /// The task had completed: the interest is given up but the handle's
    /// reference is still held; drop the output (if not yet taken), then
    /// that reference.
    DropOutputThenRef,
    /// The interest and the reference are both given up; others remain.
    Released,
    /// The interest and the last reference are given up: free the task.
    Dealloc,
}

/// What the caller must do after dropping references.
#[must_use]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum RefDec {
    /// Those were the last references: the caller frees the allocation.
    Dealloc,
    /// Others remain: nothing more to do.
    Keep,
}

/// The task's state word: see the module docs for its layout.
pub(crate) struct State(AtomicUsize);

impl State {
    /// A new task: scheduled, with a `JoinHandle`, and three references (the
    /// handle, the owner's task list, and the run-queue entry).
    #[inline]
    pub(crate) fn new() -> State {
        State(AtomicUsize::new(SCHEDULED | JOIN_INTEREST | (3 * REF_ONE)))
    }

    #[inline]
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

    #[inline]
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

    #[inline]
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

    /// Marks the future finished, and says who handles the output.
    #[inline]
    pub(crate) fn transition_to_complete(&self) -> ToComplete {
        let prev = self.update(|s| (Some((s & !(RUNNING | SCHEDULED)) | COMPLETE), s));
        if prev & JOIN_INTEREST == 0 {
            ToComplete::DropOutput
        } else if prev & JOIN_WAKER != 0 {
            ToComplete::NotifyJoinHandle
        } else {
            ToComplete::KeepOutput
        }
    }

    /// Marks the future finished like [`transition_to_complete`], and in
    /// the same compare-and-swap gives back `refs` references of the
    /// completing executor when nothing more is to be done with the task:
    /// a `JoinHandle` wants the output but is not waiting for it
    /// ([`ToCompleteReleasing::Released`]; the handle's own reference keeps
    /// the task alive, so this never frees it). Otherwise the references
    /// are kept, for the caller to drop after waking the handle or dropping
    /// the output.
    ///
    /// [`transition_to_complete`]: State::transition_to_complete
    #[inline]
    pub(crate) fn transition_to_complete_releasing(&self, refs: usize) -> ToCompleteReleasing {
        self.update(|s| {
            let next = (s & !(RUNNING | SCHEDULED)) | COMPLETE;
            if s & JOIN_INTEREST == 0 {
                (Some(next), ToCompleteReleasing::DropOutput)
            } else if s & JOIN_WAKER != 0 {
                (Some(next), ToCompleteReleasing::NotifyJoinHandle)
            } else {
                debug_assert!(s & REF_MASK > refs * REF_ONE, "the handle holds one");
                (Some(next - refs * REF_ONE), ToCompleteReleasing::Released)
            }
        })
    }

    /// The `JoinHandle` stored a waker (in `join_waker`, before this call):
    /// records that completion must wake it, unless the task completed
    /// first.
    #[inline]
    pub(crate) fn set_join_waker(&self) -> SetJoinWaker {
        self.update(|s| {
            if s & COMPLETE != 0 {
                (None, SetJoinWaker::Complete)
            } else if s & JOIN_WAKER != 0 {
                (None, SetJoinWaker::Registered)
            } else {
                (Some(s | JOIN_WAKER), SetJoinWaker::Registered)
            }
        })
    }

    /// Whether the task has completed and whether JOIN_WAKER is set, in
    /// one load.
    #[inline]
    pub(crate) fn join_snapshot(&self) -> JoinSnapshot {
        let s = self.0.load(Acquire);
        JoinSnapshot {
            complete: s & COMPLETE != 0,
            join_waker: s & JOIN_WAKER != 0,
        }
    }

    /// The `JoinHandle` takes its waker slot back to write it: clears
    /// JOIN_WAKER, unless the task completed first (then the completing
    /// side may be reading the slot, and the handle must leave it alone).
    #[inline]
    pub(crate) fn unset_join_waker(&self) -> UnsetJoinWaker {
        self.update(|s| {
            debug_assert!(s & JOIN_WAKER != 0);
            if s & COMPLETE != 0 {
                (None, UnsetJoinWaker::Complete)
            } else {
                (Some(s & !JOIN_WAKER), UnsetJoinWaker::Unset)
            }
        })
    }

    /// The completing side has woken the handle's waker and is done
    /// reading the slot: hands it back to the handle.
    #[inline]
    pub(crate) fn unset_join_waker_after_complete(&self) {
        let prev = self.0.fetch_and(!JOIN_WAKER, AcqRel);
        debug_assert!(prev & COMPLETE != 0 && prev & JOIN_WAKER != 0);
    }

    /// A `JoinHandle` goes away: gives up its interest and, unless the task
    /// has completed (then the output may still need dropping), its
    /// reference too, in one step.
    #[inline]
    pub(crate) fn drop_join_handle(&self) -> DropJoin {
        self.update(|s| {
            debug_assert!(s & JOIN_INTEREST != 0);
            if s & COMPLETE != 0 {
                (Some(s & !JOIN_INTEREST), DropJoin::DropOutputThenRef)
            } else if s & REF_MASK == REF_ONE {
                (Some((s & !JOIN_INTEREST) - REF_ONE), DropJoin::Dealloc)
            } else {
                (Some((s & !JOIN_INTEREST) - REF_ONE), DropJoin::Released)
            }
        })
    }

    /// A `JoinHandle` of a task it saw COMPLETE, whose output it has taken
    /// or dropped already, goes away: gives up the interest and the
    /// handle's reference with one atomic subtraction (the handle knows
    /// JOIN_INTEREST is set, since only it clears the bit).
    #[inline]
    pub(crate) fn release_completed_join(&self) -> RefDec {
        let prev = self.0.fetch_sub(JOIN_INTEREST + REF_ONE, AcqRel);
        debug_assert!(prev & JOIN_INTEREST != 0 && prev & COMPLETE != 0);
        if prev & REF_MASK == REF_ONE {
            RefDec::Dealloc
        } else {
            RefDec::Keep
        }
    }

    /// A wake. On [`ToNotified::Enqueue`] it has taken a new reference for
    /// the queue entry the caller must make.
    #[inline]
    pub(crate) fn transition_to_notified(&self) -> ToNotified {
        self.update(|s| {
            if s & (COMPLETE | SCHEDULED) != 0 {
                (None, ToNotified::Handled)
            } else if s & RUNNING != 0 {
                (Some(s | SCHEDULED), ToNotified::Handled)
            } else {
                (Some((s | SCHEDULED) + REF_ONE), ToNotified::Enqueue)
            }
        })
    }

    /// An abort. On [`ToCancelled::Enqueue`] it has taken a new reference
    /// for the queue entry the caller must make, so the executor drops the
    /// future.
    #[inline]
    pub(crate) fn transition_to_cancelled(&self) -> ToCancelled {
        self.update(|s| {
            if s & (COMPLETE | CANCELLED) != 0 {
                (None, ToCancelled::Handled)
            } else if s & (RUNNING | SCHEDULED) != 0 {
                (Some(s | CANCELLED), ToCancelled::Handled)
            } else {
                (
                    Some((s | CANCELLED | SCHEDULED) + REF_ONE),
                    ToCancelled::Enqueue,
                )
            }
        })
    }

    #[inline]
    pub(crate) fn is_complete(&self) -> bool {
        self.0.load(Acquire) & COMPLETE != 0
    }

    #[inline]
    pub(crate) fn ref_inc(&self) {
        let prev = self
            .0
            .fetch_add(REF_ONE, std::sync::atomic::Ordering::Relaxed);
        if prev > isize::MAX as usize {
            std::process::abort();
        }
    }

    /// Drops one reference; [`RefDec::Dealloc`] if it was the last one.
    #[inline]
    pub(crate) fn ref_dec(&self) -> RefDec {
        self.ref_dec_by(1)
    }

    /// Drops `n` references at once; [`RefDec::Dealloc`] if they were the
    /// last.
    #[inline]
    pub(crate) fn ref_dec_by(&self, n: usize) -> RefDec {
        let prev = self.0.fetch_sub(n * REF_ONE, AcqRel);
        debug_assert!(prev & REF_MASK >= n * REF_ONE);
        if prev & REF_MASK == n * REF_ONE {
            RefDec::Dealloc
        } else {
            RefDec::Keep
        }
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
        assert_eq!(s.transition_to_notified(), ToNotified::Handled);
        assert_eq!(s.transition_to_idle(), ToIdle::Requeue);
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_idle(), ToIdle::Idle);
        assert_eq!(s.transition_to_notified(), ToNotified::Enqueue);
        assert_eq!(s.transition_to_notified(), ToNotified::Handled);
    }

    #[test]
    fn abort_of_idle_task_enqueues_once() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_idle(), ToIdle::Idle);
        assert_eq!(s.transition_to_cancelled(), ToCancelled::Enqueue);
        assert_eq!(s.transition_to_cancelled(), ToCancelled::Handled);
        assert_eq!(s.transition_to_running(), ToRunning::Cancel);
    }

    #[test]
    fn join_interest_and_completion_race_has_one_owner() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_complete(), ToComplete::KeepOutput);
        assert_eq!(s.drop_join_handle(), DropJoin::DropOutputThenRef);
        let s = State::new();
        assert_eq!(s.drop_join_handle(), DropJoin::Released);
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_complete(), ToComplete::DropOutput);
        assert_eq!(s.ref_dec_by(2), RefDec::Dealloc);
    }

    #[test]
    fn completion_wakes_the_join_handle_only_once_it_stored_a_waker() {
        let s = State::new();
        assert!(!s.join_snapshot().join_waker);
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.set_join_waker(), SetJoinWaker::Registered);
        assert!(s.join_snapshot().join_waker);
        assert_eq!(s.unset_join_waker(), UnsetJoinWaker::Unset);
        assert_eq!(s.set_join_waker(), SetJoinWaker::Registered);
        assert_eq!(s.transition_to_complete(), ToComplete::NotifyJoinHandle);
        assert_eq!(s.unset_join_waker(), UnsetJoinWaker::Complete);
        s.unset_join_waker_after_complete();
        assert_eq!(
            s.join_snapshot(),
            JoinSnapshot {
                complete: true,
                join_waker: false
            }
        );
        assert_eq!(s.set_join_waker(), SetJoinWaker::Complete);
    }

    #[test]
    fn completion_gives_back_the_executor_references_when_nothing_is_left_to_do() {
        // A handle that is not waiting: released in the same step.
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(
            s.transition_to_complete_releasing(2),
            ToCompleteReleasing::Released
        );
        assert_eq!(s.release_completed_join(), RefDec::Dealloc);
        // A waiting handle, or none: the references stay for the caller.
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.set_join_waker(), SetJoinWaker::Registered);
        assert_eq!(
            s.transition_to_complete_releasing(2),
            ToCompleteReleasing::NotifyJoinHandle
        );
        assert_eq!(s.ref_dec_by(2), RefDec::Keep);
        let s = State::new();
        assert_eq!(s.drop_join_handle(), DropJoin::Released);
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(
            s.transition_to_complete_releasing(2),
            ToCompleteReleasing::DropOutput
        );
        assert_eq!(s.ref_dec_by(2), RefDec::Dealloc);
    }

    #[test]
    fn completed_join_releases_interest_and_reference_in_one_step() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_complete(), ToComplete::KeepOutput);
        assert_eq!(s.ref_dec_by(2), RefDec::Keep);
        assert_eq!(s.release_completed_join(), RefDec::Dealloc);
    }

    #[test]
    fn refcount_reaches_zero_once() {
        let s = State::new();
        assert_eq!(s.ref_dec(), RefDec::Keep);
        assert_eq!(s.ref_dec(), RefDec::Keep);
        assert_eq!(s.ref_dec(), RefDec::Dealloc);
    }
}
