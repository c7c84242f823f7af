//! System calls on processes: a pidfd for a child, signalling it, reaping
//! it with `waitpid`, what a new child does to itself (`fork`, `prctl`,
//! `_exit`), this process's pid (cached) and whether another process has
//! ended (for the process locks' dead-owner check).
//!
//! Only ever `waitpid(pid)` for a pid the caller started, never
//! `waitpid(-1)`, which would steal the statuses of children spawned by
//! other code (see `process/reap.rs`).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use super::{cvt, cvt_long};

fn pid_t(pid: u32, invalid: libc::c_int) -> io::Result<libc::pid_t> {
    libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(invalid))
}

/// `pidfd_open(pid, 0)` (Linux 5.3): a descriptor that refers to the process
/// itself, not to its number, and becomes readable when it exits. It is
/// close-on-exec by definition. Fails with `ENOSYS` on older kernels (and
/// with `EPERM` under some seccomp filters that do not know the call).
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = pid_t(pid, libc::ESRCH)?;
    // SAFETY: plain integer arguments; the kernel validates them.
    let fd = cvt_long(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: pidfd_open just created this descriptor; nothing else owns it.
    Ok(unsafe { super::fd::adopt(fd as libc::c_int) })
}

/// True if `e` says this kernel (or sandbox) has no `pidfd_open`.
pub(crate) fn is_pidfd_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM))
}

/// Sends `SIGKILL`: see [`send_signal`].
pub(crate) fn send_sigkill(pid: u32, pidfd: Option<BorrowedFd<'_>>) -> io::Result<()> {
    send_signal(pid, pidfd, libc::SIGKILL)
}

/// Sends `signal`: through the pidfd if there is one (it can never hit
/// another process that reused the number), else with `kill(2)`, which is
/// safe from that reuse only while `pid` is our unreaped child. A process
/// that is already gone (`ESRCH`) counts as success.
pub(crate) fn send_signal(
    pid: u32,
    pidfd: Option<BorrowedFd<'_>>,
    signal: libc::c_int,
) -> io::Result<()> {
    let res = match pidfd {
        Some(fd) => {
            // SAFETY: integer arguments and a null siginfo pointer, which
            // pidfd_send_signal(2) documents as "like kill(2)".
            let r = unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    signal,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
            cvt_long(r).map(drop)
        }
        None => {
            let pid = pid_t(pid, libc::ESRCH)?;
            // SAFETY: plain integer arguments.
            cvt(unsafe { libc::kill(pid, signal) }).map(drop)
        }
    };
    match res {
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        other => other,
    }
}

fn waitpid(pid: u32, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
    let pid = pid_t(pid, libc::ECHILD)?;
    let mut status: libc::c_int = 0;
    super::retry_eintr(|| {
        // SAFETY: `status` is a live, writable int.
        cvt(unsafe { libc::waitpid(pid, &mut status, flags) })
    })
    .map(|reaped| (reaped != 0).then(|| ExitStatus::from_raw(status)))
}

/// `waitpid(pid, WNOHANG)`: reaps the child if it has exited (`Some`), or
/// returns `None` at once if it is still running. `ECHILD` means it is not
/// (or no longer) our child to reap: someone else reaped it.
pub(crate) fn try_wait(pid: u32) -> io::Result<Option<ExitStatus>> {
    waitpid(pid, libc::WNOHANG)
}

/// `waitpid(pid, 0)`: blocks the thread until the child exits, and reaps it.
pub(crate) fn wait_blocking(pid: u32) -> io::Result<ExitStatus> {
    waitpid(pid, 0)?.ok_or_else(|| io::Error::other("waitpid returned no status"))
}

#[cfg(feature = "process-pool")]
/// The pid of this process's parent (`getppid`, which cannot fail). A
/// process whose parent died has been re-parented (to init or a subreaper).
pub(crate) fn parent_pid() -> u32 {
    // SAFETY: getppid has no arguments and cannot fail.
    unsafe { libc::getppid() as u32 }
}

#[cfg(feature = "process-pool")]
/// `prctl(PR_SET_PDEATHSIG, signal)`: the kernel sends `signal` to this
/// process when the thread that created it exits. Async-signal-safe.
pub(crate) fn set_parent_death_signal(signal: libc::c_int) -> io::Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number; the unused arguments
    // are ignored.
    cvt(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong) }).map(drop)
}

#[cfg(feature = "process-pool")]
/// `prctl(PR_SET_NAME)`: the name `ps` and `top` show for this thread (the
/// main thread's is the process's); at most 15 bytes are kept.
pub(crate) fn set_thread_name(name: &str) {
    let mut buf = [0u8; 16];
    let n = name.len().min(15);
    buf[..n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16
    // bytes: `buf` is 16 bytes and its last one is always 0.
    unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_ptr()) };
}

#[cfg(feature = "process-pool")]
/// Which side of a [`fork`] this is.
pub(crate) enum Forked {
    /// The new process.
    Child,
    /// The calling process; the new one has this pid.
    Parent(u32),
}

#[cfg(feature = "process-pool")]
/// `fork(2)`: a copy of this process.
///
/// # Safety
/// The child is a copy of the calling thread alone: a lock that another
/// thread held at the moment of the fork stays locked in it forever, so the
/// child of a multi-threaded process may call only async-signal-safe
/// functions until it `exec`s or exits. Call this only in a process with a
/// single thread, or restrict the child accordingly.
pub(crate) unsafe fn fork() -> io::Result<Forked> {
    // SAFETY: fork has no memory-safety preconditions of its own; the
    // caller upholds the rule above for the child.
    match cvt(unsafe { libc::fork() })? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as u32)),
    }
}

#[cfg(feature = "process-pool")]
/// `_exit(code)`: ends this process now, without running `atexit`
/// handlers or flushing anything (for a process that never entered `main`,
/// or a forked copy that must not run its parent's cleanup).
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit ends the process; it has no preconditions.
    unsafe { libc::_exit(code) }
}

#[cfg(feature = "process-pool")]
/// This process's pid, cached (glibc's `getpid` is a real system call
/// since 2.25, too slow for a lock's fast path).
static PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[cfg(feature = "process-pool")]
/// Runs in the child of every `fork(3)` (registered with `pthread_atfork`):
/// the cached pid is the parent's there. One atomic store:
/// async-signal-safe, as a fork handler in a multi-threaded parent must be.
extern "C" fn forget_pid_after_fork() {
    PID.store(0, std::sync::atomic::Ordering::Relaxed);
}

#[cfg(feature = "process-pool")]
/// This process's pid (`getpid`), cached: a relaxed load after the first
/// call. The cache is cleared in the child of a `fork(3)` by a
/// `pthread_atfork` handler, registered before the first value is cached.
/// (A child made by a raw `clone` system call, bypassing libc's `fork`,
/// would see its parent's pid: nothing in Rust's standard library does
/// that except `posix_spawn`'s short-lived child, which only `exec`s.)
pub(crate) fn current_pid() -> u32 {
    use std::sync::atomic::Ordering::Relaxed;
    let pid = PID.load(Relaxed);
    if pid != 0 && pid != NO_CACHE {
        return pid;
    }
    static REGISTER: std::sync::Once = std::sync::Once::new();
    REGISTER.call_once(|| {
        // SAFETY: the handler is an `extern "C" fn()` that lives for the
        // whole program and is async-signal-safe.
        let r = unsafe { libc::pthread_atfork(None, None, Some(forget_pid_after_fork)) };
        if r != 0 {
            // Out of memory: without the handler, never cache.
            PID.store(NO_CACHE, Relaxed);
        }
    });
    // SAFETY: getpid has no arguments and cannot fail.
    let pid = unsafe { libc::getpid() } as u32;
    // A compare-exchange, so that NO_CACHE stays.
    let _ = PID.compare_exchange(0, pid, Relaxed, Relaxed);
    pid
}

#[cfg(feature = "process-pool")]
/// [`PID`]'s value when the fork handler could not be registered.
const NO_CACHE: u32 = u32::MAX;

#[cfg(feature = "process-pool")]
/// True once the process `pid` has ended: it no longer exists (`ESRCH`),
/// or it is a zombie waiting to be reaped (its pidfd is readable).
/// Async-signal-safe: a few system calls, no allocation.
///
/// Where `pidfd_open` is missing (Linux before 5.3, some sandboxes) the
/// answer comes from `kill(pid, 0)`, which still counts a zombie as alive
/// until its parent reaps it. Either way a *number* is asked about: if the
/// process ended and the kernel already gave its pid to a new process,
/// the answer is about the new one.
pub(crate) fn has_exited(pid: u32) -> bool {
    let Ok(raw) = libc::pid_t::try_from(pid) else {
        return true;
    };
    match pidfd_open(pid) {
        Ok(fd) => {
            let mut pfd = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid, writable pollfd; a zero timeout never blocks.
            let n = unsafe { libc::poll(&mut pfd, 1, 0) };
            n == 1 && pfd.revents & libc::POLLIN != 0
        }
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => true,
        Err(_) => {
            // SAFETY: signal 0 only checks that the process exists.
            let r = unsafe { libc::kill(raw, 0) };
            r == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
        }
    }
}
