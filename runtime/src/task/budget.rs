//! The cooperative budget, seen from a task: [`consume_budget`] spends a
//! unit of it by hand, and [`unconstrained`] lifts it for one future.
//!
//! Every task gets a budget of operations per poll (`spindle_sync::coop`):
//! a socket read that finds data, a lock that is free, a due timer each
//! take one unit, and once it is spent they answer `Pending` (waking the
//! task at once), so a task whose loop never waits still gives the rest of
//! the runtime a turn. A loop that spends no budget (pure computation, or
//! calls into something that does not know the budget) can join in with
//! [`consume_budget`]; a future that must not be interrupted that way can
//! opt out with [`unconstrained`].

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::coop;

/// Spends one unit of the task's budget; if none is left, yields to the
/// runtime first (the task is woken at once and goes to the back of the
/// queue). Outside a runtime it is always ready.
///
/// ```
/// # spindle_runtime::block_on(async {
/// let mut sum = 0u64;
/// for i in 0..1_000_000u64 {
///     sum += i;
///     // Lets other tasks run now and then, without a yield on every turn.
///     spindle_runtime::task::consume_budget().await;
/// }
/// assert_eq!(sum, 499_999_500_000);
/// # });
/// ```
pub async fn consume_budget() {
    poll_fn(coop::poll_proceed).await
}

pin_project_lite::pin_project! {
    /// The future of [`unconstrained`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Unconstrained<F> {
        #[pin]
        inner: F,
    }
}

/// Polls `inner` with the cooperative budget lifted: its sockets, locks and
/// timers never answer `Pending` for budget's sake. A future that never
/// waits then never gives the runtime a turn, so keep this for short
/// bursts that must not be split.
pub fn unconstrained<F: Future>(inner: F) -> Unconstrained<F> {
    Unconstrained { inner }
}

impl<F: Future> Future for Unconstrained<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let inner = self.project().inner;
        coop::with_unconstrained(|| inner.poll(cx))
    }
}
