//! [`ReplySpin`]: a short look-again loop before the runtime's thread
//! sleeps, when a task has just asked another process for something and
//! expects the answer within microseconds ([`expect_reply`]).
//!
//! # Why
//!
//! A thread that sleeps in `epoll_wait` lets its CPU go idle, and on a
//! virtual machine waking an idle CPU costs far more than the message that
//! does it: a ping-pong between two processes on two CPUs took about 45 µs
//! per round trip when both slept between messages, and about 5 µs when
//! each kept looking for the answer for up to 20 µs first
//! (`docs/benchmarks.md`, "Between processes"). `ipc::Pipe`'s blocking
//! receive does that in the kernel's `recvmsg`; this is the same for a
//! task awaiting `recv()`: the task asks, and the loop, when it finds
//! nothing else to run, looks at its poller without waiting (and at the
//! queues other threads fill) for up to [`SPIN`], yielding the CPU
//! between looks, before it sleeps.
//!
//! ```text
//!   task: recv() -> Pending, expect_reply()      (sets `requested`)
//!   loop: nothing runnable -> turn(may block)
//!           requested, several CPUs, not skipping?
//!             look: epoll_wait(0), the injection queue  -- found? use it
//!             sched_yield, look again ... until SPIN     -- then sleep
//! ```
//!
//! # When it does not pay
//!
//! With the peer on the same CPU, the answer comes only once this thread
//! gives the CPU up, and a failed look and a yield cost more than going to
//! sleep at once. That is noticed: when the first yield ran another thread
//! (it took over [`SWITCHED`]) and the answer was there afterwards, the
//! next [`SKIP_AFTER_MISS`] requests are ignored, then one is tried again.
//! A spin that runs out costs its 20 µs of CPU and nothing else. A machine
//! with one CPU online never spins. Nor does spinning pay on a CPU that
//! other threads want: a yield can give one of them a whole time slice
//! (milliseconds). A yield that took over [`CONTENDED`] ends the spin and
//! stops all spinning for 50 ms ([`BackOff`]).
//!
//! Only the current-thread loop (and a multi-threaded runtime's `block_on`
//! thread) spins; a multi-threaded runtime's workers have their own
//! searching and parking protocol and ignore the request. A runtime that
//! uses `spindle::uring` does not spin either: the operations queued on
//! its ring are submitted later in the turn, and a spin before that would
//! wait for answers to requests not yet sent. A request counts for the
//! turn right after it only, and a spin that found nothing makes the turn
//! work its timeout out again (one yield may have lasted a time slice).
//!
//! # Handing the CPU over
//!
//! For a peer on our CPU, a pipe end hands the CPU over right after it
//! sends a request (`ipc/hand_over.rs`); [`may_hand_over`] is the
//! runtime's side of that decision.

use std::cell::Cell;
use std::sync::atomic::Ordering::Relaxed;
#[cfg(feature = "process-pool")]
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[cfg(feature = "process-pool")]
use super::Local;

/// How long the loop keeps looking before it sleeps.
pub(crate) const SPIN: Duration = Duration::from_micros(20);

/// A `sched_yield` that took longer than this ran another thread.
const SWITCHED: Duration = Duration::from_micros(2);

/// After a spin that found the peer on this CPU, this many requests are
/// ignored; the next one spins again.
pub(crate) const SKIP_AFTER_MISS: u32 = 63;

/// A yield that took longer than this gave the CPU to another thread for
/// its time slice: the CPU is contended (see [`BackOff`]).
pub(crate) const CONTENDED: Duration = Duration::from_micros(200);

/// How long spinning and handing the CPU over stop after a yield found
/// the CPU contended.
const BACK_OFF: Duration = Duration::from_millis(50);

/// A pause in spinning (or handing the CPU over) after a yield that took
/// over [`CONTENDED`]. On a CPU that other threads want, each yield can
/// cost a whole time slice of theirs (milliseconds), far more than a sleep
/// and a wake-up: with a busy thread on each CPU, a ping-pong that
/// spun took 2.5 to 3.2 ms per round trip, against 60 to 70 µs for plain
/// blocking calls. So one such yield stops all trying for [`BACK_OFF`].
/// Atomic, so that a pipe end shared by threads can hold one.
#[derive(Debug, Default)]
pub(crate) struct BackOff {
    /// Until when, in [`now_ns`] time; 0 when not backing off.
    until_ns: AtomicU64,
}

impl BackOff {
    /// Whether a back-off is in progress (a load, while none is).
    pub(crate) fn active(&self) -> bool {
        let until = self.until_ns.load(Relaxed);
        if until == 0 {
            return false;
        }
        if now_ns() < until {
            return true;
        }
        self.until_ns.store(0, Relaxed);
        false
    }

    /// Starts a back-off of [`BACK_OFF`] from now.
    pub(crate) fn start(&self) {
        let until = now_ns().saturating_add(BACK_OFF.as_nanos() as u64);
        self.until_ns.store(until.max(1), Relaxed);
    }
}

/// Nanoseconds since the first call in this process (an `Instant` that
/// fits an atomic).
fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Chances still to let pass: set to [`SKIP_AFTER_MISS`] when trying
/// did not pay, then counted down by one per chance.
#[derive(Debug, Default)]
pub(crate) struct Skips(AtomicU32);

impl Skips {
    /// The next [`SKIP_AFTER_MISS`] chances pass.
    pub(crate) fn start(&self) {
        self.0.store(SKIP_AFTER_MISS, Relaxed);
    }

    /// Whether this chance passes (then one fewer is left).
    pub(crate) fn take_one(&self) -> bool {
        let left = self.0.load(Relaxed);
        if left > 0 {
            self.0.store(left - 1, Relaxed);
        }
        left > 0
    }

    #[cfg(feature = "process-pool")]
    /// Whether chances are passing now.
    pub(crate) fn any(&self) -> bool {
        self.0.load(Relaxed) > 0
    }
}

/// What the spins of one waiter (a runtime's loop, or the blocking
/// receives of one pipe end) have learned: whether to spin at all, and
/// whether the peer answers on our CPU. Atomic, so that a pipe end shared
/// by threads can hold one; a lost update costs a spin or a skip.
#[derive(Debug, Default)]
pub(crate) struct SpinRule {
    /// Waits to come that sleep at once (the peer shares our CPU).
    skips: Skips,
    /// Set when a spin found the CPU contended.
    back_off: BackOff,
}

impl SpinRule {
    /// Whether this wait should spin before it sleeps (consumes a skip).
    pub(crate) fn should_spin(&self) -> bool {
        !self.skips.take_one() && crate::sys::cpu::several_online() && !self.back_off.active()
    }

    /// Spins ([`spin_until`]) and learns from what it saw; returns whether
    /// the last look found what it looked for.
    pub(crate) fn spin(
        &self,
        look: impl FnMut() -> bool,
        give_way: impl FnMut() -> Duration,
    ) -> bool {
        let spun = spin_until(look, give_way);
        if spun.contended {
            self.back_off.start();
        } else if spun.peer_on_our_cpu {
            self.skips.start();
        }
        spun.found
    }

    #[cfg(feature = "process-pool")]
    /// Whether the peer answers on our CPU: spins found it there lately
    /// (or this machine has one CPU online).
    pub(crate) fn peer_shares_cpu(&self) -> bool {
        self.skips.any() || !crate::sys::cpu::several_online()
    }
}

/// A loop's spin-before-sleep state. Only the loop's own thread touches it.
#[derive(Debug, Default)]
pub(crate) struct ReplySpin {
    /// A task expects an answer: spin at the next sleep.
    requested: Cell<bool>,
    /// What this loop's spins have learned.
    pub(crate) rule: SpinRule,
}

impl ReplySpin {
    /// Asks for a spin at the loop's next sleep.
    pub(crate) fn request(&self) {
        self.requested.set(true);
    }

    /// Whether this sleep should spin first; consumes the request.
    pub(crate) fn take(&self) -> bool {
        self.requested.replace(false) && self.rule.should_spin()
    }

    /// Calls `look` (which must not block) until it finds something or
    /// [`SPIN`] has passed, yielding the CPU between calls (at least
    /// once); returns what the last call returned.
    pub(crate) fn spin(&self, look: impl FnMut() -> bool) -> bool {
        self.rule.spin(look, timed_yield)
    }
}

/// `sched_yield`, and how long it kept this thread off the CPU: the
/// `give_way` of the spins and of the hand-over (tests pass fixed
/// durations instead, so that what they check does not depend on how busy
/// the machine is).
pub(crate) fn timed_yield() -> Duration {
    let before = Instant::now();
    std::thread::yield_now();
    before.elapsed()
}

/// What [`spin_until`] saw.
struct Spun {
    /// The last look found what it looked for.
    found: bool,
    /// It was found right after a first yield that ran another thread:
    /// the peer most likely shares our CPU, and spinning does not pay.
    peer_on_our_cpu: bool,
    /// A yield took over [`CONTENDED`]: the spin stopped after it; start
    /// a [`BackOff`].
    contended: bool,
}

/// Calls `look` until it returns true or [`SPIN`] has passed, calling
/// `give_way` ([`timed_yield`], which returns how long it took) between
/// calls, at least once; or until a yield takes over [`CONTENDED`], after
/// which it looks once more. The loop
/// behind [`SpinRule::spin`], for [`ReplySpin`] and for `ipc::Pipe`'s
/// blocking receive.
fn spin_until(mut look: impl FnMut() -> bool, mut give_way: impl FnMut() -> Duration) -> Spun {
    let mut spun = Spun {
        found: look(),
        peer_on_our_cpu: false,
        contended: false,
    };
    let start = Instant::now();
    let mut first = true;
    while !spun.found {
        let took = give_way();
        spun.found = look();
        if took >= CONTENDED {
            spun.contended = true;
            break;
        }
        let switched = took > SWITCHED;
        if spun.found {
            spun.peer_on_our_cpu = first && switched;
        } else if start.elapsed() >= SPIN {
            break;
        }
        first = false;
    }
    spun
}

/// Whether a task that has just sent a request to another process should
/// give the CPU to it (`ipc/hand_over.rs`): this thread runs a runtime,
/// whose spins have seen its peers answer on its own CPU, and which has
/// no other task ready to run.
#[cfg(feature = "process-pool")]
pub(crate) fn may_hand_over() -> bool {
    super::context::with_current(|local| {
        local.is_some_and(|local| {
            local.reply_spin.rule.peer_shares_cpu() && nothing_else_to_run(local)
        })
    })
}

/// True on a current-thread loop (or a multi-threaded runtime's
/// `block_on` thread) with no task ready besides the one running.
#[cfg(feature = "process-pool")]
fn nothing_else_to_run(local: &Local) -> bool {
    let shared = &local.shared;
    local.worker.is_none()
        && local.run_queue.borrow().is_empty()
        && shared.inject.is_empty()
        && !shared.main_woken.load(SeqCst)
}

/// Tells the runtime running on this thread, if any, that the task being
/// polled expects an answer from another process within microseconds: if
/// it finds nothing else to do, its loop looks for that answer for a
/// moment before it sleeps (see the module docs).
#[cfg_attr(not(feature = "process-pool"), allow(dead_code))]
pub(crate) fn expect_reply() {
    super::context::with_current(|local| {
        if let Some(local) = local {
            local.reply_spin.request();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_taken_once() {
        let spin = ReplySpin::default();
        assert!(!spin.take());
        spin.request();
        assert_eq!(spin.take(), crate::sys::cpu::several_online());
        assert!(!spin.take());
    }

    #[test]
    fn a_spin_looks_again_at_least_once_and_runs_out() {
        let spin = ReplySpin::default();
        let mut looks = 0;
        assert!(spin.spin(|| {
            looks += 1;
            looks == 2
        }));
        assert_eq!(looks, 2);
        let start = Instant::now();
        assert!(!spin.spin(|| false));
        assert!(start.elapsed() >= SPIN);
    }

    #[test]
    fn a_find_after_a_yield_that_ran_another_thread_skips_the_next_requests() {
        let spin = ReplySpin::default();
        let mut looks = 0;
        // A "yield" that took as long as running another thread does.
        let switch = || SWITCHED * 5;
        assert!(spin.rule.spin(
            || {
                looks += 1;
                looks == 2
            },
            switch
        ));
        assert_eq!(spin.rule.skips.0.load(Relaxed), SKIP_AFTER_MISS);
        for _ in 0..SKIP_AFTER_MISS {
            spin.request();
            assert!(!spin.take(), "skipping");
        }
        spin.request();
        assert_eq!(spin.take(), crate::sys::cpu::several_online());
    }

    #[test]
    fn a_find_after_a_quick_yield_or_a_later_one_skips_nothing() {
        let spin = ReplySpin::default();
        assert!(spin.spin(|| true));
        let mut looks = 0;
        assert!(spin.rule.spin(
            || {
                looks += 1;
                looks == 2
            },
            || Duration::ZERO
        ));
        // Found after the second yield, however long that one took.
        let (mut looks, mut yields) = (0, 0);
        assert!(spin.rule.spin(
            || {
                looks += 1;
                looks == 3
            },
            || {
                yields += 1;
                if yields == 2 {
                    SWITCHED * 5
                } else {
                    Duration::ZERO
                }
            }
        ));
        assert_eq!(spin.rule.skips.0.load(Relaxed), 0);
    }

    #[cfg(feature = "process-pool")]
    #[test]
    fn only_a_runtime_with_nothing_else_ready_hands_over() {
        let local = Local::new(crate::executor::Config::default()).unwrap();
        assert!(nothing_else_to_run(&local));
        local.block_on(async {
            let other = crate::spawn(async {});
            crate::executor::context::with_current(|local| {
                assert!(!nothing_else_to_run(local.unwrap()), "a task is ready");
            });
            other.await.unwrap();
            crate::executor::context::with_current(|local| {
                assert!(nothing_else_to_run(local.unwrap()));
            });
        });
    }

    #[test]
    fn a_yield_that_took_a_time_slice_stops_the_spin_and_backs_off() {
        let spin = ReplySpin::default();
        let mut looks = 0;
        let found = spin.rule.spin(
            || {
                looks += 1;
                false
            },
            || CONTENDED * 2,
        );
        assert!(!found);
        assert_eq!(
            looks, 2,
            "one look before the yield, one after, then it stops"
        );
        assert!(spin.rule.back_off.active());
        spin.request();
        assert!(!spin.take(), "backing off");
        assert_eq!(spin.rule.skips.0.load(Relaxed), 0);
    }

    #[test]
    fn a_back_off_ends() {
        let back_off = BackOff::default();
        assert!(!back_off.active());
        back_off.start();
        assert!(back_off.active());
        back_off.until_ns.store(now_ns(), Relaxed);
        assert!(!back_off.active());
        assert_eq!(back_off.until_ns.load(Relaxed), 0);
    }
}
