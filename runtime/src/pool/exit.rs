//! How the pool learns that a worker process has ended, and how it ended.
//!
//! Nothing here polls. Each worker comes with a [`WorkerExit`], a
//! descriptor registered with the pool's runtime that becomes ready when
//! the process ends:
//!
//! * a worker that is **our child** (the `Spawn` start method) is watched
//!   and reaped by the runtime's child reaper (`crate::process::reap`,
//!   the same code behind `Child::wait`): through its pidfd, or through
//!   `SIGCHLD` on kernels without pidfds. The status comes from our own
//!   `waitpid`.
//! * a worker forked by the **fork server** is the server's child, not
//!   ours: only the server may reap it. The server sends us a pidfd of the
//!   worker with its FORKED message; it is registered here and becomes
//!   readable when the worker exits. The server sees the same exit at the
//!   same moment, reaps the worker and sends EXITED with its status; the
//!   driver then collects that message (`ForkServer::wait`), which is
//!   already on its way.
//!
//! The worker's socket reaches EOF a moment *before* the process has
//! exited (the kernel closes descriptors early in `exit`), which is why the
//! driver waits for this second event rather than assuming the process is
//! gone at EOF.

use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use spindle_reactor::Interest;

use crate::driver::{Direction, Registration};
use crate::process::reap;
use crate::sys::fd as sys_fd;

/// How a worker process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Exit {
    pub(super) signal: Option<i32>,
    pub(super) code: Option<i32>,
}

impl Exit {
    /// Nothing is known (reaped by someone else, or lost with the fork server).
    pub(super) const UNKNOWN: Exit = Exit {
        signal: None,
        code: None,
    };
}

impl From<ExitStatus> for Exit {
    fn from(status: ExitStatus) -> Exit {
        Exit {
            signal: status.signal(),
            code: status.code(),
        }
    }
}

/// What tells the pool that one worker process has ended.
pub(super) enum WorkerExit {
    /// Our child: the runtime's reaper watches it and reaps it.
    Child(reap::Exit),
    /// A child of the fork server: readable once it has exited.
    ForkServed {
        // Declared before `pidfd`: deregistered before it closes.
        registration: Registration,
        pidfd: OwnedFd,
    },
}

impl WorkerExit {
    /// Starts watching our child `pid` (on the current runtime).
    pub(super) fn child(pid: u32) -> io::Result<WorkerExit> {
        reap::Exit::new(pid).map(WorkerExit::Child)
    }

    /// Watches a fork server's worker through the pidfd the server sent.
    pub(super) fn fork_served(pidfd: OwnedFd) -> io::Result<WorkerExit> {
        sys_fd::set_nonblocking(pidfd.as_fd(), true)?;
        let registration = Registration::new(pidfd.as_raw_fd(), Interest::READABLE)?;
        Ok(WorkerExit::ForkServed {
            registration,
            pidfd,
        })
    }

    /// Waits until the process has ended. For our child this also reaps it
    /// and gives its status; for a fork server's worker the status is the
    /// server's to report (`None`).
    pub(super) async fn ended(&mut self) -> Option<Exit> {
        match self {
            WorkerExit::Child(exit) => match poll_fn(|cx| exit.poll_exit(cx)).await {
                Ok(status) => Some(status.into()),
                // Not ours to reap any more (SIGCHLD ignored, say).
                Err(_) => Some(Exit::UNKNOWN),
            },
            WorkerExit::ForkServed {
                registration,
                pidfd,
            } => {
                // A pidfd never becomes unreadable again: no readiness to clear.
                while poll_fn(|cx| registration.poll_ready(cx, Direction::Read))
                    .await
                    .is_err()
                {
                    // The runtime that registered it shut down: watch from
                    // the current one. If even that fails, stop waiting
                    // here: the server's report (which the caller then
                    // waits for) comes when the worker has exited anyway.
                    match Registration::new(pidfd.as_raw_fd(), Interest::READABLE) {
                        Ok(new) => *registration = new,
                        Err(_) => break,
                    }
                }
                None
            }
        }
    }

    /// Reaps our child if it has exited, without waiting (`None` for a
    /// fork server's worker, whose status is the server's).
    pub(super) fn try_reap(&self) -> Option<Exit> {
        match self {
            WorkerExit::Child(exit) => match exit.try_reap() {
                Ok(status) => status.map(Exit::from),
                Err(_) => Some(Exit::UNKNOWN),
            },
            WorkerExit::ForkServed { .. } => None,
        }
    }
}
