//! [`TcpSocket`]: a TCP socket not yet connected or listening, to set
//! options and bind before [`connect`](TcpSocket::connect) or
//! [`listen`](TcpSocket::listen).
//!
//! It owns a bare descriptor (close-on-exec, non-blocking) that is not
//! registered with the reactor: nothing can wait on it until it turns into
//! a [`TcpStream`] (through `connect`, which registers it and runs the
//! non-blocking connect dance of `net/socket.rs`) or a [`TcpListener`]
//! (through `listen`). Its option methods are one system call each.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::listener::TcpListener;
use super::stream::TcpStream;
use crate::net::socket::{self, Socket};
use crate::sys::socket::{self as sys, Family, Opt, SockAddr, Type};

/// A TCP socket before it connects or listens: set options
/// (`SO_REUSEADDR`, `SO_REUSEPORT`, buffer sizes, ...), bind to a chosen
/// local address, then [`connect`](Self::connect) or
/// [`listen`](Self::listen).
///
/// ```no_run
/// # spindle_runtime::block_on(async {
/// use spindle_runtime::net::TcpSocket;
///
/// let socket = TcpSocket::new_v4()?;
/// socket.set_reuseaddr(true)?;
/// socket.bind("127.0.0.1:8080".parse().unwrap())?;
/// let listener = socket.listen(128)?;
/// # Ok::<(), std::io::Error>(())
/// # });
/// ```
#[derive(Debug)]
pub struct TcpSocket {
    fd: OwnedFd,
}

impl TcpSocket {
    /// A new IPv4 TCP socket.
    pub fn new_v4() -> io::Result<TcpSocket> {
        TcpSocket::new(Family::V4)
    }

    /// A new IPv6 TCP socket.
    pub fn new_v6() -> io::Result<TcpSocket> {
        TcpSocket::new(Family::V6)
    }

    fn new(family: Family) -> io::Result<TcpSocket> {
        Ok(TcpSocket {
            fd: sys::socket(family, Type::Stream)?,
        })
    }

    fn set(&self, opt: Opt, value: u32) -> io::Result<()> {
        sys::set_opt(self.fd.as_fd(), opt, value)
    }

    fn get(&self, opt: Opt) -> io::Result<u32> {
        sys::opt(self.fd.as_fd(), opt)
    }

    /// Sets `SO_REUSEADDR`: allows binding a port that connections in
    /// `TIME_WAIT` still hold (what servers restarting want).
    pub fn set_reuseaddr(&self, reuseaddr: bool) -> io::Result<()> {
        self.set(Opt::ReuseAddr, reuseaddr.into())
    }

    /// Whether `SO_REUSEADDR` is set.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        self.get(Opt::ReuseAddr).map(|v| v != 0)
    }

    /// Sets `SO_REUSEPORT`: several sockets (each with it set, of the same
    /// user) may bind the same address and port; the kernel spreads
    /// incoming connections across the listeners.
    pub fn set_reuseport(&self, reuseport: bool) -> io::Result<()> {
        self.set(Opt::ReusePort, reuseport.into())
    }

    /// Whether `SO_REUSEPORT` is set.
    pub fn reuseport(&self) -> io::Result<bool> {
        self.get(Opt::ReusePort).map(|v| v != 0)
    }

    /// Sets `SO_KEEPALIVE`: probe an idle connection to find a dead peer.
    pub fn set_keepalive(&self, keepalive: bool) -> io::Result<()> {
        self.set(Opt::KeepAlive, keepalive.into())
    }

    /// Whether `SO_KEEPALIVE` is set.
    pub fn keepalive(&self) -> io::Result<bool> {
        self.get(Opt::KeepAlive).map(|v| v != 0)
    }

    /// Asks for a send buffer of `size` bytes (`SO_SNDBUF`). Linux doubles
    /// the value (for its bookkeeping) and clamps it to system limits:
    /// [`send_buffer_size`](Self::send_buffer_size) tells what was granted.
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        self.set(Opt::SendBuffer, size)
    }

    /// The send buffer size (`SO_SNDBUF`).
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        self.get(Opt::SendBuffer)
    }

    /// Asks for a receive buffer of `size` bytes (`SO_RCVBUF`); as with
    /// the send buffer, Linux doubles and clamps it.
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        self.set(Opt::RecvBuffer, size)
    }

    /// The receive buffer size (`SO_RCVBUF`).
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        self.get(Opt::RecvBuffer)
    }

    /// Sets `TCP_NODELAY` on the future connection (see
    /// [`TcpStream::set_nodelay`]).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.set(Opt::NoDelay, nodelay.into())
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.get(Opt::NoDelay).map(|v| v != 0)
    }

    /// Sets `SO_LINGER` (see [`TcpStream::set_linger`]).
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        sys::set_linger(self.fd.as_fd(), linger)
    }

    /// The `SO_LINGER` setting.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        sys::linger(self.fd.as_fd())
    }

    /// Binds the socket to `addr` (port 0: the system picks one; see
    /// [`local_addr`](Self::local_addr)).
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        sys::bind(self.fd.as_fd(), &SockAddr::from_inet(&addr))
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sys::local_addr(self.fd.as_fd())?.to_inet()
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        sys::take_error(self.fd.as_fd())
    }

    /// Connects to `addr`, from the bound address if [`bind`](Self::bind)
    /// was called (else the system picks one), and returns the stream.
    /// Must be called inside a runtime. Dropping the future closes the
    /// socket, abandoning the handshake.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        let sock = socket::connect(self.fd, &SockAddr::from_inet(&addr)).await?;
        Ok(TcpStream::from_socket(sock))
    }

    /// Starts listening, with up to `backlog` connections queued by the
    /// kernel before they are accepted (capped by `net.core.somaxconn`),
    /// and returns the listener. Bind first (else the system picks a port).
    /// Must be called inside a runtime.
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        let backlog = backlog.min(i32::MAX as u32) as i32;
        sys::listen(self.fd.as_fd(), backlog)?;
        TcpListener::from_socket(Socket::listener(self.fd)?)
    }

    /// Wraps a std stream's socket (to read or set its options); it must
    /// be non-blocking before it is connected through this type.
    pub fn from_std_stream(stream: std::net::TcpStream) -> TcpSocket {
        TcpSocket {
            fd: OwnedFd::from(stream),
        }
    }
}

impl AsFd for TcpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl IntoRawFd for TcpSocket {
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

impl FromRawFd for TcpSocket {
    /// Adopts a TCP socket descriptor; it should be non-blocking and
    /// close-on-exec, as spindle's own are.
    ///
    /// # Safety
    ///
    /// `fd` must be an open socket that nothing else owns.
    unsafe fn from_raw_fd(fd: RawFd) -> TcpSocket {
        TcpSocket {
            // SAFETY: the caller guarantees `fd` is open and ours alone.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        }
    }
}
