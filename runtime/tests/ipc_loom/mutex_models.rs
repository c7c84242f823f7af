//! Models of the process [`Mutex`]'s word (`lock.rs`, the steps in
//! `protocol::mutex`): mutual exclusion, the order a lock gives to what it
//! protects, and no lost wake-up between threads that lock and unlock.
//!
//! `lock` and `unlock` below are `Mutex::blocking_lock` and the guard's
//! drop with the futex stood in for (`support::Futex`) and without the
//! robust part: `after_sleep`'s check for a dead owner after a timed-out
//! sleep is left out, since nothing dies here and sleeps do not time out
//! (see the crate docs). What remains of `after_sleep` (a look at the
//! owner, to reset the backoff) changes nothing on the word.
//!
//! [`Mutex`]: spindle_runtime::ipc::Mutex

use std::sync::atomic::Ordering::{Relaxed, SeqCst};

use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;
use loom::thread;

use crate::ipc::protocol::mutex;
use crate::support::{model, Futex};

/// The spins of the first look (`lock.rs` spins 100 times; one is enough
/// to cover the path, and each spin multiplies the interleavings).
const SPINS: u32 = 1;

/// `Mutex::blocking_lock` for the process `me`: the fast path, one look
/// (spinning), then sleep on what the look said and look again until the
/// lock is ours.
pub(crate) fn lock(futex: &Futex, me: u32) {
    if mutex::try_lock_free(&futex.word, me) {
        return;
    }
    let mut expected = match mutex::attempt(&futex.word, me, SPINS) {
        None => return,
        Some(v) => v,
    };
    loop {
        futex.wait(expected);
        match mutex::attempt(&futex.word, me, 0) {
            None => return,
            Some(v) => expected = v,
        }
    }
}

/// The guard's drop: release, and wake one sleeper if the bit said so.
pub(crate) fn unlock(futex: &Futex) {
    if mutex::unlock(&futex.word) {
        futex.wake(1);
    }
}

/// A lock and what it protects: a counter in a loom cell (which fails the
/// model if two threads touch it without the lock ordering them) and a
/// count of holders (which must never pass one). The count is changed with
/// `Relaxed` read-modify-writes, which order nothing: the order between
/// two holders' touches of the cell must come from the lock's word.
struct Guarded {
    futex: Futex,
    data: UnsafeCell<usize>,
    holders: AtomicUsize,
}

impl Guarded {
    fn new() -> Arc<Guarded> {
        Arc::new(Guarded {
            futex: Futex::new(0),
            data: UnsafeCell::new(0),
            holders: AtomicUsize::new(0),
        })
    }

    /// Lock as `me`, add one to the data, unlock.
    fn increment(&self, me: u32) {
        lock(&self.futex, me);
        assert_eq!(self.holders.fetch_add(1, Relaxed), 0, "two holders at once");
        // SAFETY: the lock is held: no other thread touches the cell until
        // the unlock below (loom's cell checks exactly that).
        self.data.with_mut(|d| unsafe { *d += 1 });
        self.holders.fetch_sub(1, Relaxed);
        unlock(&self.futex);
    }

    fn data(&self) -> usize {
        // SAFETY: called after every thread that touched the cell was
        // joined.
        self.data.with(|d| unsafe { *d })
    }
}

/// One process holds the lock while two others (pids 2 and 3) come to
/// take it, so they spin, set the waiters bit and sleep in every order;
/// then the holder releases. Both get the lock, one at a time, and the
/// word ends free with no bit.
#[test]
fn contended_lock_excludes_and_wakes() {
    model(|| {
        let g = Guarded::new();
        assert!(mutex::try_lock_free(&g.futex.word, 1));
        let lockers: Vec<_> = [2, 3]
            .into_iter()
            .map(|me| {
                let g = g.clone();
                thread::spawn(move || g.increment(me))
            })
            .collect();
        unlock(&g.futex);
        for t in lockers {
            t.join().unwrap();
        }
        assert_eq!(g.data(), 2);
        assert_eq!(g.futex.word.load(SeqCst), 0);
    });
}

/// Two processes take the lock twice each, with no third party: a lock
/// taken after a sleep keeps the waiters bit, and every release that saw
/// the bit wakes the other.
#[test]
fn two_lockers_twice_each() {
    model(|| {
        let g = Guarded::new();
        let other = {
            let g = g.clone();
            thread::spawn(move || {
                g.increment(2);
                g.increment(2);
            })
        };
        g.increment(1);
        g.increment(1);
        other.join().unwrap();
        assert_eq!(g.data(), 4);
        assert_eq!(g.futex.word.load(SeqCst), 0);
    });
}

/// Two threads of one process (the owner in the word is the process, so
/// both write the same pid) while a third holds the lock: the pid is only
/// a mark of "taken", and the lock excludes all the same.
#[test]
fn threads_of_one_process() {
    model(|| {
        let g = Guarded::new();
        assert!(mutex::try_lock_free(&g.futex.word, 7));
        let lockers: Vec<_> = (0..2)
            .map(|_| {
                let g = g.clone();
                thread::spawn(move || g.increment(7))
            })
            .collect();
        unlock(&g.futex);
        for t in lockers {
            t.join().unwrap();
        }
        assert_eq!(g.data(), 2);
        assert_eq!(g.futex.word.load(SeqCst), 0);
    });
}
