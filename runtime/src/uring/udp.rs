//! A UDP socket whose sends and receives are io_uring operations
//! (`SENDMSG` / `RECVMSG`, which carry the peer's address).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;

use spindle_reactor::uring::*;

use super::buf::{IoBuf, IoBufMut};
use super::net::finish_read;
use super::op::Op;
use crate::sys::fd as sys_fd;
use crate::sys::sockaddr::SockAddr;
use crate::sys::socket::{self as sys, Family, Type};

/// A message header and what it points to, boxed so that the pointers in
/// `hdr` (to `iov` and `addr`) stay valid while the `Op` moves.
struct Message<B> {
    hdr: libc::msghdr,
    iov: libc::iovec,
    addr: SockAddr,
    buf: B,
}

// SAFETY: the raw pointers in `hdr` and `iov` point into this same box
// (and into `buf`'s heap memory); nothing else uses them, and the whole
// message moves between threads as one value.
unsafe impl<B: Send> Send for Message<B> {}

impl<B> Message<B> {
    /// Boxes the message and points the header at its own fields; `ptr`
    /// and `len` describe the buffer's bytes.
    fn new(buf: B, addr: SockAddr, ptr: *mut u8, len: usize) -> Box<Message<B>> {
        // SAFETY: msghdr is a plain C struct; all-zero is a valid value.
        let hdr: libc::msghdr = unsafe { std::mem::zeroed() };
        let mut msg = Box::new(Message {
            hdr,
            iov: libc::iovec {
                iov_base: ptr.cast(),
                iov_len: len,
            },
            addr,
            buf,
        });
        msg.hdr.msg_iov = &raw mut msg.iov;
        msg.hdr.msg_iovlen = 1;
        msg.hdr.msg_name = msg.addr.as_mut_ptr().cast();
        msg.hdr.msg_namelen = msg.addr.len();
        msg
    }
}

/// A UDP socket whose transfers are io_uring operations, each taking its
/// buffer and giving it back.
#[derive(Debug)]
pub struct UdpSocket {
    /// Shared with the operations in flight (see `Op::start_on`).
    fd: Arc<OwnedFd>,
}

impl UdpSocket {
    /// Binds to `addr` (port 0 picks a free one). Not async: names are
    /// resolved with the system's blocking resolver, as std does.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let mut last = None;
        for addr in addr.to_socket_addrs()? {
            let attempt = (|| {
                let fd = sys::socket(Family::of(&addr), Type::Datagram)?;
                sys_fd::set_nonblocking(fd.as_fd(), true)?;
                sys::bind(fd.as_fd(), &SockAddr::from_inet(&addr))?;
                Ok(UdpSocket { fd: Arc::new(fd) })
            })();
            match attempt {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address")))
    }

    /// Sends the initialised bytes of `buf` as one datagram to `addr`;
    /// gives the buffer back with how many bytes were sent.
    pub async fn send_to<B: IoBuf>(&self, buf: B, addr: SocketAddr) -> (io::Result<usize>, B) {
        let (ptr, len) = (buf.stable_ptr() as *mut u8, buf.bytes_init());
        let msg = Message::new(buf, SockAddr::from_inet(&addr), ptr, len);
        let op = Op::start_on("sendmsg", &self.fd, msg, |m, fd, _| Sqe {
            opcode: IORING_OP_SENDMSG,
            fd,
            addr: (&raw const m.hdr) as u64,
            op_flags: libc::MSG_NOSIGNAL as u32,
            ..Sqe::default()
        });
        match op {
            Err((e, msg)) => (Err(e), msg.buf),
            Ok(op) => {
                let done = op.await;
                (done.result.map(|n| n as usize), done.data.buf)
            }
        }
    }

    /// Receives one datagram into `buf` from its start; gives it back with
    /// the datagram's length and sender. The room is `buf`'s
    /// [`bytes_total`](crate::uring::IoBuf::bytes_total) (a `Vec`'s
    /// capacity, not its length): a datagram longer than that is cut to
    /// fit (the rest is lost, as with `recv_from`).
    pub async fn recv_from<B: IoBufMut>(&self, mut buf: B) -> (io::Result<(usize, SocketAddr)>, B) {
        let (ptr, len) = (buf.stable_mut_ptr(), buf.bytes_total());
        let msg = Message::new(buf, SockAddr::empty(), ptr, len);
        let op = Op::start_on("recvmsg", &self.fd, msg, |m, fd, _| Sqe {
            opcode: IORING_OP_RECVMSG,
            fd,
            addr: (&raw mut m.hdr) as u64,
            ..Sqe::default()
        });
        let done = match op {
            Err((e, msg)) => return (Err(e), msg.buf),
            Ok(op) => op.await,
        };
        let Message {
            hdr, mut addr, buf, ..
        } = *done.data;
        // The kernel wrote the sender's address and its length.
        addr.set_len(hdr.msg_namelen);
        let (res, buf) = finish_read(done.result, buf);
        match res {
            Ok(n) => match addr.to_inet() {
                Ok(from) => (Ok((n, from)), buf),
                Err(e) => (Err(e), buf),
            },
            Err(e) => (Err(e), buf),
        }
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sys::local_addr(self.fd.as_fd())?.to_inet()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
