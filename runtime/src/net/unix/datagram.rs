//! [`UnixDatagram`]: unix-domain datagrams.
//!
//! Like UDP, but addressed by path and reliable (a full receiver makes the
//! sender wait instead of dropping). Sends and receives on the connected
//! peer and the readiness methods come from the shared macros; this file
//! adds creation and the path-addressed `send_to` / `recv_from`.

use std::io;
use std::os::fd::AsFd;
use std::os::unix::net::SocketAddr;
use std::path::Path;

use crate::net::forward::{forward_methods, impl_fd};
use crate::net::socket::Socket;
use crate::sys::socket::{self as sys, Family, SockAddr, Type};

/// A unix-domain datagram socket.
///
/// ```
/// # spindle_runtime::block_on(async {
/// use spindle_runtime::net::UnixDatagram;
///
/// let (a, b) = UnixDatagram::pair()?;
/// a.send(b"ping").await?;
/// let mut buf = [0; 16];
/// let n = b.recv(&mut buf).await?;
/// assert_eq!(&buf[..n], b"ping");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct UnixDatagram {
    sock: Socket,
}

impl UnixDatagram {
    /// Creates a socket bound to `path` (creating the socket file).
    ///
    /// Must be called inside a runtime, as must every constructor here:
    /// the socket joins its reactor.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let addr = SockAddr::from_path(path.as_ref())?;
        let fd = sys::socket(Family::Unix, Type::Datagram)?;
        sys::bind(fd.as_fd(), &addr)?;
        UnixDatagram::from_fd(fd)
    }

    /// Creates a socket bound to no path: it can send, and receive replies
    /// only if connected or through `pair`.
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_fd(sys::socket(Family::Unix, Type::Datagram)?)
    }

    /// Two sockets connected to each other, with no path (`socketpair`).
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = sys::socketpair(Type::Datagram)?;
        Ok((UnixDatagram::from_fd(a)?, UnixDatagram::from_fd(b)?))
    }

    fn from_fd(fd: std::os::fd::OwnedFd) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            sock: Socket::new(fd)?,
        })
    }

    /// Sets the peer `send` sends to and the only sender `recv` accepts.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let addr = SockAddr::from_path(path.as_ref())?;
        sys::connect(self.sock.as_fd(), &addr).map(drop)
    }

    /// Sends `buf` as one datagram to the socket bound at `path`, waiting
    /// while the receiver's queue is full.
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let addr = SockAddr::from_path(path.as_ref())?;
        self.sock.send_to(buf, &addr).await
    }

    /// Receives one datagram, waiting for one; returns its length and the
    /// sender's address (unnamed if the sender is not bound).
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self.sock.recv_from(buf, false).await?;
        Ok((n, from.to_unix()?))
    }

    /// Sends one datagram to `path` without waiting; `WouldBlock` if the
    /// receiver's queue is full.
    pub fn try_send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let addr = SockAddr::from_path(path.as_ref())?;
        self.sock.try_send_to(buf, &addr)
    }

    /// Receives one datagram without waiting; `WouldBlock` if none is queued.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self.sock.try_recv_from(buf)?;
        Ok((n, from.to_unix()?))
    }

    /// Wraps a std socket, switching it to non-blocking mode.
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        socket.set_nonblocking(true)?;
        UnixDatagram::from_fd(socket.into())
    }

    /// Leaves the runtime and returns the std socket, still non-blocking.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixDatagram> {
        Ok(self.sock.into_fd().into())
    }

    forward_methods!(
        unix_addrs,
        readable,
        writable,
        ready,
        send,
        recv,
        try_send,
        try_recv,
        take_error,
        shutdown_std,
    );
}

impl_fd!(UnixDatagram);
