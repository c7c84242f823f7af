//! mpsc: ordering, back-pressure, capacity, close and drop semantics,
//! permits, FIFO senders, streams, budget, blocking use.

mod support;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread;

use futures_core::Stream;
use spindle_runtime::channel::mpsc::{self, SendError, TryRecvError, TrySendError};
use spindle_runtime::{block_on, spawn, yield_now};

#[derive(Debug)]
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn poll<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    type C = std::cell::Cell<u32>; // Send, not Sync
    assert_send_sync::<mpsc::Sender<C>>();
    assert_send_sync::<mpsc::Receiver<C>>();
    assert_send_sync::<mpsc::UnboundedSender<C>>();
    assert_send_sync::<mpsc::UnboundedReceiver<C>>();
    assert_send_sync::<mpsc::Permit<'static, C>>();
}

#[test]
#[should_panic(expected = "capacity must be greater than 0")]
fn zero_capacity_panics() {
    let _ = mpsc::channel::<u8>(0);
}

#[test]
fn order_capacity_and_len() {
    block_on(async {
        let (tx, mut rx) = mpsc::channel(4);
        assert_eq!((tx.capacity(), tx.max_capacity()), (4, 4));
        for i in 0..3 {
            tx.send(i).await.unwrap();
        }
        assert_eq!((tx.capacity(), rx.len(), rx.is_empty()), (1, 3, false));
        assert_eq!(rx.recv().await, Some(0));
        // Two still in the receiver's batch, one slot given back.
        assert_eq!((tx.capacity(), rx.len()), (2, 2));
        tx.try_send(3).unwrap();
        tx.try_send(4).unwrap();
        assert_eq!(tx.try_send(5), Err(TrySendError::Full(5)));
        for i in 1..5 {
            assert_eq!(rx.recv().await, Some(i));
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(tx.capacity(), 4);
        drop(tx);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(rx.recv().await, None);
    });
}

#[test]
fn back_pressure_blocks_the_sender() {
    support::block_on_current_thread(async {
        let (tx, mut rx) = mpsc::channel(2);
        let sent = Arc::new(AtomicUsize::new(0));
        let s = sent.clone();
        let producer = spawn(async move {
            for i in 0..10 {
                tx.send(i).await.unwrap();
                s.fetch_add(1, SeqCst);
            }
        });
        for _ in 0..5 {
            yield_now().await;
        }
        assert_eq!(sent.load(SeqCst), 2, "the third send must wait");
        assert_eq!(rx.len(), 2);
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            assert!(rx.len() <= 2);
            got.push(v);
        }
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        producer.await.unwrap();
    });
}

#[test]
fn recv_drains_after_every_sender_is_gone() {
    block_on(async {
        let (tx, mut rx) = mpsc::channel(8);
        let tx2 = tx.clone();
        assert!(tx.same_channel(&tx2));
        tx.send(1).await.unwrap();
        tx2.send(2).await.unwrap();
        drop(tx);
        drop(tx2);
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, None);
        assert_eq!(rx.recv().await, None);
    });
}

#[test]
fn send_to_a_closed_channel_gives_the_value_back() {
    block_on(async {
        let (tx, mut rx) = mpsc::channel(1);
        tx.send(String::from("kept")).await.unwrap();
        assert!(!tx.is_closed());
        rx.close();
        assert!(tx.is_closed());
        assert_eq!(
            tx.send(String::from("a")).await,
            Err(SendError(String::from("a")))
        );
        assert_eq!(
            tx.try_send(String::from("b")),
            Err(TrySendError::Closed(String::from("b")))
        );
        assert!(tx.reserve().await.is_err());
        // Buffered before the close: still received; then the end.
        assert_eq!(rx.recv().await.as_deref(), Some("kept"));
        assert_eq!(rx.recv().await, None);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    });
}

#[test]
fn close_fails_waiting_senders_with_their_value() {
    block_on(async {
        let (tx, mut rx) = mpsc::channel(1);
        tx.send(0).await.unwrap();
        let waiting = spawn({
            let tx = tx.clone();
            async move { tx.send(1).await }
        });
        let closed = spawn({
            let tx = tx.clone();
            async move { tx.closed().await }
        });
        yield_now().await;
        rx.close();
        assert_eq!(waiting.await.unwrap(), Err(SendError(1)));
        closed.await.unwrap();
        assert_eq!(rx.recv().await, Some(0));
        assert_eq!(rx.recv().await, None);
    });
}

#[test]
fn dropping_the_receiver_drops_buffered_values_at_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = mpsc::channel(8);
    let (utx, urx) = mpsc::unbounded();
    for _ in 0..4 {
        tx.try_send(Tracked(drops.clone())).unwrap();
        utx.send(Tracked(drops.clone())).unwrap();
    }
    // Move some into the receiver's private batch, too.
    drop(rx.try_recv().unwrap());
    tx.try_send(Tracked(drops.clone())).unwrap();
    assert_eq!(drops.load(SeqCst), 1);
    drop(rx);
    drop(urx);
    assert_eq!(
        drops.load(SeqCst),
        9,
        "dropped while the senders still live"
    );
    let back = tx.try_send(Tracked(drops.clone())).unwrap_err();
    assert!(matches!(back, TrySendError::Closed(_)));
    assert_eq!(drops.load(SeqCst), 9, "handed back, not dropped");
    drop(back);
    let back = utx.send(Tracked(drops.clone())).unwrap_err();
    assert_eq!(drops.load(SeqCst), 10);
    drop(back);
    assert_eq!(drops.load(SeqCst), 11);
}

#[test]
fn permits_reserve_and_give_back_slots() {
    block_on(async {
        let (tx, mut rx) = mpsc::channel(2);
        let p1 = tx.reserve().await.unwrap();
        let p2 = tx.reserve().await.unwrap();
        assert_eq!(tx.capacity(), 0);
        assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
        drop(p1);
        assert_eq!(tx.capacity(), 1);
        p2.send(1).unwrap();
        tx.send(2).await.unwrap();
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, Some(2));

        // A permit reserved before close still delivers, and the receiver
        // waits for it before ending.
        let p = tx.reserve().await.unwrap();
        rx.close();
        let h = spawn(async move { (rx.recv().await, rx.recv().await) });
        yield_now().await;
        p.send(3).unwrap();
        assert_eq!(h.await.unwrap(), (Some(3), None));
        // ...but not after the receiver is dropped: the value comes back.
        let (tx, rx) = mpsc::channel(1);
        let p = tx.reserve().await.unwrap();
        drop(rx);
        assert_eq!(p.send(4), Err(SendError(4)));
    });
}

#[test]
fn waiting_senders_are_served_in_order_and_not_overtaken() {
    support::block_on_current_thread(async {
        let (tx, mut rx) = mpsc::channel(1);
        tx.send(0).await.unwrap();
        let mut handles = Vec::new();
        for i in 1..=3 {
            let tx = tx.clone();
            handles.push(spawn(async move { tx.send(i).await.unwrap() }));
            yield_now().await; // let it queue before the next one
        }
        assert_eq!(rx.recv().await, Some(0));
        // The freed slot belongs to the first waiter, not to a newcomer.
        assert_eq!(tx.try_send(99), Err(TrySendError::Full(99)));
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(rx.recv().await.unwrap());
        }
        assert_eq!(got, [1, 2, 3]);
        for h in handles {
            h.await.unwrap();
        }
    });
}

#[test]
fn unbounded_basics() {
    block_on(async {
        let (tx, mut rx) = mpsc::unbounded();
        for i in 0..1000 {
            tx.send(i).unwrap();
        }
        assert_eq!(rx.len(), 1000);
        for i in 0..1000 {
            assert_eq!(rx.recv().await, Some(i));
        }
        let closed = spawn({
            let tx = tx.clone();
            async move { tx.closed().await }
        });
        yield_now().await;
        tx.send(7).unwrap();
        rx.close();
        closed.await.unwrap();
        assert!(tx.is_closed());
        assert_eq!(tx.send(8), Err(SendError(8)));
        assert_eq!(rx.recv().await, Some(7));
        assert_eq!(rx.recv().await, None);
    });
}

#[test]
fn receivers_are_streams() {
    block_on(async {
        let (tx, mut rx) = mpsc::channel(4);
        let (utx, mut urx) = mpsc::unbounded();
        tx.send(1).await.unwrap();
        utx.send(2).unwrap();
        drop((tx, utx));
        assert_eq!(poll_fn(|cx| Pin::new(&mut rx).poll_next(cx)).await, Some(1));
        assert_eq!(poll_fn(|cx| Pin::new(&mut rx).poll_next(cx)).await, None);
        assert_eq!(
            poll_fn(|cx| Pin::new(&mut urx).poll_next(cx)).await,
            Some(2)
        );
        assert_eq!(poll_fn(|cx| Pin::new(&mut urx).poll_next(cx)).await, None);
    });
}

#[test]
fn a_ready_receiver_still_yields_to_other_tasks() {
    support::block_on_current_thread(async {
        let (tx, mut rx) = mpsc::unbounded();
        for i in 0..10_000 {
            tx.send(i).unwrap();
        }
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        spawn(async move { r.store(true, SeqCst) });
        let mut seen_at = None;
        for i in 0..10_000 {
            assert_eq!(rx.recv().await, Some(i));
            if seen_at.is_none() && ran.load(SeqCst) {
                seen_at = Some(i);
            }
        }
        let at = seen_at.expect("the budget must make recv yield");
        assert!(at <= 256, "yielded only after {at} values");
    });
}

#[test]
fn manual_poll_of_a_blocked_send_then_slot() {
    // A sender that waits is woken exactly when a slot is assigned to it.
    let (tx, mut rx) = mpsc::channel(1);
    tx.try_send(1).unwrap();
    let mut send = pin!(tx.send(2));
    assert!(poll(send.as_mut()).is_pending());
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(tx.capacity(), 0, "the slot is held for the waiting send");
    assert_eq!(poll(send.as_mut()), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn blocking_send_feeds_an_async_consumer() {
    const N: u64 = 50_000;
    let (tx, mut rx) = mpsc::channel(16);
    let producer = thread::spawn(move || {
        for i in 0..N {
            tx.blocking_send(i).unwrap();
        }
    });
    let sum = block_on(async move {
        let mut expect = 0;
        while let Some(v) = rx.recv().await {
            assert_eq!(v, expect);
            expect += 1;
        }
        expect
    });
    producer.join().unwrap();
    assert_eq!(sum, N);
}

#[test]
fn blocking_recv_in_a_thread() {
    let (tx, mut rx) = mpsc::channel(2);
    let (utx, mut urx) = mpsc::unbounded();
    let consumer = thread::spawn(move || {
        let mut n = 0;
        while let Some(v) = rx.blocking_recv() {
            assert_eq!(urx.blocking_recv(), Some(v));
            n += 1;
        }
        assert_eq!(urx.blocking_recv(), None);
        n
    });
    block_on(async move {
        for i in 0..1000 {
            tx.send(i).await.unwrap();
            utx.send(i).unwrap();
        }
    });
    assert_eq!(consumer.join().unwrap(), 1000);
}

#[test]
#[should_panic(expected = "inside a spindle runtime")]
fn blocking_send_inside_a_runtime_panics() {
    let (tx, _rx) = mpsc::channel::<u8>(1);
    block_on(async move {
        let _ = tx.blocking_send(1);
    });
}
