//! mpsc, the rest of tokio's surface: `is_closed`, `recv_many`,
//! `try_reserve`, `reserve_many` / `try_reserve_many`, weak senders, fused
//! streams; and the oneshot receiver as a fused future.

mod support;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::thread;

use futures_core::{FusedFuture, FusedStream, Stream};
use spindle_runtime::channel::mpsc::{self, error::TrySendError};
use spindle_runtime::channel::oneshot;
use spindle_runtime::{block_on, spawn};
use support::bounded;

fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn receiver_is_closed_when_closed_or_every_sender_is_gone() {
    let (tx, rx) = mpsc::channel::<u8>(2);
    assert!(!rx.is_closed());
    tx.try_send(1).unwrap();
    drop(tx);
    assert!(rx.is_closed());
    assert_eq!(rx.len(), 1, "still buffered");
    let (tx, mut rx) = mpsc::unbounded::<u8>();
    rx.close();
    assert!(rx.is_closed());
    assert!(tx.is_closed());
}

#[test]
fn recv_many_takes_what_is_there_up_to_the_limit() {
    bounded(10, || {
        block_on(async {
            let (tx, mut rx) = mpsc::channel(8);
            for i in 0..5 {
                tx.send(i).await.unwrap();
            }
            let mut buf = vec![100];
            assert_eq!(rx.recv_many(&mut buf, 3).await, 3);
            assert_eq!(buf, [100, 0, 1, 2]);
            assert_eq!(rx.recv_many(&mut buf, 0).await, 0);
            assert_eq!(rx.recv_many(&mut buf, 10).await, 2);
            assert_eq!(buf, [100, 0, 1, 2, 3, 4]);
            // Waits for the first value.
            let t = spawn(async move {
                let mut got = Vec::new();
                let n = rx.recv_many(&mut got, 4).await;
                (n, got, rx)
            });
            tx.send(9).await.unwrap();
            let (n, got, mut rx) = t.await.unwrap();
            assert_eq!((n, got), (1, vec![9]));
            drop(tx);
            assert_eq!(rx.recv_many(&mut buf, 4).await, 0, "ended");
        })
    });
}

#[test]
fn try_reserve_and_its_errors() {
    let (tx, mut rx) = mpsc::channel(1);
    let permit = tx.try_reserve().unwrap();
    assert_eq!(tx.capacity(), 0);
    assert_eq!(tx.max_capacity(), 1);
    assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
    permit.send(5).unwrap();
    assert_eq!(rx.try_recv(), Ok(5));
    rx.close();
    assert!(matches!(tx.try_reserve(), Err(TrySendError::Closed(()))));
}

#[test]
fn reserve_many_takes_n_slots_at_once_and_gives_back_the_unused() {
    bounded(10, || {
        block_on(async {
            let (tx, mut rx) = mpsc::channel(4);
            assert!(
                tx.reserve_many(5).await.is_err(),
                "more than the channel holds"
            );
            let mut permits = tx.reserve_many(3).await.unwrap();
            assert_eq!(permits.len(), 3);
            assert_eq!(tx.capacity(), 1);
            permits.next().unwrap().send(1).unwrap();
            drop(permits);
            assert_eq!(tx.capacity(), 3, "two unused slots came back");
            let mut it = tx.try_reserve_many(3).unwrap();
            assert!(matches!(
                tx.try_reserve_many(1),
                Err(TrySendError::Full(()))
            ));
            for (i, p) in (&mut it).enumerate() {
                p.send(10 + i).unwrap();
            }
            let mut got = Vec::new();
            rx.recv_many(&mut got, 10).await;
            assert_eq!(got, [1, 10, 11, 12]);
        })
    });
}

#[test]
fn a_waiting_reserve_many_is_served_in_full_before_later_senders() {
    let (tx, mut rx) = mpsc::channel(3);
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    let mut many = pin!(tx.reserve_many(2));
    assert!(poll_once(many.as_mut()).is_pending(), "only one slot free");
    assert!(
        matches!(tx.try_send(3), Err(TrySendError::Full(3))),
        "a newcomer does not take the free slot from the waiter"
    );
    assert_eq!(rx.try_recv(), Ok(1));
    let Poll::Ready(Ok(permits)) = poll_once(many.as_mut()) else {
        panic!("two slots free now: the waiter gets both");
    };
    assert_eq!(permits.len(), 2);
}

#[test]
fn a_cancelled_reserve_many_passes_its_slots_on() {
    let (tx, mut rx) = mpsc::channel(2);
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    let mut many = Box::pin(tx.reserve_many(2));
    assert!(poll_once(many.as_mut()).is_pending());
    let tx2 = tx.clone();
    let mut one = pin!(tx2.send(3));
    assert!(poll_once(one.as_mut()).is_pending());
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
    // Both slots were assigned to the head waiter; dropping it hands them on.
    drop(many);
    assert_eq!(poll_once(one.as_mut()), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(tx.capacity(), 2, "no slot stranded");
}

#[test]
fn reserve_many_from_threads_loses_and_strands_nothing() {
    bounded(60, || {
        let (tx, mut rx) = mpsc::channel(4);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let tx = tx.clone();
                thread::spawn(move || {
                    for round in 0..200 {
                        let n = 1 + (round + t) % 3;
                        let permits = support::foreign_block_on(tx.reserve_many(n)).unwrap();
                        for p in permits {
                            p.send(1u64).unwrap();
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let mut total = 0;
        while let Some(v) = rx.blocking_recv() {
            total += v;
        }
        for t in threads {
            t.join().unwrap();
        }
        let expected: u64 = (0..4u64)
            .map(|t| (0..200u64).map(|r| 1 + (r + t) % 3).sum::<u64>())
            .sum();
        assert_eq!(total, expected);
    });
}

#[test]
fn a_weak_sender_does_not_keep_the_channel_open() {
    block_on(async {
        let (tx, mut rx) = mpsc::channel(2);
        let weak = tx.downgrade();
        let strong = weak.upgrade().expect("a sender exists");
        assert!(strong.same_channel(&tx));
        strong.send(1).await.unwrap();
        drop((tx, strong));
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, None, "the weak sender kept nothing open");
        assert!(weak.upgrade().is_none());

        let (tx, mut rx) = mpsc::unbounded();
        let weak = tx.downgrade().clone();
        weak.upgrade().unwrap().send(2).unwrap();
        drop(tx);
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, None);
        assert!(weak.upgrade().is_none());
    });
}

#[test]
fn receivers_are_fused_streams() {
    let (tx, mut rx) = mpsc::channel(1);
    tx.try_send(1).unwrap();
    drop(tx);
    assert!(!rx.is_terminated());
    let mut cx = Context::from_waker(Waker::noop());
    assert_eq!(pin!(&mut rx).poll_next(&mut cx), Poll::Ready(Some(1)));
    assert!(!rx.is_terminated());
    assert_eq!(pin!(&mut rx).poll_next(&mut cx), Poll::Ready(None));
    assert!(rx.is_terminated());

    let (tx, mut rx) = mpsc::unbounded::<u8>();
    drop(tx);
    assert!(rx.try_recv().is_err());
    assert!(rx.is_terminated());
}

#[test]
fn the_oneshot_receiver_is_a_fused_future() {
    let (tx, mut rx) = oneshot::channel();
    assert!(!rx.is_terminated());
    assert!(poll_once(pin!(&mut rx)).is_pending());
    tx.send(3).unwrap();
    assert_eq!(poll_once(pin!(&mut rx)), Poll::Ready(Ok(3)));
    assert!(rx.is_terminated());
}

#[test]
fn oneshot_sender_closed_wakes_when_the_receiver_goes() {
    bounded(10, || {
        block_on(async {
            let (mut tx, rx) = oneshot::channel::<u8>();
            assert!(!tx.is_closed());
            spawn(async move { drop(rx) });
            tx.closed().await;
            assert!(tx.is_closed());
        })
    });
}
