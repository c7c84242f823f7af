//! [`UdpSocket`]: UDP datagrams.
//!
//! A datagram is sent or received whole by one system call, so unlike
//! streams every operation clears readiness only on `WouldBlock` (through
//! `poll_io`). Sends and receives on the connected peer, and the readiness
//! methods, come from the shared macros; this file adds binding, the
//! addressed `send_to` / `recv_from` family, the `poll_*` forms (for
//! hand-written futures: each runs the call if the socket is believed
//! ready, else registers the waker of the last caller for that direction)
//! and UDP's options, multicast included.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::task::{Context, Poll};

use super::addr::{each_addr, first_addr};
use super::forward::{forward_methods, impl_fd};
use super::socket::Socket;
use super::ToSocketAddrs;
use crate::driver::Direction;
use crate::sys::socket::{self as sys, Family, Opt, SockAddr, Type};

/// A UDP socket.
///
/// Unconnected, it sends to any address with [`send_to`](Self::send_to)
/// and receives from anyone with [`recv_from`](Self::recv_from). After
/// [`connect`](Self::connect) it talks to one peer with
/// [`send`](Self::send) and [`recv`](Self::recv), and the kernel drops
/// datagrams from anyone else.
///
/// ```no_run
/// # spindle_runtime::block_on(async {
/// use spindle_runtime::net::UdpSocket;
///
/// let socket = UdpSocket::bind("127.0.0.1:0").await?;
/// socket.send_to(b"hello", "127.0.0.1:9000").await?;
/// let mut buf = [0; 1500];
/// let (n, from) = socket.recv_from(&mut buf).await?;
/// # Ok::<(), std::io::Error>(())
/// # });
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    sock: Socket,
}

impl UdpSocket {
    /// Creates a socket bound to `addr` (the first resolved address that
    /// binds). Port 0 asks the system for a free port.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr, |addr| async move {
            let fd = sys::socket(Family::of(&addr), Type::Datagram)?;
            sys::bind(fd.as_fd(), &SockAddr::from_inet(&addr))?;
            Ok(UdpSocket {
                sock: Socket::new(fd)?,
            })
        })
        .await
    }

    /// Sets the default destination of [`send`](Self::send) and the only
    /// source [`recv`](Self::recv) accepts (the first resolved address that
    /// works). Completes at once: UDP has no handshake.
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let fd = self.sock.as_fd();
        each_addr(addr, |addr| async move {
            sys::connect(fd, &SockAddr::from_inet(&addr)).map(drop)
        })
        .await
    }

    /// Sends `buf` as one datagram to `target` (its first resolved
    /// address), waiting for room in the send buffer.
    pub async fn send_to(&self, buf: &[u8], target: impl ToSocketAddrs) -> io::Result<usize> {
        let target = SockAddr::from_inet(&first_addr(target).await?);
        self.sock.send_to(buf, &target).await
    }

    /// Receives one datagram, waiting for one to arrive; returns its
    /// length and sender. A datagram longer than `buf` is truncated.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self.sock.recv_from(buf, false).await?;
        Ok((n, from.to_inet()?))
    }

    /// Like [`recv_from`](Self::recv_from), but leaves the datagram queued:
    /// the next receive returns it again.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self.sock.recv_from(buf, true).await?;
        Ok((n, from.to_inet()?))
    }

    /// Sends one datagram to `target` without waiting; `WouldBlock` if the
    /// send buffer is full.
    pub fn try_send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.sock.try_send_to(buf, &SockAddr::from_inet(&target))
    }

    /// Receives one datagram without waiting; `WouldBlock` if none is queued.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self.sock.try_recv_from(buf)?;
        Ok((n, from.to_inet()?))
    }

    /// Sets `SO_BROADCAST`: whether sending to a broadcast address is allowed.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        sys::set_opt(self.sock.as_fd(), Opt::Broadcast, on.into())
    }

    /// Whether `SO_BROADCAST` is set.
    pub fn broadcast(&self) -> io::Result<bool> {
        sys::opt(self.sock.as_fd(), Opt::Broadcast).map(|v| v != 0)
    }

    /// Wraps a std socket, switching it to non-blocking mode.
    ///
    /// Must be called inside a runtime: the socket joins its reactor.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket {
            sock: Socket::new(socket.into())?,
        })
    }

    /// Leaves the runtime and returns the std socket, still non-blocking.
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        Ok(self.sock.into_fd().into())
    }

    forward_methods!(
        inet_addrs, readable, writable, ready, send, recv, try_send, try_recv, ttl, take_error,
    );
}

/// The `poll_*` forms of sending and receiving. Each wakes only the waker
/// of the last call for its direction (as tokio's do); to wait from several
/// tasks at once, use the async methods.
impl UdpSocket {
    /// Receives one datagram and its sender, or registers `cx`'s waker and
    /// returns `Pending` if none is queued.
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.poll_recv_from_inner(cx, buf, false)
    }

    /// Like [`poll_recv_from`](Self::poll_recv_from), leaving the datagram
    /// queued.
    pub fn poll_peek_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.poll_recv_from_inner(cx, buf, true)
    }

    /// `recvfrom`, with `MSG_PEEK` if `peek`.
    fn poll_recv_from_inner(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        peek: bool,
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        let (n, from) = std::task::ready!(self
            .sock
            .poll_io(cx, Direction::Read, |fd| sys::recv_from(fd, buf, peek)))?;
        Poll::Ready(from.to_inet().map(|from| (n, from)))
    }

    /// Sends one datagram to `target`, or registers `cx`'s waker and
    /// returns `Pending` if the send buffer is full.
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        let target = SockAddr::from_inet(&target);
        self.sock
            .poll_io(cx, Direction::Write, |fd| sys::send_to(fd, buf, &target))
    }

    /// Receives one datagram from the connected peer, or registers `cx`'s
    /// waker and returns `Pending`.
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.sock
            .poll_io(cx, Direction::Read, |fd| sys::recv(fd, buf, false))
    }

    /// Sends one datagram to the connected peer, or registers `cx`'s waker
    /// and returns `Pending`.
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.sock
            .poll_io(cx, Direction::Write, |fd| sys::send(fd, buf))
    }
}

/// Multicast options.
impl UdpSocket {
    /// Joins the IPv4 multicast group `multiaddr` on the interface whose
    /// address is `interface` (`Ipv4Addr::UNSPECIFIED`: the system picks).
    pub fn join_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        sys::multicast_v4(self.sock.as_fd(), multiaddr, interface, true)
    }

    /// Leaves a group joined with [`join_multicast_v4`](Self::join_multicast_v4).
    pub fn leave_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        sys::multicast_v4(self.sock.as_fd(), multiaddr, interface, false)
    }

    /// Joins the IPv6 multicast group `multiaddr` on interface number
    /// `interface` (0: the system picks).
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        sys::multicast_v6(self.sock.as_fd(), *multiaddr, interface, true)
    }

    /// Leaves a group joined with [`join_multicast_v6`](Self::join_multicast_v6).
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        sys::multicast_v6(self.sock.as_fd(), *multiaddr, interface, false)
    }

    /// Sets `IP_MULTICAST_LOOP`: whether this host's own members of a group
    /// receive what this socket sends to it (on by default).
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        sys::set_opt(self.sock.as_fd(), Opt::MulticastLoopV4, on.into())
    }

    /// Whether `IP_MULTICAST_LOOP` is set.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        sys::opt(self.sock.as_fd(), Opt::MulticastLoopV4).map(|v| v != 0)
    }

    /// Sets `IP_MULTICAST_TTL`: how many routers an outgoing multicast
    /// datagram may cross (1 by default: the local network only).
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        sys::set_opt(self.sock.as_fd(), Opt::MulticastTtlV4, ttl)
    }

    /// The `IP_MULTICAST_TTL` setting.
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        sys::opt(self.sock.as_fd(), Opt::MulticastTtlV4)
    }

    /// Sets `IPV6_MULTICAST_LOOP` (an IPv6 socket's
    /// [`set_multicast_loop_v4`](Self::set_multicast_loop_v4)).
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        sys::set_opt(self.sock.as_fd(), Opt::MulticastLoopV6, on.into())
    }

    /// Whether `IPV6_MULTICAST_LOOP` is set.
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        sys::opt(self.sock.as_fd(), Opt::MulticastLoopV6).map(|v| v != 0)
    }
}

impl_fd!(UdpSocket);
