//! [`UnixStream`]: a connected unix-domain byte stream, and [`UCred`].
//!
//! Connecting to a path is immediate or fails at once on Linux (no
//! handshake; a full backlog is `WouldBlock`), but it goes through the same
//! connect helper as TCP for uniformity. `pair` gives two connected ends
//! without a path. Reads, writes and readiness come from the shared macros;
//! `split` and `into_split` are in `split.rs`.

use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use crate::net::forward::{
    forward_methods, impl_async_read, impl_async_write, impl_fd, impl_hyper_read, impl_hyper_write,
};
use crate::net::socket::{self, Socket};
use crate::sys::socket::{self as sys, Family, SockAddr, Type};

/// A unix-domain stream connection.
///
/// Used like a [`TcpStream`](crate::net::TcpStream): the IO traits
/// (also on `&UnixStream`), the readiness methods, `split`/`into_split`.
///
/// ```
/// # spindle_runtime::block_on(async {
/// use spindle_runtime::io::{AsyncReadExt, AsyncWriteExt};
/// use spindle_runtime::net::UnixStream;
///
/// let (mut a, mut b) = UnixStream::pair()?;
/// a.write_all(b"hi").await?;
/// let mut buf = [0; 2];
/// b.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"hi");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct UnixStream {
    pub(super) sock: Socket,
}

impl UnixStream {
    /// Connects to the socket listening at `path`.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let addr = SockAddr::from_path(path.as_ref())?;
        let fd = sys::socket(Family::Unix, Type::Stream)?;
        Ok(UnixStream::from_socket(socket::connect(fd, &addr).await?))
    }

    /// Two connected streams, with no path (`socketpair`).
    ///
    /// Must be called inside a runtime: the sockets join its reactor.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = sys::socketpair(Type::Stream)?;
        let a = UnixStream::from_socket(Socket::new(a)?);
        Ok((a, UnixStream::from_socket(Socket::new(b)?)))
    }

    pub(super) fn from_socket(sock: Socket) -> UnixStream {
        UnixStream { sock }
    }

    /// Wraps a connected std stream, switching it to non-blocking mode.
    ///
    /// Must be called inside a runtime: the socket joins its reactor.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Ok(UnixStream::from_socket(Socket::new(stream.into())?))
    }

    /// Leaves the runtime and returns the std stream, still non-blocking.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        Ok(self.sock.into_fd().into())
    }

    /// The credentials of the peer process, as of when it connected
    /// (`SO_PEERCRED`).
    pub fn peer_cred(&self) -> io::Result<UCred> {
        let (pid, uid, gid) = sys::peer_cred(self.sock.as_fd())?;
        Ok(UCred { pid, uid, gid })
    }

    forward_methods!(unix_addrs, stream);
}

impl_async_read!(UnixStream);
impl_async_write!(UnixStream);
impl_async_read!(&UnixStream);
impl_async_write!(&UnixStream);
impl_fd!(UnixStream);
impl_hyper_read!(UnixStream);
impl_hyper_write!(UnixStream);

/// The credentials of the process at the other end of a [`UnixStream`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct UCred {
    pid: i32,
    uid: u32,
    gid: u32,
}

impl UCred {
    /// The peer's process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The peer's user id.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The peer's group id.
    pub fn gid(&self) -> u32 {
        self.gid
    }
}
