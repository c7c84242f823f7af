//! Noticing that a child exited, reaping it, and reaping the children
//! nobody waits for any more.
//!
//! # Two ways to hear about an exit
//!
//! * **pidfd** (Linux 5.3+). `pidfd_open(pid)` gives a descriptor that
//!   becomes readable when the process exits. It goes into epoll like a
//!   socket, so waiting for a child is waiting for a readable descriptor.
//!   [`Exit`] uses it whenever the kernel has it.
//! * **SIGCHLD** (the fallback, when `pidfd_open` fails with `ENOSYS`, or
//!   `EPERM` from a seccomp filter that does not know the call). The
//!   kernel sends `SIGCHLD` to the parent when a child changes state. The
//!   signal carries no reliable pid (several exits may merge into one
//!   signal), so at every `SIGCHLD` each waiting child retries
//!   `waitpid(pid, WNOHANG)`. The listener exists before the first retry, so
//!   an exit can never slip between "not yet" and "start listening". This
//!   installs spindle's `SIGCHLD` handler (see `crate::signal`).
//!
//! Either way the status is collected with `waitpid(pid, WNOHANG)`: that is
//! the *reaping*, which frees the zombie's process-table entry.
//!
//! [`Exit`] is crate-internal rather than `process`-only: the process pool
//! (`crate::pool`, behind the `process-pool` feature) watches and reaps the
//! worker processes it spawns, and its fork server, with it too.
//!
//! # Orphans: a `Child` dropped before it was reaped
//!
//! The process keeps running; when it exits it would stay a zombie until
//! we exit, since we are still its parent. So [`Exit::orphan`] hands it to
//! a reaper:
//!
//! * inside a runtime: a small task ([`Orphan::reap`]) registers the pidfd
//!   with the *current* runtime (or listens for `SIGCHLD`) and reaps the
//!   child when it exits;
//! * outside a runtime, or if that task is dropped first (its runtime shut
//!   down): a detached thread blocks in `waitpid(pid, 0)`.
//!
//! Only ever `waitpid(pid)` for our own pids, never `waitpid(-1)`, which
//! would steal the statuses of children spawned by other code (std's
//! `Command::output`, say).

use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::task::{ready, Context, Poll};

use spindle_reactor::Interest;

use crate::driver::{Direction, Registration};
use crate::executor::context;
use crate::signal::Signal;
use crate::sys::{fd as sys_fd, process as sys_process};

/// Set once `pidfd_open` turns out to be unsupported: stop trying it.
static NO_PIDFD: AtomicBool = AtomicBool::new(false);

/// Unit tests set this to exercise the `SIGCHLD` fallback on new kernels.
#[cfg(test)]
pub(super) static FORCE_SIGCHLD: AtomicBool = AtomicBool::new(false);

fn pidfd_enabled() -> bool {
    #[cfg(test)]
    if FORCE_SIGCHLD.load(Relaxed) {
        return false;
    }
    !NO_PIDFD.load(Relaxed)
}

/// How the exit of one child is noticed.
enum Watch {
    /// Readable once the child has exited.
    Pidfd {
        // Declared before `fd`: the registration must go first.
        registration: Registration,
        fd: OwnedFd,
    },
    /// Fires at every `SIGCHLD`, whichever child it was for.
    Sigchld(Signal),
}

impl Watch {
    /// Registers a pidfd with the current runtime; gives it back on failure.
    fn pidfd(fd: OwnedFd) -> Result<Watch, OwnedFd> {
        match Registration::new(fd.as_raw_fd(), Interest::READABLE) {
            Ok(registration) => Ok(Watch::Pidfd { registration, fd }),
            Err(_) => Err(fd),
        }
    }
}

/// A child that has not been reaped yet, and the means to wait for it.
pub(crate) struct Exit {
    pid: u32,
    watch: Watch,
}

impl Exit {
    /// Starts watching child `pid` (must be called inside a runtime).
    pub(crate) fn new(pid: u32) -> io::Result<Exit> {
        if pidfd_enabled() {
            match sys_process::pidfd_open(pid) {
                Ok(fd) => {
                    sys_fd::set_nonblocking(fd.as_fd(), true)?;
                    let registration = Registration::new(fd.as_raw_fd(), Interest::READABLE)?;
                    let watch = Watch::Pidfd { registration, fd };
                    return Ok(Exit { pid, watch });
                }
                Err(e) if sys_process::is_pidfd_unsupported(&e) => NO_PIDFD.store(true, Relaxed),
                Err(e) => return Err(e),
            }
        }
        let watch = Watch::Sigchld(Signal::new(libc::SIGCHLD)?);
        Ok(Exit { pid, watch })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    #[cfg(test)]
    pub(super) fn uses_sigchld(&self) -> bool {
        matches!(self.watch, Watch::Sigchld(_))
    }

    /// Reaps the child if it has exited, without waiting.
    pub(crate) fn try_reap(&self) -> io::Result<Option<ExitStatus>> {
        sys_process::try_wait(self.pid)
    }

    /// Sends `SIGKILL` and returns at once (`Ok` if the child already exited).
    pub(crate) fn kill(&self) -> io::Result<()> {
        self.signal(libc::SIGKILL)
    }

    /// Sends `signal` (through the pidfd when there is one) and returns at
    /// once (`Ok` if the child already exited). Only while not reaped: the
    /// pid may name another process afterwards.
    pub(crate) fn signal(&self, signal: libc::c_int) -> io::Result<()> {
        let pidfd = match &self.watch {
            Watch::Pidfd { fd, .. } => Some(fd.as_fd()),
            Watch::Sigchld(_) => None,
        };
        sys_process::send_signal(self.pid, pidfd, signal)
    }

    /// Ready with the exit status once the child has exited and been reaped.
    pub(crate) fn poll_exit(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        loop {
            if let Some(status) = self.try_reap()? {
                return Poll::Ready(Ok(status));
            }
            match &mut self.watch {
                Watch::Pidfd { registration, fd } => {
                    let event = match ready!(registration.poll_ready(cx, Direction::Read)) {
                        Ok(event) => event,
                        Err(gone) => {
                            // The runtime that spawned the child has shut
                            // down: watch the pidfd from the current one.
                            *registration = Registration::new(fd.as_raw_fd(), Interest::READABLE)
                                .map_err(|_| gone)?;
                            continue;
                        }
                    };
                    if let Some(status) = sys_process::try_wait(self.pid)? {
                        return Poll::Ready(Ok(status));
                    }
                    // Readable but not reapable: not supposed to happen; wait
                    // for the next event rather than spin.
                    registration.clear_readiness(event);
                }
                Watch::Sigchld(signal) => {
                    if ready!(signal.poll_recv(cx)).is_none() {
                        // Its runtime has shut down: listen from the current one.
                        *signal = Signal::new(libc::SIGCHLD)?;
                    }
                }
            }
        }
    }

    #[cfg(feature = "process-pool")]
    /// Blocks this thread until the child exits, and reaps it: for code that
    /// cannot await (a `Drop`) and a child that is about to exit.
    pub(crate) fn wait_blocking(self) -> io::Result<ExitStatus> {
        sys_process::wait_blocking(self.pid)
    }

    /// Hands a child nobody will wait for to a reaper (see the module docs),
    /// so that it does not stay a zombie once it exits.
    pub(crate) fn orphan(self) {
        // Most dropped children have exited already: one cheap try first.
        // (An error means it is not ours to reap any more.)
        if !matches!(self.try_reap(), Ok(None)) {
            return;
        }
        let Exit { pid, watch } = self;
        let pidfd = match watch {
            Watch::Pidfd { registration, fd } => {
                // Re-registered below with the current runtime, which may not
                // be the one that spawned the child.
                drop(registration);
                Some(fd)
            }
            Watch::Sigchld(_) => None,
        };
        let orphan = Orphan {
            pid,
            pidfd,
            reaped: false,
        };
        if context::current_shared().is_some() {
            // Detached: the JoinHandle is dropped, the task runs on (sent
            // to the runtime if this thread only entered it).
            drop(crate::task::spawn(orphan.reap()));
        } else {
            drop(orphan); // its Drop starts the reaper thread
        }
    }
}

/// A dropped child on its way to being reaped. If it is dropped before
/// that (its task was cancelled by a runtime shutting down, say), a thread
/// takes over.
struct Orphan {
    pid: u32,
    pidfd: Option<OwnedFd>,
    reaped: bool,
}

impl Orphan {
    /// Waits, on the current runtime, for the child to exit, and reaps it.
    async fn reap(mut self) {
        let watch = match self.pidfd.take() {
            Some(fd) => match Watch::pidfd(fd) {
                Ok(watch) => watch,
                Err(fd) => {
                    self.pidfd = Some(fd);
                    return; // Drop: thread
                }
            },
            None => match Signal::new(libc::SIGCHLD) {
                Ok(signal) => Watch::Sigchld(signal),
                Err(_) => return, // Drop: thread
            },
        };
        let mut exit = Exit {
            pid: self.pid,
            watch,
        };
        // Ok or ECHILD: either way there is nothing left to reap.
        let _ = poll_fn(|cx| exit.poll_exit(cx)).await;
        self.reaped = true;
    }
}

impl Drop for Orphan {
    fn drop(&mut self) {
        if !self.reaped {
            reap_on_thread(self.pid);
        }
    }
}

/// The last resort: a detached thread that blocks in `waitpid(pid, 0)`.
/// If even a thread cannot be started, the child stays a zombie until this
/// process exits (then `init`, or the nearest subreaper, adopts and reaps it).
pub(super) fn reap_on_thread(pid: u32) {
    let _ = std::thread::Builder::new()
        .name("spindle-reaper".into())
        .spawn(move || sys_process::wait_blocking(pid));
}
