//! [`Sleep`]: a future that completes at a deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use crate::coop;
use crate::executor::{context, Shared};

/// Waits until `duration` has passed.
///
/// Resolution is one millisecond; the sleep never ends early.
///
/// ```
/// # spindle_runtime::block_on(async {
/// use std::time::Duration;
/// spindle_runtime::time::sleep(Duration::from_millis(5)).await;
/// # });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(deadline_after(Instant::now(), duration))
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        entry: None,
    }
}

/// `at + duration`, saturating: a sum an `Instant` cannot hold (say
/// `Duration::MAX`) becomes the far future, about 30 years from now (or
/// `at` itself if that is later still), instead of panicking.
///
/// Thirty years is "never" for any process; the wheel holds such a
/// deadline like any other beyond its reach and never fires it early.
pub(crate) fn deadline_after(at: Instant, duration: Duration) -> Instant {
    at.checked_add(duration)
        .unwrap_or_else(|| far_future().max(at))
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// It registers with the runtime's timer wheel the first time it is polled,
/// and leaves the wheel when it completes or is dropped.
#[must_use = "futures do nothing unless you .await or poll them"]
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
    entry: Option<TimerEntry>,
}

/// Where a sleep's timer lives: which runtime's wheel, and its key there.
struct TimerEntry {
    shared: Arc<Shared>,
    key: usize,
}

impl std::fmt::Debug for TimerEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerEntry")
            .field("key", &self.key)
            .finish()
    }
}

impl Sleep {
    /// The instant at which this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Moves the deadline; the sleep can be awaited again afterwards.
    pub fn reset(&mut self, deadline: Instant) {
        self.release();
        self.deadline = deadline;
    }

    /// Leaves the wheel, from whatever thread we are on.
    fn release(&mut self) {
        if let Some(entry) = self.entry.take() {
            let local = context::with_current(|local| match local {
                Some(l) if Arc::ptr_eq(&l.shared, &entry.shared) => {
                    l.timers.borrow_mut().remove(entry.key);
                    true
                }
                _ => false,
            });
            if !local {
                entry.shared.cancel_timer_remote(entry.key);
            }
        }
    }

    /// Polls without taking from the cooperative budget (used by `Timeout`,
    /// so a deadline still fires when the inner future spent the budget).
    pub(crate) fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let registered_here = context::with_current(|local| {
            let local = local.expect(
                "a spindle timer was polled outside a runtime; \
                 timers work inside block_on or a spawned task",
            );
            if let Some(entry) = &self.entry {
                if Arc::ptr_eq(&local.shared, &entry.shared) {
                    let fired = local.timers.borrow_mut().poll(entry.key, cx.waker());
                    return Some(fired);
                }
                // Moved to another runtime: fall through and re-register.
                return None;
            }
            if Instant::now() >= self.deadline {
                return Some(true);
            }
            let key = local.timers.borrow_mut().insert(self.deadline, cx.waker());
            self.entry = Some(TimerEntry {
                shared: local.shared.clone(),
                key,
            });
            Some(false)
        });
        match registered_here {
            Some(true) => {
                self.release();
                Poll::Ready(())
            }
            Some(false) => Poll::Pending,
            None => {
                self.release();
                self.poll_elapsed(cx)
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        ready!(self.get_mut().poll_elapsed(cx));
        // Only a ready answer spends cooperative budget.
        coop::poll_proceed(cx)
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.release();
    }
}
