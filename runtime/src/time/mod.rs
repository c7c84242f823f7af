//! Time: sleeping, deadlines and periodic ticks.
//!
//! Every runtime has one `TimerWheel` (`wheel.rs`) on its own thread. A
//! [`Sleep`] puts an entry in it on first poll; the executor, at each turn,
//! asks the wheel how long it may block in `epoll_wait` (until the next
//! deadline) and afterwards fires every entry that is due, waking its task.
//! Resolution is one millisecond; insertion and cancellation are O(1), so a
//! million live timers cost one small slab entry each. A deadline beyond
//! the wheel's reach of about 2.2 years is carried forward until it is
//! really due, and one no `Instant` can hold (`sleep(Duration::MAX)`)
//! saturates to 30 years: no timer fires early, and none overflows.
//!
//! A `Sleep` dropped on another thread (it is `Send`) cannot touch the wheel;
//! it queues its key on the runtime's shared half and the runtime removes the
//! entry at its next turn. Likewise a `Sleep` polled on a thread that only
//! entered the runtime (a `spawn_blocking` closure) queues a
//! `RemoteTimer` that the loop inserts for it (`remote.rs`).

mod clock;
mod instant;
mod interval;
pub(crate) mod remote;
mod sleep;
mod timeout;
pub(crate) mod wheel;

pub(crate) use clock::Clock;
pub use clock::{advance, pause, resume};
pub use instant::Instant;
pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use sleep::{sleep, sleep_until, Sleep};
pub use std::time::Duration;
pub use timeout::{timeout, timeout_at, Elapsed, Timeout};

/// The errors of this module at tokio's path (`tokio::time::error::Elapsed`).
pub mod error {
    pub use super::Elapsed;
}
