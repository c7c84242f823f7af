//! [`TcpStream`]: one TCP connection.
//!
//! `connect` runs the non-blocking connect dance (`connect` answers
//! `EINPROGRESS`; the socket becomes writable when the handshake ends;
//! `SO_ERROR` says how it went) for each resolved address in turn. Reads
//! and writes, the readiness methods and the trait impls come from the
//! shared [`Socket`] through the macros of `net/forward.rs`; `split` and
//! `into_split` are in `split.rs`.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::time::Duration;

use crate::net::addr::each_addr;
use crate::net::forward::{
    forward_methods, impl_async_read, impl_async_write, impl_fd, impl_hyper_read, impl_hyper_write,
};
use crate::net::socket::{self, Socket};
use crate::net::ToSocketAddrs;
use crate::sys::socket::{self as sys, Family, Opt, SockAddr, Type};

/// A TCP connection.
///
/// Read and write it with [`AsyncReadExt`](crate::io::AsyncReadExt) and
/// [`AsyncWriteExt`](crate::io::AsyncWriteExt) (`&TcpStream` implements the
/// traits too), or wait with [`readable`](Self::readable) /
/// [`writable`](Self::writable) and move bytes with
/// [`try_read`](Self::try_read) / [`try_write`](Self::try_write).
/// [`shutdown`](crate::io::AsyncWriteExt::shutdown) sends a FIN.
///
/// ```no_run
/// # spindle_runtime::block_on(async {
/// use spindle_runtime::io::{AsyncReadExt, AsyncWriteExt};
/// use spindle_runtime::net::TcpStream;
///
/// let mut stream = TcpStream::connect("127.0.0.1:8080").await?;
/// stream.write_all(b"ping").await?;
/// let mut reply = [0; 4];
/// stream.read_exact(&mut reply).await?;
/// # Ok::<(), std::io::Error>(())
/// # });
/// ```
#[derive(Debug)]
pub struct TcpStream {
    pub(super) sock: Socket,
}

impl TcpStream {
    /// Opens a connection to `addr`, trying each address it resolves to
    /// until one accepts. A refused connection is `ConnectionRefused`.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        each_addr(addr, TcpStream::connect_addr).await
    }

    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let fd = sys::socket(Family::of(&addr), Type::Stream)?;
        let sock = socket::connect(fd, &SockAddr::from_inet(&addr)).await?;
        Ok(TcpStream::from_socket(sock))
    }

    pub(super) fn from_socket(sock: Socket) -> TcpStream {
        TcpStream { sock }
    }

    /// Wraps a connected std stream, switching it to non-blocking mode.
    ///
    /// Must be called inside a runtime: the socket joins its reactor.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream::from_socket(Socket::new(stream.into())?))
    }

    /// Leaves the runtime and returns the std stream, still in
    /// non-blocking mode (call `set_nonblocking(false)` to block on it).
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        Ok(self.sock.into_fd().into())
    }

    /// Sets `TCP_NODELAY`: `true` sends small writes at once instead of
    /// waiting to coalesce them (Nagle's algorithm).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        sys::set_opt(self.sock.as_fd(), Opt::NoDelay, nodelay.into())
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        sys::opt(self.sock.as_fd(), Opt::NoDelay).map(|v| v != 0)
    }

    /// Sets `SO_LINGER`. `Some(Duration::ZERO)` makes dropping the stream
    /// reset the connection (the peer gets `ConnectionReset`) instead of
    /// closing it gracefully; `None` restores the default.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        sys::set_linger(self.sock.as_fd(), linger)
    }

    /// The `SO_LINGER` setting (see [`set_linger`](Self::set_linger)).
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        sys::linger(self.sock.as_fd())
    }

    forward_methods!(inet_addrs, stream, ttl);
}

impl_async_read!(TcpStream);
impl_async_write!(TcpStream);
impl_async_read!(&TcpStream);
impl_async_write!(&TcpStream);
impl_fd!(TcpStream);
impl_hyper_read!(TcpStream);
impl_hyper_write!(TcpStream);
