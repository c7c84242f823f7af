//! `ipc::Queue` inside one process: put and get in all three forms, the
//! bound, closing, many producers and consumers (threads and runtimes),
//! large items and descriptors, and futures cancelled at each of their
//! waits. (Between processes, a consumer killed in `get`: `ipc_fork.rs`.)

mod support;

use std::collections::HashSet;
use std::io;
use std::sync::mpsc;
use std::thread;

use spindle_runtime::ipc::{self, GetError, PutError, Queue};
use spindle_runtime::Runtime;
use support::{bounded, poll_a_while, run, run_turning};

#[test]
fn put_then_get_in_order() {
    run(|| async {
        let q = Queue::<String>::new(0).unwrap();
        for i in 0..100 {
            q.put(format!("item {i}")).await.unwrap();
        }
        for i in 0..100 {
            assert_eq!(q.get().await.unwrap(), format!("item {i}"));
        }
        assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
    });
    bounded(10, || {
        let q = Queue::<u32>::new(10).unwrap();
        for i in 0..10 {
            q.blocking_put(i).unwrap();
        }
        for i in 0..10 {
            assert_eq!(q.blocking_get().unwrap(), i);
        }
    });
}

#[test]
fn nowait_forms_say_full_and_empty() {
    let q = Queue::<u8>::new(3).unwrap();
    assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
    for i in 0..3 {
        q.put_nowait(i).unwrap();
    }
    match q.put_nowait(9) {
        Err(PutError::Full(v)) => assert_eq!(v, 9),
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(q.get_nowait().unwrap(), 0);
    q.put_nowait(3).unwrap();
    assert!(matches!(q.put_nowait(9), Err(PutError::Full(_))));
    let drained: Vec<u8> = std::iter::from_fn(|| q.get_nowait().ok()).collect();
    assert_eq!(drained, [1, 2, 3]);
    assert!(matches!(q.get_nowait(), Err(GetError::Empty)));

    // Unbounded: only the socket's buffer ends it.
    let q = Queue::<u64>::new(0).unwrap();
    let mut n = 0;
    let err = loop {
        match q.put_nowait(n) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, PutError::Full(_)), "{err:?}");
    assert!(n > 50, "only {n} small items fitted");
    for i in 0..n {
        assert_eq!(q.get_nowait().unwrap(), i);
    }
}

#[test]
fn a_full_queue_makes_put_wait_until_a_get() {
    run_turning(|| async {
        let q = Queue::<u32>::new(2).unwrap();
        q.put(1).await.unwrap();
        q.put(2).await.unwrap();
        // Waiting for a place, cancelled: it takes no place.
        assert!(poll_a_while(q.put(3)).await.is_none());
        let waiting = spindle_runtime::spawn({
            let q = q.clone();
            async move { q.put(3).await.map_err(|e| e.to_string()) }
        });
        spindle_runtime::task::yield_now().await;
        assert_eq!(q.get().await.unwrap(), 1);
        waiting.await.unwrap().unwrap();
        assert_eq!(q.get().await.unwrap(), 2);
        assert_eq!(q.get().await.unwrap(), 3);
        // All places are back: two fit again, and not three.
        q.put_nowait(4).unwrap();
        q.put_nowait(5).unwrap();
        assert!(matches!(q.put_nowait(6), Err(PutError::Full(_))));
    });
    bounded(10, || {
        let q = Queue::<u32>::new(1).unwrap();
        q.blocking_put(1).unwrap();
        let (started_tx, started_rx) = mpsc::channel();
        let producer = thread::spawn({
            let q = q.clone();
            move || {
                started_tx.send(()).unwrap();
                q.blocking_put(2).map_err(|e| e.to_string())
            }
        });
        started_rx.recv().unwrap();
        assert_eq!(q.blocking_get().unwrap(), 1);
        producer.join().unwrap().unwrap();
        assert_eq!(q.blocking_get().unwrap(), 2);
    });
}

#[test]
fn a_put_cancelled_while_it_waits_for_room_gives_its_place_back() {
    run_turning(|| async {
        // Large items fill the socket's buffer before the bound is reached:
        // the next put holds a place and waits for room in the socket.
        let q = Queue::<Vec<u8>>::new(50).unwrap();
        let mut queued = 0;
        while let Some(r) = poll_a_while(q.put(vec![1; 60_000])).await {
            r.unwrap();
            queued += 1;
        }
        assert!(queued < 50, "{queued} large items fitted");
        for _ in 0..queued {
            assert_eq!(q.get().await.unwrap().len(), 60_000);
        }
        assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
        // Exactly 50 places are free again: none went with the cancelled put.
        for _ in 0..50 {
            q.put_nowait(vec![]).unwrap();
        }
        assert!(matches!(q.put_nowait(vec![]), Err(PutError::Full(_))));
    });
}

#[test]
fn a_cancelled_get_takes_nothing() {
    run_turning(|| async {
        let q = Queue::<u32>::new(0).unwrap();
        for i in 0..100 {
            assert!(poll_a_while(q.get()).await.is_none());
            q.put(i).await.unwrap();
            assert_eq!(q.get().await.unwrap(), i);
        }
    });
}

#[test]
fn close_lets_consumers_drain_then_says_closed() {
    run(|| async {
        let q = Queue::<u32>::new(0).unwrap();
        for i in 0..3 {
            q.put(i).await.unwrap();
        }
        q.close().unwrap();
        match q.put(9).await {
            Err(PutError::Closed(v)) => assert_eq!(v, 9),
            other => panic!("expected Closed, got {other:?}"),
        }
        assert!(matches!(q.put_nowait(9), Err(PutError::Closed(9))));
        for i in 0..3 {
            assert_eq!(q.get().await.unwrap(), i);
        }
        assert!(matches!(q.get().await, Err(GetError::Closed)));
        assert!(matches!(q.get_nowait(), Err(GetError::Closed)));
        q.close().unwrap(); // again: nothing changes
        assert!(matches!(q.get().await, Err(GetError::Closed)));
    });
    bounded(10, || {
        let q = Queue::<u32>::new(2).unwrap();
        q.blocking_put(1).unwrap();
        q.close().unwrap();
        assert!(matches!(q.blocking_put(2), Err(PutError::Closed(2))));
        // Even with free places, a closed bounded queue says Closed.
        assert!(matches!(q.put_nowait(2), Err(PutError::Closed(2))));
        assert_eq!(q.blocking_get().unwrap(), 1);
        assert!(matches!(q.blocking_get(), Err(GetError::Closed)));
    });
}

#[test]
fn close_wakes_every_waiting_consumer() {
    run(|| async {
        let q = Queue::<u32>::new(0).unwrap();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                spindle_runtime::spawn(async move { q.get().await })
            })
            .collect();
        spindle_runtime::task::yield_now().await;
        q.close().unwrap();
        for w in waiters {
            assert!(matches!(w.await.unwrap(), Err(GetError::Closed)));
        }
    });
    bounded(10, || {
        let q = Queue::<u32>::new(0).unwrap();
        let (started_tx, started_rx) = mpsc::channel();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (q, started_tx) = (q.clone(), started_tx.clone());
                thread::spawn(move || {
                    started_tx.send(()).unwrap();
                    matches!(q.blocking_get(), Err(GetError::Closed))
                })
            })
            .collect();
        for _ in 0..3 {
            started_rx.recv().unwrap();
        }
        q.close().unwrap();
        for w in waiters {
            assert!(w.join().unwrap());
        }
    });
}

#[test]
fn close_wakes_producers_waiting_for_a_place_or_for_room() {
    run_turning(|| async {
        // Waiting for a place.
        let q = Queue::<u32>::new(1).unwrap();
        q.put(1).await.unwrap();
        let waiting = spindle_runtime::spawn({
            let q = q.clone();
            async move { q.put(2).await }
        });
        spindle_runtime::task::yield_now().await;
        q.close().unwrap();
        assert!(matches!(waiting.await.unwrap(), Err(PutError::Closed(2))));
        assert_eq!(q.get().await.unwrap(), 1);
        assert!(matches!(q.get().await, Err(GetError::Closed)));

        // Waiting for room in the socket (unbounded, full).
        let q = Queue::<u64>::new(0).unwrap();
        let mut n = 0;
        while q.put_nowait(n).is_ok() {
            n += 1;
        }
        let waiting = spindle_runtime::spawn({
            let q = q.clone();
            async move { q.put(u64::MAX).await }
        });
        spindle_runtime::task::yield_now().await;
        q.close().unwrap();
        assert!(matches!(
            waiting.await.unwrap(),
            Err(PutError::Closed(u64::MAX))
        ));
        for i in 0..n {
            assert_eq!(q.get().await.unwrap(), i);
        }
        assert!(matches!(q.get().await, Err(GetError::Closed)));
    });
}

/// Every item of `producers` x `per_producer` exactly once in `got`.
fn assert_each_once(got: Vec<(u32, u32)>, producers: u32, per_producer: u32) {
    let total = (producers * per_producer) as usize;
    assert_eq!(got.len(), total, "items received");
    let unique: HashSet<_> = got.into_iter().collect();
    assert_eq!(unique.len(), total, "duplicates");
    assert!(unique
        .iter()
        .all(|&(p, i)| p < producers && i < per_producer));
}

#[test]
fn many_producers_and_consumers_on_threads_get_each_item_once() {
    bounded(30, || {
        for maxsize in [0, 16] {
            let q = Queue::<(u32, u32)>::new(maxsize).unwrap();
            let consumers: Vec<_> = (0..4)
                .map(|_| {
                    let q = q.clone();
                    thread::spawn(move || {
                        let mut got = Vec::new();
                        loop {
                            match q.blocking_get() {
                                Ok(item) => got.push(item),
                                Err(GetError::Closed) => return got,
                                Err(e) => panic!("{e}"),
                            }
                        }
                    })
                })
                .collect();
            let producers: Vec<_> = (0..4)
                .map(|p| {
                    let q = q.clone();
                    thread::spawn(move || {
                        for i in 0..5000 {
                            q.blocking_put((p, i)).unwrap();
                        }
                    })
                })
                .collect();
            for p in producers {
                p.join().unwrap();
            }
            q.close().unwrap();
            let got = consumers
                .into_iter()
                .flat_map(|c| c.join().unwrap())
                .collect();
            assert_each_once(got, 4, 5000);
        }
    });
}

#[test]
fn producers_and_consumers_on_two_runtimes_get_each_item_once() {
    bounded(30, || {
        let q = Queue::<(u32, u32)>::new(8).unwrap();
        // Two runtimes, each with a producer and two consumers; the main
        // thread closes the queue once both producers are done.
        let (done_tx, done_rx) = mpsc::channel();
        let runtimes: Vec<_> = (0..2u32)
            .map(|producer| {
                let (q, done_tx) = (q.clone(), done_tx.clone());
                thread::spawn(move || {
                    Runtime::new().unwrap().block_on(async move {
                        let getters: Vec<_> = (0..2)
                            .map(|_| {
                                let q = q.clone();
                                spindle_runtime::spawn(async move {
                                    let mut got = Vec::new();
                                    loop {
                                        match q.get().await {
                                            Ok(item) => got.push(item),
                                            Err(GetError::Closed) => return got,
                                            Err(e) => panic!("{e}"),
                                        }
                                    }
                                })
                            })
                            .collect();
                        for i in 0..3000 {
                            q.put((producer, i)).await.unwrap();
                        }
                        done_tx.send(()).unwrap();
                        let mut got = Vec::new();
                        for g in getters {
                            got.extend(g.await.unwrap());
                        }
                        got
                    })
                })
            })
            .collect();
        done_rx.recv().unwrap();
        done_rx.recv().unwrap();
        q.close().unwrap();
        let got = runtimes
            .into_iter()
            .flat_map(|r| r.join().unwrap())
            .collect();
        assert_each_once(got, 2, 3000);
    });
}

#[test]
fn large_items_and_descriptors_go_through_the_queue() {
    run(|| async {
        let q = Queue::<Vec<u8>>::new(2).unwrap();
        let big: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i % 253) as u8).collect();
        let putter = spindle_runtime::spawn({
            let (q, big) = (q.clone(), big.clone());
            async move {
                for _ in 0..3 {
                    q.put(big.clone()).await.unwrap();
                }
            }
        });
        for _ in 0..3 {
            assert!(q.get().await.unwrap() == big);
        }
        putter.await.unwrap();

        // A queue inside a queue, and a pipe end.
        let outer = Queue::<(Queue<u8>, ipc::PipeSender<u8>)>::new(0).unwrap();
        let inner = Queue::<u8>::new(1).unwrap();
        let (tx, rx) = ipc::pipe_one_way::<u8>().unwrap();
        outer.put((inner.clone(), tx)).await.unwrap();
        let (inner2, tx2) = outer.get().await.unwrap();
        inner2.put(5).await.unwrap();
        assert!(matches!(inner.put_nowait(6), Err(PutError::Full(6))));
        assert_eq!(inner.get().await.unwrap(), 5);
        tx2.send(7).await.unwrap();
        assert_eq!(rx.recv().await.unwrap(), 7);
        inner2.close().unwrap();
        assert!(matches!(inner.get().await, Err(GetError::Closed)));
    });
}

#[test]
fn maxsize_beyond_u32_is_refused() {
    let e = Queue::<u8>::new(u32::MAX as usize + 1).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(Queue::<u8>::new(7).unwrap().maxsize(), 7);
}

#[test]
fn errors_read_clearly() {
    let q = Queue::<u8>::new(1).unwrap();
    q.put_nowait(1).unwrap();
    let full = q.put_nowait(2).unwrap_err();
    assert_eq!(full.to_string(), "the queue is full");
    assert_eq!(full.into_inner(), 2);
    assert_eq!(q.get_nowait().unwrap(), 1);
    assert_eq!(
        q.get_nowait().unwrap_err().to_string(),
        "the queue is empty"
    );
    q.close().unwrap();
    assert_eq!(
        q.put_nowait(3).unwrap_err().to_string(),
        "the queue is closed"
    );
    assert_eq!(
        q.get_nowait().unwrap_err().to_string(),
        "the queue is closed and empty"
    );
}
