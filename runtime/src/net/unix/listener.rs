//! [`UnixListener`]: a unix stream socket listening for connections.
//!
//! `bind` is synchronous, like tokio's (binding a path needs no network
//! round trip). Accepting goes through the shared [`Acceptor`], with the
//! same descriptor-exhaustion back-off as TCP.

use crate::driver::Waiter;
use std::future::poll_fn;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::task::{ready, Context, Poll};

use super::stream::UnixStream;
use crate::net::accept::Acceptor;
use crate::net::forward::{forward_methods, impl_fd};
use crate::net::socket::Socket;
use crate::sys::socket::{self as sys, Family, SockAddr, Type};

/// How many connections the kernel queues before we accept them.
const BACKLOG: i32 = 1024;

/// A unix-domain socket server, listening for connections on a path.
///
/// ```no_run
/// # spindle_runtime::block_on(async {
/// use spindle_runtime::net::UnixListener;
///
/// let listener = UnixListener::bind("/tmp/app.sock")?;
/// let (stream, _peer) = listener.accept().await?;
/// # Ok::<(), std::io::Error>(())
/// # });
/// ```
#[derive(Debug)]
pub struct UnixListener {
    sock: Socket,
    acceptor: Acceptor,
}

impl UnixListener {
    /// Creates the socket file at `path` and listens on it. Fails with
    /// `AddrInUse` if the file exists (remove a stale one first).
    ///
    /// Must be called inside a runtime: the socket joins its reactor.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let addr = SockAddr::from_path(path.as_ref())?;
        let fd = sys::socket(Family::Unix, Type::Stream)?;
        sys::bind(fd.as_fd(), &addr)?;
        sys::listen(fd.as_fd(), BACKLOG)?;
        UnixListener::from_socket(Socket::listener(fd)?)
    }

    fn from_socket(sock: Socket) -> io::Result<UnixListener> {
        Ok(UnixListener {
            sock,
            acceptor: Acceptor::new(),
        })
    }

    /// Accepts a new connection: the stream and the peer's address (usually
    /// unnamed: clients seldom bind).
    ///
    /// Out of descriptors (`EMFILE` and friends), the error is returned and
    /// the next call first sleeps a back-off of 10 ms doubling to 1 s, exactly
    /// as [`TcpListener::accept`](crate::net::TcpListener::accept) describes.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let mut waiter = Waiter::new(self.sock.registration());
        let (fd, addr) = poll_fn(|cx| {
            self.acceptor
                .poll_accept(&self.sock, cx, Some(&mut waiter.inner))
        })
        .await?;
        Ok((UnixStream::from_socket(Socket::new(fd)?), addr.to_unix()?))
    }

    /// The poll form of [`accept`](Self::accept), with the same back-off.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        let (fd, addr) = ready!(self.acceptor.poll_accept(&self.sock, cx, None))?;
        let stream = UnixStream::from_socket(Socket::new(fd)?);
        Poll::Ready(Ok((stream, addr.to_unix()?)))
    }

    /// Wraps a std listener, switching it to non-blocking mode.
    ///
    /// Must be called inside a runtime: the socket joins its reactor.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        UnixListener::from_socket(Socket::listener(listener.into())?)
    }

    /// Leaves the runtime and returns the std listener, still non-blocking.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixListener> {
        Ok(self.sock.into_fd().into())
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()?.to_unix()
    }

    forward_methods!(take_error);
}

impl_fd!(UnixListener);
