//! The thin layer between the poller and the kernel: one file per backend.
//!
//! Every backend offers the same methods — `new`, `add`, `modify`, `delete`,
//! `wait` and `notify` — so [`Poller`](crate::Poller) can hold any of them.
//! All `unsafe` of this crate lives here, next to the system call it guards.

pub(crate) mod epoll;
mod eventfd;
mod level;
pub(crate) mod poll;
pub(crate) mod select;
pub(crate) mod uring;

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

/// Converts a timeout to milliseconds for epoll_wait and poll, rounding up so
/// a sub-millisecond wait does not become a busy loop of zero-timeout calls.
pub(crate) fn timeout_ms(timeout: Option<std::time::Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            ms.min(libc::c_int::MAX as u128) as libc::c_int
        }
    }
}
