//! [`Socket`]: a non-blocking socket registered with the reactor, the piece
//! every type in `net` is built from.
//!
//! A `Socket` owns the descriptor and its [`Registration`]. It turns the
//! non-blocking calls of `crate::sys::socket` into `poll_*` functions and futures: an
//! operation runs when the driver believes the socket ready; on
//! `WouldBlock` the readiness it saw is cleared and the task waits for the
//! next epoll edge. Stream reads and writes go through
//! [`Registration::poll_stream_io`] (and `try_stream_io`), which also clear
//! readiness after a short transfer (the kernel buffer is then known to be
//! drained or full).
//!
//! The public types (`TcpStream`, `UdpSocket`, `UnixStream`, ...) are thin
//! wrappers holding a `Socket` in a field named `sock`; the macros in
//! `net/forward.rs` give them the methods and trait impls that are the same
//! for every family.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::task::{Context, Poll};

use spindle_reactor::Interest as ReactorInterest;

use crate::driver::{Direction, Registration, WaitSlot};
use crate::io::{Interest, Ready};
use crate::sys::socket::{self as sys, SockAddr};

/// A registered, non-blocking socket.
pub(crate) struct Socket {
    // Declared before `fd` so it drops first: the descriptor leaves epoll
    // while it is still open.
    registration: Registration,
    fd: OwnedFd,
}

impl Socket {
    /// Registers `fd` for both directions (streams and datagram sockets).
    pub(crate) fn new(fd: OwnedFd) -> io::Result<Socket> {
        Socket::with_interest(fd, ReactorInterest::READABLE | ReactorInterest::WRITABLE)
    }

    /// Registers a listening socket, which only ever becomes readable.
    pub(crate) fn listener(fd: OwnedFd) -> io::Result<Socket> {
        Socket::with_interest(fd, ReactorInterest::READABLE)
    }

    fn with_interest(fd: OwnedFd, interest: ReactorInterest) -> io::Result<Socket> {
        let registration = Registration::new(fd.as_raw_fd(), interest)?;
        Ok(Socket { registration, fd })
    }

    /// Leaves the reactor and hands back the descriptor (still non-blocking).
    pub(crate) fn into_fd(self) -> OwnedFd {
        let Socket { registration, fd } = self;
        drop(registration);
        fd
    }

    /// Waits until the socket is (believed) ready in `dir`.
    pub(crate) async fn ready(&self, dir: Direction) -> io::Result<()> {
        self.registration.readiness(dir).await.map(drop)
    }

    /// Waits until the socket is (believed) ready for any of `interest`,
    /// and says what it is ready for.
    pub(crate) async fn ready_for(&self, interest: Interest) -> io::Result<Ready> {
        let event = self.registration.readiness(interest.direction()).await?;
        Ok(Ready::from_bits(event.ready_bits()))
    }

    /// Runs `op` once if the socket is believed ready, else `WouldBlock`.
    pub(crate) fn try_io<R>(
        &self,
        dir: Direction,
        op: impl FnOnce(BorrowedFd<'_>) -> io::Result<R>,
    ) -> io::Result<R> {
        self.registration.try_io(dir, || op(self.fd.as_fd()))
    }

    /// Waits for readiness and runs `op` until it gives a real answer.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.registration.poll_io(cx, dir, || op(self.fd.as_fd()))
    }

    /// Waits for readiness and runs `op` until it gives a real answer; any
    /// number of tasks may do this at once on the same socket.
    pub(crate) async fn io<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
    ) -> io::Result<R> {
        self.registration
            .async_io(dir, || op(self.fd.as_fd()))
            .await
    }

    /// [`poll_io`](Self::poll_io) for a waiter with its own entry in the
    /// registration's waiter list (see `driver::Waiter`).
    pub(crate) fn poll_io_shared<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        slot: &mut WaitSlot,
        mut op: impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.registration
            .poll_io_shared(cx, dir, slot, || op(self.fd.as_fd()))
    }

    /// The socket's registration with the reactor.
    pub(crate) fn registration(&self) -> &Registration {
        &self.registration
    }

    /// Stream read. An empty `buf` reads nothing and does not wait.
    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let (len, fd) = (buf.len(), self.fd.as_fd());
        self.registration
            .poll_stream_io(cx, Direction::Read, len, || sys::recv(fd, buf, false))
    }

    /// Stream read into uninitialized memory (hyper's read buffer): like
    /// [`poll_read`](Self::poll_read), without asking the caller to zero
    /// `buf` first. On `Ok(n)` the first `n` bytes of `buf` are initialized.
    #[cfg(feature = "hyper")]
    pub(crate) fn poll_recv_uninit(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [std::mem::MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let (len, fd) = (buf.len(), self.fd.as_fd());
        self.registration
            .poll_stream_io(cx, Direction::Read, len, || sys::recv_uninit(fd, buf))
    }

    /// Stream write (`MSG_NOSIGNAL`). An empty `buf` writes nothing and
    /// does not wait.
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let fd = self.fd.as_fd();
        self.registration
            .poll_stream_io(cx, Direction::Write, buf.len(), || sys::send(fd, buf))
    }

    /// Stream write of several buffers in one `sendmsg`.
    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = vectored_len(bufs);
        if len == 0 {
            return Poll::Ready(Ok(0));
        }
        let fd = self.fd.as_fd();
        self.registration
            .poll_stream_io(cx, Direction::Write, len, || sys::send_vectored(fd, bufs))
    }

    /// Stream read without waiting.
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let (len, fd) = (buf.len(), self.fd.as_fd());
        self.registration
            .try_stream_io(Direction::Read, len, || sys::recv(fd, buf, false))
    }

    /// Stream write without waiting.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let fd = self.fd.as_fd();
        self.registration
            .try_stream_io(Direction::Write, buf.len(), || sys::send(fd, buf))
    }

    /// Vectored stream read without waiting.
    pub(crate) fn try_read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let (len, fd) = (vectored_len(bufs), self.fd.as_fd());
        self.registration
            .try_stream_io(Direction::Read, len, || sys::recv_vectored(fd, bufs))
    }

    /// Vectored stream write without waiting.
    pub(crate) fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let (len, fd) = (vectored_len(bufs), self.fd.as_fd());
        self.registration
            .try_stream_io(Direction::Write, len, || sys::send_vectored(fd, bufs))
    }

    /// Waits for data and reads it without taking it off the queue.
    pub(crate) async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io(Direction::Read, |fd| sys::recv(fd, buf, true))
            .await
    }

    /// Sends one datagram to the connected peer.
    pub(crate) async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io(Direction::Write, |fd| sys::send(fd, buf)).await
    }

    /// Receives one datagram from the connected peer.
    pub(crate) async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io(Direction::Read, |fd| sys::recv(fd, buf, false))
            .await
    }

    /// Sends one datagram to `addr`.
    pub(crate) async fn send_to(&self, buf: &[u8], addr: &SockAddr) -> io::Result<usize> {
        self.io(Direction::Write, |fd| sys::send_to(fd, buf, addr))
            .await
    }

    /// Receives one datagram and its sender, optionally leaving it queued.
    pub(crate) async fn recv_from(
        &self,
        buf: &mut [u8],
        peek: bool,
    ) -> io::Result<(usize, SockAddr)> {
        self.io(Direction::Read, |fd| sys::recv_from(fd, buf, peek))
            .await
    }

    /// [`send`](Self::send) without waiting.
    pub(crate) fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.try_io(Direction::Write, |fd| sys::send(fd, buf))
    }

    /// [`recv`](Self::recv) without waiting.
    pub(crate) fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_io(Direction::Read, |fd| sys::recv(fd, buf, false))
    }

    /// [`send_to`](Self::send_to) without waiting.
    pub(crate) fn try_send_to(&self, buf: &[u8], addr: &SockAddr) -> io::Result<usize> {
        self.try_io(Direction::Write, |fd| sys::send_to(fd, buf, addr))
    }

    /// [`recv_from`](Self::recv_from) without waiting or peeking.
    pub(crate) fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SockAddr)> {
        self.try_io(Direction::Read, |fd| sys::recv_from(fd, buf, false))
    }

    /// Shuts down one or both directions, reporting what the kernel says
    /// (like `std`'s `shutdown`).
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        sys::shutdown(self.fd.as_fd(), how)
    }

    /// Shuts down the write direction: what `AsyncWrite::poll_shutdown` and
    /// dropping an owned write half do.
    ///
    /// `ENOTCONN` counts as success. Linux answers `shutdown(SHUT_WR)` with
    /// it once the connection is gone (the peer reset it, say), and then
    /// there is nobody left to tell that we are done writing: the goal of
    /// the call is met. Servers shut down every connection a client closes
    /// (hyper does), so reporting it would turn each abrupt client exit into
    /// an error. Other errors (`EBADF`, ...) are still reported.
    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        match self.shutdown(Shutdown::Write) {
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(()),
            result => result,
        }
    }

    /// Takes the pending socket error, if any.
    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        sys::take_error(self.fd.as_fd())
    }

    /// The address this socket is bound to.
    pub(crate) fn local_addr(&self) -> io::Result<SockAddr> {
        sys::local_addr(self.fd.as_fd())
    }

    /// The address of the connected peer.
    pub(crate) fn peer_addr(&self) -> io::Result<SockAddr> {
        sys::peer_addr(self.fd.as_fd())
    }
}

/// How many bytes one vectored call can move: the length of the buffers
/// it passes. A transfer shorter than that means the kernel buffer was
/// drained (or filled), which is what the stream readiness logic relies on.
fn vectored_len(bufs: &[impl std::ops::Deref<Target = [u8]>]) -> usize {
    bufs.iter().take(sys::MAX_IOV).map(|b| b.len()).sum()
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}

/// Starts connecting `fd` (a fresh stream socket) to `addr`, registers it,
/// and waits for the handshake to finish.
///
/// A non-blocking connect reports completion as writability; whether it
/// succeeded is then in `SO_ERROR`. A wake-up without an error while the
/// socket still has no peer (`getpeername` says `NotConnected`) is taken as
/// not ready yet, so a spurious wake cannot report success early.
pub(crate) async fn connect(fd: OwnedFd, addr: &SockAddr) -> io::Result<Socket> {
    let connected = sys::connect(fd.as_fd(), addr)?;
    let sock = Socket::new(fd)?;
    if !connected {
        sock.io(Direction::Write, |fd| match sys::take_error(fd)? {
            Some(e) => Err(e),
            None => match sys::peer_addr(fd) {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Err(e) => Err(e),
            },
        })
        .await?;
    }
    Ok(sock)
}
