//! System calls on any descriptor: reading and writing, the pipe, the
//! descriptor's flags, waiting with `poll`, closing ranges, anonymous
//! memory files, and eventfds.
//!
//! Every descriptor created here is close-on-exec from birth (`O_CLOEXEC`,
//! `MFD_CLOEXEC` in the creating call, so no other thread's `fork` can
//! catch it between two calls).

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::{cvt, cvt_len};

/// The most buffers one vectored call passes (Linux's `UIO_MAXIOV`); the
/// rest are left for the next call.
pub(crate) const MAX_IOV: usize = 1024;

/// Takes ownership of a descriptor a system call just created.
///
/// # Safety
/// `fd` must be a descriptor that the caller's call just created and that
/// nothing else owns (nothing will close it but the returned `OwnedFd`).
pub(crate) unsafe fn adopt(fd: libc::c_int) -> OwnedFd {
    // SAFETY: the caller guarantees `fd` is open and owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `read(2)`.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    cvt_len(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// `write(2)`. On a pipe whose reader is gone this fails with `EPIPE`,
/// *if* `SIGPIPE` is ignored (sockets use `socket::send`, which passes
/// `MSG_NOSIGNAL` instead). Async-signal-safe: it neither allocates nor
/// locks (an error is only `errno`'s number).
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
    cvt_len(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })
}

/// `writev(2)`, with at most [`MAX_IOV`] buffers.
pub(crate) fn writev(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    let count = bufs.len().min(MAX_IOV) as libc::c_int;
    // SAFETY: `IoSlice` is ABI-compatible with `iovec` on unix, and the
    // first `count` entries are live buffers valid for reads.
    cvt_len(unsafe { libc::writev(fd.as_raw_fd(), bufs.as_ptr().cast(), count) })
}

/// `pipe2(O_CLOEXEC | O_NONBLOCK)`: `(read end, write end)`.
pub(crate) fn pipe2() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` is a writable array of two ints, as pipe2 requires.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
    // SAFETY: pipe2 just created both descriptors; nothing else owns them.
    Ok(unsafe { (adopt(fds[0]), adopt(fds[1])) })
}

/// Sets or clears `O_NONBLOCK` on the open file description of `fd`
/// (shared with every duplicate of it, in this process or another).
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, nonblocking: bool) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    let new = if nonblocking {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if new != flags {
        // SAFETY: plain integer arguments.
        cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, new) })?;
    }
    Ok(())
}

#[cfg(feature = "process-pool")]
/// Sets or clears close-on-exec (`FD_CLOEXEC`) on the descriptor `fd`
/// (this descriptor number only, unlike `O_NONBLOCK`). Async-signal-safe:
/// it runs in a child between `fork` and `exec` too.
pub(crate) fn set_cloexec(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) })?;
    let new = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    if new != flags {
        // SAFETY: plain integer arguments.
        cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, new) })?;
    }
    Ok(())
}

#[cfg(feature = "process-pool")]
/// `close_range(low, high, flags)` (Linux 5.9; `CLOSE_RANGE_CLOEXEC` 5.11):
/// closes, or with `CLOSE_RANGE_CLOEXEC` marks close-on-exec, every
/// descriptor from `low` to `high`. Async-signal-safe.
///
/// # Safety
/// Closing descriptors that other code owns breaks that code's ownership:
/// call it only where no such owner will run again (in a new child, before
/// `exec` or in a forked single-threaded copy) or with
/// `CLOSE_RANGE_CLOEXEC`, which closes nothing now.
pub(crate) unsafe fn close_range(
    low: libc::c_uint,
    high: libc::c_uint,
    flags: libc::c_uint,
) -> io::Result<()> {
    // SAFETY: integer arguments; the caller vouches for the ownership of
    // the descriptors in range (see above).
    let r = unsafe { libc::syscall(libc::SYS_close_range, low, high, flags) };
    super::cvt_long(r).map(drop)
}

#[cfg(feature = "process-pool")]
/// `poll(2)` without a timeout, retried on `EINTR`: blocks until at least
/// one of `fds` has an event (see each `revents`).
pub(crate) fn poll(fds: &mut [libc::pollfd]) -> io::Result<()> {
    super::retry_eintr(|| {
        // SAFETY: `fds` is a valid, writable array of `fds.len()` pollfds.
        cvt(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) })
    })
    .map(drop)
}

#[cfg(feature = "process-pool")]
/// Blocks until `fd` reports one of `events` (`POLLIN`, `POLLOUT`), or a
/// hang-up or an error: [`poll`] on that one descriptor.
pub(crate) fn poll_one(fd: BorrowedFd<'_>, events: libc::c_short) -> io::Result<()> {
    poll(&mut [libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    }])
}

#[cfg(feature = "process-pool")]
/// `memfd_create(name, MFD_CLOEXEC)` then `ftruncate(len)`: an anonymous
/// memory file of `len` zero bytes, to map shared between processes.
pub(crate) fn memfd(name: &std::ffi::CStr, len: usize) -> io::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated; the result is a new descriptor or -1.
    let fd = cvt(unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) })?;
    // SAFETY: memfd_create just created `fd`; nothing else owns it.
    let fd = unsafe { adopt(fd) };
    let len =
        libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: plain integer arguments on a descriptor we own.
    cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), len) })?;
    Ok(fd)
}

/// `eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)`: a counter the kernel (or
/// another thread) can signal, and a poller can watch.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain integer arguments.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: eventfd just created it; nothing else owns it.
    Ok(unsafe { adopt(fd) })
}
