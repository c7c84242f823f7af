//! [`PolledFd`]: a descriptor that tasks on any runtime, and plain
//! threads, can wait on.
//!
//! The `net` types register their socket with the runtime that creates
//! them, once, for both directions. An ipc object lives differently: it is
//! made in one process (perhaps before any runtime starts), handed to
//! another, and used there from a runtime's tasks, from a plain thread, or
//! from two runtimes at once. So a `PolledFd` registers lazily, with the
//! runtime that awaits it, and for one direction at a time:
//!
//! ```text
//!   read(op).await  on runtime R:   R's read registration (READABLE only)?
//!                                   none -> register fd with R's reactor,
//!                                           and try op(fd) once at once
//!                                   loop { op(fd): WouldBlock? -> clear, wait }
//!   write(op).await on runtime R:   op(fd) once; WouldBlock? -> join R's write
//!                                   registration (WRITABLE only, on a dup of
//!                                   fd), wait and retry; the last writer to
//!                                   leave it drops it
//!   blocking(op)          plain thread: op(fd), a call that may sleep in the
//!                                   kernel (the ipc sockets)
//! ```
//!
//! Why one direction, and why writers only while they wait: a unix socket
//! reports "writable" to every registered watcher each time its peer
//! takes a message off the queue. A registration that also watched for
//! writing would wake a process sleeping in its reactor after every
//! message it sent, for nothing (measured by the `ipc` bench: a round trip
//! between two async processes on one CPU took a third longer). Writers rarely wait (only while the socket's
//! buffer is full), so they register for just that long. The same holds
//! for reads that rarely wait: made with `keep_reads: false`, reads
//! register only while they wait, too.
//!
//! A kept registration stays while its runtime lives (the next await there
//! reuses it) and goes at the first look after that runtime has shut down.
//! Every registration leaves its reactor before its descriptor closes: the
//! lists are declared before the descriptors, and every operation that
//! holds a registration borrows the `PolledFd`.
//!
//! `op` is one system call that must not block when the runtime runs it:
//! the call passes its own non-blocking flag (`MSG_DONTWAIT` on the ipc sockets,
//! which stay in blocking mode so that a plain thread can sleep in one
//! `recvmsg`; see `message.rs`). It runs either to an answer or to
//! `WouldBlock`, so a future dropped while it waits has done nothing:
//! cancellation loses nothing.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, OnceLock};

use spindle_reactor::Interest;

use crate::driver::{Direction, Registration};
use crate::executor::context;

/// A descriptor, registered with each runtime that waits on it.
pub(crate) struct PolledFd {
    // The registrations are declared before the descriptors so that they
    // drop first: each leaves its reactor while its descriptor is open.
    reads: Registrations,
    writes: Registrations,
    /// A duplicate of `fd` for the write registrations: one reactor cannot
    /// hold the same descriptor twice. Made at the first wait to write.
    write_fd: OnceLock<OwnedFd>,
    fd: OwnedFd,
}

/// A direction's registrations, one per runtime, with the number of
/// operations using each.
struct Registrations {
    interest: Interest,
    /// Keep a registration once made, or drop it with its last user.
    keep: bool,
    entries: Mutex<Vec<Entry>>,
}

struct Entry {
    registration: Arc<Registration>,
    users: usize,
}

/// An operation's hold on a registration (see [`Registrations::join`]).
struct Joined<'a> {
    registrations: &'a Registrations,
    /// Always `Some` until dropped (see `Drop`).
    registration: Option<Arc<Registration>>,
    /// Made for this operation: the reactor has not reported any
    /// readiness for it yet.
    fresh: bool,
}

impl PolledFd {
    /// Wraps `fd` (see the module docs for what operations on it must
    /// not do). With `keep_reads`, the registration for reading stays
    /// after the first wait, for reads that wait often; without it, reads
    /// register only while they wait, like writes.
    pub(crate) fn new(fd: OwnedFd, keep_reads: bool) -> PolledFd {
        PolledFd {
            reads: Registrations::new(Interest::READABLE, keep_reads),
            writes: Registrations::new(Interest::WRITABLE, false),
            write_fd: OnceLock::new(),
            fd,
        }
    }

    /// The descriptor.
    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Runs `op` until it gives an answer other than `WouldBlock`, waiting
    /// on the current runtime's reactor for the descriptor to be readable
    /// in between.
    pub(crate) async fn read<R>(
        &self,
        mut op: impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
    ) -> io::Result<R> {
        let fd = self.fd.as_fd();
        if !self.reads.keep {
            // Register only to wait.
            if let Some(answer) = try_once(&mut op, fd).await {
                return answer;
            }
        }
        let joined = self.reads.join(fd)?;
        if joined.fresh && self.reads.keep {
            // A new registration knows no readiness until the reactor's
            // next turn reports it: try once first rather than wait for
            // that turn (an end handed to a process is often used once).
            if let Some(answer) = try_once(&mut op, fd).await {
                return answer;
            }
        }
        joined
            .registration()
            .async_io(Direction::Read, || op(fd))
            .await
    }

    /// Runs `op` until it gives an answer other than `WouldBlock`, waiting
    /// on the current runtime's reactor for the descriptor to be writable
    /// in between.
    pub(crate) async fn write<R>(
        &self,
        mut op: impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
    ) -> io::Result<R> {
        let fd = self.fd.as_fd();
        // Register only to wait: most writes need no wait.
        if let Some(answer) = try_once(&mut op, fd).await {
            return answer;
        }
        let joined = self.writes.join(self.write_fd()?)?;
        joined
            .registration()
            .async_io(Direction::Write, || op(fd))
            .await
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

    /// The duplicate the write registrations use, made on first use.
    fn write_fd(&self) -> io::Result<BorrowedFd<'_>> {
        if self.write_fd.get().is_none() {
            // Close-on-exec (F_DUPFD_CLOEXEC). If another thread won the
            // race, this duplicate is simply closed.
            let _ = self.write_fd.set(self.fd.try_clone()?);
        }
        Ok(self.write_fd.get().expect("set above").as_fd())
    }
}

/// Runs `op` once, after taking a unit of the task's cooperative budget:
/// its answer, or `None` for `WouldBlock`.
async fn try_once<R>(
    op: &mut impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
    fd: BorrowedFd<'_>,
) -> Option<io::Result<R>> {
    std::future::poll_fn(crate::coop::poll_proceed).await;
    match op(fd) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        answer => Some(answer),
    }
}

impl Registrations {
    fn new(interest: Interest, keep: bool) -> Registrations {
        Registrations {
            interest,
            keep,
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The current runtime's registration of `fd`, made if there is none
    /// (on a thread that only entered a multi-threaded runtime: the first
    /// worker's, `context::running_or_io_shared`).
    fn join(&self, fd: BorrowedFd<'_>) -> io::Result<Joined<'_>> {
        let shared = context::running_or_io_shared().ok_or_else(|| {
            io::Error::other(
                "an ipc future (send, recv, put, get) must be awaited inside a spindle \
                 runtime; on a plain thread use the blocking_* methods",
            )
        })?;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let found = entries.iter().position(|e| e.registration.is_with(&shared));
        let (index, fresh) = match found {
            Some(index) => (index, false),
            None => {
                // Kept registrations of runtimes that have shut down go now.
                entries.retain(|e| e.users > 0 || !e.registration.runtime_is_gone());
                let registration =
                    Registration::with_shared(shared, fd.as_raw_fd(), self.interest)?;
                entries.push(Entry {
                    registration: Arc::new(registration),
                    users: 0,
                });
                (entries.len() - 1, true)
            }
        };
        let entry = &mut entries[index];
        entry.users += 1;
        Ok(Joined {
            registrations: self,
            registration: Some(entry.registration.clone()),
            fresh,
        })
    }
}

impl Joined<'_> {
    fn registration(&self) -> &Registration {
        self.registration.as_ref().expect("taken only in drop")
    }
}

impl Drop for Joined<'_> {
    fn drop(&mut self) {
        let mut entries = self
            .registrations
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let registration = self.registration.take().expect("dropped once");
        let mine = entries
            .iter()
            .position(|e| Arc::ptr_eq(&e.registration, &registration));
        if let Some(index) = mine {
            entries[index].users -= 1;
            if entries[index].users == 0 && !self.registrations.keep {
                // Both last clones drop here, under the lock: the
                // descriptor leaves the reactor before another operation
                // of this runtime can register it again.
                drop(entries.swap_remove(index));
            }
        }
        drop(registration);
    }
}

/// Panics if a spindle runtime runs on this thread.
#[track_caller]
pub(super) fn assert_may_block() {
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
