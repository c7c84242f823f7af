//! The thin layer between the poller and the kernel: one file per backend.
//!
//! Every backend offers the same methods — `new`, `add`, `modify`, `delete`,
//! `wait` and `notify` — so [`Poller`](crate::Poller) can hold any of them.
//! All `unsafe` of this crate lives here, next to the system call it guards.

pub(crate) mod epoll;

/// Calls a libc function that returns -1 on error, turning that into `io::Error`.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: the caller's `unsafe` block at the use site states why the
        // arguments are valid for this call; the macro only checks the result.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}
pub(crate) use syscall;
