//! [`Instant`]: a point in time on the runtime's clock.
//!
//! It wraps `std::time::Instant` and differs from it in one place only:
//! [`Instant::now`] reads the current runtime's clock, which the test clock
//! can pause and advance (see [`pause`](super::pause)). Outside a runtime,
//! or with the clock running, the two read the same. Conversions both ways
//! are free (`From`, [`into_std`](Instant::into_std)), so an `Instant` from
//! std can be handed to [`sleep_until`](super::sleep_until) as
//! `deadline.into()`.
//!
//! As in tokio, subtracting a later instant from an earlier one gives zero
//! rather than panicking: the timers that use it never need a negative
//! duration, and a panic in the middle of a deadline computation helps no one.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::time::Duration;

use super::clock;

/// A measurement of the runtime's monotonic clock: like
/// `std::time::Instant`, but following the test clock when it is paused.
///
/// ```
/// use spindle_runtime::time::{Duration, Instant};
/// let start = Instant::now();
/// let later = start + Duration::from_millis(5);
/// assert_eq!(later.duration_since(start), Duration::from_millis(5));
/// assert_eq!(start.duration_since(later), Duration::ZERO); // saturates
/// let std_instant: std::time::Instant = later.into_std();
/// assert_eq!(Instant::from(std_instant), later);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    std: std::time::Instant,
}

impl Instant {
    /// The current time on the current runtime's clock (the system's
    /// monotonic clock outside a runtime or while the clock runs).
    pub fn now() -> Instant {
        Instant { std: clock::now() }
    }

    /// Wraps a `std::time::Instant`.
    pub fn from_std(std: std::time::Instant) -> Instant {
        Instant { std }
    }

    /// The `std::time::Instant` this one wraps.
    pub fn into_std(self) -> std::time::Instant {
        self.std
    }

    /// Time from `earlier` to `self`; zero if `earlier` is later.
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.std.saturating_duration_since(earlier.std)
    }

    /// Time from `earlier` to `self`, or `None` if `earlier` is later.
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.std.checked_duration_since(earlier.std)
    }

    /// Time from `earlier` to `self`; zero if `earlier` is later.
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        self.std.saturating_duration_since(earlier.std)
    }

    /// Time passed since `self`, on the runtime's clock (zero if `self` is
    /// in the future).
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(*self)
    }

    /// `self + duration`, or `None` if an `Instant` cannot hold it.
    pub fn checked_add(&self, duration: Duration) -> Option<Instant> {
        self.std.checked_add(duration).map(Instant::from_std)
    }

    /// `self - duration`, or `None` if an `Instant` cannot hold it.
    pub fn checked_sub(&self, duration: Duration) -> Option<Instant> {
        self.std.checked_sub(duration).map(Instant::from_std)
    }
}

impl From<std::time::Instant> for Instant {
    fn from(std: std::time::Instant) -> Instant {
        Instant::from_std(std)
    }
}

impl From<Instant> for std::time::Instant {
    fn from(instant: Instant) -> std::time::Instant {
        instant.into_std()
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// # Panics
    /// If the sum overflows; see [`Instant::checked_add`].
    fn add(self, rhs: Duration) -> Instant {
        Instant::from_std(self.std + rhs)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;

    /// # Panics
    /// If the difference underflows; see [`Instant::checked_sub`].
    fn sub(self, rhs: Duration) -> Instant {
        Instant::from_std(self.std - rhs)
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, rhs: Duration) {
        *self = *self - rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// Saturates at zero, as [`duration_since`](Instant::duration_since).
    fn sub(self, rhs: Instant) -> Duration {
        self.duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.std.fmt(f)
    }
}
