//! The IO loop: running a system call against a [`Registration`]'s
//! readiness, waiting and retrying on `WouldBlock`.
//!
//! Every IO method of the runtime's sockets, pipes and descriptors goes
//! through one of the thin wrappers here, and they through two cores:
//!
//! ```text
//!   poll_io / poll_io_shared / async_io / poll_stream_io / poll_stream_read_stopping
//!       -> poll_io_with:  loop { wait for the direction (poll_ready_with);
//!                                attempt; done unless WouldBlock }
//!   try_io / try_stream_io
//!       -> try_io_with:   if believed ready: attempt; else WouldBlock at once
//!
//!   attempt = run the operation once, and clear the readiness it saw if the
//!             answer proves it gone
//! ```
//!
//! The wrappers differ in two ways only. Where the waker is kept while the
//! task waits: the direction's single slot (`poll_*`, behind `AsyncRead` and
//! friends) or the caller's own entry in the waiter list (`poll_io_shared`,
//! `async_io`, for `&self` methods any number of tasks may await). And what
//! proves the readiness gone: always `WouldBlock`, and on a *stream* (the
//! `*_stream_io` pair) also a transfer shorter than the buffer, since the
//! kernel would have moved more if it could; clearing then saves the next
//! call a `WouldBlock` system call.
//!
//! Only a ready answer spends the task's cooperative budget, and every
//! operation on a registration whose runtime has shut down fails at once
//! (both inside `poll_ready_with`, or in `try_io_with` for the non-waiting
//! pair).

use std::future::poll_fn;
use std::io;
use std::task::{ready, Context, Poll};

use super::registration::{runtime_gone, Direction, ReadyEvent, Registration, WaitSlot, Waiter};

impl Registration {
    /// Waits for `dir`, runs `op`, and retries on `WouldBlock` (after
    /// clearing the readiness it saw) until `op` gives a real answer.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io_with(cx, dir, None, op, |_| false)
    }

    /// [`poll_io`](Self::poll_io) for `&self` methods, with a [`WaitSlot`].
    pub(crate) fn poll_io_shared<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        slot: &mut WaitSlot,
        op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io_with(cx, dir, Some(slot), op, |_| false)
    }

    /// The future form of [`poll_io_shared`](Self::poll_io_shared).
    pub(crate) async fn async_io<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        let mut slot = Waiter::new(self);
        poll_fn(|cx| self.poll_io_with(cx, dir, Some(&mut slot.inner), &mut op, |_| false)).await
    }

    /// Like [`poll_io`](Self::poll_io) for reads and writes on a *stream*
    /// socket or pipe: a transfer shorter than the buffer proves the kernel
    /// buffer was drained (or filled), so readiness is cleared at once and
    /// the next call waits instead of paying for a `WouldBlock` system call.
    pub(crate) fn poll_stream_io(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        len: usize,
        op: impl FnMut() -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.poll_io_with(cx, dir, None, op, |&n| short_transfer(n, len))
    }

    /// [`poll_stream_io`](Self::poll_stream_io) for a read that may also
    /// stop short for a reason of its own: `op` returns the bytes read and
    /// whether it stopped early on purpose (a `recvmsg` on a unix stream
    /// socket stops after the bytes that carried descriptors, whatever
    /// follows them), in which case a short read proves nothing and the
    /// readiness stays. (For the pool's and `Process`'s sockets.)
    #[cfg(feature = "process-pool")]
    pub(crate) fn poll_stream_read_stopping(
        &self,
        cx: &mut Context<'_>,
        len: usize,
        op: impl FnMut() -> io::Result<(usize, bool)>,
    ) -> Poll<io::Result<(usize, bool)>> {
        self.poll_io_with(cx, Direction::Read, None, op, |&(n, stopped)| {
            !stopped && short_transfer(n, len)
        })
    }

    /// Runs `op` once if `dir` is believed ready, without waiting: for the
    /// `try_read` / `try_write` family. `WouldBlock` clears the readiness.
    pub(crate) fn try_io<R>(
        &self,
        dir: Direction,
        op: impl FnOnce() -> io::Result<R>,
    ) -> io::Result<R> {
        self.try_io_with(dir, op, |_| false)
    }

    /// [`try_io`](Self::try_io) for stream sockets and pipes: a transfer
    /// shorter than `len` also clears the readiness it saw, as in
    /// [`poll_stream_io`](Self::poll_stream_io), so the next wait goes
    /// straight to the reactor instead of paying for a `WouldBlock`.
    pub(crate) fn try_stream_io(
        &self,
        dir: Direction,
        len: usize,
        op: impl FnOnce() -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.try_io_with(dir, op, |&n| short_transfer(n, len))
    }

    /// The waiting IO loop behind every `poll_*io` and `async_io`: wait
    /// for `dir` (in the single slot or the waiter list, as `waiter` says;
    /// see [`poll_ready_with`](Self::poll_ready_with)), run `op` once
    /// ([`attempt`](Self::attempt)), and go round again only on
    /// `WouldBlock`, whose readiness `attempt` has cleared, so the next
    /// wait really waits for the reactor.
    fn poll_io_with<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut waiter: Option<&mut WaitSlot>,
        mut op: impl FnMut() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        loop {
            let ev = ready!(self.poll_ready_with(cx, dir, waiter.as_deref_mut()))?;
            match self.attempt(ev, &mut op, &drained) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                res => return Poll::Ready(res),
            }
        }
    }

    /// The non-waiting form behind `try_io` and `try_stream_io`: run `op`
    /// once if `dir` is believed ready, else fail with `WouldBlock` at once
    /// (or with the shutdown error), without touching any waker.
    fn try_io_with<R>(
        &self,
        dir: Direction,
        op: impl FnOnce() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> io::Result<R> {
        let Some(ev) = self.io().snapshot(dir) else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        if ev.is_shutdown() {
            return Err(runtime_gone());
        }
        self.attempt(ev, op, drained)
    }

    /// Runs `op` once with the readiness `ev` in hand and forgets that
    /// readiness if the answer proves it gone: `WouldBlock`, or a success
    /// that `drained` recognises (a short transfer on a stream). Every
    /// other answer leaves it, so the next operation goes straight to the
    /// system call.
    fn attempt<R>(
        &self,
        ev: ReadyEvent,
        op: impl FnOnce() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> io::Result<R> {
        let res = op();
        let gone = match &res {
            Ok(value) => drained(value),
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        };
        if gone {
            self.clear_readiness(ev);
        }
        res
    }
}

/// Whether a transfer of `n` bytes from a buffer of `len` proves that a
/// stream's kernel buffer was drained (read) or filled (written): it moved
/// something, but less than it was offered. (0 is end of stream or an empty
/// buffer, and says nothing about readiness.)
fn short_transfer(n: usize, len: usize) -> bool {
    n > 0 && n < len
}
