//! The system-call layer of `signal`: every `libc` call and every `unsafe`
//! block of the signal code lives in this file, and nowhere else. So does
//! the signal handler itself, with the only two things it touches.
//!
//! # What a signal handler may do
//!
//! The kernel runs a handler on *whichever* thread it picks, between any two
//! instructions of that thread: in the middle of a `malloc`, holding a
//! `Mutex`, half-way through updating a `Vec`. If the handler then locks
//! the same mutex it deadlocks; if it allocates it may corrupt the heap. So a
//! handler may only call the short list of *async-signal-safe* functions
//! (`signal-safety(7)`: `write`, `read`, `kill`, ... but not `malloc`,
//! `printf`, or anything that takes a lock) and touch lock-free atomics.
//!
//! [`on_signal`] does exactly three things:
//!
//! 1. sets `PENDING[signum]` (an `AtomicBool`: one lock-free store);
//! 2. `write`s one byte to the self-pipe, which wakes every reactor watching
//!    its read end (a full pipe returns `EAGAIN`, which is fine: a wake-up is
//!    pending already);
//! 3. saves and restores `errno`, because the interrupted code may be
//!    between a failed call and its read of `errno`, and our `write` could
//!    overwrite it.
//!
//! Everything else (counting, waking tasks) happens later, in ordinary code
//! on a runtime thread: see `registry.rs`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::SeqCst};

/// One more than the highest signal number on Linux (`_NSIG`).
pub(crate) const NSIG: usize = 65;

/// `PENDING[n]`: signal `n` arrived and has not been dispatched yet.
pub(super) static PENDING: [AtomicBool; NSIG] = [const { AtomicBool::new(false) }; NSIG];

/// The write end of the self-pipe, or -1 before it exists. Never closed.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

/// The handler installed for every signal spindle listens to. Only
/// async-signal-safe work; see the module docs.
extern "C" fn on_signal(signum: libc::c_int) {
    // SAFETY: `__errno_location` returns a valid pointer to this thread's errno.
    let saved_errno = unsafe { *libc::__errno_location() };
    if let Some(flag) = usize::try_from(signum).ok().and_then(|i| PENDING.get(i)) {
        flag.store(true, SeqCst);
    }
    let fd = WAKE_FD.load(SeqCst);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is one live byte.
        // The result is ignored: EAGAIN means a wake-up is already queued.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved_errno };
}

fn cvt(res: libc::c_int) -> io::Result<libc::c_int> {
    if res == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(res)
    }
}

/// `pipe2(O_CLOEXEC | O_NONBLOCK)`: `(read end, write end)`.
pub(super) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` is a writable array of two ints, as pipe2 requires.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
    // SAFETY: pipe2 just created both descriptors; nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Tells the handler where to write. `fd` must stay open for the rest of
/// the process: the handler may run at any moment, on any thread.
pub(super) fn set_wake_fd(fd: BorrowedFd<'static>) {
    WAKE_FD.store(fd.as_raw_fd(), SeqCst);
}

/// `sigaction(signum, {on_signal, SA_RESTART})`: installs spindle's handler,
/// replacing (not chaining) whatever was there.
///
/// `SA_RESTART` makes most system calls interrupted by the signal resume
/// instead of failing with `EINTR` in code that does not expect it. The
/// mask is empty: other signals may interrupt the handler, which is fine
/// since it only does one atomic store and one `write`.
pub(super) fn install_handler(signum: libc::c_int) -> io::Result<()> {
    // SAFETY: an all-zero sigaction is a valid value (no handler, no flags,
    // and an empty mask once sigemptyset has run).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `sa_mask` is a live sigset_t owned by `action`.
    cvt(unsafe { libc::sigemptyset(&mut action.sa_mask) })?;
    // SAFETY: `action` is fully initialised; a null old-action pointer is allowed.
    cvt(unsafe { libc::sigaction(signum, &action, std::ptr::null_mut()) })?;
    Ok(())
}

/// `read(2)` on a non-blocking descriptor.
pub(super) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
