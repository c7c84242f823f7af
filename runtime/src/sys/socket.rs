//! System calls on sockets: creating, connecting, accepting, sending and
//! receiving, options.
//!
//! Each function is a thin, safe wrapper around one system call. It takes
//! borrowed descriptors and Rust buffers, turns a `-1` return into the
//! `io::Error` of `errno`, and hands new descriptors back as [`OwnedFd`],
//! which closes them on drop. Three rules hold for every socket here:
//!
//! * Every descriptor is created close-on-exec in the same call
//!   (`SOCK_CLOEXEC` on `socket`, `socketpair` and `accept4`), so none leaks
//!   into a child process and no `fcntl` race window exists; the runtime's
//!   sockets are non-blocking from birth too (`SOCK_NONBLOCK`), so none can
//!   block the runtime's thread. (The process pool's fork-server pair is the
//!   one blocking pair: [`blocking_socketpair`].)
//! * Every send passes `MSG_NOSIGNAL`: writing to a connection the peer has
//!   reset fails with `EPIPE` instead of raising a process-killing `SIGPIPE`.
//! * Addresses cross the boundary as [`SockAddr`] (`sockaddr.rs`).
//!
//! (Passing descriptors over a unix socket is in `fd_passing.rs`.)

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::{self, MaybeUninit};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

pub(crate) use super::fd::MAX_IOV;
pub(crate) use super::sockaddr::SockAddr;
use super::{cvt, cvt_len};

/// Address family of a new socket.
#[derive(Copy, Clone, Debug)]
pub(crate) enum Family {
    V4,
    V6,
    Unix,
}

impl Family {
    /// The family that can reach `addr`.
    pub(crate) fn of(addr: &SocketAddr) -> Family {
        match addr {
            SocketAddr::V4(_) => Family::V4,
            SocketAddr::V6(_) => Family::V6,
        }
    }

    fn raw(self) -> libc::c_int {
        match self {
            Family::V4 => libc::AF_INET,
            Family::V6 => libc::AF_INET6,
            Family::Unix => libc::AF_UNIX,
        }
    }
}

/// Socket type: a byte stream, datagrams, or (unix only) a connection
/// that keeps message boundaries.
#[derive(Copy, Clone, Debug)]
pub(crate) enum Type {
    Stream,
    Datagram,
    #[cfg(feature = "process-pool")]
    SeqPacket,
}

impl Type {
    /// The type argument, with the flags every spindle socket gets.
    fn raw(self) -> libc::c_int {
        self.raw_blocking() | libc::SOCK_NONBLOCK
    }

    /// The type argument, close-on-exec but blocking.
    fn raw_blocking(self) -> libc::c_int {
        let ty = match self {
            Type::Stream => libc::SOCK_STREAM,
            Type::Datagram => libc::SOCK_DGRAM,
            #[cfg(feature = "process-pool")]
            Type::SeqPacket => libc::SOCK_SEQPACKET,
        };
        ty | libc::SOCK_CLOEXEC
    }
}

/// A boolean or integer socket option.
#[derive(Copy, Clone, Debug)]
pub(crate) enum Opt {
    ReuseAddr,
    NoDelay,
    Ttl,
    Broadcast,
    ReusePort,
    SendBuffer,
    RecvBuffer,
    KeepAlive,
    MulticastLoopV4,
    MulticastTtlV4,
    MulticastLoopV6,
}

impl Opt {
    fn level_name(self) -> (libc::c_int, libc::c_int) {
        match self {
            Opt::ReuseAddr => (libc::SOL_SOCKET, libc::SO_REUSEADDR),
            Opt::NoDelay => (libc::IPPROTO_TCP, libc::TCP_NODELAY),
            Opt::Ttl => (libc::IPPROTO_IP, libc::IP_TTL),
            Opt::Broadcast => (libc::SOL_SOCKET, libc::SO_BROADCAST),
            Opt::ReusePort => (libc::SOL_SOCKET, libc::SO_REUSEPORT),
            Opt::SendBuffer => (libc::SOL_SOCKET, libc::SO_SNDBUF),
            Opt::RecvBuffer => (libc::SOL_SOCKET, libc::SO_RCVBUF),
            Opt::KeepAlive => (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
            Opt::MulticastLoopV4 => (libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP),
            Opt::MulticastTtlV4 => (libc::IPPROTO_IP, libc::IP_MULTICAST_TTL),
            Opt::MulticastLoopV6 => (libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP),
        }
    }
}

/// What an `accept` failure means for the listener.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum AcceptFailure {
    /// The pending connection died before it was accepted (or a signal
    /// interrupted the call): try the next one at once.
    Retry,
    /// Out of descriptors or kernel memory: report it, then back off.
    Exhausted,
    /// Anything else: report it.
    Other,
}

/// Classifies an error of [`accept`].
pub(crate) fn accept_failure(e: &io::Error) -> AcceptFailure {
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
            AcceptFailure::Exhausted
        }
        // accept(2): "Linux accept() passes already-pending network errors on
        // the new socket as an error code from accept()" and they should be
        // treated like EAGAIN: they concern that one connection only.
        Some(
            libc::ECONNABORTED
            | libc::EINTR
            | libc::EPROTO
            | libc::ENETDOWN
            | libc::ENETUNREACH
            | libc::EHOSTDOWN
            | libc::EHOSTUNREACH
            | libc::ENONET,
        ) => AcceptFailure::Retry,
        _ => AcceptFailure::Other,
    }
}

/// Takes ownership of a descriptor a system call just created.
fn owned(fd: libc::c_int) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful call that created it
    // (socket, socketpair, accept4); nothing else owns it.
    unsafe { super::fd::adopt(fd) }
}

/// `socket(2)`: a new close-on-exec, non-blocking socket.
pub(crate) fn socket(family: Family, ty: Type) -> io::Result<OwnedFd> {
    // SAFETY: plain integer arguments; the kernel validates them.
    let fd = cvt(unsafe { libc::socket(family.raw(), ty.raw(), 0) })?;
    Ok(owned(fd))
}

/// `socketpair(2)`: two connected close-on-exec, non-blocking unix sockets.
pub(crate) fn socketpair(ty: Type) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` is a writable array of two ints, as socketpair requires.
    cvt(unsafe { libc::socketpair(libc::AF_UNIX, ty.raw(), 0, fds.as_mut_ptr()) })?;
    Ok((owned(fds[0]), owned(fds[1])))
}

/// `socketpair(2)`: two connected close-on-exec unix sockets that *block*,
/// for a connection served by a plain thread (the process pool's fork
/// server), never by the runtime.
#[cfg(feature = "process-pool")]
pub(crate) fn blocking_socketpair(ty: Type) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` is a writable array of two ints, as socketpair requires.
    cvt(unsafe { libc::socketpair(libc::AF_UNIX, ty.raw_blocking(), 0, fds.as_mut_ptr()) })?;
    Ok((owned(fds[0]), owned(fds[1])))
}

/// `bind(2)`.
pub(crate) fn bind(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<()> {
    // SAFETY: `addr.as_ptr()` points to `addr.len` initialised bytes.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), addr.as_ptr(), addr.len) })?;
    Ok(())
}

/// `listen(2)`.
pub(crate) fn listen(fd: BorrowedFd<'_>, backlog: i32) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    Ok(())
}

/// `connect(2)` on a non-blocking socket: `Ok(true)` if connected already,
/// `Ok(false)` if the connection is in progress (wait until writable, then
/// check [`take_error`]).
pub(crate) fn connect(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<bool> {
    // SAFETY: `addr.as_ptr()` points to `addr.len` initialised bytes.
    match cvt(unsafe { libc::connect(fd.as_raw_fd(), addr.as_ptr(), addr.len) }) {
        Ok(_) => Ok(true),
        // EINTR: the connection continues in the background, like EINPROGRESS.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINPROGRESS | libc::EINTR)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `accept4(2)`: the next pending connection, close-on-exec and non-blocking.
pub(crate) fn accept(fd: BorrowedFd<'_>) -> io::Result<(OwnedFd, SockAddr)> {
    let mut addr = SockAddr::empty();
    let flags = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
    // SAFETY: `addr` has room for `addr.len` bytes; the kernel writes at most
    // that many and stores the real length back.
    let new =
        cvt(unsafe { libc::accept4(fd.as_raw_fd(), addr.as_mut_ptr(), &mut addr.len, flags) })?;
    Ok((owned(new), addr))
}

fn peek_flag(peek: bool) -> libc::c_int {
    if peek {
        libc::MSG_PEEK
    } else {
        0
    }
}

/// `recv(2)`, optionally with `MSG_PEEK`.
pub(crate) fn recv(fd: BorrowedFd<'_>, buf: &mut [u8], peek: bool) -> io::Result<usize> {
    let flags = peek_flag(peek);
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    cvt_len(unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) })
}

/// `recv(2)` into memory that need not be initialized: the kernel only
/// writes to it, so the caller (hyper's read buffer, say) never pays for
/// zeroing. The first `n` bytes of `buf` are initialized on `Ok(n)`.
#[cfg(feature = "hyper")]
pub(crate) fn recv_uninit(
    fd: BorrowedFd<'_>,
    buf: &mut [std::mem::MaybeUninit<u8>],
) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes; recv only
    // writes through the pointer, never reads, so uninitialized bytes are
    // fine, and it never writes past `buf.len()`.
    cvt_len(unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) })
}

/// `send(2)` with `MSG_NOSIGNAL`.
pub(crate) fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    send_with_flags(fd, buf, 0)
}

/// `send(2)` with `flags` (`MSG_DONTWAIT`, say) and `MSG_NOSIGNAL`.
pub(crate) fn send_with_flags(
    fd: BorrowedFd<'_>,
    buf: &[u8],
    flags: libc::c_int,
) -> io::Result<usize> {
    let flags = flags | libc::MSG_NOSIGNAL;
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
    cvt_len(unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), flags) })
}

/// Writes all of `buf` to a *blocking* socket with [`send`], retrying on
/// `EINTR`: a reader that is gone is `EPIPE`, never `SIGPIPE`.
#[cfg(feature = "process-pool")]
pub(crate) fn send_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match super::retry_eintr(|| send(fd, buf))? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => buf = &buf[n..],
        }
    }
    Ok(())
}

/// `readv(2)` into several buffers.
pub(crate) fn recv_vectored(fd: BorrowedFd<'_>, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
    let count = bufs.len().min(MAX_IOV) as libc::c_int;
    // SAFETY: `IoSliceMut` is guaranteed ABI-compatible with `iovec` on unix,
    // and each one is valid for writes of its length.
    cvt_len(unsafe { libc::readv(fd.as_raw_fd(), bufs.as_mut_ptr().cast(), count) })
}

/// `sendmsg(2)` of several buffers, with `MSG_NOSIGNAL`.
pub(crate) fn send_vectored(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: an all-zero msghdr is valid: null pointers and zero lengths.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    // `IoSlice` is guaranteed ABI-compatible with `iovec` on unix; sendmsg
    // only reads through the (formally mutable) pointer.
    msg.msg_iov = bufs.as_ptr().cast_mut().cast();
    msg.msg_iovlen = bufs.len().min(MAX_IOV) as _;
    // SAFETY: `msg` points at `msg_iovlen` live iovecs, each valid for reads
    // of its length; no name and no control data.
    cvt_len(unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) })
}

/// `recvfrom(2)`, optionally with `MSG_PEEK`: a datagram and its sender.
pub(crate) fn recv_from(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    peek: bool,
) -> io::Result<(usize, SockAddr)> {
    let mut addr = SockAddr::empty();
    let flags = peek_flag(peek);
    // SAFETY: `buf` is valid for writes of its length; `addr` has room for
    // `addr.len` bytes and the kernel stores the real length back.
    let n = cvt_len(unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            flags,
            addr.as_mut_ptr(),
            &mut addr.len,
        )
    })?;
    Ok((n, addr))
}

/// `sendto(2)` with `MSG_NOSIGNAL`.
pub(crate) fn send_to(fd: BorrowedFd<'_>, buf: &[u8], addr: &SockAddr) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of its length; `addr.as_ptr()` points
    // to `addr.len` initialised bytes.
    cvt_len(unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
            addr.as_ptr(),
            addr.len,
        )
    })
}

/// `getsockname(2)`.
pub(crate) fn local_addr(fd: BorrowedFd<'_>) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    // SAFETY: `addr` has room for `addr.len` bytes; the length is updated.
    cvt(unsafe { libc::getsockname(fd.as_raw_fd(), addr.as_mut_ptr(), &mut addr.len) })?;
    Ok(addr)
}

/// `getpeername(2)`; `NotConnected` while a connect is still in progress.
pub(crate) fn peer_addr(fd: BorrowedFd<'_>) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    // SAFETY: `addr` has room for `addr.len` bytes; the length is updated.
    cvt(unsafe { libc::getpeername(fd.as_raw_fd(), addr.as_mut_ptr(), &mut addr.len) })?;
    Ok(addr)
}

/// `shutdown(2)`.
pub(crate) fn shutdown(fd: BorrowedFd<'_>, how: Shutdown) -> io::Result<()> {
    let how = match how {
        Shutdown::Read => libc::SHUT_RD,
        Shutdown::Write => libc::SHUT_WR,
        Shutdown::Both => libc::SHUT_RDWR,
    };
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::shutdown(fd.as_raw_fd(), how) })?;
    Ok(())
}

/// Sets a socket option whose value is a plain C type (`c_int`, `linger`).
fn setsockopt<T: Copy>(fd: BorrowedFd<'_>, level: i32, name: i32, value: T) -> io::Result<()> {
    let len = mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` is a live `T` of `len` bytes; callers pass the C type
    // the option expects, and the kernel checks the length.
    cvt(unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (&raw const value).cast(), len) })?;
    Ok(())
}

/// Reads a socket option whose value is a plain C type (`c_int`, `linger`,
/// `ucred`): integers only, so any bytes the kernel writes are a valid `T`.
fn getsockopt<T: Copy>(fd: BorrowedFd<'_>, level: i32, name: i32) -> io::Result<T> {
    let mut value = MaybeUninit::<T>::zeroed();
    let mut len = mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` has room for `len` bytes; the kernel writes at most that.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value.as_mut_ptr().cast(),
            &mut len,
        )
    })?;
    // SAFETY: zero-initialised, then (partly) overwritten by the kernel; the
    // types used here are plain integers, valid for any bit pattern.
    Ok(unsafe { value.assume_init() })
}

/// Sets an integer or boolean option.
pub(crate) fn set_opt(fd: BorrowedFd<'_>, opt: Opt, value: u32) -> io::Result<()> {
    let (level, name) = opt.level_name();
    setsockopt(fd, level, name, value as libc::c_int)
}

/// Reads an integer or boolean option.
pub(crate) fn opt(fd: BorrowedFd<'_>, opt: Opt) -> io::Result<u32> {
    let (level, name) = opt.level_name();
    getsockopt::<libc::c_int>(fd, level, name).map(|v| v as u32)
}

/// `SO_LINGER`: `Some(d)` makes close wait up to `d` for unsent data;
/// `Some(ZERO)` makes close reset the connection (RST) at once.
pub(crate) fn set_linger(fd: BorrowedFd<'_>, linger: Option<Duration>) -> io::Result<()> {
    let value = libc::linger {
        l_onoff: linger.is_some() as libc::c_int,
        l_linger: linger.map_or(0, |d| {
            d.as_secs().min(libc::c_int::MAX as u64) as libc::c_int
        }),
    };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, value)
}

/// Reads `SO_LINGER`.
pub(crate) fn linger(fd: BorrowedFd<'_>) -> io::Result<Option<Duration>> {
    let value: libc::linger = getsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER)?;
    Ok((value.l_onoff != 0).then(|| Duration::from_secs(value.l_linger as u64)))
}

/// Takes the pending error (`SO_ERROR`), clearing it.
pub(crate) fn take_error(fd: BorrowedFd<'_>) -> io::Result<Option<io::Error>> {
    let errno: libc::c_int = getsockopt(fd, libc::SOL_SOCKET, libc::SO_ERROR)?;
    Ok((errno != 0).then(|| io::Error::from_raw_os_error(errno)))
}

/// `SO_PEERCRED` of a unix socket: (pid, uid, gid) of the peer process.
pub(crate) fn peer_cred(fd: BorrowedFd<'_>) -> io::Result<(i32, u32, u32)> {
    let cred: libc::ucred = getsockopt(fd, libc::SOL_SOCKET, libc::SO_PEERCRED)?;
    Ok((cred.pid, cred.uid, cred.gid))
}

/// Joins (`join == true`) or leaves an IPv4 multicast group on the
/// interface with address `interface` (`0.0.0.0`: the system's choice).
pub(crate) fn multicast_v4(
    fd: BorrowedFd<'_>,
    group: std::net::Ipv4Addr,
    interface: std::net::Ipv4Addr,
    join: bool,
) -> io::Result<()> {
    let mreq = libc::ip_mreq {
        imr_multiaddr: libc::in_addr {
            s_addr: u32::from_ne_bytes(group.octets()),
        },
        imr_interface: libc::in_addr {
            s_addr: u32::from_ne_bytes(interface.octets()),
        },
    };
    let name = if join {
        libc::IP_ADD_MEMBERSHIP
    } else {
        libc::IP_DROP_MEMBERSHIP
    };
    setsockopt(fd, libc::IPPROTO_IP, name, mreq)
}

/// Joins or leaves an IPv6 multicast group on interface number `interface`
/// (0: the system's choice).
pub(crate) fn multicast_v6(
    fd: BorrowedFd<'_>,
    group: std::net::Ipv6Addr,
    interface: u32,
    join: bool,
) -> io::Result<()> {
    let mreq = libc::ipv6_mreq {
        ipv6mr_multiaddr: libc::in6_addr {
            s6_addr: group.octets(),
        },
        ipv6mr_interface: interface,
    };
    let name = if join {
        libc::IPV6_ADD_MEMBERSHIP
    } else {
        libc::IPV6_DROP_MEMBERSHIP
    };
    setsockopt(fd, libc::IPPROTO_IPV6, name, mreq)
}

#[cfg(test)]
#[path = "socket_tests.rs"]
mod tests;
