//! [`PolledFd`]: a non-blocking descriptor that tasks on any runtime, and
//! plain threads, can wait on.
//!
//! The `net` types register their socket with the runtime that creates
//! them, once. An ipc object lives differently: it is made in one process
//! (perhaps before any runtime starts), handed to another, and used there
//! from a runtime's tasks, from a plain thread, or from two runtimes at
//! once. So a `PolledFd` registers lazily, per runtime:
//!
//! ```text
//!   io(dir, op).await   on runtime R:
//!       registration for R in the list?  no -> register fd with R's reactor,
//!                                               and try op(fd) once at once
//!       loop { op(fd): WouldBlock? -> clear readiness, wait for R's reactor }
//!
//!   blocking(op)           on a plain thread (no registration):
//!       op(fd), a call that may sleep in the kernel (the ipc sockets)
//!   blocking_io(dir, op)   the same for a non-blocking descriptor:
//!       loop { op(fd): WouldBlock? -> poll(2) the fd for dir }
//! ```
//!
//! The operations the runtime runs must never block: either the
//! descriptor is non-blocking (the queue's eventfd) or each call passes
//! its own non-blocking flag (`MSG_DONTWAIT` on the ipc sockets, which
//! stay in blocking mode so that a plain thread can sleep in one
//! `recvmsg`; see `message.rs`).
//!
//! A registration stays in the list while its runtime lives (the next await
//! there reuses it) and is dropped at the first look after that runtime has
//! shut down. Every registration leaves its reactor before the descriptor
//! closes: the list is declared before the descriptor, and each in-flight
//! operation that holds one borrows the `PolledFd`.
//!
//! `op` is one non-blocking system call (plus, around it, work that cannot
//! wait, such as decoding the message it received). It runs either to an
//! answer or to `WouldBlock`, so a future dropped while it waits has done
//! nothing: cancellation loses nothing.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex};

use spindle_reactor::Interest;

use crate::driver::{Direction, Registration};
use crate::executor::context;
use crate::sys::fd as sys_fd;

/// A non-blocking descriptor, registered with each runtime that awaits it.
pub(crate) struct PolledFd {
    // Declared before `fd` so that it drops first: every registration
    // leaves its reactor while the descriptor is still open.
    registrations: Mutex<Vec<Arc<Registration>>>,
    fd: OwnedFd,
}

impl PolledFd {
    /// Wraps `fd`. Whatever `io` and `blocking_io` run on it must not block:
    /// `fd` is non-blocking (`O_NONBLOCK`, shared by every duplicate in
    /// every process), or each of those calls passes a non-blocking flag.
    pub(crate) fn new(fd: OwnedFd) -> PolledFd {
        PolledFd {
            registrations: Mutex::new(Vec::new()),
            fd,
        }
    }

    /// The descriptor.
    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Runs `op` until it gives an answer other than `WouldBlock`, waiting
    /// for `dir` on the current runtime's reactor in between.
    pub(crate) async fn io<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
    ) -> io::Result<R> {
        let (registration, fresh) = self.registration()?;
        let fd = self.fd.as_fd();
        if fresh {
            // A new registration knows no readiness until the reactor's
            // next turn reports it: try once first rather than wait for
            // that turn (an end handed to a process is often used once).
            std::future::poll_fn(crate::coop::poll_proceed).await;
            match op(fd) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                answer => return answer,
            }
        }
        registration.async_io(dir, || op(fd)).await
    }

    /// Runs `op`, a call that may block this thread until it has an answer.
    ///
    /// # Panics
    /// If a spindle runtime runs on this thread: blocking it would stall
    /// every task there.
    #[track_caller]
    pub(crate) fn blocking<R>(&self, op: impl FnOnce(BorrowedFd<'_>) -> R) -> R {
        assert_may_block();
        op(self.fd.as_fd())
    }

    /// Runs `op` until it gives an answer other than `WouldBlock`, blocking
    /// this thread in `poll(2)` in between.
    ///
    /// # Panics
    /// If a spindle runtime runs on this thread: blocking it would stall
    /// every task there.
    #[track_caller]
    pub(crate) fn blocking_io<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
    ) -> io::Result<R> {
        assert_may_block();
        let events = match dir {
            Direction::Read => libc::POLLIN,
            Direction::Write => libc::POLLOUT,
            Direction::Both => libc::POLLIN | libc::POLLOUT,
            Direction::Error => 0,
        };
        loop {
            match op(self.fd.as_fd()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                answer => return answer,
            }
            // Any event (hang-up and errors included) is worth another try:
            // the operation itself then reports what happened.
            let mut fds = [libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events,
                revents: 0,
            }];
            sys_fd::poll(&mut fds)?;
        }
    }

    /// The registration with the current runtime, made on first use (then
    /// `true`: it is fresh).
    fn registration(&self) -> io::Result<(Arc<Registration>, bool)> {
        let shared = context::current_shared().ok_or_else(|| {
            io::Error::other(
                "an ipc future (send, recv, put, get) must be awaited inside a spindle \
                 runtime; on a plain thread use the blocking_* methods",
            )
        })?;
        let mut registrations = self.registrations.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = registrations.iter().find(|r| r.is_with(&shared)) {
            return Ok((found.clone(), false));
        }
        registrations.retain(|r| !r.runtime_is_gone());
        let interest = Interest::READABLE | Interest::WRITABLE;
        let registration = Registration::with_shared(shared, self.fd.as_raw_fd(), interest)?;
        let registration = Arc::new(registration);
        registrations.push(registration.clone());
        Ok((registration, true))
    }
}

/// Panics if a spindle runtime runs on this thread.
#[track_caller]
fn assert_may_block() {
    if crate::coop::is_runtime_running() {
        panic!(
            "a blocking ipc call (blocking_send, blocking_recv, blocking_put, \
             blocking_get) was made inside a spindle runtime, which would stall it; \
             use the async method with .await"
        );
    }
}

impl fmt::Debug for PolledFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolledFd")
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}
