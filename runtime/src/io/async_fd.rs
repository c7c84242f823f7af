//! [`AsyncFd`]: await readiness of any non-blocking file descriptor (a pipe,
//! a tty, an inotify or timerfd descriptor, a device) that spindle has no
//! type for.
//!
//! The type's docs teach how readiness works (the wait / try / clear
//! loop, ownership of the descriptor, several waiters); they live on the
//! public type so that rustdoc shows them. The waiting itself is the
//! driver's (`driver/registration.rs`), shared with every socket; the
//! guards the waits return are in `async_fd_guard.rs`.

use std::error::Error;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::task::{ready, Context, Poll};

use crate::driver::{Direction, ReadyEvent, Registration};

use super::async_fd_guard::{AsyncFdReadyGuard, AsyncFdReadyMutGuard};
use super::Interest;

/// A non-blocking file descriptor registered with the runtime's reactor,
/// whose readiness tasks can await.
///
/// # How readiness works
///
/// A non-blocking descriptor never makes a thread wait: a `read` with no
/// data answers `EAGAIN` (`io::ErrorKind::WouldBlock`) at once. The runtime
/// adds the descriptor to its reactor (epoll, or poll/select/io_uring), and
/// the reactor tells it when the descriptor *becomes* ready. The runtime
/// keeps that news as *readiness bits* for the descriptor: readable,
/// writable, read closed, write closed, error.
///
/// Readiness is a hint, not a promise. Between the report and your `read`
/// another task may have taken the data, and epoll reports *edges* (a
/// change), not levels: once told "readable", it will not say so again
/// until new data arrives. So the rule for every IO on a registered
/// descriptor is:
///
/// 1. wait until the runtime believes the descriptor ready
///    ([`readable`](AsyncFd::readable), [`writable`](AsyncFd::writable),
///    [`ready`](AsyncFd::ready)): that returns a *guard*;
/// 2. try the non-blocking system call;
/// 3. if it says `WouldBlock`, the belief was stale: clear it
///    ([`clear_ready`](AsyncFdReadyGuard::clear_ready)) and go back to 1,
///    which now really waits for the reactor. Any other answer is the
///    result; keep the readiness (drop the guard), since more may be
///    waiting.
///
/// Clearing after anything but `WouldBlock` risks waiting forever for an
/// edge that already came: clear only what a failed call proved gone. The
/// runtime makes the clear itself safe against a race: if the reactor
/// reported new readiness after the guard was taken, the clear does
/// nothing. [`AsyncFdReadyGuard::try_io`] does steps 2 and 3 for you, and
/// [`AsyncFd::async_io`] the whole loop:
///
/// ```
/// use std::io::{self, Read};
/// use std::os::unix::net::UnixStream as StdUnixStream; // any non-blocking fd
///
/// use spindle_runtime::io::AsyncFd;
///
/// async fn read_some(fd: &AsyncFd<StdUnixStream>, buf: &mut [u8]) -> io::Result<usize> {
///     loop {
///         let mut guard = fd.readable().await?;
///         match guard.try_io(|inner| inner.get_ref().read(buf)) {
///             Ok(result) => return result,
///             Err(_would_block) => continue, // readiness cleared: wait again
///         }
///     }
/// }
///
/// spindle_runtime::Runtime::new().unwrap().block_on(async {
///     let (a, mut b) = StdUnixStream::pair()?;
///     a.set_nonblocking(true)?;
///     let a = AsyncFd::new(a)?;
///     io::Write::write_all(&mut b, b"hi")?;
///     let mut buf = [0; 8];
///     assert_eq!(read_some(&a, &mut buf).await?, 2);
///     io::Result::Ok(())
/// })
/// .unwrap();
/// ```
///
/// # Ownership
///
/// `AsyncFd<T>` owns `T` (an `OwnedFd`, a `std` type, your own wrapper) and
/// registers `T`'s descriptor when created. The descriptor must be in
/// non-blocking mode (a blocking `read` would stall the whole runtime
/// thread) and must stay open while the `AsyncFd` lives; dropping the
/// `AsyncFd` removes the descriptor from the reactor before dropping `T`,
/// and [`into_inner`](AsyncFd::into_inner) removes it and hands `T` back.
/// A descriptor can be registered once per runtime: a second `AsyncFd` for
/// the same one fails (`AlreadyExists` on epoll), and
/// [`try_new`](AsyncFd::try_new) gives the value back when that happens.
///
/// # Waiters
///
/// `readable`, `writable`, `ready` and `async_io` take `&self`: any number of
/// tasks, on any threads, may wait at once, and every one is woken. The
/// `poll_*_ready` methods, for hand-written `poll` functions, keep one waker
///  per direction: the last task to poll is the one woken, as with
///  `AsyncRead`. Dropping a waiting future (cancelling it) takes it off the
///  list and changes nothing else.
pub struct AsyncFd<T: AsRawFd> {
    // Declared before `inner` so it drops first: the descriptor leaves the
    // reactor while it is still open.
    registration: Registration,
    interest: Interest,
    inner: T,
}

/// The error of [`AsyncFd::try_new`] and [`AsyncFd::try_with_interest`]: why
/// registering failed, and the value that was to be wrapped, unharmed.
pub struct AsyncFdTryNewError<T> {
    inner: T,
    cause: io::Error,
}

impl<T> AsyncFdTryNewError<T> {
    /// The value that was to be wrapped, and why registering it failed.
    pub fn into_parts(self) -> (T, io::Error) {
        (self.inner, self.cause)
    }
}

impl<T> fmt::Debug for AsyncFdTryNewError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncFdTryNewError")
            .field("cause", &self.cause)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for AsyncFdTryNewError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot register the descriptor with the reactor: {}",
            self.cause
        )
    }
}

impl<T> Error for AsyncFdTryNewError<T> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.cause)
    }
}

impl<T> From<AsyncFdTryNewError<T>> for io::Error {
    fn from(e: AsyncFdTryNewError<T>) -> io::Error {
        e.cause
    }
}

impl<T: AsRawFd> AsyncFd<T> {
    /// Registers `inner`'s descriptor for readable and writable readiness
    /// with the runtime of the current thread. On failure `inner` is
    /// dropped; [`try_new`](Self::try_new) gives it back instead.
    pub fn new(inner: T) -> io::Result<AsyncFd<T>> {
        Ok(AsyncFd::try_new(inner)?)
    }

    /// Registers `inner`'s descriptor for the readiness in `interest` only.
    pub fn with_interest(inner: T, interest: Interest) -> io::Result<AsyncFd<T>> {
        Ok(AsyncFd::try_with_interest(inner, interest)?)
    }

    /// [`new`](Self::new), handing `inner` back if registering fails (no
    /// runtime on this thread, the runtime shut down, the descriptor is
    /// already registered, or the reactor cannot watch its kind of file).
    pub fn try_new(inner: T) -> Result<AsyncFd<T>, AsyncFdTryNewError<T>> {
        AsyncFd::try_with_interest(inner, Interest::READABLE | Interest::WRITABLE)
    }

    /// [`with_interest`](Self::with_interest), handing `inner` back if
    /// registering fails.
    pub fn try_with_interest(
        inner: T,
        interest: Interest,
    ) -> Result<AsyncFd<T>, AsyncFdTryNewError<T>> {
        match Registration::new(inner.as_raw_fd(), interest.to_reactor()) {
            Ok(registration) => Ok(AsyncFd {
                registration,
                interest,
                inner,
            }),
            Err(cause) => Err(AsyncFdTryNewError { inner, cause }),
        }
    }

    /// The wrapped value.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped value, mutably. Do not replace its descriptor: the
    /// reactor watches the one registered.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Removes the descriptor from the reactor and returns the wrapped value.
    pub fn into_inner(self) -> T {
        let AsyncFd {
            registration,
            inner,
            ..
        } = self;
        drop(registration);
        inner
    }

    /// The registration, for the guards.
    pub(super) fn registration(&self) -> &Registration {
        &self.registration
    }

    /// The interest the descriptor was registered with.
    pub fn interest(&self) -> Interest {
        self.interest
    }

    /// Fails with `InvalidInput` if a wait for `interest` could never end:
    /// the descriptor is not registered for it.
    fn check(&self, interest: Interest) -> io::Result<Direction> {
        if (interest.is_readable() && !self.interest.is_readable())
            || (interest.is_writable() && !self.interest.is_writable())
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "AsyncFd registered for {:?} cannot wait for {:?}",
                    self.interest, interest
                ),
            ));
        }
        Ok(interest.direction())
    }

    async fn wait(&self, interest: Interest) -> io::Result<ReadyEvent> {
        let dir = self.check(interest)?;
        self.registration.readiness(dir).await
    }

    fn poll_wait(&self, cx: &mut Context<'_>, interest: Interest) -> Poll<io::Result<ReadyEvent>> {
        let dir = self.check(interest)?;
        self.registration.poll_ready(cx, dir)
    }

    /// Waits until the descriptor is (believed) ready for any of
    /// `interest`, and returns a guard that says what is ready. Cancel safe.
    pub async fn ready(&self, interest: Interest) -> io::Result<AsyncFdReadyGuard<'_, T>> {
        let event = self.wait(interest).await?;
        Ok(AsyncFdReadyGuard::new(self, event))
    }

    /// [`ready`](Self::ready) with a guard that lends `&mut` access.
    pub async fn ready_mut(
        &mut self,
        interest: Interest,
    ) -> io::Result<AsyncFdReadyMutGuard<'_, T>> {
        let event = self.wait(interest).await?;
        Ok(AsyncFdReadyMutGuard::new(self, event))
    }

    /// Waits until the descriptor is (believed) readable: data, end of
    /// stream, or a pending error. Cancel safe.
    pub async fn readable(&self) -> io::Result<AsyncFdReadyGuard<'_, T>> {
        self.ready(Interest::READABLE).await
    }

    /// [`readable`](Self::readable) with a `&mut` guard.
    pub async fn readable_mut(&mut self) -> io::Result<AsyncFdReadyMutGuard<'_, T>> {
        self.ready_mut(Interest::READABLE).await
    }

    /// Waits until the descriptor is (believed) writable: room to write,
    /// the peer gone, or a pending error. Cancel safe.
    pub async fn writable(&self) -> io::Result<AsyncFdReadyGuard<'_, T>> {
        self.ready(Interest::WRITABLE).await
    }

    /// [`writable`](Self::writable) with a `&mut` guard.
    pub async fn writable_mut(&mut self) -> io::Result<AsyncFdReadyMutGuard<'_, T>> {
        self.ready_mut(Interest::WRITABLE).await
    }

    /// Polls for read readiness, for hand-written `poll` functions. Keeps
    /// one waker for reads: only the last task to poll is woken.
    pub fn poll_read_ready<'a>(
        &'a self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<AsyncFdReadyGuard<'a, T>>> {
        let event = ready!(self.poll_wait(cx, Interest::READABLE))?;
        Poll::Ready(Ok(AsyncFdReadyGuard::new(self, event)))
    }

    /// [`poll_read_ready`](Self::poll_read_ready) with a `&mut` guard.
    pub fn poll_read_ready_mut<'a>(
        &'a mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<AsyncFdReadyMutGuard<'a, T>>> {
        let event = ready!(self.poll_wait(cx, Interest::READABLE))?;
        Poll::Ready(Ok(AsyncFdReadyMutGuard::new(self, event)))
    }

    /// Polls for write readiness; one waker for writes, like
    /// [`poll_read_ready`](Self::poll_read_ready).
    pub fn poll_write_ready<'a>(
        &'a self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<AsyncFdReadyGuard<'a, T>>> {
        let event = ready!(self.poll_wait(cx, Interest::WRITABLE))?;
        Poll::Ready(Ok(AsyncFdReadyGuard::new(self, event)))
    }

    /// [`poll_write_ready`](Self::poll_write_ready) with a `&mut` guard.
    pub fn poll_write_ready_mut<'a>(
        &'a mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<AsyncFdReadyMutGuard<'a, T>>> {
        let event = ready!(self.poll_wait(cx, Interest::WRITABLE))?;
        Poll::Ready(Ok(AsyncFdReadyMutGuard::new(self, event)))
    }

    /// The whole readiness loop: waits for `interest`, runs `f`, and on
    /// `WouldBlock` clears the readiness and waits again, until `f` gives
    /// another answer. Cancel safe as long as `f` does nothing when it
    /// answers `WouldBlock`.
    pub async fn async_io<R>(
        &self,
        interest: Interest,
        mut f: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        let dir = self.check(interest)?;
        self.registration.async_io(dir, || f(&self.inner)).await
    }

    /// [`async_io`](Self::async_io) with `&mut` access to the inner value.
    pub async fn async_io_mut<R>(
        &mut self,
        interest: Interest,
        mut f: impl FnMut(&mut T) -> io::Result<R>,
    ) -> io::Result<R> {
        let dir = self.check(interest)?;
        let AsyncFd {
            registration,
            inner,
            ..
        } = self;
        registration.async_io(dir, || f(inner)).await
    }

    /// Runs `f` once if the descriptor is believed ready for `interest`,
    /// else fails with `WouldBlock` at once. A `WouldBlock` from `f` clears
    /// the readiness.
    pub fn try_io<R>(
        &self,
        interest: Interest,
        f: impl FnOnce(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        let dir = self.check(interest)?;
        self.registration.try_io(dir, || f(&self.inner))
    }

    /// [`try_io`](Self::try_io) with `&mut` access to the inner value.
    pub fn try_io_mut<R>(
        &mut self,
        interest: Interest,
        f: impl FnOnce(&mut T) -> io::Result<R>,
    ) -> io::Result<R> {
        let dir = self.check(interest)?;
        let inner = &mut self.inner;
        self.registration.try_io(dir, || f(inner))
    }
}

impl<T: AsRawFd> AsRawFd for AsyncFd<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl<T: AsRawFd + AsFd> AsFd for AsyncFd<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl<T: AsRawFd + fmt::Debug> fmt::Debug for AsyncFd<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncFd")
            .field("inner", &self.inner)
            .field("interest", &self.interest)
            .finish()
    }
}
