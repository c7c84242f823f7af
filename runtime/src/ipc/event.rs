//! [`Event`]: a flag shared by processes that others can wait for (the
//! course notes' `multiprocessing.Event`).
//!
//! The state is one 32-bit word in shared memory: bit 0 is the flag, bit 1
//! says that a caller may be asleep on the word (a futex, see `futex.rs`).
//! [`Event::set`] stores "set, no sleepers" in one swap and, if the old
//! value had sleepers, wakes them all; a waiter that finds the flag clear
//! marks itself as a sleeper and sleeps while the word stays as it saw it.
//! Nothing is owned, so a process that dies costs nothing: the flag stays
//! as it left it. These atomic steps are in `protocol.rs`, where
//! `tests/ipc_loom.rs` checks them under loom.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use super::futex::{Backoff, Word};
use super::protocol::event;
use super::region::Region;
use crate::pool::{DecodeError, Wire};

/// A flag shared by processes, like Python's `multiprocessing.Event`:
/// [`set`](Event::set) wakes everyone waiting in [`wait`](Event::wait)
/// (in any process), until [`clear`](Event::clear).
///
/// Share it as a [`Mutex`](super::Mutex) is shared: a clone is the same
/// event, and it implements [`Wire`] to travel to a `Process` or a pool job.
///
/// ```
/// # spindle_runtime::block_on(async {
/// use spindle_runtime::ipc::Event;
///
/// let ready = Event::new()?;
/// let other = ready.clone(); // e.g. handed to a child process
/// other.set();
/// ready.wait().await;
/// assert!(ready.is_set());
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct Event {
    word: Word,
}

impl Event {
    /// A new event, clear, in a fresh shared memory file.
    ///
    /// # Errors
    /// If the memory file cannot be created or mapped.
    pub fn new() -> io::Result<Event> {
        let region = Region::create(c"spindle-ipc-event", 4)?;
        Ok(Event {
            word: Word::new(region, 0),
        })
    }

    /// Sets the flag and wakes every waiter, in every process.
    pub fn set(&self) {
        if event::set(self.word.atomic()) {
            self.word.wake(u32::MAX);
        }
    }

    /// Clears the flag: later waiters wait again.
    pub fn clear(&self) {
        event::clear(self.word.atomic());
    }

    /// Whether the flag is set (a snapshot).
    pub fn is_set(&self) -> bool {
        event::is_set(self.word.atomic())
    }

    /// Waits until the flag is set (at once if it is). The wait happens on
    /// a blocking-pool thread: the task's thread runs other tasks
    /// meanwhile. Cancel-safe; put a [`timeout`](crate::time::timeout)
    /// around it to bound it.
    ///
    /// # Panics
    /// If it has to wait outside a runtime (use
    /// [`blocking_wait`](Event::blocking_wait) there).
    pub async fn wait(&self) {
        while let Some(expected) = self.attempt() {
            self.word.wait(expected, Backoff::MAX).await;
        }
    }

    /// Blocks this thread until the flag is set: for plain threads (in a
    /// task, use [`wait`](Event::wait)).
    pub fn blocking_wait(&self) {
        while let Some(expected) = self.attempt() {
            self.word.wait_blocking(expected, Backoff::MAX);
        }
    }

    /// Blocks this thread until the flag is set or `timeout` has passed,
    /// and returns whether it is set (Python's `wait(timeout)`).
    pub fn blocking_wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while let Some(expected) = self.attempt() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.word.wait_blocking(expected, left.min(Backoff::MAX));
        }
        true
    }

    /// `None` if the flag is set; else marks a sleeper and says what value
    /// to sleep on.
    fn attempt(&self) -> Option<u32> {
        event::attempt(self.word.atomic())
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}

impl Wire for Event {
    fn encode(&self, out: &mut Vec<u8>) {
        self.word.region().encode(out);
    }

    fn decode(input: &mut &[u8]) -> Result<Event, DecodeError> {
        let region = Region::decode(input, 4)?;
        Ok(Event {
            word: Word::new(region, 0),
        })
    }
}
