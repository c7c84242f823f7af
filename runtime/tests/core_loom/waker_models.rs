//! `AtomicWaker` models: a registration racing a wake from another thread.
//!
//! The waiting side follows the pattern every user of the slot follows
//! (`JoinHandle::poll`, `Registration::poll_ready`): register the waker,
//! then look at the condition once more. The property is the one that
//! makes that pattern sound: after the waiter's last registration, either
//! it sees the condition or its waker is woken. No wake-up is lost.

use std::sync::atomic::Ordering::SeqCst;

use loom::sync::atomic::AtomicBool;
use loom::sync::Arc;
use loom::thread;

use crate::support::{model, CountingWaker};
use crate::task::atomic_waker::AtomicWaker;

struct Slot {
    waker: AtomicWaker,
    /// The condition the waiter waits for.
    ready: AtomicBool,
}

fn slot() -> Arc<Slot> {
    Arc::new(Slot {
        waker: AtomicWaker::new(),
        ready: AtomicBool::new(false),
    })
}

/// Which of the three wake operations the notifier uses.
#[derive(Clone, Copy)]
enum Notify {
    Wake,
    WakeByRef,
    Take,
}

fn notify(slot: &Slot, how: Notify) {
    slot.ready.store(true, SeqCst);
    match how {
        Notify::Wake => slot.waker.wake(),
        Notify::WakeByRef => slot.waker.wake_by_ref(),
        Notify::Take => {
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
    }
}

fn register_then_wake(how: Notify) {
    model(move || {
        let slot = slot();
        let waiter = CountingWaker::new();
        let notifier = {
            let slot = slot.clone();
            thread::spawn(move || notify(&slot, how))
        };
        slot.waker.register(&waiter.waker());
        let saw_ready = slot.ready.load(SeqCst);
        notifier.join().unwrap();
        assert!(saw_ready || waiter.wakes() >= 1, "wake-up lost");
        drop(slot);
        // Every clone the slot took has been dropped again.
        assert_eq!(std::sync::Arc::strong_count(&waiter), 1, "waker leaked");
    });
}

#[test]
fn atomic_waker_register_races_wake() {
    register_then_wake(Notify::Wake);
}

#[test]
fn atomic_waker_register_races_wake_by_ref() {
    register_then_wake(Notify::WakeByRef);
}

#[test]
fn atomic_waker_register_races_take() {
    register_then_wake(Notify::Take);
}

#[test]
fn atomic_waker_replaced_waker_is_the_one_woken() {
    // The waiter moves to a new waker (a task polled with a different
    // Context) while the notifier fires: after its last registration, the
    // new waker must hear the wake if the waiter missed the condition.
    model(|| {
        let slot = slot();
        let first = CountingWaker::new();
        let second = CountingWaker::new();
        slot.waker.register(&first.waker());
        let notifier = {
            let slot = slot.clone();
            thread::spawn(move || notify(&slot, Notify::WakeByRef))
        };
        slot.waker.register(&second.waker());
        let saw_ready = slot.ready.load(SeqCst);
        notifier.join().unwrap();
        assert!(saw_ready || second.wakes() >= 1, "wake-up lost");
        drop(slot);
        assert_eq!(std::sync::Arc::strong_count(&first), 1, "waker leaked");
        assert_eq!(std::sync::Arc::strong_count(&second), 1, "waker leaked");
    });
}

#[test]
fn atomic_waker_two_notifiers() {
    // Two notifiers fire at once (the driver's event and a close, say):
    // their slot operations must not overlap (loom's cell checks that), and
    // the waiter still hears at least one of them.
    model(|| {
        let slot = slot();
        let waiter = CountingWaker::new();
        slot.waker.register(&waiter.waker());
        let a = {
            let slot = slot.clone();
            thread::spawn(move || notify(&slot, Notify::WakeByRef))
        };
        let b = {
            let slot = slot.clone();
            thread::spawn(move || notify(&slot, Notify::Wake))
        };
        a.join().unwrap();
        b.join().unwrap();
        assert!(waiter.wakes() >= 1, "wake-up lost");
        drop(slot);
        assert_eq!(std::sync::Arc::strong_count(&waiter), 1, "waker leaked");
    });
}
