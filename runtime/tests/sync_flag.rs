//! `sync::Flag`: Python's `Event` semantics (set / clear / is_set / wait),
//! with tasks, plain threads and cancelled waiters.

use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use spindle_runtime::sync::Flag;
use spindle_runtime::time::timeout;
use spindle_runtime::{block_on, spawn, yield_now};

mod sync_support;
use sync_support::{counter, poll, wakes};

#[test]
fn set_clear_is_set_and_wait() {
    let e = Flag::new();
    assert!(!e.is_set());
    assert!(poll(Box::pin(e.wait()).as_mut(), Waker::noop()).is_pending());
    e.set();
    assert!(e.is_set());
    assert_eq!(format!("{e:?}"), "Flag { set: true }");
    // Returns at once while set, any number of times.
    for _ in 0..3 {
        assert!(poll(Box::pin(e.wait()).as_mut(), Waker::noop()).is_ready());
    }
    e.clear();
    assert!(!e.is_set());
    assert!(poll(Box::pin(e.wait()).as_mut(), Waker::noop()).is_pending());
}

#[test]
fn set_wakes_all_waiters_even_if_cleared_before_they_run() {
    let e = Flag::new();
    let cs: Vec<_> = (0..4).map(|_| counter()).collect();
    let mut fs: Vec<_> = (0..4).map(|_| Box::pin(e.wait())).collect();
    for (f, (_, w)) in fs.iter_mut().zip(&cs) {
        assert!(poll(f.as_mut(), w).is_pending());
    }
    e.set();
    e.clear(); // as Python: a wait that saw the set returns True anyway
    assert!(cs.iter().all(|(c, _)| wakes(c) == 1));
    for (f, (_, w)) in fs.iter_mut().zip(&cs) {
        assert!(poll(f.as_mut(), w).is_ready());
    }
    assert!(poll(Box::pin(e.wait()).as_mut(), Waker::noop()).is_pending());
}

#[test]
fn dropped_waiters_do_not_disturb_the_others() {
    let e = Flag::new();
    let (c, w) = counter();
    let mut a = Box::pin(e.wait());
    let mut b = Box::pin(e.wait());
    assert!(poll(a.as_mut(), Waker::noop()).is_pending());
    assert!(poll(b.as_mut(), &w).is_pending());
    drop(a); // queued
    e.set();
    let mut late = Box::pin(e.wait());
    assert!(poll(late.as_mut(), Waker::noop()).is_ready());
    assert_eq!(wakes(&c), 1);
    drop(b); // woken, never polled: nothing to pass on, nothing breaks
    assert!(e.is_set());
}

#[test]
fn traffic_light_tasks_and_threads() {
    // The course notes' example: cars wait for the light to turn green.
    let green = Arc::new(Flag::new());
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let green = green.clone();
            std::thread::spawn(move || green.blocking_wait())
        })
        .collect();
    block_on(async {
        assert!(timeout(Duration::from_millis(1), green.wait())
            .await
            .is_err());
        let cars: Vec<_> = (0..10)
            .map(|i| {
                let green = green.clone();
                spawn(async move {
                    green.wait().await;
                    i
                })
            })
            .collect();
        yield_now().await;
        green.set();
        let mut sum = 0;
        for car in cars {
            sum += car.await.unwrap();
        }
        assert_eq!(sum, 45);
    });
    for t in threads {
        t.join().unwrap();
    }
}
