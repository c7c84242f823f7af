//! [`Sleep`]: a future that completes at a deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use super::remote::{RemotePoll, RemoteTimer};
use super::Instant;
use futures_core::future::FusedFuture;

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
///
/// The deadline is an [`Instant`] of the runtime's clock; one from std
/// converts with `.into()`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline: Deadline::new(deadline),
        entry: TimerEntry::Unregistered {
            flags: Flags::default(),
        },
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
    deadline: Deadline,
    /// The wheel registration, with the flags in its spare bytes.
    entry: TimerEntry,
}

/// A `Sleep`'s two flags. They live inside its [`TimerEntry`], in the
/// bytes beside the enum's tag and the wheel key, which keeps a `Sleep`
/// at three words.
#[derive(Copy, Clone, Debug, Default)]
struct Flags {
    /// Made by [`advance`](super::advance): completes at the first turn of
    /// the loop that fires timers at (or after) `deadline`, rounded *down*
    /// to the wheel's millisecond, never before that turn, so that every
    /// other timer due by then is woken first.
    on_turn: bool,
    /// `poll` returned `Ready` (and no `reset` since): what
    /// [`FusedFuture::is_terminated`] reports.
    completed: bool,
}

/// A `Sleep`'s deadline in one word: signed nanoseconds from a fixed,
/// process-wide instant (taken the first time one is needed). A
/// `std::time::Instant` is two words; a million sleeping tasks keep a
/// million of these. Exact for any instant within about 292 years of that
/// base; one further away (only a deadline built by adding centuries by
/// hand) is held as the farthest representable instant, which never comes.
#[derive(Copy, Clone)]
struct Deadline(i64);

impl std::fmt::Debug for Deadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

/// The instant every `Deadline` counts from.
fn deadline_base() -> std::time::Instant {
    static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(std::time::Instant::now)
}

impl Deadline {
    fn new(at: Instant) -> Deadline {
        let (at, base) = (at.into_std(), deadline_base());
        let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        Deadline(match at.checked_duration_since(base) {
            Some(after) => nanos(after),
            None => -nanos(base.duration_since(at)),
        })
    }

    fn get(self) -> Instant {
        let base = deadline_base();
        let offset = Duration::from_nanos(self.0.unsigned_abs());
        let at = if self.0 >= 0 {
            base.checked_add(offset)
        } else {
            base.checked_sub(offset)
        };
        // Both directions were measured from real instants, so the sum
        // exists; `base` is only a fallback for the clamped extremes.
        Instant::from_std(at.unwrap_or(base))
    }
}

/// Where a `Sleep`'s timer lives, if anywhere, and the sleep's flags.
///
/// Two words: the common case, a timer in the wheel of the runtime's own
/// thread, keeps the runtime and a 32-bit wheel key (the wheel never holds
/// more than `u32::MAX` timers) beside the enum's tag and the flags; the
/// rare remote case is boxed. A million sleeping tasks hold a million of
/// these, so each word saved is a megabyte (see docs/architecture.md,
/// "Memory per task").
enum TimerEntry {
    /// Not registered (not polled yet, completed, or moving).
    Unregistered { flags: Flags },
    /// In the wheel of the runtime running on the thread that polled it.
    Local {
        shared: Arc<Shared>,
        key: u32,
        flags: Flags,
    },
    /// Registered from a thread that only entered the runtime (see `remote.rs`).
    Remote {
        remote: Box<RemoteEntry>,
        flags: Flags,
    },
}

impl TimerEntry {
    fn flags(&self) -> Flags {
        match self {
            TimerEntry::Unregistered { flags }
            | TimerEntry::Local { flags, .. }
            | TimerEntry::Remote { flags, .. } => *flags,
        }
    }

    fn flags_mut(&mut self) -> &mut Flags {
        match self {
            TimerEntry::Unregistered { flags }
            | TimerEntry::Local { flags, .. }
            | TimerEntry::Remote { flags, .. } => flags,
        }
    }

    /// Takes the registration out, keeping the flags.
    fn take(&mut self) -> TimerEntry {
        let flags = self.flags();
        std::mem::replace(self, TimerEntry::Unregistered { flags })
    }
}

/// A timer registered through [`Shared::insert_timer_remote`].
struct RemoteEntry {
    shared: Arc<Shared>,
    timer: Arc<RemoteTimer>,
}

impl std::fmt::Debug for TimerEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TimerEntry::Unregistered { flags } => f
                .debug_struct("Unregistered")
                .field("flags", flags)
                .finish(),
            TimerEntry::Local { key, flags, .. } => f
                .debug_struct("Local")
                .field("key", key)
                .field("flags", flags)
                .finish(),
            TimerEntry::Remote { remote, flags } => f
                .debug_struct("Remote")
                .field("deadline", &remote.timer.deadline)
                .field("flags", flags)
                .finish(),
        }
    }
}

impl Sleep {
    /// The sleep behind [`advance`](super::advance): see `on_turn`.
    pub(crate) fn next_turn_at(deadline: std::time::Instant) -> Sleep {
        Sleep {
            deadline: Deadline::new(deadline.into()),
            entry: TimerEntry::Unregistered {
                flags: Flags {
                    on_turn: true,
                    completed: false,
                },
            },
        }
    }

    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline.get()
    }

    /// True if the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline.get()
    }

    /// Moves the deadline; the next poll registers the new one. A sleep
    /// that had completed waits again.
    pub fn reset(&mut self, deadline: Instant) {
        self.release();
        self.deadline = Deadline::new(deadline);
        *self.entry.flags_mut() = Flags::default();
    }

    fn release(&mut self) {
        let (shared, key) = match self.entry.take() {
            TimerEntry::Unregistered { .. } => return,
            TimerEntry::Local { shared, key, .. } => (shared, key as usize),
            TimerEntry::Remote { remote, .. } => match remote.timer.cancel() {
                Some(key) => (remote.shared, key),
                None => return, // never reached the wheel
            },
        };
        let local = context::with_current(|local| match local {
            Some(l) if Arc::ptr_eq(&l.shared, &shared) => {
                l.timers.borrow_mut().remove(key);
                true
            }
            _ => false,
        });
        if !local {
            shared.cancel_timer_remote(key);
        }
    }

    pub(crate) fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // At most twice round: a timer registered just now may have been
        // fired on insert (see `TimerWheel::insert_on_turn`).
        for _ in 0..2 {
            let fired = match &self.entry {
                TimerEntry::Local { shared, key, .. } => {
                    context::with_current(|local| match local {
                        Some(l) if Arc::ptr_eq(&l.shared, shared) => {
                            Some(l.timers.borrow_mut().poll(*key as usize, cx.waker()))
                        }
                        // Moved to another runtime: register there instead.
                        _ => None,
                    })
                }
                TimerEntry::Remote { remote, .. } => match remote.timer.poll(cx.waker()) {
                    RemotePoll::Fired => Some(true),
                    RemotePoll::Pending => Some(false),
                    // Its runtime shut down: register with the current one.
                    RemotePoll::Orphaned => None,
                },
                TimerEntry::Unregistered { .. } => None,
            };
            match fired {
                Some(true) => {
                    self.release();
                    return Poll::Ready(());
                }
                Some(false) => return Poll::Pending,
                None => self.release(),
            }
            if !self.entry.flags().on_turn && Instant::now() >= self.deadline.get() {
                return Poll::Ready(());
            }
            self.entry = self.register(cx);
        }
        Poll::Pending
    }

    /// Puts the timer in the current runtime's wheel: directly on the
    /// runtime's own thread, through the shared half from a thread that
    /// only entered the runtime (a worker's, for a multi-threaded runtime,
    /// whose `block_on` thread turns its wheel only inside a `block_on`:
    /// `context::current_io_shared`).
    fn register(&self, cx: &Context<'_>) -> TimerEntry {
        let local = context::with_current(|local| {
            local.map(|l| {
                let mut timers = l.timers.borrow_mut();
                let deadline = self.deadline.get().into_std();
                let key = if self.entry.flags().on_turn {
                    timers.insert_on_turn(deadline, cx.waker())
                } else {
                    timers.insert(deadline, cx.waker())
                };
                TimerEntry::Local {
                    key: u32::try_from(key).expect("wheel keys fit in 32 bits"),
                    shared: l.shared.clone(),
                    flags: self.entry.flags(),
                }
            })
        });
        if let Some(entry) = local {
            return entry;
        }
        let shared = context::current_io_shared().expect(
            "a spindle timer was polled outside a runtime; timers work inside block_on, \
             a spawned task, a spawn_blocking closure or under Handle::enter",
        );
        let timer = RemoteTimer::new(self.deadline.get().into_std(), cx.waker());
        if !shared.insert_timer_remote(timer.clone()) {
            panic!(
                "a spindle timer was polled on a thread that entered a runtime that has shut down"
            );
        }
        TimerEntry::Remote {
            remote: Box::new(RemoteEntry { shared, timer }),
            flags: self.entry.flags(),
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        ready!(this.poll_elapsed(cx));
        // Only a ready answer spends cooperative budget.
        ready!(coop::poll_proceed(cx));
        this.entry.flags_mut().completed = true;
        Poll::Ready(())
    }
}

/// A `Sleep` that has completed says so, so `futures::select!` skips it
/// without needing `.fuse()`; [`Sleep::reset`] makes it pending again.
impl FusedFuture for Sleep {
    fn is_terminated(&self) -> bool {
        self.entry.flags().completed
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleep_is_three_words() {
        // The deadline (one word), the wheel registration with the flags
        // beside its tag and key (two).
        assert_eq!(std::mem::size_of::<Sleep>(), 24);
    }

    #[test]
    fn deadlines_round_trip_exactly_on_both_sides_of_the_base() {
        let now = std::time::Instant::now();
        let base = deadline_base();
        for at in [
            now,
            base,
            base + Duration::from_nanos(1),
            now + Duration::from_millis(1_234_567),
            now + Duration::from_secs(86_400 * 365 * 30),
            base.checked_sub(Duration::from_nanos(1)).unwrap_or(base),
        ] {
            let at = Instant::from_std(at);
            assert_eq!(Deadline::new(at).get(), at);
        }
    }
}
