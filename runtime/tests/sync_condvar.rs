//! `sync::Condvar` with `sync::Mutex`: no lost wake-up between unlocking and
//! waiting, notify_one / notify_all, wait_while, and cancellation.

use std::sync::Arc;
use std::task::{Poll, Waker};

use spindle_runtime::sync::{Condvar, Mutex};
use spindle_runtime::{block_on, spawn, yield_now, Runtime};

mod sync_support;
use sync_support::{counter, poll, wakes};

#[test]
fn wait_releases_the_mutex_and_relocks_it() {
    let (m, cv) = (Mutex::new(0), Condvar::new());
    let (c, w) = counter();
    let mut waiter = Box::pin(async {
        let g = m.lock().await;
        let g = cv.wait(g).await;
        *g
    });
    assert!(poll(waiter.as_mut(), &w).is_pending());
    // The waiter queued before unlocking: this change-then-notify cannot
    // slip between its unlock and its wait.
    *m.try_lock().expect("wait released the mutex") = 42;
    cv.notify_one();
    assert_eq!(wakes(&c), 1);
    // Holding the mutex delays the re-lock, then hands it over.
    let g = m.try_lock().unwrap();
    assert!(poll(waiter.as_mut(), &w).is_pending());
    drop(g);
    assert_eq!(poll(waiter.as_mut(), &w), Poll::Ready(42));
    assert_eq!(format!("{cv:?}"), "Condvar { waiters: 0 }");
}

#[test]
fn notify_one_wakes_one_notify_all_wakes_all() {
    let (m, cv) = (Mutex::new(()), Condvar::new());
    let cs: Vec<_> = (0..3).map(|_| counter()).collect();
    let mut fs: Vec<_> = (0..3)
        .map(|_| {
            Box::pin(async {
                drop(cv.wait(m.lock().await).await);
            })
        })
        .collect();
    for (f, (_, w)) in fs.iter_mut().zip(&cs) {
        assert!(poll(f.as_mut(), w).is_pending());
    }
    cv.notify_one();
    assert_eq!(
        cs.iter().map(|(c, _)| wakes(c)).collect::<Vec<_>>(),
        [1, 0, 0]
    );
    cv.notify_all();
    assert!(cs.iter().all(|(c, _)| wakes(c) == 1));
    for (f, (_, w)) in fs.iter_mut().zip(&cs) {
        assert!(poll(f.as_mut(), w).is_ready());
    }
    cv.notify_one(); // nobody waits: nothing is stored
    let mut late = Box::pin(async { drop(cv.wait(m.lock().await).await) });
    assert!(poll(late.as_mut(), Waker::noop()).is_pending());
}

#[test]
fn cancelled_notified_waiter_passes_the_wake_up_on() {
    let (m, cv) = (Mutex::new(()), Condvar::new());
    let ((ca, wa), (cb, wb)) = (counter(), counter());
    let mut a = Box::pin(async { drop(cv.wait(m.lock().await).await) });
    let mut b = Box::pin(async { drop(cv.wait(m.lock().await).await) });
    assert!(poll(a.as_mut(), &wa).is_pending());
    assert!(poll(b.as_mut(), &wb).is_pending());
    cv.notify_one();
    assert_eq!((wakes(&ca), wakes(&cb)), (1, 0));
    drop(a);
    assert_eq!(wakes(&cb), 1);
    assert!(poll(b.as_mut(), &wb).is_ready());
    assert!(m.try_lock().is_ok());
}

#[test]
fn cancelled_while_relocking_gives_up_its_place() {
    let (m, cv) = (Mutex::new(()), Condvar::new());
    let mut a = Box::pin(async { drop(cv.wait(m.lock().await).await) });
    assert!(poll(a.as_mut(), Waker::noop()).is_pending());
    let g = m.try_lock().unwrap();
    cv.notify_one();
    assert!(poll(a.as_mut(), Waker::noop()).is_pending()); // queued on the mutex
    drop(a);
    drop(g);
    assert!(m.try_lock().is_ok());
}

#[test]
fn producer_consumer_across_runtimes() {
    // A bounded buffer of 4: the producer (a runtime on another thread)
    // waits while it is full, three consumer tasks while it is empty.
    struct State {
        buf: Vec<u32>,
        done: bool,
    }
    let shared = Arc::new((
        Mutex::new(State {
            buf: Vec::new(),
            done: false,
        }),
        Condvar::new(),
    ));
    let producer = {
        let shared = shared.clone();
        std::thread::spawn(move || {
            Runtime::new().unwrap().block_on(async move {
                let (state, cv) = &*shared;
                for i in 0..2000u32 {
                    let mut s = cv
                        .wait_while(state.lock().await, |s| s.buf.len() >= 4)
                        .await;
                    s.buf.push(i);
                    cv.notify_all();
                }
                state.lock().await.done = true;
                cv.notify_all();
            })
        })
    };
    let sum = block_on(async {
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let shared = shared.clone();
                spawn(async move {
                    let (state, cv) = &*shared;
                    let mut sum = 0u64;
                    loop {
                        let mut s = state.lock().await;
                        s = cv.wait_while(s, |s| s.buf.is_empty() && !s.done).await;
                        let Some(v) = s.buf.pop() else {
                            return sum; // empty and done
                        };
                        sum += v as u64;
                        cv.notify_all();
                        drop(s);
                        yield_now().await;
                    }
                })
            })
            .collect();
        let mut sum = 0;
        for c in consumers {
            sum += c.await.unwrap();
        }
        sum
    });
    producer.join().unwrap();
    assert_eq!(sum, (0..2000u64).sum::<u64>());
}
