//! System calls on signal dispositions (`sigaction`), and `errno`, which a
//! signal handler must save and restore. The handler spindle installs, and
//! the rules it follows, are in `signal/handler.rs`.

use std::io;

use super::cvt;

/// `sigaction(signum, {handler, SA_RESTART})`: installs `handler`,
/// replacing (not chaining) whatever was there.
///
/// `SA_RESTART` makes most system calls interrupted by the signal resume
/// instead of failing with `EINTR` in code that does not expect it. The
/// mask is empty: other signals may interrupt the handler, so it must be
/// reentrant (see `signal/handler.rs`).
pub(crate) fn set_handler(
    signum: libc::c_int,
    handler: extern "C" fn(libc::c_int),
) -> io::Result<()> {
    set_action(signum, handler as libc::sighandler_t, libc::SA_RESTART)
}

#[cfg(feature = "process-pool")]
/// `sigaction(signum, SIG_IGN)`: the signal is discarded on arrival (for
/// `SIGPIPE`: a write to a closed pipe fails with `EPIPE` instead).
pub(crate) fn ignore(signum: libc::c_int) -> io::Result<()> {
    set_action(signum, libc::SIG_IGN, 0)
}

fn set_action(
    signum: libc::c_int,
    handler: libc::sighandler_t,
    flags: libc::c_int,
) -> io::Result<()> {
    // SAFETY: an all-zero sigaction is a valid value (no handler, no flags,
    // and an empty mask once sigemptyset has run).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler;
    action.sa_flags = flags;
    // SAFETY: `sa_mask` is a live sigset_t owned by `action`.
    cvt(unsafe { libc::sigemptyset(&mut action.sa_mask) })?;
    // SAFETY: `action` is fully initialised; a null old-action pointer is allowed.
    cvt(unsafe { libc::sigaction(signum, &action, std::ptr::null_mut()) })?;
    Ok(())
}

/// This thread's `errno`. Async-signal-safe.
pub(crate) fn errno() -> libc::c_int {
    // SAFETY: `__errno_location` returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Sets this thread's `errno`. Async-signal-safe.
pub(crate) fn set_errno(value: libc::c_int) {
    // SAFETY: `__errno_location` returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() = value };
}
