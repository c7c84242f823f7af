//! Models of the process `Event`'s word (`event.rs`, the steps in
//! `protocol::event`): the flag in bit 0 and a waiters bit in bit 1, which
//! a waiter sets before it sleeps and `set` clears, waking every sleeper.
//! No waiter sleeps through a `set`, and what the setter wrote before it
//! is seen by the waiters after their wait.
//!
//! `wait` below is `Event::blocking_wait` with the futex stood in for
//! (`support::Futex`).

use std::sync::atomic::Ordering::SeqCst;

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;

use crate::ipc::protocol::event;
use crate::support::{model, Futex};

/// `Event::blocking_wait`: look (return if set, else mark a sleeper),
/// sleep on what the look said, look again.
fn wait(futex: &Futex) {
    while let Some(expected) = event::attempt(&futex.word) {
        futex.wait(expected);
    }
}

/// `Event::set`: set the flag, and wake everyone if a sleeper was marked.
fn set(futex: &Futex) {
    if event::set(&futex.word) {
        futex.wake(u32::MAX);
    }
}

/// Two waiters and a setter that writes a value first: both waiters
/// return, and see the value.
#[test]
fn set_wakes_every_waiter() {
    model(|| {
        let futex = Arc::new(Futex::new(0));
        let data = Arc::new(UnsafeCell::new(0usize));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let (futex, data) = (futex.clone(), data.clone());
                thread::spawn(move || {
                    wait(&futex);
                    assert!(event::is_set(&futex.word));
                    // SAFETY: read after the wait, which saw the flag that
                    // the setter set after its write (loom's cell checks
                    // that order); nobody writes the cell after.
                    assert_eq!(data.with(|d| unsafe { *d }), 42);
                })
            })
            .collect();
        // SAFETY: no waiter reads the cell before the flag is set below.
        data.with_mut(|d| unsafe { *d = 42 });
        set(&futex);
        for t in waiters {
            t.join().unwrap();
        }
        assert_eq!(futex.word.load(SeqCst), event::SET);
    });
}

/// A setter that sets, clears and sets again while a waiter waits: the
/// waiter may miss the first `set` (it was cleared before the waiter
/// looked, as in Python) but not the second, and a `clear` leaves a
/// waiter's mark alone, so the second `set` wakes it.
#[test]
fn set_clear_set() {
    model(|| {
        let futex = Arc::new(Futex::new(0));
        let waiter = {
            let futex = futex.clone();
            thread::spawn(move || wait(&futex))
        };
        set(&futex);
        event::clear(&futex.word);
        set(&futex);
        waiter.join().unwrap();
        assert!(event::is_set(&futex.word));
    });
}
