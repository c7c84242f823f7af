//! Unix signals as async events: [`ctrl_c`] and [`Signal`] (also spelt
//! tokio's way, [`unix::signal`]`(`[`unix::SignalKind`]`)`).
//!
//! # Signals in one paragraph
//!
//! A signal is the kernel interrupting a process to tell it something:
//! `SIGINT` (Ctrl-C at the terminal), `SIGTERM` (please stop), `SIGCHLD`
//! (a child changed state), `SIGUSR1`/`SIGUSR2` (meaning up to you). Each
//! signal has a *disposition*: the default action (for most: terminate the
//! process), ignore, or a *handler*, a function the kernel calls on some
//! thread of the process, interrupting whatever that thread was doing.
//! `SIGKILL` and `SIGSTOP` cannot be caught, blocked or ignored.
//!
//! # How spindle turns a signal into a wake-up (the self-pipe trick)
//!
//! A handler interrupts arbitrary code, so it may only do async-signal-safe
//! work: no locks, no allocation, no waking tasks (see `handler.rs`). spindle's
//! handler sets one atomic flag per signal and `write`s one byte to a
//! non-blocking, close-on-exec pipe. The read end of that pipe is an
//! ordinary descriptor, registered with the reactor of every runtime that
//! has a [`Signal`] (each listener registers its own duplicate of it). When
//! the byte arrives, the listener's task wakes up, drains the pipe, turns the
//! flags into per-signal counters and wakes every listener of those signals,
//! in every runtime; each [`Signal`] compares the counter with the last value
//! it saw (`registry.rs`). This works whichever thread the kernel picks to
//! run the handler on.
//!
//! Why not `signalfd(2)`? It only receives signals that are *blocked* in
//! every thread of the process, and a library cannot block a signal in
//! threads it did not create, so signals would still go to a thread that
//! has it unblocked and take the default action.
//!
//! # What changes in the process
//!
//! * The first [`Signal::new`] (or [`ctrl_c()`] call) for a signal installs
//!   spindle's handler for it, process-wide, with `SA_RESTART`, and it stays
//!   installed for the life of the process, even after every `Signal` is
//!   dropped: from then on the signal's default action (for `SIGINT`:
//!   terminating the process) no longer happens. A handler installed earlier
//!   by someone else is replaced, not chained.
//! * Deliveries that arrive while nobody calls `recv` are merged: a listener
//!   sees "at least one since last time", like the kernel's own pending
//!   signals.
//! * Running the handler interrupts whatever system call the chosen thread
//!   was blocked in. `SA_RESTART` resumes most of them, but a few fail with
//!   `EINTR` regardless (`epoll_wait`, `poll`, calls with a timeout), and
//!   code around them must retry; spindle's reactor does.
//! * A `Signal` belongs to the runtime it was created in: that runtime's
//!   reactor watches the pipe for it.

mod handler;
mod registry;
pub mod unix;

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::task::{Context, Poll};

use spindle_reactor::Interest;

use crate::driver::{Direction, Registration};
use crate::executor::context;

/// Completes at the next `SIGINT` (Ctrl-C at the terminal).
///
/// spindle's handler for `SIGINT` is installed by the call itself, not at
/// the first poll, so a Ctrl-C pressed any time after `ctrl_c()` returns is
/// caught, even before the future is awaited. From then on Ctrl-C no longer
/// kills the process, for the rest of its life (see the [module
/// docs](self)).
///
/// ```no_run
/// # spindle_runtime::block_on(async {
/// let stop = spindle_runtime::signal::ctrl_c(); // handler installed here
/// println!("running; press Ctrl-C to stop");
/// stop.await?;
/// println!("Ctrl-C received, shutting down");
/// # Ok::<(), std::io::Error>(())
/// # });
/// ```
///
/// # Errors
/// The future fails if it was created outside a runtime, or if the handler
/// or the self-pipe could not be set up.
pub fn ctrl_c() -> impl Future<Output = io::Result<()>> + Send + 'static {
    let signal = Signal::new(libc::SIGINT);
    async move {
        signal?.recv().await;
        Ok(())
    }
}

/// A listener for one Unix signal.
///
/// Every `Signal` for the same signal number sees every delivery: they are
/// listeners, not competing consumers. Deliveries between two
/// [`recv`](Signal::recv)s are merged into one. A `Signal` only reports
/// deliveries that happen after it was created.
///
/// ```no_run
/// # spindle_runtime::block_on(async {
/// use spindle_runtime::signal::Signal;
/// let mut hangup = Signal::new(libc::SIGHUP)?;
/// while hangup.recv().await.is_some() {
///     println!("SIGHUP: reloading the configuration");
/// }
/// # Ok::<(), std::io::Error>(())
/// # });
/// ```
pub struct Signal {
    signum: usize,
    seen: u64,
    key: usize,
    // Declared before `reader`: the registration must go first (see Registration).
    registration: Registration,
    reader: OwnedFd,
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("signum", &self.signum)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl Signal {
    /// Starts listening for signal number `signum` (use the `libc`
    /// constants: `libc::SIGTERM`, `libc::SIGUSR1`, ...).
    ///
    /// Installs spindle's handler for `signum` the first time (see the
    /// [module docs](self) for what that changes in the process).
    ///
    /// # Errors
    /// * [`InvalidInput`](io::ErrorKind::InvalidInput) for a number that is
    ///   not a signal, for `SIGKILL` and `SIGSTOP` (which cannot be caught),
    ///   for `SIGSEGV`, `SIGBUS`, `SIGILL` and `SIGFPE` (faults: a handler
    ///   that only sets a flag would return to the faulting instruction, which
    ///   faults again, forever), and for the real-time signals the C library
    ///   keeps for itself.
    /// * Outside a runtime (the listener registers with the current
    ///   runtime's reactor), or when out of file descriptors.
    pub fn new(signum: i32) -> io::Result<Signal> {
        let signum = validate(signum)?;
        // Checked first so that a failing call changes nothing in the process.
        if context::current_shared().is_none() {
            return Err(io::Error::other(
                "spindle::signal::Signal must be created inside a runtime \
                 (in block_on, a task, a spawn_blocking closure or under Handle::enter)",
            ));
        }
        let reader = registry::prepare(signum)?;
        let registration = Registration::new(reader.as_raw_fd(), Interest::READABLE)?;
        // Attribute deliveries still sitting in the pipe to the listeners
        // that existed when they arrived, not to this new one.
        registry::dispatch(reader.as_fd());
        let seen = registry::count(signum);
        let key = registry::add_listener(signum);
        Ok(Signal {
            signum,
            seen,
            key,
            registration,
            reader,
        })
    }

    /// Waits for the next delivery of the signal.
    ///
    /// Returns `Some(())` for each delivery (or burst of merged deliveries)
    /// since the previous call, and `None` once the runtime the listener was
    /// created in has shut down (no delivery can reach it any more).
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next delivery: `Ready(Some(()))` if the signal arrived
    /// since the last `Ready`, else `Pending` (and `cx`'s waker is woken at
    /// the next delivery).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        loop {
            let count = registry::count(self.signum);
            if count != self.seen {
                self.seen = count;
                return Poll::Ready(Some(()));
            }
            // Store the waker before looking again, so a dispatch on another
            // thread between the two looks either is seen or wakes us.
            registry::set_waker(self.key, cx.waker());
            if registry::count(self.signum) != self.seen {
                continue;
            }
            let Ok(event) = std::task::ready!(self.registration.poll_ready(cx, Direction::Read))
            else {
                // The runtime this listener was made in has shut down: no
                // delivery can reach it any more.
                return Poll::Ready(None);
            };
            // The pipe is readable: dispatch on everyone's behalf, then look again.
            registry::dispatch(self.reader.as_fd());
            self.registration.clear_readiness(event);
        }
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        registry::remove_listener(self.key);
    }
}

/// Checks that `signum` is a signal a `Signal` may listen to.
fn validate(signum: i32) -> io::Result<usize> {
    const FORBIDDEN: [i32; 6] = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
    ];
    match usize::try_from(signum) {
        Ok(n) if n > 0 && n < handler::NSIG && !FORBIDDEN.contains(&signum) => Ok(n),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {signum} cannot be listened to"),
        )),
    }
}
