//! Models of the process `Semaphore`'s word (`semaphore.rs`, the steps in
//! `protocol::semaphore`): the count in bits 0..30 and the waiters flag in
//! bit 31, which a waiter sets before it sleeps and a release clears,
//! waking every sleeper. No wake-up is lost, and a permit orders what its
//! holder touched before it with what the next holder touches.
//!
//! `acquire` and `release` below are `Semaphore::blocking_acquire` and
//! `Semaphore::release` with the futex stood in for (`support::Futex`).

use std::sync::atomic::Ordering::{Relaxed, SeqCst};

use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;
use loom::thread;

use crate::ipc::protocol::semaphore;
use crate::support::{model, Futex};

/// `Semaphore::blocking_acquire`: look (take a permit, or set the flag),
/// sleep on what the look said, look again.
pub(crate) fn acquire(futex: &Futex) {
    while let Some(expected) = semaphore::attempt(&futex.word) {
        futex.wait(expected);
    }
}

/// `Semaphore::release`: one more permit, and if the flag was set, wake
/// every sleeper.
pub(crate) fn release(futex: &Futex) {
    if semaphore::release(&futex.word) {
        futex.wake(u32::MAX);
    }
}

/// One permit, held by the main thread while two others come to take it
/// (they set the flag and sleep, in every order); then it is released.
/// Each of the two gets the permit in turn, one at a time, and gives it
/// back: the word ends with the one permit and no flag.
#[test]
fn one_permit_two_acquirers() {
    model(|| {
        let futex = Arc::new(Futex::new(1));
        let data = Arc::new(UnsafeCell::new(0usize));
        // Changed with `Relaxed` read-modify-writes, which order nothing:
        // the order between holders must come from the semaphore's word.
        let holders = Arc::new(AtomicUsize::new(0));
        assert_eq!(semaphore::try_take(&futex.word), Ok(()));
        let acquirers: Vec<_> = (0..2)
            .map(|_| {
                let (futex, data, holders) = (futex.clone(), data.clone(), holders.clone());
                thread::spawn(move || {
                    acquire(&futex);
                    assert_eq!(
                        holders.fetch_add(1, Relaxed),
                        0,
                        "two holders of one permit"
                    );
                    // SAFETY: the one permit is held: nobody else touches
                    // the cell until the release (loom's cell checks it).
                    data.with_mut(|d| unsafe { *d += 1 });
                    holders.fetch_sub(1, Relaxed);
                    release(&futex);
                })
            })
            .collect();
        release(&futex);
        for t in acquirers {
            t.join().unwrap();
        }
        // SAFETY: every thread that touched the cell was joined.
        assert_eq!(data.with(|d| unsafe { *d }), 2);
        assert_eq!(futex.word.load(SeqCst), 1);
    });
}

/// No permits; two processes wait for one each, and a third gives two
/// back one by one (`Semaphore::release` of forgotten permits, as from
/// another process). A release racing a waiter that is setting the flag
/// or going to sleep must not strand it: both waiters get a permit.
#[test]
fn releases_reach_every_waiter() {
    model(|| {
        let futex = Arc::new(Futex::new(0));
        let acquirers: Vec<_> = (0..2)
            .map(|_| {
                let futex = futex.clone();
                thread::spawn(move || acquire(&futex))
            })
            .collect();
        release(&futex);
        release(&futex);
        for t in acquirers {
            t.join().unwrap();
        }
        assert_eq!(futex.word.load(SeqCst), 0);
    });
}
