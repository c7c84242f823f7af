//! TCP and UDP sockets whose every transfer is an io_uring operation:
//! the kernel waits for the data *and* copies it, and the task learns of
//! both at once (the notes' fifth IO model, asynchronous IO).
//!
//! The sockets are plain descriptors (close-on-exec, non-blocking, as all
//! of spindle's): nothing is registered with a poller, and each operation
//! goes to the ring of the runtime it is awaited on.

use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use spindle_reactor::uring::*;

use super::buf::{io_len, write_all_from, IoBuf, IoBufMut};
use super::op::Op;
use crate::sys::fd as sys_fd;
use crate::sys::sockaddr::SockAddr;
use crate::sys::socket::{self as sys, Family, Opt, Type};

/// The listen backlog, as `spindle::net` uses.
const BACKLOG: i32 = 1024;

/// Resolves `addr` (blocking, like std) and tries `f` on each address in
/// turn; the last error if none works.
fn each_addr<T>(
    addr: impl ToSocketAddrs,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in addr.to_socket_addrs()? {
        match f(addr) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "no addresses to bind or connect to",
        )
    }))
}

/// A new close-on-exec, non-blocking socket for `addr`'s family.
fn socket_for(addr: &SocketAddr, ty: Type) -> io::Result<OwnedFd> {
    let fd = sys::socket(Family::of(addr), ty)?;
    sys_fd::set_nonblocking(fd.as_fd(), true)?;
    Ok(fd)
}

/// The request that reads into `buf` from its start: `READ_FIXED` for a
/// buffer registered with this ring (`ring`), else `READ` on a file (at
/// `offset`) or `RECV` on a socket.
pub(super) fn read_sqe<B: IoBufMut>(fd: RawFd, buf: &mut B, ring: usize, file: Option<u64>) -> Sqe {
    let fixed = buf.fixed_index().filter(|&(r, _)| r == ring);
    let (addr, len) = (buf.stable_mut_ptr() as u64, io_len(buf.bytes_total()));
    let (opcode, off, buf_index) = match (fixed, file) {
        (Some((_, index)), offset) => (IORING_OP_READ_FIXED, offset.unwrap_or(u64::MAX), index),
        (None, Some(offset)) => (IORING_OP_READ, offset, 0),
        (None, None) => (IORING_OP_RECV, 0, 0),
    };
    Sqe {
        opcode,
        fd,
        addr,
        len,
        off,
        buf_index,
        ..Sqe::default()
    }
}

/// The request that sends `buf[start..]` on a socket (`MSG_NOSIGNAL`: a
/// closed peer is an `EPIPE` error, never a signal).
pub(super) fn send_sqe<B: IoBuf>(fd: RawFd, buf: &mut B, start: usize) -> Sqe {
    Sqe {
        opcode: IORING_OP_SEND,
        fd,
        addr: buf.stable_ptr() as u64 + start as u64,
        len: io_len(buf.bytes_init() - start),
        op_flags: libc::MSG_NOSIGNAL as u32,
        ..Sqe::default()
    }
}

/// Completes a read: the first `n` bytes of the buffer hold the data.
pub(super) fn finish_read<B: IoBufMut>(
    result: io::Result<u32>,
    mut buf: B,
) -> (io::Result<usize>, B) {
    match result {
        Ok(n) => {
            // SAFETY: the kernel wrote `n` bytes from the buffer's start,
            // and never more than the `bytes_total()` it was given.
            unsafe { buf.set_init(n as usize) };
            (Ok(n as usize), buf)
        }
        Err(e) => (Err(e), buf),
    }
}

/// A TCP listener whose accepts are io_uring operations.
#[derive(Debug)]
pub struct TcpListener {
    /// Shared with the operations in flight (see `Op::start_on`).
    fd: Arc<OwnedFd>,
}

impl TcpListener {
    /// Binds to `addr` (with `SO_REUSEADDR`) and listens. Not async: like
    /// `std::net::TcpListener::bind`, it resolves names with the system's
    /// blocking resolver; pass a `SocketAddr` to avoid that.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addr, |addr| {
            let fd = socket_for(&addr, Type::Stream)?;
            sys::set_opt(fd.as_fd(), Opt::ReuseAddr, 1)?;
            sys::bind(fd.as_fd(), &SockAddr::from_inet(&addr))?;
            sys::listen(fd.as_fd(), BACKLOG)?;
            Ok(TcpListener { fd: Arc::new(fd) })
        })
    }

    /// Accepts a connection: the kernel waits for it and accepts it in one
    /// operation.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let addr = Box::new(SockAddr::empty());
        let op = Op::start_on("accept", &self.fd, addr, |addr, fd, _| Sqe {
            opcode: IORING_OP_ACCEPT,
            fd,
            addr: addr.as_mut_ptr() as u64,
            off: addr.len_mut_ptr() as u64,
            op_flags: (libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK) as u32,
            ..Sqe::default()
        })
        .map_err(|(e, _)| e)?
        .makes_fd();
        let done = op.await;
        let new = done.result? as RawFd;
        // SAFETY: accept just created this descriptor; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(new) };
        let stream = TcpStream { fd: Arc::new(fd) };
        Ok((stream, done.data.to_inet()?))
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sys::local_addr(self.fd.as_fd())?.to_inet()
    }

    /// Takes a listening `std` listener (made non-blocking here).
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener {
            fd: Arc::new(OwnedFd::from(listener)),
        })
    }
}

/// A TCP stream whose reads and writes are io_uring operations, each
/// taking its buffer and giving it back.
#[derive(Debug)]
pub struct TcpStream {
    /// Shared with the operations in flight (see `Op::start_on`).
    fd: Arc<OwnedFd>,
}

impl TcpStream {
    /// The descriptor, shared with operations in flight (`Op::start_on`).
    pub(super) fn fd(&self) -> &Arc<OwnedFd> {
        &self.fd
    }

    /// Connects to `addr` (names resolved as [`TcpListener::bind`] does).
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_addr(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no addresses to connect to")
        }))
    }

    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let fd = Arc::new(socket_for(&addr, Type::Stream)?);
        let addr = Box::new(SockAddr::from_inet(&addr));
        let op = Op::start_on("connect", &fd, addr, |a, fd, _| Sqe {
            opcode: IORING_OP_CONNECT,
            fd,
            addr: a.as_ptr() as u64,
            off: a.len() as u64,
            ..Sqe::default()
        })
        .map_err(|(e, _)| e)?;
        op.await.result?;
        Ok(TcpStream { fd })
    }

    /// Reads into `buf` from its start, up to its
    /// [`bytes_total`](IoBuf::bytes_total) (a `Vec`'s capacity, not its
    /// length); gives it back with how many bytes arrived (the data is
    /// `buf[..n]`; a `Vec`'s length is set to `n`). 0 means the peer closed
    /// its side, or that `buf` has no room (`Vec::new()`).
    pub async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        let sqe = |buf: &mut B, fd, ring| read_sqe(fd, buf, ring, None);
        match Op::start_on("recv", &self.fd, buf, sqe) {
            Err((e, buf)) => (Err(e), buf),
            Ok(op) => {
                let done = op.await;
                finish_read(done.result, done.data)
            }
        }
    }

    /// Writes the initialised bytes of `buf` (once: maybe not all of them);
    /// gives it back with how many were sent.
    pub async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        self.write_from(buf, 0).await
    }

    /// Sends `buf[start..]` once (`MSG_NOSIGNAL`: a closed peer is an
    /// `EPIPE` error, never a signal).
    async fn write_from<B: IoBuf>(&self, buf: B, start: usize) -> (io::Result<usize>, B) {
        let sqe = |buf: &mut B, fd, _ring| send_sqe(fd, buf, start);
        match Op::start_on("send", &self.fd, buf, sqe) {
            Err((e, buf)) => (Err(e), buf),
            Ok(op) => {
                let done = op.await;
                (done.result.map(|n| n as usize), done.data)
            }
        }
    }

    /// Writes all the initialised bytes of `buf`, in as many operations as
    /// it takes; gives it back.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        write_all_from(buf, |buf, start| self.write_from(buf, start)).await
    }

    /// Shuts down the read side, the write side, or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        sys::shutdown(self.fd.as_fd(), how)
    }

    /// Sets `TCP_NODELAY` (send small writes at once, without Nagle's delay).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        sys::set_opt(self.fd.as_fd(), Opt::NoDelay, nodelay as u32)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sys::local_addr(self.fd.as_fd())?.to_inet()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sys::peer_addr(self.fd.as_fd())?.to_inet()
    }

    /// Takes a connected `std` stream (made non-blocking here).
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream {
            fd: Arc::new(OwnedFd::from(stream)),
        })
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl IntoRawFd for TcpStream {
    /// The descriptor, now the caller's to close. If an operation this
    /// stream abandoned is still with the kernel (which keeps the
    /// descriptor open until it is done), the caller gets a duplicate
    /// instead; that panics if the process is out of descriptors.
    fn into_raw_fd(self) -> RawFd {
        match Arc::try_unwrap(self.fd) {
            Ok(fd) => fd.into_raw_fd(),
            Err(shared) => shared
                .try_clone()
                .expect("duplicating a uring TcpStream's descriptor")
                .into_raw_fd(),
        }
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
