//! System calls on futex words: `FUTEX_WAIT` with a timeout and
//! `FUTEX_WAKE`, on 32-bit words that may live in memory shared between
//! processes.
//!
//! A futex is "a wait queue keyed by an address": `wait(word, expected)`
//! sleeps only if the word still holds `expected` (the kernel checks that
//! atomically with queueing the caller, so a wake between the caller's
//! last look and its sleep is never lost), and `wake(word, n)` wakes up to
//! `n` sleepers on the same word. The operations here are the *shared*
//! ones (no `FUTEX_PRIVATE_FLAG`): the kernel keys the queue by the
//! underlying page, so a process that maps the same memory file at another
//! address still meets the others in the same queue.

use std::io;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// How a [`wait`] ended. Either way the caller must look at the word
/// again: a futex gives no guarantee about what it holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Woke {
    /// Woken by a [`wake`], or the word did not hold `expected` to begin
    /// with, or a signal interrupted the sleep.
    Early,
    /// The timeout passed.
    TimedOut,
}

/// `FUTEX_WAIT`: sleeps while `word` holds `expected`, at most `timeout`.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Duration) -> Woke {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `word` is a live, aligned 32-bit word (the kernel only reads
    // it); `ts` is a valid relative timeout; the last two arguments are
    // unused by FUTEX_WAIT.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if r == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT) {
        Woke::TimedOut
    } else {
        // 0 (woken), EAGAIN (the word had changed), EINTR (a signal).
        Woke::Early
    }
}

/// `FUTEX_WAKE`: wakes up to `n` of the sleepers on `word` (`u32::MAX`
/// wakes them all) and returns how many it woke.
pub(crate) fn wake(word: &AtomicU32, n: u32) -> usize {
    let n = n.min(i32::MAX as u32);
    // SAFETY: `word` is a live, aligned 32-bit word (the kernel only uses
    // its address as a key); the other arguments are unused by FUTEX_WAKE.
    let r = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n) };
    // FUTEX_WAKE cannot fail on a valid, aligned address.
    r.max(0) as usize
}
