//! [`Interval`]: ticks at a fixed period.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_core::stream::FusedStream;

use super::sleep::{deadline_after, sleep_until, Sleep};
use super::Instant;

/// What an [`Interval`] does when ticks were missed (the task was busy for
/// longer than a period).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks back to back until caught up (the default).
    #[default]
    Burst,
    /// Start counting periods again from now.
    Delay,
    /// Drop the missed ticks and keep to the original schedule.
    Skip,
}

/// Ticks every `period`; the first tick completes at once.
///
/// A period too long to add to an [`Instant`] (such as `Duration::MAX`)
/// puts the next tick in the far future (about 30 years away): in effect,
/// the interval ticks once.
///
/// # Panics
/// If `period` is zero.
///
/// ```
/// # spindle_runtime::block_on(async {
/// use spindle_runtime::time::interval;
/// use std::time::Duration;
/// let mut every = interval(Duration::from_millis(2));
/// for _ in 0..3 {
///     every.tick().await;
/// }
/// # });
/// ```
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks every `period`, the first time at `start` (an [`Instant`] of the
/// runtime's clock).
///
/// # Panics
/// If `period` is zero.
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(!period.is_zero(), "interval period must be non-zero");
    Interval {
        sleep: sleep_until(start),
        period,
        missed: MissedTickBehavior::default(),
    }
}

/// A stream of instants, one per period. See [`interval`].
#[derive(Debug)]
pub struct Interval {
    sleep: Sleep,
    period: Duration,
    missed: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns when it was scheduled.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        ready!(self.sleep.poll_elapsed(cx));
        ready!(crate::coop::poll_proceed(cx));
        let scheduled = self.sleep.deadline();
        let now = Instant::now();
        // Every sum saturates (see `deadline_after`): a period too long for
        // an `Instant`, up to `Duration::MAX`, means the next tick is in
        // the far future rather than a panic.
        let mut next = deadline_after(scheduled, self.period);
        if next <= now {
            next = match self.missed {
                MissedTickBehavior::Burst => next,
                MissedTickBehavior::Delay => deadline_after(now, self.period),
                MissedTickBehavior::Skip => {
                    let period = self.period.as_nanos();
                    let behind = now.duration_since(scheduled).as_nanos();
                    let skip = (behind / period + 1).saturating_mul(period);
                    let skip = Duration::from_nanos(u64::try_from(skip).unwrap_or(u64::MAX));
                    deadline_after(scheduled, skip)
                }
            };
        }
        self.sleep.reset(next);
        Poll::Ready(scheduled)
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.reset_at(deadline_after(Instant::now(), self.period));
    }

    /// Restarts the schedule: the next tick is now (the following ones a
    /// period apart from it).
    pub fn reset_immediately(&mut self) {
        self.reset_at(Instant::now());
    }

    /// Restarts the schedule: the next tick is `after` from now.
    pub fn reset_after(&mut self, after: Duration) {
        self.reset_at(deadline_after(Instant::now(), after));
    }

    /// Restarts the schedule: the next tick is at `deadline`.
    pub fn reset_at(&mut self, deadline: Instant) {
        self.sleep.reset(deadline);
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The current missed-tick behaviour.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// Chooses what happens to missed ticks.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }
}

impl futures_core::Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}

/// An interval never ends, so `futures::select!` may always poll it.
impl FusedStream for Interval {
    fn is_terminated(&self) -> bool {
        false
    }
}
