//! Queue: asyncio.Queue semantics (put/get/nowait, len/is_full/is_empty),
//! task_done/join, close, FIFO waiters, producer/consumer patterns.

mod support;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread;

use spindle_runtime::channel::{GetError, PutError, Queue, QueueClosed, TaskDoneError};
use spindle_runtime::{block_on, spawn, yield_now};

fn poll<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Queue<std::cell::Cell<u32>>>();
}

#[test]
fn fifo_sizes_and_nowait() {
    let q = Queue::new(2);
    assert_eq!(
        (q.len(), q.maxsize(), q.is_empty(), q.is_full()),
        (0, 2, true, false)
    );
    q.put_nowait('a').unwrap();
    q.put_nowait('b').unwrap();
    assert_eq!((q.len(), q.is_empty(), q.is_full()), (2, false, true));
    assert_eq!(q.put_nowait('c'), Err(PutError::Full('c')));
    assert_eq!(q.get_nowait(), Ok('a'));
    assert_eq!(q.get_nowait(), Ok('b'));
    assert_eq!(q.get_nowait(), Err(GetError::Empty));

    let unbounded = Queue::new(0);
    for i in 0..10_000 {
        unbounded.put_nowait(i).unwrap();
    }
    assert_eq!((unbounded.maxsize(), unbounded.is_full()), (0, false));
    assert_eq!(unbounded.len(), 10_000);
    assert_eq!(Queue::<u8>::default().maxsize(), 0);
}

#[test]
fn put_waits_while_full_and_get_while_empty() {
    support::block_on_current_thread(async {
        let q = Queue::new(1);
        let progress = Arc::new(AtomicUsize::new(0));
        let producer = spawn({
            let (q, p) = (q.clone(), progress.clone());
            async move {
                for i in 0..5 {
                    q.put(i).await.unwrap();
                    p.fetch_add(1, SeqCst);
                }
            }
        });
        for _ in 0..3 {
            yield_now().await;
        }
        assert_eq!(progress.load(SeqCst), 1, "the second put waits");
        for i in 0..5 {
            assert_eq!(q.get().await, Ok(i));
        }
        producer.await.unwrap();
        let getter = spawn({
            let q = q.clone();
            async move { q.get().await }
        });
        yield_now().await;
        q.put(42).await.unwrap();
        assert_eq!(getter.await.unwrap(), Ok(42));
    });
}

#[test]
fn task_done_and_join() {
    block_on(async {
        let q = Queue::new(0);
        q.join().await; // nothing put: at once
        q.put("job").await.unwrap();
        q.put("job").await.unwrap();
        assert_eq!(q.unfinished_tasks(), 2);
        let joined = Arc::new(AtomicUsize::new(0));
        let joiner = spawn({
            let (q, j) = (q.clone(), joined.clone());
            async move {
                q.join().await;
                j.store(1, SeqCst);
            }
        });
        q.get().await.unwrap();
        q.get().await.unwrap();
        q.task_done();
        yield_now().await;
        assert_eq!(joined.load(SeqCst), 0, "one item is still unfinished");
        q.task_done();
        joiner.await.unwrap();
        assert_eq!(joined.load(SeqCst), 1);
        assert_eq!(q.try_task_done(), Err(TaskDoneError));
        assert_eq!(q.unfinished_tasks(), 0);
    });
}

#[test]
#[should_panic(expected = "task_done() called more times")]
fn task_done_too_often_panics() {
    let q = Queue::<u8>::new(0);
    q.task_done();
}

#[test]
fn close_fails_puts_and_drains_gets() {
    block_on(async {
        let q = Queue::new(1);
        q.put(1).await.unwrap();
        let waiting_put = spawn({
            let q = q.clone();
            async move { q.put(2).await }
        });
        yield_now().await;
        q.close();
        assert!(q.is_closed());
        assert_eq!(waiting_put.await.unwrap(), Err(QueueClosed(2)));
        assert_eq!(q.put(3).await, Err(QueueClosed(3)));
        assert_eq!(q.put_nowait(4), Err(PutError::Closed(4)));
        assert_eq!(q.get().await, Ok(1), "what was queued is still delivered");
        assert_eq!(q.get().await, Err(QueueClosed(())));
        assert_eq!(q.get_nowait(), Err(GetError::Closed));

        // Waiting getters of an empty queue fail at the close.
        let q = Queue::<u8>::new(0);
        let getters: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                spawn(async move { q.get().await })
            })
            .collect();
        yield_now().await;
        q.close();
        for g in getters {
            assert_eq!(g.await.unwrap(), Err(QueueClosed(())));
        }
    });
}

#[test]
fn waiters_are_served_in_order() {
    support::block_on_current_thread(async {
        let q = Queue::new(1);
        let mut getters = Vec::new();
        for _ in 0..3 {
            let q = q.clone();
            getters.push(spawn(async move { q.get().await.unwrap() }));
            yield_now().await;
        }
        for i in 0..3 {
            q.put(i).await.unwrap();
        }
        let got: Vec<_> = {
            let mut v = Vec::new();
            for g in getters {
                v.push(g.await.unwrap());
            }
            v
        };
        assert_eq!(got, [0, 1, 2]);

        q.put(100).await.unwrap();
        let mut putters = Vec::new();
        for i in 101..104 {
            let q = q.clone();
            putters.push(spawn(async move { q.put(i).await.unwrap() }));
            yield_now().await;
        }
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(q.get().await.unwrap());
        }
        assert_eq!(got, [100, 101, 102, 103]);
        for p in putters {
            p.await.unwrap();
        }
    });
}

#[test]
fn nowait_calls_do_not_overtake_woken_waiters() {
    let q = Queue::new(1);
    let mut get = pin!(q.get());
    assert!(poll(get.as_mut()).is_pending());
    q.put_nowait(7).unwrap();
    // The item is held for the waiting getter.
    assert_eq!(q.get_nowait(), Err(GetError::Empty));
    assert_eq!(q.len(), 1);
    assert_eq!(poll(get.as_mut()), Poll::Ready(Ok(7)));

    q.put_nowait(1).unwrap();
    let mut put = pin!(q.put(2));
    assert!(poll(put.as_mut()).is_pending());
    assert_eq!(q.get_nowait(), Ok(1));
    // The freed slot is held for the waiting putter.
    assert_eq!(q.put_nowait(3), Err(PutError::Full(3)));
    assert_eq!(poll(put.as_mut()), Poll::Ready(Ok(())));
    assert_eq!(q.get_nowait(), Ok(2));
}

#[test]
fn producers_and_consumers_with_close_instead_of_sentinels() {
    // The course notes' pattern: two producers, several consumers; instead
    // of one sentinel per consumer, close once the producers are done.
    block_on(async {
        let q = Queue::new(4);
        let producers: Vec<_> = (0..2u64)
            .map(|p| {
                let q = q.clone();
                spawn(async move {
                    for i in 0..500 {
                        q.put(p * 1000 + i).await.unwrap();
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                spawn(async move {
                    let mut got = Vec::new();
                    while let Ok(v) = q.get().await {
                        got.push(v);
                        q.task_done();
                    }
                    got
                })
            })
            .collect();
        for p in producers {
            p.await.unwrap();
        }
        q.join().await;
        q.close();
        let mut all = Vec::new();
        for c in consumers {
            let got = c.await.unwrap();
            // Each producer's values reach any one consumer in order.
            for p in 0..2 {
                let mine: Vec<_> = got.iter().filter(|v| **v / 1000 == p).collect();
                assert!(mine.windows(2).all(|w| w[0] < w[1]));
            }
            all.extend(got);
        }
        all.sort();
        let expected: Vec<u64> = (0..2)
            .flat_map(|p| (0..500).map(move |i| p * 1000 + i))
            .collect();
        assert_eq!(all, expected);
    });
}

#[test]
fn blocking_put_and_get_from_threads() {
    let q = Queue::new(8);
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            let q = q.clone();
            thread::spawn(move || {
                for i in 0..2_000 {
                    q.blocking_put(t * 10_000 + i).unwrap();
                }
            })
        })
        .collect();
    let consumer = thread::spawn({
        let q = q.clone();
        move || {
            let mut n = 0u64;
            let mut sum = 0u64;
            while let Ok(v) = q.blocking_get() {
                n += 1;
                sum += v;
            }
            (n, sum)
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    q.close();
    let (n, sum) = consumer.join().unwrap();
    assert_eq!(n, 4_000);
    assert_eq!(sum, (0..2_000).sum::<u64>() * 2 + 2_000 * 10_000);
}
