//! The interface a runtime drives: the cooperative budget, and the "a
//! runtime is running on this thread" flag.
//!
//! spindle-sync knows no executor. What it needs from one is two facts
//! about the current thread, and both live here, in thread-locals the
//! runtime sets and the primitives read:
//!
//! * **The cooperative budget.** Before the executor polls a task it calls
//!   [`reset`], granting the task [`BUDGET`] operations. Every resource that
//!   can complete without waiting (a lock that is free, a channel that holds
//!   a value, and in the runtime a socket read that finds data, a timer
//!   already due) takes one unit through [`poll_proceed`]. When the budget
//!   is spent, the resource answers `Pending` and wakes the task at once, so
//!   the task goes to the back of the run queue and timers and IO get their
//!   turn, even if its loop never hits a real wait. When the runtime's loop
//!   returns it calls [`unconstrain`]: code polled outside a runtime has no
//!   budget and is never throttled.
//! * **Is a runtime running here?** The runtime holds a [`RuntimeGuard`]
//!   (from [`enter_runtime`]) for as long as it runs its loop on this
//!   thread. The `blocking_*` methods check [`is_runtime_running`] and panic
//!   instead of parking a thread whose tasks would then all stop, the one
//!   that would release what they wait for included.
//!
//! # The contract, for a runtime
//!
//! ```text
//! let _running = coop::enter_runtime();   // for as long as the loop runs
//! loop {
//!     coop::reset();                      // before each task's poll
//!     task.poll(cx);
//! }
//! coop::unconstrain();                    // when the loop returns (or unwinds)
//! ```
//!
//! Call [`reset`] only while a [`RuntimeGuard`] is alive. Then the budget is
//! constrained only while a runtime runs on the thread, which is what lets
//! [`poll_proceed`] stay one thread-local read: it need not also ask whether
//! a runtime is there. The guard restores the budget it found when it drops,
//! so even a runtime that forgot [`unconstrain`] cannot leave a spent budget
//! behind for a plain executor that polls on this thread later (one that
//! re-polls on every wake would spin forever on a budget of zero).
//!
//! # Cost
//!
//! Both are `const`-initialised thread-locals of one byte: a read is a load
//! at a fixed offset from the thread pointer, with no lazy initialisation,
//! no lock and no dynamic dispatch. A runtime that never calls anything
//! here leaves the budget unconstrained and the flag clear, and every
//! primitive then behaves as in a plain executor.

use std::cell::Cell;
use std::marker::PhantomData;
use std::task::{Context, Poll};

/// Operations a task may complete in one poll before it must yield.
pub const BUDGET: u8 = 128;

/// The budget's value outside a runtime's task polls: no limit.
const UNCONSTRAINED: u8 = u8::MAX;

thread_local! {
    /// Units left for the task being polled, or `UNCONSTRAINED`.
    static REMAINING: Cell<u8> = const { Cell::new(UNCONSTRAINED) };
    /// True while a [`RuntimeGuard`] is alive on this thread.
    static RUNTIME_RUNNING: Cell<bool> = const { Cell::new(false) };
}

/// Grants a fresh budget of [`BUDGET`] units; a runtime calls this before
/// each task poll (and only while it holds a [`RuntimeGuard`]).
#[inline]
pub fn reset() {
    let _ = REMAINING.try_with(|r| r.set(BUDGET));
}

/// Lifts the budget: polls outside a runtime's loop are not limited. A
/// runtime calls this when its loop returns or unwinds.
#[inline]
pub fn unconstrain() {
    let _ = REMAINING.try_with(|r| r.set(UNCONSTRAINED));
}

/// Runs `f` with the budget lifted, then puts back the budget it found
/// (also if `f` panics): what a task's `unconstrained` future runs its
/// inner poll in.
pub fn with_unconstrained<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(Option<u8>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(left) = self.0 {
                let _ = REMAINING.try_with(|r| r.set(left));
            }
        }
    }
    let _restore = Restore(REMAINING.try_with(|r| r.replace(UNCONSTRAINED)).ok());
    f()
}

/// Takes one unit of budget, or returns `Pending` (after waking the task)
/// if none is left. Outside a runtime there is no budget and this is always
/// ready.
///
/// A resource calls this when it is about to complete without waiting, and
/// returns `Pending` itself, touching nothing, if this does.
#[inline]
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    let left = REMAINING.try_with(|r| {
        let left = r.get();
        if left != UNCONSTRAINED && left > 0 {
            r.set(left - 1);
        }
        left
    });
    match left {
        Ok(0) => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        _ => Poll::Ready(()),
    }
}

/// True while a runtime runs its loop on this thread (some
/// [`RuntimeGuard`] is alive here).
///
/// The `blocking_*` methods panic when this holds: parking the thread would
/// stop the runtime.
#[inline]
pub fn is_runtime_running() -> bool {
    RUNTIME_RUNNING.try_with(Cell::get).unwrap_or(false)
}

/// Marks this thread as running a runtime until the returned guard drops.
///
/// Guards nest: dropping one restores the flag and the budget as they were
/// when it was made.
#[must_use = "the thread counts as running a runtime only while the guard lives"]
pub fn enter_runtime() -> RuntimeGuard {
    let was_running = RUNTIME_RUNNING.with(|r| r.replace(true));
    let budget = REMAINING.with(Cell::get);
    RuntimeGuard {
        was_running,
        budget,
        _not_send: PhantomData,
    }
}

/// Marks this thread as *not* running a runtime until the returned guard
/// drops, with no budget: for code that blocks the thread on purpose while
/// another thread keeps the runtime going (a multi-threaded runtime's
/// `block_in_place`). Dropping the guard restores the flag and the budget.
#[must_use = "the thread counts as outside the runtime only while the guard lives"]
pub fn leave_runtime() -> RuntimeGuard {
    let was_running = RUNTIME_RUNNING.with(|r| r.replace(false));
    let budget = REMAINING.with(|r| r.replace(UNCONSTRAINED));
    RuntimeGuard {
        was_running,
        budget,
        _not_send: PhantomData,
    }
}

/// Proof that a runtime is running on this thread; see [`enter_runtime`].
#[derive(Debug)]
pub struct RuntimeGuard {
    was_running: bool,
    budget: u8,
    /// The flag is per thread: the guard must drop on the thread that made it.
    _not_send: PhantomData<*const ()>,
}

impl Drop for RuntimeGuard {
    fn drop(&mut self) {
        let _ = RUNTIME_RUNNING.try_with(|r| r.set(self.was_running));
        let _ = REMAINING.try_with(|r| r.set(self.budget));
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::task::Waker;

    fn proceed() -> Poll<()> {
        poll_proceed(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn unconstrained_outside_a_runtime() {
        for _ in 0..1000 {
            assert!(proceed().is_ready());
        }
    }

    #[test]
    fn budget_runs_out_then_reset_refills_it() {
        let _running = enter_runtime();
        reset();
        for _ in 0..BUDGET {
            assert!(proceed().is_ready());
        }
        assert!(proceed().is_pending());
        reset();
        assert!(proceed().is_ready());
    }

    #[test]
    fn guard_sets_the_flag_and_restores_flag_and_budget() {
        assert!(!is_runtime_running());
        {
            let _outer = enter_runtime();
            assert!(is_runtime_running());
            reset();
            {
                let _inner = enter_runtime();
                for _ in 0..BUDGET {
                    let _ = proceed();
                }
                assert!(proceed().is_pending());
            }
            assert!(is_runtime_running());
            assert!(proceed().is_ready(), "the inner guard restored the budget");
            // No `unconstrain()` here: the outer guard must restore it.
        }
        assert!(!is_runtime_running());
        for _ in 0..1000 {
            assert!(proceed().is_ready());
        }
    }
}

/// Runs a future to completion on this thread, parking it while the future
/// is pending (no runtime involved): what the `blocking_*` methods run on,
/// and the runtime's `Handle::block_on`.
pub use crate::park::park_on;
