//! The runtime's clock, and the test clock built into it: [`pause`],
//! [`resume`] and [`advance`].
//!
//! # One clock per runtime
//!
//! Every runtime owns a [`Clock`] (in its shared half, so threads that only
//! *entered* the runtime read the same one). Normally it is the system's
//! monotonic clock and costs one relaxed atomic load on top of
//! `std::time::Instant::now()`. Everything in `time` that asks "what time
//! is it" asks it (through [`now`]): [`Instant::now`](super::Instant::now),
//! the deadline a [`sleep`](super::sleep) computes, and the loop, which
//! fires the timer wheel's entries at the clock's time.
//!
//! # Pausing it
//!
//! [`pause`] freezes the clock: from then on it moves only when told to.
//! Two things move it:
//!
//! * [`advance`]`(d).await` adds `d`, then waits for the loop to take one
//!   turn of the reactor, so that every timer due by the new time has been
//!   woken when it returns (the woken tasks may not have run yet).
//! * **Auto-advance.** When the loop has nothing to run and would block
//!   until the next timer, a paused clock jumps straight to that timer's
//!   deadline instead (after checking, with a zero-timeout wait, that no IO
//!   event is pending either). So a test of a one-hour timeout runs in
//!   microseconds, and the order in which its timers fire is exactly the
//!   order of their deadlines, not the luck of the scheduler. While a
//!   `spawn_blocking` job is queued or running the loop does not jump: that
//!   job is work in progress, and it waits on the real clock as usual.
//!
//! [`resume`] lets the clock run again from where it stood: it never goes
//! back, so after an advance it stays ahead of the system clock.
//!
//! Pausing rounds the frozen time up to the timer wheel's next millisecond
//! boundary (a jump of less than a millisecond, forward), so that sleeps of
//! whole milliseconds end exactly at their deadline when the clock jumps to
//! them: with the clock paused, `Instant::now()` after `sleep(ms(100))` is
//! the instant before plus exactly 100 ms.
//!
//! All runtimes here run on the thread that calls `block_on` (tokio's
//! "current-thread" flavour), which is what the test clock needs: tokio
//! offers it on that flavour only, for the same reason (with several
//! worker threads "nothing to do" is not a single thread's decision).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant as StdInstant};

use crate::executor::context;

/// A runtime's clock: the system's, or a paused one.
#[derive(Debug)]
pub(crate) struct Clock {
    /// The instant the runtime's timer wheel counts its ticks from.
    start: StdInstant,
    /// Set by the first `pause`: until then the clock is the system clock
    /// and `now` need not take the lock.
    shifted: AtomicBool,
    /// The clock is paused right now (read by the loop at every turn).
    frozen: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The clock's time when it was last paused, plus every advance since.
    base: StdInstant,
    /// When the clock last resumed (system time); `None` while paused.
    /// Running, the clock reads `base + unfrozen.elapsed()`.
    unfrozen: Option<StdInstant>,
}

/// Why a clock operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClockError {
    AlreadyFrozen,
    NotFrozen,
    Overflow,
}

impl ClockError {
    fn message(self) -> &'static str {
        match self {
            ClockError::AlreadyFrozen => "time::pause: the clock is already paused",
            ClockError::NotFrozen => {
                "the clock is not paused: call time::pause() first (or start the runtime paused)"
            }
            ClockError::Overflow => "time::advance: the new time is beyond what an Instant holds",
        }
    }
}

impl Clock {
    /// A running clock whose wheel counts from `start`.
    pub(crate) fn new(start: StdInstant) -> Clock {
        Clock {
            start,
            shifted: AtomicBool::new(false),
            frozen: AtomicBool::new(false),
            state: Mutex::new(State {
                base: start,
                unfrozen: Some(start),
            }),
        }
    }

    /// The instant the timer wheel counts from.
    pub(crate) fn start(&self) -> StdInstant {
        self.start
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The clock's current time.
    pub(crate) fn now(&self) -> StdInstant {
        if !self.shifted.load(Ordering::Acquire) {
            return StdInstant::now();
        }
        let state = self.lock();
        match state.unfrozen {
            None => state.base,
            Some(since) => state.base + since.elapsed(),
        }
    }

    /// True while the clock is paused.
    pub(crate) fn is_paused(&self) -> bool {
        self.frozen.load(Ordering::Acquire)
    }

    /// Freezes the clock, at the next millisecond of the wheel.
    pub(crate) fn pause(&self) -> Result<(), ClockError> {
        let mut state = self.lock();
        let Some(since) = state.unfrozen else {
            return Err(ClockError::AlreadyFrozen);
        };
        let now = state.base + since.elapsed();
        let offset = now.saturating_duration_since(self.start).as_nanos();
        let aligned = offset.div_ceil(1_000_000) * 1_000_000;
        let round_up = Duration::from_nanos((aligned - offset) as u64);
        state.base = now + round_up;
        state.unfrozen = None;
        self.shifted.store(true, Ordering::Release);
        self.frozen.store(true, Ordering::Release);
        Ok(())
    }

    /// Lets the clock run again from where it stands.
    pub(crate) fn resume(&self) -> Result<(), ClockError> {
        let mut state = self.lock();
        if state.unfrozen.is_some() {
            return Err(ClockError::NotFrozen);
        }
        state.unfrozen = Some(StdInstant::now());
        self.frozen.store(false, Ordering::Release);
        Ok(())
    }

    /// Moves a paused clock forward by `by`; returns the new time.
    pub(crate) fn advance(&self, by: Duration) -> Result<StdInstant, ClockError> {
        let mut state = self.lock();
        if state.unfrozen.is_some() {
            return Err(ClockError::NotFrozen);
        }
        state.base = state.base.checked_add(by).ok_or(ClockError::Overflow)?;
        Ok(state.base)
    }

    /// Moves a paused clock forward to `to` (the loop's auto-advance); a
    /// running clock, or a time already passed, is left alone.
    pub(crate) fn advance_to(&self, to: StdInstant) {
        let mut state = self.lock();
        if state.unfrozen.is_none() && to > state.base {
            state.base = to;
        }
    }
}

/// The current runtime's time, or the system's outside any runtime.
pub(crate) fn now() -> StdInstant {
    if let Some(now) = context::with_current(|local| local.map(|l| l.shared.clock.now())) {
        return now;
    }
    match context::current_shared() {
        Some(shared) => shared.clock.now(),
        None => StdInstant::now(),
    }
}

fn current_clock_op<R>(what: &str, op: impl FnOnce(&Clock) -> Result<R, ClockError>) -> R {
    let Some(shared) = context::current_shared() else {
        panic!("{what} called outside a spindle runtime: the test clock belongs to a runtime");
    };
    if shared.mt.get().is_some() {
        panic!(
            "{what} needs a current-thread runtime: the test clock jumps when its one \
             loop is idle, and a multi-threaded runtime has a loop per worker"
        );
    }
    match op(&shared.clock) {
        Ok(r) => r,
        Err(e) => panic!("{}", e.message()),
    }
}

/// Pauses the current runtime's clock (the test clock).
///
/// From here on [`Instant::now`](super::Instant::now) stands still except
/// when [`advance`] moves it, or when the runtime has nothing to run but
/// timers: then it jumps straight to the next timer's deadline. A test of
/// a one-hour timeout therefore takes microseconds, and timers fire in
/// deadline order, deterministically. See the module docs of
/// `time/clock.rs` for the details.
///
/// ```
/// use spindle_runtime::time::{self, Duration, Instant};
/// let rt = spindle_runtime::Runtime::builder().current_thread().build().unwrap();
/// rt.block_on(async {
///     time::pause();
///     let start = Instant::now();
///     time::sleep(Duration::from_secs(3600)).await; // returns at once
///     assert_eq!(start.elapsed(), Duration::from_secs(3600));
/// });
/// ```
///
/// # Panics
/// Outside a runtime, on a multi-threaded runtime (the clock jumps when the
/// runtime's one loop is idle), or if the clock is already paused.
#[track_caller]
pub fn pause() {
    current_clock_op("time::pause()", Clock::pause)
}

/// Lets the current runtime's paused clock run again, from where it stands
/// (it never goes back).
///
/// # Panics
/// Outside a runtime, or if the clock is not paused.
#[track_caller]
pub fn resume() {
    current_clock_op("time::resume()", Clock::resume)
}

/// Moves the current runtime's paused clock forward by `duration`, then
/// waits for one turn of the runtime's timers, so that every timer due by
/// the new time has been woken when this returns.
///
/// Timers fire on whole milliseconds of the runtime's timer wheel: one
/// whose deadline falls within the last, partial millisecond stays
/// pending, and fires when the clock next moves.
///
/// ```
/// use spindle_runtime::time::{self, Duration, Instant};
/// let rt = spindle_runtime::Runtime::builder().current_thread().build().unwrap();
/// rt.block_on(async {
///     time::pause();
///     let start = Instant::now();
///     time::advance(Duration::from_millis(250)).await;
///     assert_eq!(Instant::now() - start, Duration::from_millis(250));
/// });
/// ```
///
/// # Panics
/// Outside a runtime, or if the clock is not paused.
pub async fn advance(duration: Duration) {
    let until = current_clock_op("time::advance()", |clock| clock.advance(duration));
    super::sleep::Sleep::next_turn_at(until).await;
}
