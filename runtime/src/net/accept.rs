//! [`Acceptor`]: the accept loop shared by `TcpListener` and
//! `UnixListener`, with its back-off when the process runs out of
//! descriptors.
//!
//! # Why a back-off
//!
//! When `accept4` fails with `EMFILE` (per-process descriptor limit),
//! `ENFILE` (system-wide limit), `ENOBUFS` or `ENOMEM`, the pending
//! connection stays in the kernel's queue and the listener stays readable.
//! A loop that logs the error and calls `accept` again would retry at once,
//! forever, burning a CPU without making progress (and starving nothing
//! else only thanks to the cooperative budget).
//!
//! So the error is returned to the caller (who may log it), and a pause is
//! armed: the next `accept` first sleeps it (counted from when that call
//! starts), then retries. The pause starts
//! at 10 ms, doubles with each further exhaustion error up to 1 s, and goes
//! back to 10 ms after a successful accept. Connections already accepted are
//! other tasks and keep being served meanwhile; once they close and free
//! descriptors, accepting resumes.
//!
//! Errors that concern only the connection being accepted (`ECONNABORTED`:
//! the client reset before we got to it, and the other network errors
//! accept(2) lists) are skipped silently and the next connection is tried.

use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use super::socket::Socket;
use crate::driver::{Direction, WaitSlot};
use crate::sys::socket::{self as sys, AcceptFailure, SockAddr};
use crate::time::{sleep, Sleep};

/// First pause after an exhaustion error, in milliseconds.
const FIRST_PAUSE_MS: u64 = 10;
/// Longest pause, in milliseconds.
const MAX_PAUSE_MS: u64 = 1_000;

/// Accepts connections from a listening [`Socket`], pausing after
/// resource-exhaustion errors (see the module docs).
#[derive(Debug)]
pub(crate) struct Acceptor {
    /// The pause the next exhaustion error arms, in milliseconds.
    next_pause_ms: AtomicU64,
    /// The pause the next accept must sleep first, in milliseconds; 0: none.
    /// Checked without locking on every accept.
    armed_ms: AtomicU64,
    /// The sleep of the armed pause, created when the next accept starts,
    /// so the pause is measured from there and not from the failure.
    sleep: Mutex<Option<Sleep>>,
}

impl Acceptor {
    pub(crate) fn new() -> Acceptor {
        Acceptor {
            next_pause_ms: AtomicU64::new(FIRST_PAUSE_MS),
            armed_ms: AtomicU64::new(0),
            sleep: Mutex::new(None),
        }
    }

    /// Accepts one connection: waits out an armed pause, then until the
    /// listener is readable, then calls `accept4`.
    ///
    /// With a `slot` the caller is one of any number of tasks accepting at
    /// once (`accept().await`); without, it is the single `poll_accept` caller.
    pub(crate) fn poll_accept(
        &self,
        listener: &Socket,
        cx: &mut Context<'_>,
        mut slot: Option<&mut WaitSlot>,
    ) -> Poll<io::Result<(OwnedFd, SockAddr)>> {
        ready!(self.poll_pause(cx));
        loop {
            let res = ready!(match slot.as_deref_mut() {
                Some(slot) => listener.poll_io_shared(cx, Direction::Read, slot, sys::accept),
                None => listener.poll_io(cx, Direction::Read, sys::accept),
            });
            let err = match res {
                Ok(accepted) => {
                    if self.next_pause_ms.load(Ordering::Relaxed) != FIRST_PAUSE_MS {
                        self.next_pause_ms.store(FIRST_PAUSE_MS, Ordering::Relaxed);
                    }
                    return Poll::Ready(Ok(accepted));
                }
                Err(e) => e,
            };
            match sys::accept_failure(&err) {
                AcceptFailure::Retry => continue,
                AcceptFailure::Exhausted => self.arm_pause(),
                AcceptFailure::Other => {}
            }
            return Poll::Ready(Err(err));
        }
    }

    /// Ready when no pause is armed or the armed one is over.
    fn poll_pause(&self, cx: &mut Context<'_>) -> Poll<()> {
        let ms = self.armed_ms.load(Ordering::Acquire);
        if ms == 0 {
            return Poll::Ready(());
        }
        let mut slot = self.sleep.lock().unwrap_or_else(PoisonError::into_inner);
        let pause = slot.get_or_insert_with(|| sleep(Duration::from_millis(ms)));
        ready!(Pin::new(pause).poll(cx));
        *slot = None;
        self.armed_ms.store(0, Ordering::Release);
        Poll::Ready(())
    }

    /// Arms the next pause and doubles the one after it.
    fn arm_pause(&self) {
        let ms = self.next_pause_ms.load(Ordering::Relaxed);
        self.next_pause_ms
            .store((ms * 2).min(MAX_PAUSE_MS), Ordering::Relaxed);
        self.armed_ms.store(ms, Ordering::Release);
    }
}
