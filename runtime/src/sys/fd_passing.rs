//! Passing descriptors between processes over a unix socket: one message
//! with up to [`MAX_PASSED_FDS`] descriptors attached as `SCM_RIGHTS`
//! ancillary data. The receiver gets new descriptors (close-on-exec,
//! through `MSG_CMSG_CLOEXEC`) for the same open files.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// The most descriptors one message carries: Linux's `SCM_MAX_FD`.
pub(crate) const MAX_PASSED_FDS: usize = 253;

/// Bytes of ancillary buffer for [`MAX_PASSED_FDS`] descriptors: at least
/// `CMSG_SPACE(253 * 4)` = 16 + 1016 (checked by a test).
const FD_SPACE: usize = 1040;

/// The ancillary buffer for up to [`MAX_PASSED_FDS`] descriptors, aligned
/// for `cmsghdr`.
#[repr(C)]
struct FdSpace {
    _align: [libc::cmsghdr; 0],
    bytes: [u8; FD_SPACE],
}

/// `sendmsg(2)` of one message with `fds` attached (`SCM_RIGHTS`), without
/// `SIGPIPE`. `wait: false` returns `WouldBlock` instead of blocking
/// (`MSG_DONTWAIT`, whatever the socket's mode).
pub(crate) fn send_with_fds(
    sock: BorrowedFd<'_>,
    bytes: &[u8],
    fds: &[RawFd],
    wait: bool,
) -> io::Result<()> {
    assert!(fds.len() <= MAX_PASSED_FDS);
    let mut space = FdSpace {
        _align: [],
        bytes: [0; FD_SPACE],
    };
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr().cast_mut().cast(),
        iov_len: bytes.len(),
    };
    // SAFETY: an all-zero msghdr is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let data_len = std::mem::size_of_val(fds);
        // SAFETY: CMSG_SPACE / CMSG_LEN are arithmetic. The control buffer
        // holds CMSG_SPACE of MAX_PASSED_FDS ints (the assert above bounds
        // `fds`, and a test checks FD_SPACE) and is aligned for cmsghdr;
        // CMSG_FIRSTHDR returns its start (non-null since msg_controllen
        // >= one header), and CMSG_DATA points inside it with room for
        // `data_len` bytes.
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
    let flags = libc::MSG_NOSIGNAL | if wait { 0 } else { libc::MSG_DONTWAIT };
    loop {
        // SAFETY: `msg` points at `iov` and `space`, both live for the call.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, flags) };
        if n >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// `recvmsg(2)`: receives one message into `buf` and the descriptors attached to it
/// (into `fds`, each received descriptor close-on-exec). `Ok(0)`: the
/// peer is gone. `wait: false` returns `WouldBlock` instead of blocking
/// (`MSG_DONTWAIT`, whatever the socket's mode).
pub(crate) fn recv_with_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
    wait: bool,
) -> io::Result<usize> {
    let mut space = FdSpace {
        _align: [],
        bytes: [0; FD_SPACE],
    };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = space.bytes.as_mut_ptr().cast();
    msg.msg_controllen = space.bytes.len();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_holds_the_most_descriptors() {
        let needed = std::mem::size_of::<RawFd>() * MAX_PASSED_FDS;
        // SAFETY: CMSG_SPACE is arithmetic.
        let space = unsafe { libc::CMSG_SPACE(needed as u32) } as usize;
        assert!(space <= FD_SPACE, "{space} > {FD_SPACE}");
    }
}
