//! The runtime's system-call layer: every generic `libc` wrapper of the
//! runtime lives under this module, once.
//!
//! Each function wraps one system call (or one tightly bound pair, such as
//! `fcntl(F_GETFL)` then `fcntl(F_SETFL)`): borrowed descriptors and Rust
//! buffers in, `io::Result` out, new descriptors handed back as
//! [`OwnedFd`](std::os::fd::OwnedFd), which closes them on drop. A `-1`
//! return becomes the `io::Error` of `errno` through [`cvt`] or [`cvt_len`].
//!
//! The files are split by what the calls act on:
//!
//! * `fd.rs`: any descriptor: `read`, `write`, `writev`, `pipe2`, `fcntl`
//!   flags (non-blocking, close-on-exec), `poll`, `close_range`, `memfd`,
//!   and an `eventfd` used as a counting semaphore.
//! * `socket.rs` (with `sockaddr.rs` for addresses and `fd_passing.rs` for
//!   `SCM_RIGHTS`): sockets, where every send passes `MSG_NOSIGNAL`.
//! * `process.rs`: processes: `pidfd_open`, signalling, `waitpid`, `fork`,
//!   `prctl`, `_exit`, `getpid` (cached), whether a pid has ended.
//! * `signal.rs`: signal dispositions (`sigaction`) and `errno`, which a
//!   signal handler must save and restore.
//! * `memory.rs`: shared memory: sealed memory files (`memfd_create`,
//!   `F_ADD_SEALS`) and their mappings (`mmap`, `munmap`); private
//!   anonymous mappings and huge-page advice (`madvise`) for the task arena.
//! * `futex.rs`: waiting on and waking a 32-bit word in (shared) memory.
//! * `cpu.rs`: CPU affinity (`sched_getaffinity`, `sched_setaffinity`,
//!   `sched_getcpu`), for `shard`'s one runtime per CPU.
//!
//! What is specific to one module stays there, built on these calls: the
//! signal handler itself (`signal/handler.rs`), the process pool's calling
//! of functions by offset and its load-time hook (`pool/`).
//!
//! # Where `unsafe` is
//!
//! A wrapper whose call is safe for any argument is a safe function, and
//! its one `unsafe` block (with its `// SAFETY:` comment) is inside it. A
//! call whose safety depends on the caller (`fork` in a multi-threaded
//! process, `mmap`ed memory, adopting a descriptor number) is an
//! `unsafe fn` with a `# Safety` section, so the `unsafe` shows at the call
//! site, with the reason it holds there. No macro hides an `unsafe`.

pub(crate) mod cpu;
pub(crate) mod fd;
#[cfg(feature = "process-pool")]
pub(crate) mod fd_passing;
#[cfg(feature = "process-pool")]
pub(crate) mod futex;
pub(crate) mod memory;
pub(crate) mod process;
pub(crate) mod signal;
pub(crate) mod sockaddr;
pub(crate) mod socket;

use std::io;

/// Turns the `-1` of a failed `int`-returning call into `errno`'s error.
pub(crate) fn cvt(res: libc::c_int) -> io::Result<libc::c_int> {
    if res == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(res)
    }
}

/// Turns the negative return of a failed `ssize_t` call (a byte count)
/// into `errno`'s error.
pub(crate) fn cvt_len(res: libc::ssize_t) -> io::Result<usize> {
    if res < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(res as usize)
    }
}

/// Turns the `-1` of a raw `syscall(2)` (which returns a `long`) into
/// `errno`'s error.
pub(crate) fn cvt_long(res: libc::c_long) -> io::Result<libc::c_long> {
    if res == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(res)
    }
}

/// Retries `f` while it fails with `EINTR` (a signal interrupted the call
/// before it did anything).
pub(crate) fn retry_eintr<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
