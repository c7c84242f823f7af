//! oneshot: delivery, close and drop semantics, waker hand-over, blocking
//! use from threads, and cross-thread stress.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use spindle_runtime::channel::oneshot::{self, error::RecvError, error::TryRecvError};
use spindle_runtime::{block_on, spawn, yield_now, Runtime};

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn counting_waker() -> (Waker, Arc<CountingWaker>) {
    let c = Arc::new(CountingWaker(AtomicUsize::new(0)));
    (Waker::from(c.clone()), c)
}

fn poll<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

/// Counts drops of the values it is attached to.
#[derive(Debug)]
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    // `Cell` is Send but not Sync: the handles must still be both.
    assert_send_sync::<oneshot::Sender<std::cell::Cell<u32>>>();
    assert_send_sync::<oneshot::Receiver<std::cell::Cell<u32>>>();
}

#[test]
fn send_before_and_after_the_receiver_waits() {
    block_on(async {
        let (tx, rx) = oneshot::channel();
        tx.send(1).unwrap();
        assert_eq!(rx.await, Ok(1));

        let (tx, rx) = oneshot::channel();
        let h = spawn(rx);
        yield_now().await; // the receiver is now waiting
        tx.send(String::from("two")).unwrap();
        assert_eq!(h.await.unwrap(), Ok(String::from("two")));
    });
}

#[test]
fn sender_dropped_without_sending() {
    block_on(async {
        let (tx, rx) = oneshot::channel::<u8>();
        let h = spawn(rx);
        yield_now().await;
        drop(tx);
        assert_eq!(h.await.unwrap(), Err(RecvError));
    });
    let (tx, mut rx) = oneshot::channel::<u8>();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    drop(tx);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn send_to_dropped_or_closed_receiver_gives_the_value_back() {
    let (tx, rx) = oneshot::channel();
    assert!(!tx.is_closed());
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send(vec![1, 2, 3]), Err(vec![1, 2, 3]));

    let (tx, mut rx) = oneshot::channel();
    rx.close();
    assert!(tx.is_closed());
    assert_eq!(tx.send("v"), Err("v"));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn value_sent_before_close_is_still_received() {
    let (tx, mut rx) = oneshot::channel();
    tx.send(5).unwrap();
    rx.close();
    assert_eq!(rx.try_recv(), Ok(5));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));

    let (tx, mut rx) = oneshot::channel();
    tx.send(6).unwrap();
    rx.close();
    assert_eq!(block_on(rx), Ok(6));
}

#[test]
fn dropping_the_receiver_drops_an_unreceived_value() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = oneshot::channel();
    tx.send(Tracked(drops.clone())).unwrap();
    assert_eq!(drops.load(SeqCst), 0);
    drop(rx);
    assert_eq!(drops.load(SeqCst), 1);

    // Given back, not dropped, when the receiver is gone.
    let (tx, rx) = oneshot::channel();
    drop(rx);
    let back = tx.send(Tracked(drops.clone())).unwrap_err();
    assert_eq!(drops.load(SeqCst), 1);
    drop(back);
    assert_eq!(drops.load(SeqCst), 2);
}

#[test]
fn closed_wakes_on_receiver_drop_and_close() {
    block_on(async {
        let (mut tx, rx) = oneshot::channel::<u8>();
        let h = spawn(async move {
            tx.closed().await;
            tx.is_closed()
        });
        yield_now().await;
        drop(rx);
        assert!(h.await.unwrap());

        let (mut tx, mut rx) = oneshot::channel::<u8>();
        let h = spawn(async move {
            tx.closed().await;
            tx.send(1)
        });
        yield_now().await;
        rx.close();
        assert_eq!(h.await.unwrap(), Err(1));
    });
}

#[test]
fn the_latest_waker_is_the_one_woken() {
    let (tx, mut rx) = oneshot::channel();
    let (a, a_count) = counting_waker();
    let (b, b_count) = counting_waker();
    assert!(poll(&mut rx, &a).is_pending());
    assert!(poll(&mut rx, &a).is_pending()); // same waker: kept
    assert!(poll(&mut rx, &b).is_pending()); // replaced
    tx.send(3).unwrap();
    assert_eq!(a_count.0.load(SeqCst), 0);
    assert_eq!(b_count.0.load(SeqCst), 1);
    assert_eq!(poll(&mut rx, &b), Poll::Ready(Ok(3)));

    // Same for the sender's `closed`.
    let (mut tx, rx) = oneshot::channel::<u8>();
    {
        let mut closed = pin!(tx.closed());
        assert!(closed
            .as_mut()
            .poll(&mut Context::from_waker(&a))
            .is_pending());
        assert!(closed
            .as_mut()
            .poll(&mut Context::from_waker(&b))
            .is_pending());
        drop(rx);
        assert_eq!(b_count.0.load(SeqCst), 2);
        assert!(closed
            .as_mut()
            .poll(&mut Context::from_waker(&b))
            .is_ready());
    }
    assert_eq!(a_count.0.load(SeqCst), 0);
}

#[test]
#[should_panic(expected = "polled after completion")]
fn polling_after_completion_panics() {
    let (tx, mut rx) = oneshot::channel();
    tx.send(1).unwrap();
    let w = Waker::noop();
    assert_eq!(poll(&mut rx, w), Poll::Ready(Ok(1)));
    let _ = poll(&mut rx, w);
}

#[test]
fn blocking_recv_from_a_plain_thread() {
    let (tx, rx) = oneshot::channel();
    let t = thread::spawn(move || rx.blocking_recv());
    Runtime::new().unwrap().block_on(async move {
        yield_now().await;
        tx.send(99).unwrap();
    });
    assert_eq!(t.join().unwrap(), Ok(99));

    let (tx, rx) = oneshot::channel::<u8>();
    let t = thread::spawn(move || rx.blocking_recv());
    drop(tx);
    assert_eq!(t.join().unwrap(), Err(RecvError));
}

#[test]
#[should_panic(expected = "inside a spindle runtime")]
fn blocking_recv_inside_a_runtime_panics() {
    let (_tx, rx) = oneshot::channel::<u8>();
    block_on(async move {
        let _ = rx.blocking_recv();
    });
}

#[test]
fn cross_thread_stress() {
    // Each round races a send on one thread against the receiver (awaited
    // in a runtime) and, every third round, a drop instead of a send.
    const ROUNDS: usize = 2_000;
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..ROUNDS).map(|_| oneshot::channel::<usize>()).unzip();
    let sender = thread::spawn(move || {
        for (i, tx) in txs.into_iter().enumerate() {
            if i % 3 == 2 {
                drop(tx);
            } else {
                // The receiver never closes here: every send succeeds.
                tx.send(i).unwrap();
            }
        }
    });
    let got = block_on(async move {
        let mut got = Vec::new();
        for rx in rxs {
            got.push(rx.await.ok());
        }
        got
    });
    sender.join().unwrap();
    for (i, v) in got.into_iter().enumerate() {
        assert_eq!(v, if i % 3 == 2 { None } else { Some(i) });
    }
}

#[test]
fn racing_close_and_send_loses_nothing() {
    // The value is either received or handed back, never both, never neither.
    let drops = Arc::new(AtomicUsize::new(0));
    for _ in 0..2_000 {
        let (tx, mut rx) = oneshot::channel();
        let d = drops.clone();
        let t = thread::spawn(move || tx.send(Tracked(d)).is_ok());
        rx.close();
        let received = rx.try_recv().is_ok();
        let sent = t.join().unwrap();
        assert_eq!(sent, received);
    }
    assert_eq!(drops.load(SeqCst), 2_000);
}
