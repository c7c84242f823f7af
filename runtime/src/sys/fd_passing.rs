//! Passing descriptors between processes over a unix socket: descriptors
//! attached to a message as `SCM_RIGHTS` ancillary data, at most
//! [`MAX_PASSED_FDS`] per `sendmsg`. The receiver gets new descriptors
//! (close-on-exec, through `MSG_CMSG_CLOEXEC`) for the same open files.
//!
//! On a stream socket the descriptors travel with the *first byte* of the
//! `sendmsg` that carried them, and a `recvmsg` never returns the
//! descriptors of two sends at once: reading the stream in order gives the
//! descriptors in the order they were sent. More than [`MAX_PASSED_FDS`]
//! descriptors need several sends, each carrying at least one byte
//! ([`send_all_with_fds`] does that).

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// The most descriptors one message carries: the kernel's `SCM_MAX_FD`.
pub(crate) const MAX_PASSED_FDS: usize = 253;

/// Room for one `SCM_RIGHTS` header and [`MAX_PASSED_FDS`] descriptors.
const SPACE: usize = 1040;

// SAFETY: CMSG_SPACE is arithmetic on its argument (1032 on 64-bit Linux).
const _: () = assert!(
    unsafe { libc::CMSG_SPACE((MAX_PASSED_FDS * std::mem::size_of::<RawFd>()) as u32) } as usize
        <= SPACE
);

/// The ancillary buffer, aligned for `cmsghdr`.
#[repr(C)]
struct FdSpace {
    _align: [libc::cmsghdr; 0],
    bytes: [u8; SPACE],
}

impl FdSpace {
    fn new() -> FdSpace {
        FdSpace {
            _align: [],
            bytes: [0; SPACE],
        }
    }
}

/// One message with `fds` attached (`SCM_RIGHTS`: `sendmsg(2)`, or a plain
/// `send(2)` when there are none), without `SIGPIPE`. `wait: false`
/// returns `WouldBlock` instead of blocking (`MSG_DONTWAIT`, whatever the
/// socket's mode).
pub(crate) fn send_with_fds(
    sock: BorrowedFd<'_>,
    bytes: &[u8],
    fds: &[RawFd],
    wait: bool,
) -> io::Result<()> {
    let flags = if wait { 0 } else { libc::MSG_DONTWAIT };
    if fds.is_empty() {
        // Nothing to attach: a plain `send`, which spares the kernel the
        // message header and its vector (a few hundred ns of a round trip).
        return super::retry_eintr(|| super::socket::send_with_flags(sock, bytes, flags)).map(drop);
    }
    sendmsg_with_fds(sock, &[IoSlice::new(bytes)], fds, flags).map(drop)
}

/// One `sendmsg(2)` of `bufs` with `fds` attached (`SCM_RIGHTS`; at most
/// [`MAX_PASSED_FDS`]), with `MSG_NOSIGNAL`, retried on `EINTR`. Returns
/// the bytes sent: on a stream socket possibly fewer than offered, and
/// `WouldBlock` on a full non-blocking one. If any byte was sent, the
/// descriptors went with it.
pub(crate) fn send_vectored_with_fds(
    sock: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    fds: &[RawFd],
) -> io::Result<usize> {
    sendmsg_with_fds(sock, bufs, fds, 0)
}

/// [`send_vectored_with_fds`] with extra `sendmsg` flags (`MSG_NOSIGNAL`
/// is always added).
fn sendmsg_with_fds(
    sock: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    fds: &[RawFd],
    flags: libc::c_int,
) -> io::Result<usize> {
    assert!(fds.len() <= MAX_PASSED_FDS);
    let mut space = FdSpace::new();
    // SAFETY: an all-zero msghdr is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSlice` is ABI-compatible with `iovec` on unix; sendmsg only reads
    // through the (formally mutable) pointer.
    msg.msg_iov = bufs.as_ptr().cast_mut().cast();
    msg.msg_iovlen = bufs.len().min(super::fd::MAX_IOV) as _;
    if !fds.is_empty() {
        let data_len = std::mem::size_of_val(fds);
        // SAFETY: CMSG_SPACE / CMSG_LEN are arithmetic. The control buffer
        // holds CMSG_SPACE of MAX_PASSED_FDS ints (checked at compile time) and is
        // aligned for cmsghdr; CMSG_FIRSTHDR returns its start (non-null
        // since msg_controllen >= one header), and CMSG_DATA points inside
        // it with room for `data_len` bytes.
        unsafe {
            msg.msg_control = space.bytes.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(data_len as u32) as usize;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(data_len as u32) as usize;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr().cast::<u8>(),
                libc::CMSG_DATA(cmsg),
                data_len,
            );
        }
    }
    loop {
        // SAFETY: `msg` points at `bufs` (each valid for reads of its
        // length) and `space`, both live for the call.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL | flags) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Writes all of `bytes` to a *blocking* stream socket with `fds`
/// attached: [`MAX_PASSED_FDS`] per `sendmsg`, each send but the last
/// carrying one byte, so every descriptor travels with a byte of `bytes`.
/// Fails with `InvalidInput` if there are more batches of descriptors than
/// bytes to carry them.
pub(crate) fn send_all_with_fds(
    sock: BorrowedFd<'_>,
    mut bytes: &[u8],
    fds: &[OwnedFd],
) -> io::Result<()> {
    let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let mut unsent = &raw[..];
    while !bytes.is_empty() {
        let batch = &unsent[..unsent.len().min(MAX_PASSED_FDS)];
        let len = if batch.len() < unsent.len() {
            1 // more batches follow: each needs a byte of its own
        } else {
            bytes.len()
        };
        match send_vectored_with_fds(sock, &[IoSlice::new(&bytes[..len])], batch)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => {
                bytes = &bytes[n..];
                unsent = &unsent[batch.len()..];
            }
        }
    }
    if !unsent.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "more descriptors than bytes to carry them",
        ));
    }
    Ok(())
}

/// `recvmsg(2)`: receives one message into `buf` and the descriptors attached to it
/// (appended to `fds`, each received descriptor close-on-exec). `Ok(0)`: the
/// peer is gone. `wait: false` returns `WouldBlock` instead of blocking.
pub(crate) fn recv_with_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
    wait: bool,
) -> io::Result<usize> {
    // Written by the kernel, read only up to what it wrote: no need to zero it.
    let mut space = std::mem::MaybeUninit::<FdSpace>::uninit();
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = space.as_mut_ptr().cast();
    msg.msg_controllen = SPACE;
    let flags = libc::MSG_CMSG_CLOEXEC | if wait { 0 } else { libc::MSG_DONTWAIT };
    let n = loop {
        // SAFETY: `msg` points at `iov` (over `buf`) and `space`, both live
        // and writable for the call.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    // SAFETY: the kernel filled `space` with well-formed control messages
    // up to `msg_controllen`; the CMSG_* macros walk exactly those. Every
    // SCM_RIGHTS descriptor is new in this process and gets one owner.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg);
                let len = (*cmsg).cmsg_len - (data as usize - cmsg as usize);
                for i in 0..len / std::mem::size_of::<RawFd>() {
                    let fd = data
                        .add(i * std::mem::size_of::<RawFd>())
                        .cast::<RawFd>()
                        .read_unaligned();
                    fds.push(super::fd::adopt(fd));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "too many descriptors in one message",
        ));
    }
    Ok(n)
}
