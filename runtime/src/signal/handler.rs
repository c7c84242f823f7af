//! The signal handler spindle installs, with the only two things it
//! touches: the pending flags and the self-pipe's write end. (The system
//! calls are the runtime's, in `crate::sys`.)
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
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::SeqCst};

use crate::sys::{fd as sys_fd, signal as sys_signal};

/// One more than the highest signal number on Linux (`_NSIG`).
pub(crate) const NSIG: usize = 65;

/// `PENDING[n]`: signal `n` arrived and has not been dispatched yet.
pub(super) static PENDING: [AtomicBool; NSIG] = [const { AtomicBool::new(false) }; NSIG];

/// The write end of the self-pipe, or -1 before it exists. Never closed.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

/// The handler installed for every signal spindle listens to. Only
/// async-signal-safe work; see the module docs.
extern "C" fn on_signal(signum: libc::c_int) {
    let saved_errno = sys_signal::errno();
    if let Some(flag) = usize::try_from(signum).ok().and_then(|i| PENDING.get(i)) {
        flag.store(true, SeqCst);
    }
    let fd = WAKE_FD.load(SeqCst);
    if fd >= 0 {
        // SAFETY: WAKE_FD holds the write end of the self-pipe, which is
        // never closed once stored (see `set_wake_fd`).
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        // `write` is async-signal-safe, and so is the wrapper (an error is
        // only errno's number). EAGAIN means a wake-up is already queued.
        let _ = sys_fd::write(fd, &[1]);
    }
    sys_signal::set_errno(saved_errno);
}

/// Tells the handler where to write. `fd` must stay open for the rest of
/// the process: the handler may run at any moment, on any thread.
pub(super) fn set_wake_fd(fd: BorrowedFd<'static>) {
    WAKE_FD.store(fd.as_raw_fd(), SeqCst);
}

/// Installs spindle's handler for `signum` (`sigaction` with
/// `SA_RESTART`, replacing, not chaining, whatever was there).
pub(super) fn install(signum: libc::c_int) -> io::Result<()> {
    sys_signal::set_handler(signum, on_signal)
}
