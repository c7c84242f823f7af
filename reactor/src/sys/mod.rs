//! The thin layer between the poller and the kernel: one file per backend.
//!
//! Every backend offers the same methods — `new`, `add`, `modify`, `delete`,
//! `wait` and `notify` — so [`Poller`](crate::Poller) can hold any of them.
//! All `unsafe` of this crate lives here, next to the system call it guards:
//! each call is its own `unsafe { libc::... }` block with a `// SAFETY:`
//! comment, and [`cvt`] turns its -1 into an `io::Error`.

pub(crate) mod epoll;
mod eventfd;
mod level;
pub(crate) mod poll;
pub(crate) mod select;
pub(crate) mod uring;

#[cfg(test)]
#[path = "level_tests.rs"]
mod level_tests;

/// Turns the result of a libc function that returns -1 on error (and sets
/// `errno`) into an `io::Result`. Each call site keeps its own `unsafe`
/// block and `// SAFETY:` comment around the call itself; this only reads
/// the result, so it works for `c_int` and `ssize_t` returns alike.
pub(crate) fn cvt<T: PartialEq + From<i8>>(res: T) -> std::io::Result<T> {
    if res == T::from(-1) {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(res)
    }
}

/// Builds an [`Event`](crate::Event) from `poll(2)`-style readiness bits, as
/// epoll and io_uring's poll requests both report them (Linux gives the
/// `EPOLL*` flags the same values as the `POLL*` ones; checked below).
/// Hang-ups and errors count as readable and writable, so the waiting side
/// tries its call and gets the end of stream or the error from it.
pub(crate) fn event_from_poll_bits(token: crate::Token, bits: u32) -> crate::Event {
    let has = |flag: libc::c_short| bits & flag as u32 != 0;
    let error = has(libc::POLLERR);
    let hup = has(libc::POLLHUP);
    let rdhup = has(libc::POLLRDHUP);
    crate::Event {
        token,
        readable: has(libc::POLLIN) || has(libc::POLLPRI) || hup || rdhup || error,
        writable: has(libc::POLLOUT) || hup || error,
        error,
        read_closed: hup || rdhup,
        write_closed: hup || error,
    }
}

const _: () = {
    assert!(libc::EPOLLIN == libc::POLLIN as libc::c_int);
    assert!(libc::EPOLLPRI == libc::POLLPRI as libc::c_int);
    assert!(libc::EPOLLOUT == libc::POLLOUT as libc::c_int);
    assert!(libc::EPOLLERR == libc::POLLERR as libc::c_int);
    assert!(libc::EPOLLHUP == libc::POLLHUP as libc::c_int);
    assert!(libc::EPOLLRDHUP == libc::POLLRDHUP as libc::c_int);
};

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
