//! The cooperative budget: how an always-ready task is made to give way.
//!
//! Before the executor polls a task it grants it a budget of operations.
//! Every resource that can complete without waiting (a socket read that
//! finds data, a `JoinHandle` of a finished task, a timer already due) takes
//! one unit through [`poll_proceed`]. When the budget is spent, the resource
//! answers `Pending` and wakes the task at once, so the task goes to the back
//! of the run queue, and timers and IO get their turn, even if its loop
//! never hits a real wait.

use std::cell::Cell;
use std::task::{Context, Poll};

/// Operations a task may complete in one poll before it must yield.
pub(crate) const BUDGET: u8 = 128;
const UNCONSTRAINED: u8 = u8::MAX;

thread_local! {
    static REMAINING: Cell<u8> = const { Cell::new(UNCONSTRAINED) };
}

/// Grants a fresh budget; the executor calls this before each poll.
pub(crate) fn reset() {
    let _ = REMAINING.try_with(|r| r.set(BUDGET));
}

/// Lifts the budget: polls outside a runtime's loop are not limited.
pub(crate) fn unconstrain() {
    let _ = REMAINING.try_with(|r| r.set(UNCONSTRAINED));
}

/// Takes one unit of budget, or returns `Pending` (after waking the task) if
/// none is left. Outside a runtime there is no budget and this is always ready.
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
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
