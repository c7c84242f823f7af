//! broadcast: every receiver sees every value, lagging, closing, counts,
//! prompt drops, cancellation, and use from several threads.

mod support;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use spindle_runtime::channel::broadcast::{
    self,
    error::{RecvError, SendError, TryRecvError},
};
use spindle_runtime::{block_on, spawn};
use support::bounded;

#[test]
fn handles_are_send_and_sync_and_paths_match_tokio() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<broadcast::Sender<u32>>();
    assert_send_sync::<broadcast::Receiver<u32>>();
    // tokio's path names the same module.
    let (tx, _rx) = spindle_runtime::sync::broadcast::channel::<u8>(1);
    let _: &broadcast::Sender<u8> = &tx;
}

#[test]
fn every_receiver_sees_every_value_in_order() {
    bounded(10, || {
        let (tx, mut rx1) = broadcast::channel(16);
        let mut rx2 = tx.subscribe();
        for i in 0..10 {
            assert_eq!(tx.send(i), Ok(2));
        }
        for i in 0..10 {
            assert_eq!(rx1.try_recv(), Ok(i));
        }
        for i in 0..10 {
            assert_eq!(rx2.try_recv(), Ok(i));
        }
        assert_eq!(rx1.try_recv(), Err(TryRecvError::Empty));
    });
}

#[test]
fn a_slow_receiver_lags_and_continues_with_the_oldest_kept() {
    let (tx, mut rx) = broadcast::channel(4);
    for i in 0..10 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.len(), 10);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(6)));
    for i in 6..10 {
        assert_eq!(rx.try_recv(), Ok(i));
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    // And through `recv`.
    for i in 10..15 {
        tx.send(i).unwrap();
    }
    block_on(async {
        assert_eq!(rx.recv().await, Err(RecvError::Lagged(1)));
        assert_eq!(rx.recv().await, Ok(11));
    });
}

#[test]
fn capacity_is_rounded_up_to_a_power_of_two() {
    let (tx, mut rx) = broadcast::channel(3);
    for i in 0..4 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.try_recv(), Ok(0));
}

#[test]
#[should_panic(expected = "capacity must be greater than 0")]
fn zero_capacity_panics() {
    let _ = broadcast::channel::<u8>(0);
}

#[test]
fn send_without_receivers_hands_the_value_back() {
    let (tx, rx) = broadcast::channel(2);
    drop(rx);
    assert_eq!(tx.send(7), Err(SendError(7)));
    assert_eq!(tx.receiver_count(), 0);
    let _rx = tx.subscribe();
    assert_eq!(tx.send(8), Ok(1));
}

#[test]
fn closing_lets_receivers_drain_then_reports_closed() {
    bounded(10, || {
        let (tx, mut rx) = broadcast::channel(4);
        let tx2 = tx.clone();
        tx.send(1).unwrap();
        drop(tx);
        assert!(!rx.is_closed());
        tx2.send(2).unwrap();
        drop(tx2);
        assert!(rx.is_closed());
        block_on(async {
            assert_eq!(rx.recv().await, Ok(1));
            assert_eq!(rx.recv().await, Ok(2));
            assert_eq!(rx.recv().await, Err(RecvError::Closed));
        });
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

#[test]
fn subscribe_and_resubscribe_see_only_later_values() {
    let (tx, mut rx) = broadcast::channel(8);
    tx.send(1).unwrap();
    let mut late = tx.subscribe();
    let mut again = rx.resubscribe();
    assert_eq!(tx.receiver_count(), 3);
    tx.send(2).unwrap();
    assert_eq!(late.try_recv(), Ok(2));
    assert_eq!(again.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
    assert!(rx.same_channel(&late));
    drop(late);
    assert_eq!(tx.receiver_count(), 2);
}

#[test]
fn len_counts_what_some_receiver_has_still_to_read() {
    let (tx, mut rx1) = broadcast::channel(8);
    let mut rx2 = tx.subscribe();
    assert!(tx.is_empty());
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert_eq!(tx.len(), 2);
    assert_eq!(rx1.try_recv(), Ok(1));
    assert_eq!(tx.len(), 2, "rx2 has read nothing yet");
    assert_eq!(rx1.len(), 1);
    assert_eq!(rx2.try_recv(), Ok(1));
    assert_eq!(tx.len(), 1);
    assert_eq!(rx2.try_recv(), Ok(2));
    assert_eq!(rx1.try_recv(), Ok(2));
    assert!(tx.is_empty());
    assert!(rx1.is_empty());
}

#[test]
fn a_value_is_dropped_once_every_receiver_read_it_or_left() {
    let (tx, mut rx1) = broadcast::channel(8);
    let rx2 = tx.subscribe();
    let value = Arc::new(());
    tx.send(value.clone()).unwrap();
    assert_eq!(Arc::strong_count(&value), 2);
    let got = rx1.try_recv().unwrap();
    drop(got);
    assert_eq!(Arc::strong_count(&value), 2, "rx2 has still to read it");
    drop(rx2);
    assert_eq!(Arc::strong_count(&value), 1, "nobody left to read it");
}

#[test]
fn recv_waits_for_a_send_from_another_task() {
    bounded(10, || {
        block_on(async {
            let (tx, mut rx) = broadcast::channel(4);
            let mut rx2 = tx.subscribe();
            let a = spawn(async move { (rx.recv().await, rx.recv().await) });
            let b = spawn(async move { (rx2.recv().await, rx2.recv().await) });
            spawn(async move {
                tx.send("a").unwrap();
                tx.send("b").unwrap();
            });
            assert_eq!(a.await.unwrap(), (Ok("a"), Ok("b")));
            assert_eq!(b.await.unwrap(), (Ok("a"), Ok("b")));
        })
    });
}

struct CountWakes(std::sync::atomic::AtomicUsize);

impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_dropped_recv_loses_nothing_and_forgets_its_waker() {
    let (tx, mut rx) = broadcast::channel(4);
    let counter = Arc::new(CountWakes(Default::default()));
    let waker = Waker::from(counter.clone());
    {
        let mut fut = pin!(rx.recv());
        assert!(fut
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
    }
    drop(waker);
    tx.send(5).unwrap();
    assert_eq!(
        counter.0.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the dropped future's waker was cleared"
    );
    assert_eq!(Arc::strong_count(&counter), 1, "no waker clone kept");
    assert_eq!(rx.try_recv(), Ok(5));
}

#[test]
fn a_pending_recv_is_woken_by_the_send() {
    let (tx, mut rx) = broadcast::channel(4);
    let counter = Arc::new(CountWakes(Default::default()));
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(rx.recv());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert!(
        fut.as_mut().poll(&mut cx).is_pending(),
        "re-poll keeps one registration"
    );
    tx.send(1).unwrap();
    assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(1)));
}

#[test]
fn receivers_on_threads_get_everything_in_order_or_are_told_what_they_missed() {
    const N: u64 = 20_000;
    bounded(60, || {
        let (tx, rx) = broadcast::channel(64);
        let mut threads = Vec::new();
        for _ in 0..4 {
            let mut rx = rx.resubscribe();
            threads.push(thread::spawn(move || {
                // The last value seen from each sender (even, odd).
                let (mut received, mut missed, mut last) = (0u64, 0u64, [None; 2]);
                loop {
                    match rx.blocking_recv() {
                        Ok(v) => {
                            let from = (v % 2) as usize;
                            if let Some(last) = last[from] {
                                assert!(v > last, "each sender's values arrive in order");
                            }
                            last[from] = Some(v);
                            received += 1;
                        }
                        Err(RecvError::Lagged(n)) => missed += n,
                        Err(RecvError::Closed) => break,
                    }
                }
                (received, missed, last)
            }));
        }
        drop(rx);
        let senders: Vec<_> = (0..2)
            .map(|t| {
                let tx = tx.clone();
                thread::spawn(move || {
                    for i in 0..N / 2 {
                        // Two senders: odd and even values, each in order.
                        tx.send(i * 2 + t).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        for s in senders {
            s.join().unwrap();
        }
        for t in threads {
            let (received, missed, _) = t.join().unwrap();
            assert_eq!(
                received + missed,
                N,
                "every value received or counted as missed"
            );
        }
    });
}

#[test]
fn one_send_wakes_many_waiting_receivers() {
    // More waiters than the wake list holds inline (8): the spill path.
    bounded(10, || {
        block_on(async {
            let (tx, rx) = broadcast::channel(2);
            let waiting: Vec<_> = (0..20)
                .map(|_| {
                    let mut rx = rx.resubscribe();
                    spawn(async move { rx.recv().await })
                })
                .collect();
            drop(rx);
            // Every receiver task runs to its first `recv` and waits.
            spindle_runtime::yield_now().await;
            assert_eq!(tx.send(7), Ok(20));
            for w in waiting {
                assert_eq!(w.await.unwrap(), Ok(7));
            }
        })
    });
}

#[test]
fn a_receiver_that_keeps_hitting_ready_values_still_yields() {
    // The cooperative budget: a recv loop over a full ring does not starve
    // a task that needs a turn to set `done`.
    bounded(10, || {
        support::block_on_current_thread(async {
            let (tx, mut rx) = broadcast::channel(1024);
            for i in 0..1000 {
                tx.send(i).unwrap();
            }
            let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let d = done.clone();
            spawn(async move { d.store(true, std::sync::atomic::Ordering::SeqCst) });
            let mut seen_done_at = None;
            for i in 0..1000 {
                rx.recv().await.unwrap();
                if seen_done_at.is_none() && done.load(std::sync::atomic::Ordering::SeqCst) {
                    seen_done_at = Some(i);
                }
            }
            assert!(seen_done_at.is_some(), "the other task ran during the loop");
        })
    });
}
