//! [`Poller`]: the public face of the OS readiness backends.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::sys;
use crate::{Events, Interest, Token};

/// Waits for readiness on many file descriptors at once.
///
/// A `Poller` is `Send + Sync`: one thread waits while others add, modify or
/// delete registrations, or call [`notify`](Poller::notify) to wake it.
///
/// The poller does not own the descriptors it watches. Delete a descriptor
/// before closing it; closing first leaves the kernel to forget it, which is
/// harmless but skips the error check.
#[derive(Debug)]
pub struct Poller {
    backend: sys::epoll::Poller,
}

impl Poller {
    /// Creates a poller on the default backend (epoll).
    pub fn new() -> io::Result<Poller> {
        Ok(Poller {
            backend: sys::epoll::Poller::new()?,
        })
    }

    /// Starts watching `fd` for `interest`; events carry `token`.
    ///
    /// The descriptor should be in non-blocking mode: events are
    /// edge-triggered, so after each event the owner reads or writes until
    /// `WouldBlock`.
    pub fn add(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.backend.add(fd, token, interest)
    }

    /// Changes what `fd` is watched for, or the token it reports.
    pub fn modify(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.backend.modify(fd, token, interest)
    }

    /// Stops watching `fd`.
    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.backend.delete(fd)
    }

    /// Waits until a watched descriptor is ready, `timeout` passes (`None`:
    /// forever) or [`notify`](Poller::notify) is called, and fills `events`.
    ///
    /// An interrupted wait (a signal) returns `Ok` with no events.
    pub fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        self.backend.wait(events, timeout)
    }

    /// Wakes the thread blocked in [`wait`](Poller::wait), or makes its next
    /// wait return at once. Safe to call from any thread, any number of times.
    pub fn notify(&self) -> io::Result<()> {
        self.backend.notify()
    }
}
