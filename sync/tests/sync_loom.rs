//! Loom model checks of `sync`: the semaphore hand-over (Mutex, RwLock,
//! Semaphore) racing with cancelled waiters and `close`, and the wake-up
//! paths of Notify, Condvar and Flag.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test -p spindle-sync --release --test sync_loom
//! ```
//!
//! Each model has two or three threads: one that waits to completion
//! (with loom's `block_on`, so a lost wake-up is reported as a deadlock),
//! one that polls once and then drops its future (a cancellation racing
//! with the hand-over), and the main thread releasing.
//!
//! # How the crate's code sees loom
//!
//! loom is a dev-dependency, so the library itself never links it. This
//! test crate compiles the crate's sources directly (`loom_build/mod.rs`);
//! being a `test` build with `--cfg loom`, the crate's `loom.rs` shim picks
//! loom's `Mutex`, `Arc`, atomics and `UnsafeCell`. Without `--cfg loom`
//! this file is empty.

#![cfg(loom)]
#![allow(dead_code, unused_imports)]

mod loom_build;
use loom_build::*;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use ::loom::cell::UnsafeCell;
use ::loom::future::block_on;
use ::loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use ::loom::sync::Arc;
use ::loom::thread;

use crate::sync::{Condvar, Flag, Mutex, Notify, RwLock, Semaphore};

/// Runs `f` under loom with at most two preemptions, unless
/// `LOOM_MAX_PREEMPTIONS` says otherwise.
fn model(f: impl Fn() + Send + Sync + 'static) {
    let mut builder = ::loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

/// Polls once with a waker that does nothing; the future is then dropped
/// by the caller (a cancellation).
fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn mutex_hand_over_races_with_a_cancelled_waiter() {
    model(|| {
        let m = Arc::new(Mutex::new(UnsafeCell::new(0usize)));
        let held = m.try_lock().unwrap();
        let waiter = {
            let m = m.clone();
            thread::spawn(move || {
                block_on(async {
                    let g = m.lock().await;
                    // SAFETY: the guard holds the lock; loom's cell checks
                    // this access is ordered after every other one.
                    g.with_mut(|v| unsafe { *v += 1 });
                })
            })
        };
        let canceller = {
            let m = m.clone();
            thread::spawn(move || {
                let mut f = pin!(m.lock());
                if let Poll::Ready(g) = poll_once(f.as_mut()) {
                    // SAFETY: the guard holds the lock (checked by loom).
                    g.with_mut(|v| unsafe { *v += 10 });
                }
                // Dropped here: queued, or handed the lock and not told.
            })
        };
        drop(held);
        waiter.join().unwrap();
        canceller.join().unwrap();
        let g = m.try_lock().expect("the lock was not leaked");
        // SAFETY: the guard holds the lock (checked by loom).
        let v = g.with(|v| unsafe { *v });
        assert!(v == 1 || v == 11, "{v}");
    });
}

#[test]
fn mutex_two_waiters_and_a_canceller() {
    model(|| {
        let m = Arc::new(Mutex::new(UnsafeCell::new(0usize)));
        let held = m.try_lock().unwrap();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let m = m.clone();
                thread::spawn(move || {
                    block_on(async {
                        let g = m.lock().await;
                        // SAFETY: the guard holds the lock (checked by loom).
                        g.with_mut(|v| unsafe { *v += 1 });
                    })
                })
            })
            .collect();
        let canceller = {
            let m = m.clone();
            thread::spawn(move || {
                let mut f = pin!(m.lock());
                let _ = poll_once(f.as_mut());
                thread::yield_now(); // may be handed the lock meanwhile
            })
        };
        drop(held);
        for w in waiters {
            w.join().unwrap();
        }
        canceller.join().unwrap();
        let g = m.try_lock().expect("the lock was not leaked");
        // SAFETY: the guard holds the lock (checked by loom).
        assert_eq!(g.with(|v| unsafe { *v }), 2);
    });
}

#[test]
fn semaphore_partial_acquire_many_cancelled_returns_its_permits() {
    model(|| {
        let sem = Arc::new(Semaphore::new(2));
        let p1 = sem.try_acquire().unwrap();
        let p2 = sem.try_acquire().unwrap();
        let small = {
            let sem = sem.clone();
            thread::spawn(move || {
                block_on(async {
                    drop(sem.acquire().await.unwrap());
                })
            })
        };
        let big = {
            let sem = sem.clone();
            thread::spawn(move || {
                let mut f = pin!(sem.acquire_many(2));
                // Ready only if both permits came back first; dropped either
                // way, partly assigned or not.
                let _ = poll_once(f.as_mut());
            })
        };
        drop(p1);
        drop(p2);
        small.join().unwrap();
        big.join().unwrap();
        assert_eq!(sem.available_permits(), 2);
    });
}

#[test]
fn semaphore_close_races_with_release_and_cancel() {
    model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let p = sem.try_acquire().unwrap();
        let waiter = {
            let sem = sem.clone();
            thread::spawn(move || block_on(sem.acquire()).map(drop).is_ok())
        };
        let closer = {
            let sem = sem.clone();
            thread::spawn(move || sem.close())
        };
        drop(p);
        let _granted = waiter.join().unwrap();
        closer.join().unwrap();
        // Whether the waiter won or the close did, the permit came home.
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn rwlock_writer_cancelled_while_gathering_permits() {
    model(|| {
        let lock = Arc::new(RwLock::new(()));
        let r = lock.try_read().unwrap();
        let reader = {
            let lock = lock.clone();
            thread::spawn(move || block_on(async { drop(lock.read().await) }))
        };
        let writer = {
            let lock = lock.clone();
            thread::spawn(move || {
                let mut f = pin!(lock.write());
                let _ = poll_once(f.as_mut());
            })
        };
        drop(r);
        reader.join().unwrap();
        writer.join().unwrap();
        assert!(lock.try_write().is_ok());
    });
}

#[test]
fn notify_one_survives_a_cancelled_waiter() {
    model(|| {
        let n = Arc::new(Notify::new());
        let waiter = {
            let n = n.clone();
            thread::spawn(move || block_on(n.notified()))
        };
        let canceller = {
            let n = n.clone();
            thread::spawn(move || {
                let mut f = pin!(n.notified());
                if poll_once(f.as_mut()).is_ready() {
                    // It legitimately took the notification: hand one on.
                    n.notify_one();
                }
            })
        };
        n.notify_one();
        canceller.join().unwrap();
        waiter.join().unwrap(); // a lost notification would deadlock here
    });
}

#[test]
fn condvar_wait_does_not_miss_a_notify() {
    model(|| {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let waiter = {
            let pair = pair.clone();
            thread::spawn(move || {
                block_on(async {
                    let (m, cv) = &*pair;
                    let g = cv.wait_while(m.lock().await, |ready| !*ready).await;
                    assert!(*g);
                })
            })
        };
        let (m, cv) = &*pair;
        *block_on(m.lock()) = true;
        cv.notify_one();
        waiter.join().unwrap();
    });
}

#[test]
fn flag_set_then_clear_still_releases_a_queued_waiter() {
    model(|| {
        let e = Arc::new(Flag::new());
        let queued = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (e, queued) = (e.clone(), queued.clone());
            thread::spawn(move || {
                let mut f = pin!(e.wait());
                assert!(poll_once(f.as_mut()).is_pending());
                queued.store(true, SeqCst);
                // Re-registers its real waker while set/clear may run.
                block_on(f);
            })
        };
        while !queued.load(SeqCst) {
            thread::yield_now();
        }
        e.set();
        e.clear();
        waiter.join().unwrap(); // the set released it although cleared since
    });
}
