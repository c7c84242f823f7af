//! What the ipc models share: the model runner, and a stand-in for the
//! kernel's futex.

use std::sync::atomic::Ordering::Relaxed;

use loom::sync::atomic::AtomicU32;
use loom::sync::{Condvar, Mutex};

/// Checks `f` under every interleaving up to the preemption bound
/// (`LOOM_MAX_PREEMPTIONS`, 2 if unset: bounded, so the suite stays fast).
pub(crate) fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

/// A lock's shared word and the futex queue on it: `FUTEX_WAIT` and
/// `FUTEX_WAKE` (`sys/futex.rs`) as a loom mutex and condvar.
///
/// * [`wait`](Futex::wait) looks at the word under the queue's mutex and
///   queues the caller only if it still holds `expected`: the check and
///   the queueing are one step for a concurrent [`wake`](Futex::wake),
///   which takes the same mutex, as the kernel makes them one step (a
///   futex's hash-bucket lock). A wake between the caller's last look at
///   the word and its sleep is therefore never lost, and a change of the
///   word before the sleep makes the wait return at once (`EAGAIN`).
/// * [`wake`](Futex::wake)`(n)` takes up to `n` sleepers off the queue, in
///   the order they queued, and returns how many. A sleeper returns only
///   once it was taken off: no spurious wake-ups (which could only hide a
///   lost one).
/// * **No timeout.** Every real sleep is bounded (a tenth of a second at
///   most), so in production a lost wake-up costs latency, not liveness.
///   Here a sleeper nobody wakes sleeps forever, and loom reports the
///   deadlock: the stricter check.
pub(crate) struct Futex {
    pub(crate) word: AtomicU32,
    queue: Mutex<Queue>,
    woken: Condvar,
}

struct Queue {
    next_ticket: usize,
    /// The tickets of the callers asleep, oldest first.
    asleep: Vec<usize>,
}

impl Futex {
    pub(crate) fn new(value: u32) -> Futex {
        Futex {
            word: AtomicU32::new(value),
            queue: Mutex::new(Queue {
                next_ticket: 0,
                asleep: Vec::new(),
            }),
            woken: Condvar::new(),
        }
    }

    /// `FUTEX_WAIT` without a timeout: sleeps while the word holds
    /// `expected`, until a [`wake`](Futex::wake) takes this caller.
    pub(crate) fn wait(&self, expected: u32) {
        let mut queue = self.queue.lock().unwrap();
        // Relaxed: the kernel's read orders nothing for the caller (the
        // locks acquire with their own compare-and-swap after the wait).
        // Under the queue's mutex, which every wake takes, it still sees
        // any store made before a wake that came first.
        if self.word.load(Relaxed) != expected {
            return;
        }
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        queue.asleep.push(ticket);
        while queue.asleep.contains(&ticket) {
            queue = self.woken.wait(queue).unwrap();
        }
    }

    /// `FUTEX_WAKE`: wakes up to `n` sleepers (`u32::MAX`: all) and
    /// returns how many it woke.
    pub(crate) fn wake(&self, n: u32) -> usize {
        let mut queue = self.queue.lock().unwrap();
        let woken = queue.asleep.len().min(n as usize);
        queue.asleep.drain(..woken);
        if woken > 0 {
            self.woken.notify_all();
        }
        woken
    }
}
