//! watch: the latest value, change tracking per receiver, waiting for
//! changes and predicates, closing both ways, cancellation, threads.

mod support;

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use spindle_runtime::channel::watch::{self, error::SendError};
use spindle_runtime::{block_on, spawn};
use support::bounded;

#[test]
fn handles_are_send_and_sync_and_paths_match_tokio() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<watch::Sender<u32>>();
    assert_send_sync::<watch::Receiver<u32>>();
    let (_tx, rx) = spindle_runtime::sync::watch::channel(1u8);
    let _: &watch::Receiver<u8> = &rx;
}

#[test]
fn borrow_sees_the_latest_value_and_tracks_changes() {
    let (tx, mut rx) = watch::channel(1);
    assert_eq!(*rx.borrow(), 1);
    assert_eq!(rx.has_changed(), Ok(false));
    tx.send(2).unwrap();
    tx.send(3).unwrap();
    assert_eq!(rx.has_changed(), Ok(true));
    let r = rx.borrow();
    assert_eq!((*r, r.has_changed()), (3, true));
    drop(r);
    assert_eq!(rx.has_changed(), Ok(true), "borrow does not mark seen");
    let r = rx.borrow_and_update();
    assert_eq!((*r, r.has_changed()), (3, true));
    drop(r);
    assert_eq!(rx.has_changed(), Ok(false));
    assert_eq!(*tx.borrow(), 3);
    rx.mark_changed();
    assert_eq!(rx.has_changed(), Ok(true));
    rx.mark_unchanged();
    assert_eq!(rx.has_changed(), Ok(false));
}

#[test]
fn send_needs_a_receiver_but_replace_and_modify_do_not() {
    let (tx, rx) = watch::channel(String::from("a"));
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send("b".into()), Err(SendError(String::from("b"))));
    assert_eq!(tx.send_replace("c".into()), "a");
    tx.send_modify(|s| s.push('d'));
    assert_eq!(*tx.borrow(), "cd");
    assert!(!tx.send_if_modified(|_| false));
    let mut rx = tx.subscribe();
    assert_eq!(
        rx.has_changed(),
        Ok(false),
        "a new receiver has seen the value"
    );
    assert!(tx.send_if_modified(|s| {
        s.push('e');
        true
    }));
    assert_eq!(*rx.borrow_and_update(), "cde");
}

#[test]
fn changed_waits_for_a_send_from_another_task() {
    bounded(10, || {
        block_on(async {
            let (tx, mut rx) = watch::channel(0);
            let waiter = spawn(async move {
                rx.changed().await.unwrap();
                *rx.borrow_and_update()
            });
            spawn(async move {
                tx.send(42).unwrap();
                // Keep the sender until the receiver is gone.
                tx.closed().await;
            });
            assert_eq!(waiter.await.unwrap(), 42);
        })
    });
}

#[test]
fn closing_reports_the_last_change_first_then_the_error() {
    block_on(async {
        let (tx, mut rx) = watch::channel(0);
        tx.send(1).unwrap();
        drop(tx);
        assert!(rx.has_changed().is_err());
        assert_eq!(rx.changed().await, Ok(()));
        assert_eq!(*rx.borrow(), 1);
        assert!(rx.changed().await.is_err());
    });
}

#[test]
fn wait_for_checks_the_current_value_then_waits() {
    bounded(10, || {
        block_on(async {
            let (tx, mut rx) = watch::channel(0);
            assert_eq!(*rx.wait_for(|v| *v == 0).await.unwrap(), 0);
            let task = spawn(async move { *rx.wait_for(|v| *v >= 3).await.unwrap() });
            for i in 1..=5 {
                tx.send_replace(i);
                spindle_runtime::yield_now().await;
            }
            let got = task.await.unwrap();
            assert!((3..=5).contains(&got));
            // Closed before the predicate holds: an error.
            let mut rx = tx.subscribe();
            drop(tx);
            assert!(rx.wait_for(|v| *v > 100).await.is_err());
        })
    });
}

#[test]
fn clones_keep_what_was_seen_and_count_as_receivers() {
    let (tx, mut rx) = watch::channel(0);
    tx.send(1).unwrap();
    let rx2 = rx.clone();
    assert_eq!(tx.receiver_count(), 2);
    assert_eq!(rx2.has_changed(), Ok(true));
    rx.borrow_and_update();
    assert_eq!(rx.has_changed(), Ok(false));
    assert_eq!(rx2.has_changed(), Ok(true));
    assert!(rx.same_channel(&rx2));
    drop(rx2);
    assert_eq!(tx.receiver_count(), 1);
}

#[test]
fn sender_closed_waits_for_the_last_receiver() {
    bounded(10, || {
        block_on(async {
            let (tx, rx) = watch::channel(());
            let rx2 = rx.clone();
            let dropper = spawn(async move {
                drop(rx);
                spindle_runtime::yield_now().await;
                drop(rx2);
            });
            tx.closed().await;
            assert!(tx.is_closed());
            dropper.await.unwrap();
        })
    });
}

struct CountWakes(AtomicUsize);

impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn a_dropped_changed_future_loses_nothing_and_keeps_no_waker() {
    let (tx, mut rx) = watch::channel(0);
    let counter = Arc::new(CountWakes(AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    {
        let mut fut = pin!(rx.changed());
        assert!(fut
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
    }
    drop(waker);
    assert_eq!(
        Arc::strong_count(&counter),
        1,
        "the dropped wait kept no waker"
    );
    tx.send(1).unwrap();
    assert_eq!(counter.0.load(SeqCst), 0);
    assert_eq!(
        rx.has_changed(),
        Ok(true),
        "the change is still there to see"
    );
    let waker = Waker::from(counter.clone());
    let mut fut = pin!(rx.changed());
    assert_eq!(
        fut.as_mut().poll(&mut Context::from_waker(&waker)),
        Poll::Ready(Ok(()))
    );
}

#[test]
fn a_pending_changed_is_woken_by_send_modify() {
    let (tx, mut rx) = watch::channel(0);
    let counter = Arc::new(CountWakes(AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(rx.changed());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    tx.send_modify(|v| *v += 1);
    assert_eq!(counter.0.load(SeqCst), 1);
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
}

#[test]
fn a_thread_watching_sees_monotone_values_ending_with_the_last() {
    const N: u64 = 20_000;
    bounded(60, || {
        let (tx, rx) = watch::channel(0u64);
        let watchers: Vec<_> = (0..3)
            .map(|_| {
                let mut rx = rx.clone();
                thread::spawn(move || {
                    let mut last = 0;
                    while rx.blocking_changed().is_ok() {
                        let v = *rx.borrow_and_update();
                        assert!(v > last, "values only move forward");
                        last = v;
                    }
                    last
                })
            })
            .collect();
        drop(rx);
        for i in 1..=N {
            tx.send_replace(i);
        }
        drop(tx);
        for w in watchers {
            assert_eq!(w.join().unwrap(), N);
        }
    });
}
