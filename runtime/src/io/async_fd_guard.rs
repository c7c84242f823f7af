//! The guards of [`AsyncFd`]'s readiness waits, [`AsyncFdReadyGuard`] and
//! [`AsyncFdReadyMutGuard`], and the [`TryIoError`] of their `try_io`.
//!
//! A guard holds the readiness snapshot its wait returned (a driver
//! `ReadyEvent`: the bits seen and the tick they were seen at). Clearing
//! hands that snapshot back to the driver, which forgets exactly those
//! bits unless newer readiness has arrived since (see `AsyncFd`'s docs,
//! "How readiness works"). Dropping a guard keeps the readiness.

use std::error::Error;
use std::fmt;
use std::io;
use std::os::fd::AsRawFd;

use crate::driver::{ReadyEvent, Registration};

use super::{AsyncFd, Ready};

/// The error of a guard's `try_io` when the operation would block: the
/// readiness has been cleared; wait for it again.
pub struct TryIoError(());

impl fmt::Debug for TryIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TryIoError(WouldBlock)")
    }
}

impl fmt::Display for TryIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the operation would block; readiness was cleared")
    }
}

impl Error for TryIoError {}

/// What a guard can see of its readiness event.
fn ready_of(event: Option<ReadyEvent>) -> Ready {
    event.map_or(Ready::EMPTY, |ev| Ready::from_bits(ev.ready_bits()))
}

/// Both guards' `clear_ready`: forgets the whole event.
fn clear_all(registration: &Registration, event: &mut Option<ReadyEvent>) {
    if let Some(event) = event.take() {
        registration.clear_readiness(event);
    }
}

/// Both guards' `clear_ready_matching`: forgets the kinds in `ready` and
/// keeps the rest of the event (none left: the guard is cleared).
fn clear_matching(registration: &Registration, event: &mut Option<ReadyEvent>, ready: Ready) {
    if let Some(seen) = *event {
        registration.clear_readiness(seen.retain(ready.bits()));
        let left = seen.ready_bits() & !ready.bits();
        *event = (left != 0).then(|| seen.retain(left));
    }
}

/// The answer of [`AsyncFd::readable`], [`writable`](AsyncFd::writable) and
/// [`ready`](AsyncFd::ready): the descriptor is believed ready.
///
/// Try the IO; if it answers `WouldBlock`, call
/// [`clear_ready`](Self::clear_ready) (or use [`try_io`](Self::try_io),
/// which does both). Dropping the guard without clearing keeps the
/// readiness, so the next wait returns at once.
pub struct AsyncFdReadyGuard<'a, T: AsRawFd> {
    async_fd: &'a AsyncFd<T>,
    /// `None` once cleared.
    event: Option<ReadyEvent>,
}

impl<'a, T: AsRawFd> AsyncFdReadyGuard<'a, T> {
    pub(super) fn new(async_fd: &'a AsyncFd<T>, event: ReadyEvent) -> Self {
        AsyncFdReadyGuard {
            async_fd,
            event: Some(event),
        }
    }

    /// Forgets the readiness this guard saw (unless the reactor reported
    /// newer readiness since): the next wait waits for the reactor.
    pub fn clear_ready(&mut self) {
        clear_all(self.async_fd.registration(), &mut self.event);
    }

    /// Forgets only the kinds in `ready` (say, [`Ready::READABLE`] of a
    /// guard from `ready(READABLE | WRITABLE)`), keeping the rest.
    pub fn clear_ready_matching(&mut self, ready: Ready) {
        clear_matching(self.async_fd.registration(), &mut self.event, ready);
    }

    /// Keeps the readiness (what dropping the guard does anyway; this says
    /// so explicitly).
    pub fn retain_ready(&mut self) {}

    /// What the descriptor was seen ready for; empty once cleared.
    pub fn ready(&self) -> Ready {
        ready_of(self.event)
    }

    /// Runs `f`; if it fails with `WouldBlock`, clears the readiness and
    /// returns `Err(TryIoError)` (wait again), else `Ok` with its answer.
    pub fn try_io<R>(
        &mut self,
        f: impl FnOnce(&'a AsyncFd<T>) -> io::Result<R>,
    ) -> Result<io::Result<R>, TryIoError> {
        match f(self.async_fd) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.clear_ready();
                Err(TryIoError(()))
            }
            result => Ok(result),
        }
    }

    /// The `AsyncFd` this guard belongs to.
    pub fn get_ref(&self) -> &'a AsyncFd<T> {
        self.async_fd
    }

    /// The value the `AsyncFd` wraps.
    pub fn get_inner(&self) -> &'a T {
        self.async_fd.get_ref()
    }
}

impl<T: AsRawFd + fmt::Debug> fmt::Debug for AsyncFdReadyGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncFdReadyGuard")
            .field("async_fd", &self.async_fd)
            .field("ready", &self.ready())
            .finish()
    }
}

/// The answer of [`AsyncFd::readable_mut`], [`writable_mut`](AsyncFd::writable_mut)
/// and [`ready_mut`](AsyncFd::ready_mut): like [`AsyncFdReadyGuard`], lending
/// `&mut` access to the `AsyncFd`.
pub struct AsyncFdReadyMutGuard<'a, T: AsRawFd> {
    async_fd: &'a mut AsyncFd<T>,
    /// `None` once cleared.
    event: Option<ReadyEvent>,
}

impl<'a, T: AsRawFd> AsyncFdReadyMutGuard<'a, T> {
    pub(super) fn new(async_fd: &'a mut AsyncFd<T>, event: ReadyEvent) -> Self {
        AsyncFdReadyMutGuard {
            async_fd,
            event: Some(event),
        }
    }

    /// Forgets the readiness this guard saw (see
    /// [`AsyncFdReadyGuard::clear_ready`]).
    pub fn clear_ready(&mut self) {
        clear_all(self.async_fd.registration(), &mut self.event);
    }

    /// Forgets only the kinds in `ready`, keeping the rest.
    pub fn clear_ready_matching(&mut self, ready: Ready) {
        clear_matching(self.async_fd.registration(), &mut self.event, ready);
    }

    /// Keeps the readiness (what dropping the guard does anyway).
    pub fn retain_ready(&mut self) {}

    /// What the descriptor was seen ready for; empty once cleared.
    pub fn ready(&self) -> Ready {
        ready_of(self.event)
    }

    /// Runs `f`; if it fails with `WouldBlock`, clears the readiness and
    /// returns `Err(TryIoError)`, else `Ok` with its answer.
    pub fn try_io<R>(
        &mut self,
        f: impl FnOnce(&mut AsyncFd<T>) -> io::Result<R>,
    ) -> Result<io::Result<R>, TryIoError> {
        match f(self.async_fd) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.clear_ready();
                Err(TryIoError(()))
            }
            result => Ok(result),
        }
    }

    /// The `AsyncFd` this guard belongs to.
    pub fn get_ref(&self) -> &AsyncFd<T> {
        self.async_fd
    }

    /// The `AsyncFd` this guard belongs to, mutably.
    pub fn get_mut(&mut self) -> &mut AsyncFd<T> {
        self.async_fd
    }

    /// The value the `AsyncFd` wraps.
    pub fn get_inner(&self) -> &T {
        self.async_fd.get_ref()
    }

    /// The value the `AsyncFd` wraps, mutably.
    pub fn get_inner_mut(&mut self) -> &mut T {
        self.async_fd.get_mut()
    }
}

impl<T: AsRawFd + fmt::Debug> fmt::Debug for AsyncFdReadyMutGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncFdReadyMutGuard")
            .field("async_fd", &self.async_fd)
            .field("ready", &self.ready())
            .finish()
    }
}
