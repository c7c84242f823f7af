//! [`Poller`]: the public face of the OS readiness backends.
//!
//! It holds one backend from `sys/` and forwards each method (`add`,
//! `modify`, `rearm`, `delete`, `wait`, `notify`) to it.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use crate::sys;
use crate::{Backend, Events, Interest, Token};

/// Waits for readiness on many file descriptors at once.
///
/// A `Poller` is `Send + Sync`: one thread waits while others add, modify or
/// delete registrations, or call [`notify`](Poller::notify) to wake it.
/// Keep the waiting on one thread: on io_uring (Linux 6.1 and later) the
/// first thread that waits becomes the only one allowed to, and a wait from
/// another thread fails with [`ErrorKind::Unsupported`](io::ErrorKind::Unsupported).
///
/// The poller does not own the descriptors it watches. Delete a descriptor
/// before closing it. Closing first does not work the same on every
/// backend: epoll forgets the descriptor, poll and select report an error
/// event for it once, but an io_uring poll request keeps the file open (its
/// peer never sees the close) until the registration is deleted.
#[derive(Debug)]
pub struct Poller {
    backend: Inner,
}

#[derive(Debug)]
enum Inner {
    Epoll(sys::epoll::Poller),
    Poll(sys::poll::Poller),
    Select(sys::select::Poller),
    IoUring(sys::uring::Poller),
}

/// Calls the same method on whichever backend is inside.
macro_rules! each {
    ($self:ident.$method:ident($($arg:expr),*)) => {
        match &$self.backend {
            Inner::Epoll(p) => p.$method($($arg),*),
            Inner::Poll(p) => p.$method($($arg),*),
            Inner::Select(p) => p.$method($($arg),*),
            Inner::IoUring(p) => p.$method($($arg),*),
        }
    };
}

impl Poller {
    /// Creates a poller on the default backend (epoll).
    pub fn new() -> io::Result<Poller> {
        Poller::with_backend(Backend::Epoll)
    }

    /// Creates a poller on the given backend.
    ///
    /// Fails if the kernel refuses it (io_uring can be missing or disabled);
    /// the caller decides whether to fall back.
    pub fn with_backend(backend: Backend) -> io::Result<Poller> {
        let backend = match backend {
            Backend::Epoll => Inner::Epoll(sys::epoll::Poller::new()?),
            Backend::Poll => Inner::Poll(sys::poll::Poller::new()?),
            Backend::Select => Inner::Select(sys::select::Poller::new()?),
            Backend::IoUring => Inner::IoUring(sys::uring::Poller::new()?),
        };
        Ok(Poller { backend })
    }

    /// Which backend this poller uses.
    pub fn backend(&self) -> Backend {
        match self.backend {
            Inner::Epoll(_) => Backend::Epoll,
            Inner::Poll(_) => Backend::Poll,
            Inner::Select(_) => Backend::Select,
            Inner::IoUring(_) => Backend::IoUring,
        }
    }

    /// How events are re-armed. Every backend reports one event per change
    /// of readiness of an armed direction:
    ///
    /// * `true` (epoll, io_uring): edge-triggered. A direction stays armed;
    ///   the next event comes when new readiness arrives, which is only
    ///   guaranteed after you have read or written until `WouldBlock`.
    /// * `false` (poll, select): level-triggered underneath. A direction is
    ///   disarmed once reported; after reading or writing until
    ///   `WouldBlock`, call [`rearm`](Poller::rearm) (or
    ///   [`modify`](Poller::modify)) to arm it again.
    ///
    /// Calling `rearm` or `modify` after `WouldBlock` is correct on every
    /// backend, so a portable loop can always do it; spindle's runtime skips
    /// it when this returns `true`.
    pub fn is_edge_triggered(&self) -> bool {
        matches!(self.backend, Inner::Epoll(_) | Inner::IoUring(_))
    }

    /// Starts watching `fd` for `interest`; events carry `token`.
    ///
    /// The descriptor should be in non-blocking mode: after each event the
    /// owner reads or writes until `WouldBlock`.
    pub fn add(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        each!(self.add(fd, token, interest))
    }

    /// Changes what `fd` is watched for, or the token it reports; on the
    /// level-triggered backends this also re-arms reported directions.
    ///
    /// The descriptor is borrowed, so it is open for the length of the call:
    /// a closed (and perhaps reused) number cannot reach the kernel here.
    pub fn modify(&self, fd: BorrowedFd<'_>, token: Token, interest: Interest) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        each!(self.modify(fd, token, interest))
    }

    /// Arms the directions in `interest` again for `fd`, registered under
    /// `token`, after you read or wrote until `WouldBlock`: on the
    /// level-triggered backends (see [`is_edge_triggered`](Poller::is_edge_triggered)).
    ///
    /// Unlike [`modify`](Poller::modify), which replaces the armed set,
    /// `rearm` only adds to it and never disarms a direction; only an event
    /// disarms. So re-arms of one descriptor from several threads, each for
    /// the direction it just drained, never undo each other, whatever order
    /// they arrive in. Arming a direction that is still ready costs at most
    /// one extra event.
    ///
    /// On the edge-triggered backends a direction never disarms, so this
    /// does nothing and returns `Ok`. Fails with `ENOENT` (on poll and
    /// select) if `fd` is not registered under `token`.
    pub fn rearm(&self, fd: BorrowedFd<'_>, token: Token, interest: Interest) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        match &self.backend {
            Inner::Poll(p) => p.rearm(fd, token, interest),
            Inner::Select(p) => p.rearm(fd, token, interest),
            Inner::Epoll(_) | Inner::IoUring(_) => Ok(()),
        }
    }

    /// Stops watching `fd`.
    ///
    /// When this returns, the poller holds no reference to the file, or
    /// lets it go within moments: a descriptor closed right after `delete`
    /// is really closed (its peer sees end of stream) on every backend, even
    /// while another thread is blocked in [`wait`](Poller::wait). (poll and
    /// select wake that thread, which holds the file for the length of its
    /// system call; io_uring cancels the descriptor's poll request at once
    /// on the waiting thread, and from any other thread wakes the waiter to
    /// do it.)
    ///
    /// Like [`modify`](Poller::modify) it borrows the descriptor: delete
    /// while you still own it, then close it.
    pub fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        each!(self.delete(fd))
    }

    /// Waits until a watched descriptor is ready, `timeout` passes (`None`:
    /// forever) or [`notify`](Poller::notify) is called, and fills `events`.
    ///
    /// An interrupted wait (a signal) returns `Ok` with no events. On
    /// io_uring, registrations added or deleted since the last wait are
    /// submitted to the kernel here, and a wait from a thread other than the
    /// first one to wait fails (see the type's docs).
    pub fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        each!(self.wait(events, timeout))
    }

    /// The epoll instance itself, when the backend is epoll: a descriptor
    /// that polls readable while events wait to be collected, so another
    /// poller (a nested epoll, an io_uring poll request) can watch this one.
    /// `None` on the other backends.
    pub fn epoll_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.backend {
            Inner::Epoll(p) => Some(p.fd()),
            _ => None,
        }
    }

    /// Wakes the thread blocked in [`wait`](Poller::wait), or makes its next
    /// wait return at once. Safe to call from any thread, any number of times.
    pub fn notify(&self) -> io::Result<()> {
        each!(self.notify())
    }

    /// Sleeps until [`notify`](Poller::notify) is called, or `timeout`
    /// passes (`None`: no limit), without looking at the registered
    /// descriptors; takes the notification.
    ///
    /// For a thread that may not [`wait`](Poller::wait) on this poller
    /// itself: an io_uring poller takes its waits from one thread only, so
    /// a second thread that stands in for that one (spindle's
    /// `block_in_place` stand-in) sleeps here, woken by `notify` or its
    /// own deadline. The registered descriptors' events wait for the next
    /// `wait`. An interrupted sleep (a signal) returns early, with `Ok`.
    pub fn wait_for_notify(&self, timeout: Option<Duration>) -> io::Result<()> {
        each!(self.wait_for_notify(timeout))
    }
}
