//! The `blocking_*` methods of Barrier, Notify, Condvar and
//! BoundedSemaphore, used from plain OS threads (no runtime anywhere), and
//! their refusal to park a thread that runs a runtime.
//!
//! Each scenario completes whichever thread gets there first (a stored
//! `Notify` permit, a permit released before or after the acquire starts),
//! so no test depends on timing; a watchdog bounds each one.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use spindle_sync::coop;
use spindle_sync::sync::{Barrier, BoundedSemaphore, Condvar, Mutex, Notify};

/// Runs `f` on its own thread and fails the test if it has not finished
/// within 10 s (a lost wake-up would otherwise hang the suite); a panic in
/// `f` is passed on.
fn within_watchdog<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (done_tx, done_rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let _ = done_tx.send(f());
    });
    match done_rx.recv_timeout(Duration::from_secs(10)) {
        Ok(result) => result,
        // `f` panicked (the sender is gone): pass its panic on.
        Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the worker ends only by sending or panicking"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("a blocking_* call did not return within 10 s")
        }
    }
}

#[test]
fn barrier_blocking_wait_meets_other_threads_and_elects_one_leader() {
    let leaders = within_watchdog(|| {
        let barrier = Arc::new(Barrier::new(3));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let barrier = barrier.clone();
                thread::spawn(move || barrier.blocking_wait().is_leader())
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|&leader| leader)
            .count()
    });
    assert_eq!(leaders, 1);
}

#[test]
fn notify_blocking_notified_takes_a_stored_permit() {
    within_watchdog(|| {
        let notify = Notify::new();
        notify.notify_one(); // nobody waits: the permit is stored
        notify.blocking_notified(); // returns at once, taking it
    });
}

#[test]
fn notify_blocking_notified_is_woken_from_another_thread() {
    within_watchdog(|| {
        let notify = Arc::new(Notify::new());
        let waiter = {
            let notify = notify.clone();
            thread::spawn(move || notify.blocking_notified())
        };
        // Whether the waiter is parked yet or not, notify_one reaches it:
        // a waiting thread is woken, else the permit is stored for it.
        notify.notify_one();
        waiter.join().unwrap();
    });
}

#[test]
fn condvar_blocking_wait_while_sees_the_change_made_by_another_thread() {
    let seen = within_watchdog(|| {
        let shared = Arc::new((Mutex::new(0u32), Condvar::new()));
        let waiter = {
            let shared = shared.clone();
            thread::spawn(move || {
                let (count, cond) = &*shared;
                let guard = cond.blocking_wait_while(count.blocking_lock(), |n| *n < 3);
                *guard
            })
        };
        let (count, cond) = &*shared;
        for _ in 0..3 {
            *count.blocking_lock() += 1;
            cond.notify_all();
        }
        waiter.join().unwrap()
    });
    assert_eq!(seen, 3);
}

#[test]
fn condvar_blocking_wait_gives_the_lock_back_while_waiting() {
    within_watchdog(|| {
        let shared = Arc::new((Mutex::new(false), Condvar::new()));
        let waiter = {
            let shared = shared.clone();
            thread::spawn(move || {
                let (ready, cond) = &*shared;
                let mut guard = ready.blocking_lock();
                while !*guard {
                    guard = cond.blocking_wait(guard);
                }
            })
        };
        let (ready, cond) = &*shared;
        // This lock succeeds even while the waiter waits: wait released it.
        *ready.blocking_lock() = true;
        cond.notify_one();
        waiter.join().unwrap();
    });
}

#[test]
fn bounded_semaphore_blocking_acquire_waits_for_a_release() {
    within_watchdog(|| {
        let sem = Arc::new(BoundedSemaphore::new(1));
        sem.try_acquire().unwrap().forget(); // the only permit is taken
        let waiter = {
            let sem = sem.clone();
            thread::spawn(move || {
                let permit = sem.blocking_acquire().unwrap();
                permit.num_permits()
            })
        };
        sem.release().unwrap(); // hands the permit to the waiter (now or later)
        assert_eq!(waiter.join().unwrap(), 1);
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn bounded_semaphore_blocking_acquire_fails_once_closed() {
    within_watchdog(|| {
        let sem = BoundedSemaphore::new(1);
        sem.close();
        assert!(sem.blocking_acquire().is_err());
    });
}

// Inside a runtime each of them panics instead of parking the runtime's
// thread. `coop::enter_runtime` is what a runtime's loop holds; the
// runtime's own tests check that spindle's `block_on` holds it.

#[test]
#[should_panic(expected = "inside a spindle runtime")]
fn barrier_blocking_wait_panics_inside_a_runtime() {
    let barrier = Barrier::new(1);
    let _running = coop::enter_runtime();
    barrier.blocking_wait();
}

#[test]
#[should_panic(expected = "inside a spindle runtime")]
fn notify_blocking_notified_panics_inside_a_runtime() {
    let notify = Notify::new();
    notify.notify_one();
    let _running = coop::enter_runtime();
    notify.blocking_notified();
}

#[test]
#[should_panic(expected = "inside a spindle runtime")]
fn condvar_blocking_wait_panics_inside_a_runtime() {
    let m = Mutex::new(());
    let cond = Condvar::new();
    let guard = m.try_lock().unwrap();
    let _running = coop::enter_runtime();
    let _guard = cond.blocking_wait(guard);
}

#[test]
#[should_panic(expected = "inside a spindle runtime")]
fn condvar_blocking_wait_while_panics_inside_a_runtime() {
    let m = Mutex::new(());
    let cond = Condvar::new();
    let guard = m.try_lock().unwrap();
    let _running = coop::enter_runtime();
    let _guard = cond.blocking_wait_while(guard, |_| false);
}

#[test]
#[should_panic(expected = "inside a spindle runtime")]
fn bounded_semaphore_blocking_acquire_panics_inside_a_runtime() {
    let sem = BoundedSemaphore::new(1);
    let _running = coop::enter_runtime();
    let _permit = sem.blocking_acquire();
}

#[test]
fn blocking_methods_work_again_once_the_runtime_guard_is_gone() {
    within_watchdog(|| {
        {
            let _running = coop::enter_runtime();
            assert!(coop::is_runtime_running());
        }
        assert!(!coop::is_runtime_running());
        Barrier::new(1).blocking_wait();
    });
}
