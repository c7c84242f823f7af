//! `sync::Notify`: the stored permit, `notify_waiters`, and a `notify_one`
//! that survives the cancellation of the waiter it picked.

use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use spindle_runtime::sync::Notify;
use spindle_runtime::time::timeout;
use spindle_runtime::{block_on, spawn, yield_now, Runtime};

mod sync_support;
use sync_support::{counter, poll, wakes};

#[test]
fn notify_one_stores_one_permit() {
    let n = Notify::new();
    let w = Waker::noop();
    n.notify_one();
    n.notify_one(); // still only one permit
    assert_eq!(format!("{n:?}"), "Notify { permit: true, waiters: 0 }");
    assert!(poll(Box::pin(n.notified()).as_mut(), w).is_ready());
    assert!(poll(Box::pin(n.notified()).as_mut(), w).is_pending());
}

#[test]
fn notify_one_wakes_in_fifo_order() {
    let n = Notify::new();
    let cs: Vec<_> = (0..3).map(|_| counter()).collect();
    let mut fs: Vec<_> = (0..3).map(|_| Box::pin(n.notified())).collect();
    for (f, (_, w)) in fs.iter_mut().zip(&cs) {
        assert!(poll(f.as_mut(), w).is_pending());
    }
    for i in 0..3 {
        n.notify_one();
        let woken: Vec<_> = cs.iter().map(|(c, _)| wakes(c)).collect();
        assert_eq!(woken.iter().sum::<usize>(), i + 1);
        assert_eq!(woken[i], 1);
        assert!(poll(fs[i].as_mut(), &cs[i].1).is_ready());
    }
}

#[test]
fn notify_waiters_wakes_current_waiters_and_stores_nothing() {
    let n = Notify::new();
    let cs: Vec<_> = (0..3).map(|_| counter()).collect();
    let mut fs: Vec<_> = (0..3).map(|_| Box::pin(n.notified())).collect();
    for (f, (_, w)) in fs.iter_mut().zip(&cs) {
        assert!(poll(f.as_mut(), w).is_pending());
    }
    // Created (not yet polled) before the call: it counts too.
    let mut created = Box::pin(n.notified());
    n.notify_waiters();
    assert!(cs.iter().all(|(c, _)| wakes(c) == 1));
    for (f, (_, w)) in fs.iter_mut().zip(&cs) {
        assert!(poll(f.as_mut(), w).is_ready());
    }
    assert!(poll(created.as_mut(), Waker::noop()).is_ready());
    assert!(
        poll(created.as_mut(), Waker::noop()).is_ready(),
        "stays ready"
    );
    // Nothing stored for later.
    assert!(poll(Box::pin(n.notified()).as_mut(), Waker::noop()).is_pending());
}

#[test]
fn cancelled_waiter_passes_notify_one_to_the_next() {
    let n = Notify::new();
    let ((ca, wa), (cb, wb)) = (counter(), counter());
    let mut a = Box::pin(n.notified());
    let mut b = Box::pin(n.notified());
    assert!(poll(a.as_mut(), &wa).is_pending());
    assert!(poll(b.as_mut(), &wb).is_pending());
    n.notify_one();
    assert_eq!((wakes(&ca), wakes(&cb)), (1, 0));
    drop(a); // picked, never observed: b gets it
    assert_eq!(wakes(&cb), 1);
    assert!(poll(b.as_mut(), &wb).is_ready());
    // With nobody left, a cancelled notification becomes the stored permit.
    let mut c = Box::pin(n.notified());
    assert!(poll(c.as_mut(), Waker::noop()).is_pending());
    n.notify_one();
    drop(c);
    assert!(poll(Box::pin(n.notified()).as_mut(), Waker::noop()).is_ready());
}

#[test]
fn cancelled_queued_waiter_takes_nothing() {
    let n = Notify::new();
    let (cb, wb) = counter();
    let mut a = Box::pin(n.notified());
    let mut b = Box::pin(n.notified());
    assert!(poll(a.as_mut(), Waker::noop()).is_pending());
    assert!(poll(b.as_mut(), &wb).is_pending());
    drop(a); // still queued: leaves without a trace
    n.notify_one();
    assert_eq!(wakes(&cb), 1);
    assert!(poll(b.as_mut(), &wb).is_ready());
}

#[test]
fn cancelled_broadcast_is_not_passed_on() {
    let n = Notify::new();
    let mut a = Box::pin(n.notified());
    assert!(poll(a.as_mut(), Waker::noop()).is_pending());
    n.notify_waiters();
    drop(a);
    assert!(poll(Box::pin(n.notified()).as_mut(), Waker::noop()).is_pending());
}

#[test]
fn timeout_does_not_eat_a_notification() {
    block_on(async {
        let n = Arc::new(Notify::new());
        assert!(timeout(Duration::from_millis(1), n.notified())
            .await
            .is_err());
        let t = {
            let n = n.clone();
            spawn(async move { n.notified().await })
        };
        yield_now().await;
        n.notify_one();
        t.await.unwrap();
    });
}

#[test]
fn ping_pong_between_runtimes_on_two_threads() {
    let (ping, pong) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let other = {
        let (ping, pong) = (ping.clone(), pong.clone());
        std::thread::spawn(move || {
            Runtime::new().unwrap().block_on(async move {
                for _ in 0..2000 {
                    ping.notified().await;
                    pong.notify_one();
                }
            })
        })
    };
    block_on(async {
        for _ in 0..2000 {
            ping.notify_one();
            pong.notified().await;
        }
    });
    other.join().unwrap();
}
