//! [`UdpSocket`]: UDP datagrams.
//!
//! A datagram is sent or received whole by one system call, so unlike
//! streams every operation clears readiness only on `WouldBlock` (through
//! `poll_io`). Sends and receives on the connected peer, and the readiness
//! methods, come from the shared macros; this file adds binding, the
//! addressed `send_to` / `recv_from` family and UDP's options.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;

use super::addr::{each_addr, first_addr};
use super::forward::{forward_methods, impl_fd};
use super::socket::Socket;
use super::ToSocketAddrs;
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
        let target = SockAddr::from_inet(&first_addr(target)?);
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

impl_fd!(UdpSocket);
