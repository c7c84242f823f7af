//! [`Semaphore`]: a count of permits shared by processes (the course notes'
//! `multiprocessing.Semaphore`), to let at most N of them into a section
//! at once.
//!
//! The state is one 32-bit word in shared memory: the number of free
//! permits in bits 0..30, and in bit 31 a *waiters* flag. Taking a permit
//! is a compare-and-swap that decrements a non-zero count; a caller that
//! finds none sets the flag and sleeps on the word (a futex, see
//! `futex.rs`). Releasing increments the count and, if the flag was set,
//! clears it and wakes every sleeper: each looks again, one or more take
//! the new permits, the others set the flag again and go back to sleep.
//! (Waking them all keeps the flag honest without counting sleepers, which
//! a killed process could not un-count.) These atomic steps are in
//! `protocol.rs`, where `tests/ipc_loom.rs` checks them under loom.
//!
//! Unlike a [`Mutex`](super::Mutex), a permit has no owner: one process may
//! take it and another give it back ([`SemaphorePermit::forget`] then
//! [`Semaphore::release`]), as Python allows. So a permit held by a process
//! that dies is lost, as with Python's (and POSIX) semaphores: put a
//! [`timeout`](crate::time::timeout) around [`Semaphore::acquire`] where
//! that matters.

use std::fmt;
use std::io;
use std::sync::atomic::Ordering;

use super::futex::{Backoff, Word};
use super::protocol::semaphore::{self, COUNT};
use super::region::Region;
use crate::pool::{DecodeError, Wire};

/// A semaphore shared by processes, like Python's
/// `multiprocessing.Semaphore`.
///
/// Share it as a [`Mutex`](super::Mutex) is shared: a clone is the same
/// semaphore, and it implements [`Wire`] to travel to a `Process` or a pool
/// job.
///
/// ```
/// # spindle_runtime::block_on(async {
/// use spindle_runtime::ipc::Semaphore;
///
/// let sem = Semaphore::new(2)?;
/// let a = sem.acquire().await;
/// let b = sem.acquire().await;
/// assert!(sem.try_acquire().is_none());
/// drop(a);
/// assert_eq!(sem.available_permits(), 1);
/// # drop(b);
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct Semaphore {
    word: Word,
}

/// A permit of a [`Semaphore`], given back when dropped (or kept for good
/// with [`forget`](SemaphorePermit::forget)).
#[must_use = "the permit is released as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    semaphore: &'a Semaphore,
}

impl Semaphore {
    /// The most permits a semaphore can hold: 2^31 - 1.
    pub const MAX_PERMITS: u32 = COUNT;

    /// A new semaphore with `permits` free permits, in a fresh shared
    /// memory file.
    ///
    /// # Errors
    /// `InvalidInput` if `permits` is above [`MAX_PERMITS`](Self::MAX_PERMITS);
    /// otherwise, if the memory file cannot be created or mapped.
    pub fn new(permits: u32) -> io::Result<Semaphore> {
        if permits > Semaphore::MAX_PERMITS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a semaphore holds at most 2^31 - 1 permits",
            ));
        }
        let region = Region::create(c"spindle-ipc-semaphore", 4)?;
        let word = Word::new(region, 0);
        word.atomic().store(permits, Ordering::Release);
        Ok(Semaphore { word })
    }

    /// Takes a permit, waiting (on a blocking-pool thread, so the task's
    /// thread runs other tasks meanwhile) until one is free.
    ///
    /// Cancel-safe: dropping the future at any point takes no permit.
    ///
    /// # Panics
    /// If it has to wait outside a runtime (use
    /// [`blocking_acquire`](Semaphore::blocking_acquire) there).
    pub async fn acquire(&self) -> SemaphorePermit<'_> {
        loop {
            match self.attempt() {
                None => return self.permit(),
                // No owner to check on: sleep long, bounded only so that a
                // pool thread whose task went away does not linger.
                Some(expected) => self.word.wait(expected, Backoff::MAX).await,
            };
        }
    }

    /// Takes a permit, blocking this thread until one is free: for plain
    /// threads (in a task, use [`acquire`](Semaphore::acquire)).
    pub fn blocking_acquire(&self) -> SemaphorePermit<'_> {
        loop {
            match self.attempt() {
                None => return self.permit(),
                Some(expected) => self.word.wait_blocking(expected, Backoff::MAX),
            };
        }
    }

    /// Takes a permit if one is free, without waiting.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.try_take().ok().map(|()| self.permit())
    }

    /// Adds a permit (Python's `release()`): for a permit taken with
    /// [`SemaphorePermit::forget`], perhaps in another process. Dropping a
    /// [`SemaphorePermit`] does this by itself.
    ///
    /// # Panics
    /// If the semaphore already holds [`MAX_PERMITS`](Self::MAX_PERMITS).
    pub fn release(&self) {
        if semaphore::release(self.word.atomic()) {
            self.word.wake(u32::MAX);
        }
    }

    /// The free permits now (a snapshot).
    pub fn available_permits(&self) -> u32 {
        self.word.atomic().load(Ordering::Relaxed) & COUNT
    }

    fn permit(&self) -> SemaphorePermit<'_> {
        SemaphorePermit { semaphore: self }
    }

    /// Takes a permit if there is one; else the word as seen.
    fn try_take(&self) -> Result<(), u32> {
        semaphore::try_take(self.word.atomic())
    }

    /// Takes a permit (`None`), or sets the waiters flag and says what
    /// value to sleep on.
    fn attempt(&self) -> Option<u32> {
        semaphore::attempt(self.word.atomic())
    }
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken for good: no release on drop. Give it back
    /// with [`Semaphore::release`], from this process or another.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.semaphore.release();
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .finish()
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

impl Wire for Semaphore {
    fn encode(&self, out: &mut Vec<u8>) {
        self.word.region().encode(out);
    }

    fn decode(input: &mut &[u8]) -> Result<Semaphore, DecodeError> {
        let region = Region::decode(input, 4)?;
        Ok(Semaphore {
            word: Word::new(region, 0),
        })
    }
}
