//! [`Op`]: the future of one io_uring operation, which owns the
//! operation's resources (buffer, socket address) until the kernel is done
//! with them.
//!
//! An `Op` is made by [`Op::start`] with a request whose pointers point
//! into heap memory owned by `data` (a `Vec`'s buffer, a `Box`): moving the
//! `Op` moves `data`'s handles, not that memory, so the pointers stay good.
//! Polled, it returns the kernel's result and `data` back. Dropped before
//! that, it hands `data` to the driver (see `driver.rs`, "Who owns the
//! buffer when").

use std::any::Any;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use spindle_reactor::uring::Sqe;

use super::driver::{Driver, OnCompletion, Slot};
use crate::executor::{context, Shared};

/// What a completed operation gives back.
pub(super) struct Completion<T> {
    /// The kernel's result: a count (or a descriptor) on success.
    pub(super) result: io::Result<u32>,
    /// The completion's flags (`IORING_CQE_F_*`).
    #[allow(dead_code)]
    pub(super) flags: u32,
    /// The resources, back from the kernel.
    pub(super) data: T,
}

/// The future of one operation (see the module docs).
pub(super) struct Op<T: Send + 'static> {
    shared: Arc<Shared>,
    key: usize,
    /// `None` once completed (given back) or abandoned.
    data: Option<T>,
    /// Run on the completion if the future is dropped before taking it.
    on_abandon: Option<OnCompletion>,
    /// The descriptor the request names, kept open until the kernel is done
    /// with the request (see [`Op::start_on`]).
    fd: Option<Arc<OwnedFd>>,
}

/// For operations whose result is a new descriptor (`accept`, `openat`):
/// closes it if nobody takes the completion.
fn close_result_fd(_resources: &mut (dyn Any + Send), res: i32, _flags: u32) {
    if res >= 0 {
        // SAFETY: the kernel created this descriptor for the abandoned
        // operation; nobody else has seen its number, and this is the only
        // place that closes it.
        drop(unsafe { crate::sys::fd::adopt(res) });
    }
}

/// The runtime whose ring takes an operation started on this thread: the
/// one this thread runs; on a thread that only entered a runtime, the one
/// whose thread will turn the ring (on a multi-threaded runtime the first
/// worker's, not the `block_on` thread's: `context::current_io_shared`);
/// on a `block_in_place` stand-in, the next worker's (`context::ring_shared`).
fn current() -> io::Result<Arc<Shared>> {
    context::ring_shared().ok_or_else(|| {
        io::Error::other(
            "spindle::uring operations must run inside a spindle runtime (in block_on, a task, \
             or under Handle::enter)",
        )
    })
}

impl<T: Send + 'static> Op<T> {
    /// Starts an operation on the current runtime's ring. `sqe` gets
    /// `data` to point into, and the ring's id (for fixed buffers); the
    /// request's opcode is checked against what the kernel supports
    /// (`name` is for the error). On error, `data` comes back.
    pub(super) fn start(
        name: &str,
        mut data: T,
        sqe: impl FnOnce(&mut T, usize) -> Sqe,
    ) -> Result<Op<T>, (io::Error, T)> {
        let shared = match current() {
            Ok(shared) => shared,
            Err(e) => return Err((e, data)),
        };
        let driver = match Driver::of(&shared) {
            Ok(driver) => driver,
            Err(e) => return Err((e, data)),
        };
        let sqe = sqe(&mut data, driver.id);
        // SAFETY: the request points into `data`'s heap memory (the callers'
        // `sqe` closures), and `data` goes into the `Op` returned below,
        // which keeps it until the completion or hands it to the driver
        // (and if the `Op` is leaked, so is `data`: still valid).
        let started = driver
            .check(sqe.opcode, name)
            .and_then(|()| unsafe { driver.start(sqe) });
        let key = match started {
            Ok(key) => key,
            Err(e) => return Err((e, data)),
        };
        if !context::is_running(&shared) {
            // Not the ring's thread: wake it, so that its turn submits.
            shared.unpark();
        }
        Ok(Op {
            shared,
            key,
            data: Some(data),
            on_abandon: None,
            fd: None,
        })
    }

    /// [`start`](Self::start) for an operation on the descriptor `fd`:
    /// `sqe` gets its number, and the `Op` keeps `fd` open as long as the
    /// kernel may use the request: until the `Op` completes, or if it is
    /// dropped first, until the kernel is done with it (the driver keeps it
    /// with the abandoned resources).
    ///
    /// Without this a socket dropped right after its operation's future
    /// would close its descriptor while the request, which names it by
    /// number, still waits in the submission ring for the runtime's next
    /// `io_uring_enter`; a socket or file opened meanwhile could get that
    /// number, and the request would read from or write to it.
    pub(super) fn start_on(
        name: &str,
        fd: &Arc<OwnedFd>,
        data: T,
        sqe: impl FnOnce(&mut T, RawFd, usize) -> Sqe,
    ) -> Result<Op<T>, (io::Error, T)> {
        let raw = fd.as_raw_fd();
        let mut op = Op::start(name, data, |data, ring| sqe(data, raw, ring))?;
        op.fd = Some(fd.clone());
        Ok(op)
    }

    /// The operation's result is a new descriptor: if the future is
    /// dropped before it takes the completion, the descriptor is closed.
    pub(super) fn makes_fd(mut self) -> Op<T> {
        self.on_abandon = Some(close_result_fd);
        self
    }

    fn driver(&self) -> &Driver {
        self.shared.uring.get().expect("an Op's driver outlives it")
    }
}

// `Op` never pins `data` (the kernel points into its heap memory, not into
// the `Op`), so moving a polled `Op` is fine.
impl<T: Send + 'static> Unpin for Op<T> {}

impl<T: Send + 'static> Future for Op<T> {
    type Output = Completion<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Completion<T>> {
        let this = self.get_mut();
        let driver = this.driver();
        let mut inner = driver.lock();
        let shut_down = inner.shut_down;
        let slot = inner
            .ops
            .get_mut(this.key)
            .expect("polled after completion");
        match slot {
            Slot::Waiting(waker) => {
                if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            Slot::Done { res, flags } => {
                let (res, flags) = (*res, *flags);
                inner.ops.remove(this.key);
                drop(inner);
                let result = if res >= 0 {
                    Ok(res as u32)
                } else if shut_down && res == -libc::ECANCELED {
                    Err(io::Error::other(
                        "spindle::uring: the runtime shut down while this operation was in flight",
                    ))
                } else {
                    Err(io::Error::from_raw_os_error(-res))
                };
                let data = this.data.take().expect("an Op completes once");
                Poll::Ready(Completion {
                    result,
                    flags,
                    data,
                })
            }
            Slot::Multi { .. } | Slot::Abandoned { .. } => {
                unreachable!("a single-shot Op's slot is Waiting or Done")
            }
        }
    }
}

impl<T: Send + 'static> Drop for Op<T> {
    fn drop(&mut self) {
        let Some(data) = self.data.take() else {
            return; // completed: the slot is gone already
        };
        // The descriptor goes with the resources: closed when they are freed.
        let resources = Box::new((data, self.fd.take()));
        self.driver().abandon(self.key, resources, self.on_abandon);
        if !context::is_running(&self.shared) {
            // Only the ring's thread submits the cancel: wake it.
            self.shared.unpark();
        }
    }
}
