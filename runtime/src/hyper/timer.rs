//! [`Timer`]: hyper's timer, backed by spindle's timer wheel.
//!
//! hyper asks its timer for boxed sleeps (`Pin<Box<dyn hyper::rt::Sleep>>`)
//! for header-read timeouts, keep-alive pings and the like, and asks it to
//! `reset` one when a deadline moves. spindle's own
//! [`Sleep`](crate::time::Sleep) implements `hyper::rt::Sleep`, so the box
//! holds it directly, and `reset` finds it again by downcasting and moves
//! its deadline in place ([`Sleep::reset`](crate::time::Sleep::reset)):
//! no new allocation, no new timer registration until it is next polled.

use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::time::{self, Sleep};

/// hyper's timer on spindle: hand it to a connection builder's `.timer(..)`.
///
/// Its sleeps are spindle [`Sleep`]s, so they need a spindle runtime when
/// polled, and follow the runtime's clock (including a paused test clock).
#[derive(Debug, Default, Clone, Copy)]
pub struct Timer {
    _private: (),
}

impl Timer {
    /// A timer using the current spindle runtime's timer wheel.
    pub fn new() -> Timer {
        Timer { _private: () }
    }
}

impl hyper::rt::Sleep for Sleep {}

impl hyper::rt::Timer for Timer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(time::sleep(duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(time::sleep_until(deadline.into()))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<Sleep>() {
            // One of ours: move its deadline where it stands.
            Some(mut ours) => ours.as_mut().get_mut().reset(new_deadline.into()),
            // Made by some other timer: replace it.
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}
