//! [`TcpListener`]: a TCP socket listening for connections.
//!
//! `bind` creates the socket (close-on-exec, non-blocking, `SO_REUSEADDR`
//! so a restarted server can bind while old connections sit in
//! `TIME_WAIT`), binds it and listens with a backlog of 1024. Accepting goes
//! through the shared [`Acceptor`], which backs off when the process is out
//! of descriptors. `bind_reuseport` also sets `SO_REUSEPORT`, so several
//! listeners share one port (one per shard, see `shard`).

use crate::driver::Waiter;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::task::{ready, Context, Poll};

use super::stream::TcpStream;
use crate::net::accept::Acceptor;
use crate::net::addr::each_addr;
use crate::net::forward::{forward_methods, impl_fd};
use crate::net::socket::Socket;
use crate::net::ToSocketAddrs;
use crate::sys::socket::{self as sys, Family, Opt, SockAddr, Type};

/// How many connections the kernel queues before we accept them (capped by
/// `net.core.somaxconn`).
const BACKLOG: i32 = 1024;

/// A TCP socket server, listening for connections.
///
/// ```no_run
/// use spindle_runtime::net::TcpListener;
///
/// # async fn server() -> std::io::Result<()> {
/// let listener = TcpListener::bind("127.0.0.1:8080").await?;
/// loop {
///     match listener.accept().await {
///         Ok((stream, peer)) => {
///             spindle_runtime::spawn(async move {
///                 // serve `stream` ...
///                 # drop((stream, peer));
///             });
///         }
///         // Out of descriptors, say: log it; accept backs off by itself.
///         Err(e) => eprintln!("accept failed: {e}"),
///     }
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct TcpListener {
    sock: Socket,
    acceptor: Acceptor,
}

impl TcpListener {
    /// Creates a listener bound to `addr`.
    ///
    /// If `addr` resolves to several addresses, each is tried in turn and
    /// the first that binds is used. Port 0 asks the system for a free
    /// port; [`local_addr`](Self::local_addr) tells which.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addr, |addr| async move { TcpListener::bind_addr(addr) }).await
    }

    /// Creates a listener bound to `addr` with `SO_REUSEPORT` (and
    /// `SO_REUSEADDR`) set before `bind`, so that several listeners, on
    /// several threads or processes, can bind the *same* address and port.
    /// The kernel then spreads incoming connections over them by a hash of
    /// each connection's addresses and ports: each listener has an accept
    /// queue of its own, and no two threads contend for one. This is how
    /// [`shard`](crate::shard) gives every CPU its own listener.
    ///
    /// Every listener sharing the port must set `SO_REUSEPORT` (a plain
    /// [`bind`](Self::bind) on it fails with `AddrInUse`) and belong to the
    /// same user. To share a port the system picks, bind port 0 once, read
    /// the port from [`local_addr`](Self::local_addr), and bind the others
    /// to that concrete address:
    ///
    /// ```no_run
    /// use spindle_runtime::net::TcpListener;
    ///
    /// # async fn two() -> std::io::Result<()> {
    /// let first = TcpListener::bind_reuseport("127.0.0.1:0").await?;
    /// let second = TcpListener::bind_reuseport(first.local_addr()?).await?;
    /// assert_eq!(first.local_addr()?, second.local_addr()?);
    /// # Ok(()) }
    /// ```
    ///
    /// Like every spindle socket, the descriptor is close-on-exec and
    /// non-blocking. (A connection queued on a listener that is then closed
    /// is reset, not handed to another: close listeners only when done.)
    pub async fn bind_reuseport(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addr, |addr| async move {
            TcpListener::bind_addr_with(addr, true)
        })
        .await
    }

    fn bind_addr(addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::bind_addr_with(addr, false)
    }

    fn bind_addr_with(addr: SocketAddr, reuseport: bool) -> io::Result<TcpListener> {
        let fd = sys::socket(Family::of(&addr), Type::Stream)?;
        sys::set_opt(fd.as_fd(), Opt::ReuseAddr, 1)?;
        if reuseport {
            sys::set_opt(fd.as_fd(), Opt::ReusePort, 1)?;
        }
        sys::bind(fd.as_fd(), &SockAddr::from_inet(&addr))?;
        sys::listen(fd.as_fd(), BACKLOG)?;
        TcpListener::from_socket(Socket::listener(fd)?)
    }

    pub(super) fn from_socket(sock: Socket) -> io::Result<TcpListener> {
        Ok(TcpListener {
            sock,
            acceptor: Acceptor::new(),
        })
    }

    /// Accepts a new connection: the stream and the peer's address.
    ///
    /// # Errors and back-off
    ///
    /// If the process or the system is out of descriptors or memory
    /// (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`), the error is returned so
    /// you can log it, and the listener arms a pause: the *next* call first
    /// sleeps 10 ms, doubling with each further such error up to 1 s, and
    /// back to 10 ms after a success. So a loop that logs errors and calls
    /// `accept` again does not spin the CPU while the pending connection
    /// cannot be taken; connections already accepted keep running, and once
    /// they free descriptors, accepting resumes. Keep calling `accept` after
    /// an error.
    ///
    /// A connection the client aborted before it was accepted
    /// (`ECONNABORTED`) is skipped silently.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let mut waiter = Waiter::new(self.sock.registration());
        let (fd, addr) = poll_fn(|cx| {
            self.acceptor
                .poll_accept(&self.sock, cx, Some(&mut waiter.inner))
        })
        .await?;
        Ok((TcpStream::from_socket(Socket::new(fd)?), addr.to_inet()?))
    }

    /// The poll form of [`accept`](Self::accept), with the same back-off.
    /// Only the waker of the last call is woken.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (fd, addr) = ready!(self.acceptor.poll_accept(&self.sock, cx, None))?;
        let stream = TcpStream::from_socket(Socket::new(fd)?);
        Poll::Ready(Ok((stream, addr.to_inet()?)))
    }

    /// Wraps a listener from std, switching it to non-blocking mode.
    ///
    /// Must be called inside a runtime: the socket joins its reactor.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        TcpListener::from_socket(Socket::listener(listener.into())?)
    }

    /// Leaves the runtime and returns the std listener, still in
    /// non-blocking mode (call `set_nonblocking(false)` to block on it).
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        Ok(self.sock.into_fd().into())
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()?.to_inet()
    }

    forward_methods!(ttl, take_error);
}

impl_fd!(TcpListener);
