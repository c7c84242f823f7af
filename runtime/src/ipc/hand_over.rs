//! [`HandOver`]: a pipe end that has just sent a request gives the CPU to
//! the process that will answer it, when that process runs on our CPU.
//!
//! The case the runtime's look-again spin (`executor/reply_spin.rs`)
//! leaves out, a peer on our CPU, has a remedy of its own: right after
//! sending a request, give the CPU to the peer (`sched_yield`; the send
//! has just made it runnable). It reads the
//! request and answers while we are off the CPU, so the receive that
//! follows finds the answer at once: no failed `recvmsg`, no sleep in
//! `epoll_wait` and no wake-up (between two async processes on one CPU, a
//! round trip went from 11.2 to 9.2 µs). The CPU goes where it would have
//! gone anyway, a moment sooner. A send yields only when all of these
//! hold:
//!
//! ```text
//!   the end is one of a duplex pipe (a one-way sender streams)
//!   a receive came since the last send (two sends in a row: a stream,
//!     not requests -> the next 63 sends do not yield)
//!   the peer answers on our CPU: the receives' spins saw it there lately
//!     (or the machine has one CPU)
//!   a task: its runtime has no other task ready to run
//!   no yield took over 200 µs in the last 50 ms (a busy thread had the
//!     CPU, not an answering peer: `reply_spin::BackOff`)
//! ```
//!
//! A yield that runs nobody (the scheduler may keep a thread that woke
//! with little credit waiting a moment) costs about half a microsecond,
//! and the receive goes the usual way.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::executor::reply_spin::{self, BackOff, Skips, CONTENDED};

/// A pipe end's hand-over state (see the module docs). Any thread may use
/// the end, so the fields are atomics; they steer a heuristic only, and a
/// lost update costs a yield or a skip.
#[derive(Debug, Default)]
pub(crate) struct HandOver {
    /// Sends to come that do not yield.
    skips: Skips,
    /// A value was sent and nothing received since.
    sent: AtomicBool,
    /// Set after a yield that took a busy thread's time slice.
    back_off: BackOff,
}

impl HandOver {
    /// After a send from a task: yields if this thread's runtime has no
    /// other task ready to run and has seen its peers answer on its own
    /// CPU (its `ReplySpin` is skipping for that reason). Never on a
    /// multi-threaded runtime's worker, never outside a runtime.
    pub(crate) fn after_async_send(&self) {
        self.after_send(reply_spin::may_hand_over, reply_spin::timed_yield);
    }

    /// After a send from a plain thread whose receives on this end have
    /// seen the peer answer on their CPU (`peer_shares_cpu`).
    pub(crate) fn after_blocking_send(&self, peer_shares_cpu: bool) {
        self.after_send(|| peer_shares_cpu, reply_spin::timed_yield);
    }

    /// A receive on this end (a request's answer, perhaps).
    pub(crate) fn received(&self) {
        if self.sent.load(Relaxed) {
            self.sent.store(false, Relaxed);
        }
    }

    /// The rules of the module docs, with `worth_it` for the last
    /// conditions and `give_way` in place of `sched_yield` (it returns how
    /// long it kept the thread off the CPU, as `timed_yield` does).
    fn after_send(&self, worth_it: impl FnOnce() -> bool, give_way: impl FnOnce() -> Duration) {
        if self.sent.swap(true, Relaxed) {
            // Two sends with no receive between: a stream, not requests.
            self.skips.start();
            return;
        }
        if self.skips.take_one() || self.back_off.active() || !worth_it() {
            return;
        }
        if give_way() >= CONTENDED {
            // A busy thread had the CPU, not an answering peer.
            self.back_off.start();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::reply_spin::SKIP_AFTER_MISS;
    use std::cell::Cell;

    #[test]
    fn a_send_yields_when_worth_it_and_not_after_another_send() {
        let hand_over = HandOver::default();
        let yields = Cell::new(0);
        let give_way = || {
            yields.set(yields.get() + 1);
            Duration::ZERO
        };
        hand_over.after_send(|| true, give_way);
        assert_eq!(yields.get(), 1);
        hand_over.received();
        hand_over.after_send(|| false, give_way);
        assert_eq!(yields.get(), 1, "not worth it: no yield");
        // Two sends in a row: a stream. No yield for this one or the next 63.
        hand_over.after_send(|| true, give_way);
        assert_eq!(yields.get(), 1);
        for _ in 0..SKIP_AFTER_MISS {
            hand_over.received();
            hand_over.after_send(|| true, give_way);
        }
        assert_eq!(yields.get(), 1);
        hand_over.received();
        hand_over.after_send(|| true, give_way);
        assert_eq!(yields.get(), 2);
    }

    #[test]
    fn a_yield_that_ran_a_busy_thread_backs_off() {
        let hand_over = HandOver::default();
        hand_over.after_send(|| true, || CONTENDED * 2);
        assert!(hand_over.back_off.active());
        let yields = Cell::new(0);
        for _ in 0..1000 {
            hand_over.received();
            hand_over.after_send(
                || true,
                || {
                    yields.set(yields.get() + 1);
                    Duration::ZERO
                },
            );
        }
        assert_eq!(yields.get(), 0, "no yield while backing off");
    }
}
