//! [`WakeList`]: wakers collected under a lock, woken after it is released.
//!
//! A `Waker` may run arbitrary code when called: push onto another
//! runtime's queue, unpark a thread, or take the very lock its caller
//! holds. So no code in this crate calls one under a lock. Instead the
//! waking side collects the wakers into a `WakeList` while it holds the
//! lock, drops the guard, and then wakes them all:
//!
//! ```
//! use std::sync::Mutex;
//! use std::task::Waker;
//! use spindle_sync::wake_list::WakeList;
//!
//! let waiting: Mutex<Vec<Waker>> = Mutex::new(vec![Waker::noop().clone()]);
//! let mut wakers = WakeList::new();
//! for waker in waiting.lock().unwrap().drain(..) {
//!     wakers.push(Some(waker));
//! } // the lock is released here
//! wakers.wake_all();
//! ```
//!
//! It is public because a runtime needs the same thing: spindle's IO
//! driver collects the wakers of every descriptor an event touched, under
//! the registration's lock, and wakes them afterwards.

use std::task::Waker;

/// How many wakers a [`WakeList`] holds without allocating.
const INLINE: usize = 8;

/// Wakers collected under a lock, to be woken after it is released.
///
/// The first few are kept inline, so handing a lock or a permit to one
/// waiter allocates nothing. Anything still in the list when it is dropped
/// is woken then, so an early return cannot lose a wake-up; still, call
/// [`wake_all`](Self::wake_all) explicitly after dropping the guard.
#[derive(Debug)]
pub struct WakeList {
    inline: [Option<Waker>; INLINE],
    len: usize,
    spill: Vec<Waker>,
}

impl WakeList {
    /// An empty list.
    pub const fn new() -> WakeList {
        WakeList {
            inline: [const { None }; INLINE],
            len: 0,
            spill: Vec::new(),
        }
    }

    /// Adds a waker (a `None`, from a waiter that never stored one, is ignored).
    pub fn push(&mut self, waker: Option<Waker>) {
        let Some(waker) = waker else { return };
        if self.len < INLINE {
            self.inline[self.len] = Some(waker);
            self.len += 1;
        } else {
            self.spill.push(waker);
        }
    }

    /// Wakes everything collected, in the order it was pushed.
    pub fn wake_all(mut self) {
        self.wake_collected();
    }

    fn wake_collected(&mut self) {
        for slot in &mut self.inline[..self.len] {
            if let Some(waker) = slot.take() {
                waker.wake();
            }
        }
        self.len = 0;
        for waker in self.spill.drain(..) {
            waker.wake();
        }
    }
}

impl Default for WakeList {
    fn default() -> WakeList {
        WakeList::new()
    }
}

impl Drop for WakeList {
    fn drop(&mut self) {
        self.wake_collected();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn wake_list_spills() {
        let mut wakers = WakeList::new();
        for _ in 0..20 {
            wakers.push(Some(Waker::noop().clone()));
        }
        wakers.push(None);
        assert_eq!(wakers.len, INLINE);
        assert_eq!(wakers.spill.len(), 20 - INLINE);
        wakers.wake_all();
    }
}
