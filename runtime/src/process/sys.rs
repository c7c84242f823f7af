//! The system-call layer of `process`: every `libc` call and every `unsafe`
//! block of the subprocess code lives in this file, and nowhere else.
//!
//! Each function wraps one system call: borrowed descriptors and Rust
//! buffers in, `io::Result` out, new descriptors handed back as
//! [`OwnedFd`]. Spawning itself is left to `std::process::Command`, which
//! already creates its pipes close-on-exec and reports a failed `exec` (a
//! missing program) as an error of `spawn`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

fn cvt(res: libc::c_int) -> io::Result<libc::c_int> {
    if res == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(res)
    }
}

fn cvt_len(res: libc::ssize_t) -> io::Result<usize> {
    if res < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(res as usize)
    }
}

/// `pidfd_open(pid, 0)` (Linux 5.3): a descriptor that refers to the process
/// itself, not to its number, and becomes readable when it exits. It is
/// close-on-exec by definition. Fails with `ENOSYS` on older kernels (and
/// with `EPERM` under some seccomp filters that do not know the call).
pub(super) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: plain integer arguments; the kernel validates them.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pidfd_open just created this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// True if `e` says this kernel (or sandbox) has no `pidfd_open`.
pub(super) fn is_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM))
}

/// Sends `SIGKILL`: through the pidfd if there is one (it can never hit
/// another process that reused the number), else with `kill(2)`. A process
/// that is already gone (`ESRCH`) counts as success.
pub(super) fn send_sigkill(pid: u32, pidfd: Option<BorrowedFd<'_>>) -> io::Result<()> {
    let res = match pidfd {
        Some(fd) => {
            // SAFETY: integer arguments and a null siginfo pointer, which
            // pidfd_send_signal(2) documents as "like kill(2)".
            let r = unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
            cvt(r as libc::c_int)
        }
        None => {
            let pid = libc::pid_t::try_from(pid)
                .map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
            // SAFETY: plain integer arguments.
            cvt(unsafe { libc::kill(pid, libc::SIGKILL) })
        }
    };
    match res {
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        other => other.map(drop),
    }
}

fn waitpid(pid: u32, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ECHILD))?;
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a live, writable int.
        match cvt(unsafe { libc::waitpid(pid, &mut status, flags) }) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(ExitStatus::from_raw(status))),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `waitpid(pid, WNOHANG)`: reaps the child if it has exited (`Some`), or
/// returns `None` at once if it is still running. `ECHILD` means it is not
/// (or no longer) our child to reap: someone else reaped it.
pub(super) fn try_wait(pid: u32) -> io::Result<Option<ExitStatus>> {
    waitpid(pid, libc::WNOHANG)
}

/// `waitpid(pid, 0)`: blocks the thread until the child exits, and reaps it.
pub(super) fn wait_blocking(pid: u32) -> io::Result<ExitStatus> {
    waitpid(pid, 0)?.ok_or_else(|| io::Error::other("waitpid returned no status"))
}

/// Sets or clears `O_NONBLOCK` on the open file description of `fd`.
pub(super) fn set_nonblocking(fd: BorrowedFd<'_>, nonblocking: bool) -> io::Result<()> {
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

/// `read(2)`.
pub(super) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    cvt_len(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// `write(2)`. On a pipe whose reader is gone this fails with `EPIPE`,
/// *if* `SIGPIPE` is ignored (see the `process` module docs).
pub(super) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
    cvt_len(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })
}

/// `writev(2)`, with at most 1024 buffers (`UIO_MAXIOV`).
pub(super) fn writev(fd: BorrowedFd<'_>, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    let count = bufs.len().min(1024) as libc::c_int;
    // SAFETY: `IoSlice` is ABI-compatible with `iovec` on unix, and the
    // first `count` entries are live buffers valid for reads.
    cvt_len(unsafe { libc::writev(fd.as_raw_fd(), bufs.as_ptr().cast(), count) })
}
