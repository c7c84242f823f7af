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

/// A `Vec<u8>` of `len` bytes that says which item it is.
fn payload(id: u32, len: usize) -> Vec<u8> {
    (0..len).map(|i| (id as usize * 31 + i * 7) as u8).collect()
}

/// The length of producer item `i`: every third one goes through the
/// socket (over 4 KiB), the others in the ring.
fn mixed_len(i: u32) -> usize {
    if i.is_multiple_of(3) {
        5000
    } else {
        10
    }
}

#[test]
fn each_producers_items_come_out_in_the_order_it_put_them() {
    // Socket items and ring items from several producers at once: a
    // producer's socket item must not be overtaken by its next ring item
    // (whose marker another producer's could precede).
    bounded(30, || {
        for maxsize in [0, 3] {
            let q = Queue::<(u32, u32, Vec<u8>)>::new(maxsize).unwrap();
            let producers: Vec<_> = (0..4u32)
                .map(|p| {
                    let q = q.clone();
                    thread::spawn(move || {
                        for i in 0..1500u32 {
                            q.blocking_put((p, i, payload(p * 10_000 + i, mixed_len(i))))
                                .unwrap();
                        }
                    })
                })
                .collect();
            let closer = thread::spawn({
                let q = q.clone();
                move || {
                    for p in producers {
                        p.join().unwrap();
                    }
                    q.close().unwrap();
                }
            });
            let mut next = [0u32; 4];
            loop {
                match q.blocking_get() {
                    Ok((p, i, bytes)) => {
                        assert_eq!(i, next[p as usize], "producer {p}'s items out of order");
                        assert!(bytes == payload(p * 10_000 + i, mixed_len(i)));
                        next[p as usize] += 1;
                    }
                    Err(GetError::Closed) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            closer.join().unwrap();
            assert_eq!(next, [1500; 4], "maxsize {maxsize}");
        }
    });
    // The same with tasks putting on a multi-threaded runtime.
    bounded(30, || {
        let q = Queue::<(u32, u32, Vec<u8>)>::new(4).unwrap();
        let consumer = thread::spawn({
            let q = q.clone();
            move || {
                let mut next = [0u32; 4];
                while let Ok((p, i, bytes)) = q.blocking_get() {
                    assert_eq!(i, next[p as usize], "producer {p}'s items out of order");
                    assert!(bytes == payload(p * 10_000 + i, mixed_len(i)));
                    next[p as usize] += 1;
                }
                next
            }
        });
        Runtime::new().unwrap().block_on(async {
            let tasks: Vec<_> = (0..4u32)
                .map(|p| {
                    let q = q.clone();
                    spindle_runtime::spawn(async move {
                        for i in 0..1000u32 {
                            q.put((p, i, payload(p * 10_000 + i, mixed_len(i))))
                                .await
                                .unwrap();
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        q.close().unwrap();
        assert_eq!(consumer.join().unwrap(), [1000; 4]);
    });
}

#[test]
fn items_at_the_ring_and_message_limits_round_trip_in_every_form() {
    // A Vec<u8>'s encoding is 8 bytes of length, then the bytes: 4088 bytes
    // is the largest the ring keeps (4 KiB), 4089 goes through the socket;
    // 65528 is the largest sent inline in the message, 65529 goes out of
    // line in a memory file.
    let sizes = [0, 1, 4087, 4088, 4089, 4090, 65_528, 65_529];
    bounded(20, move || {
        for maxsize in [0, 1] {
            let q = Queue::<Vec<u8>>::new(maxsize).unwrap();
            for (i, &len) in sizes.iter().enumerate() {
                let item = payload(i as u32, len);
                q.put_nowait(item.clone()).unwrap();
                if maxsize == 1 {
                    assert!(matches!(q.put_nowait(vec![]), Err(PutError::Full(_))));
                    assert!(matches!(
                        q.put_nowait(vec![0; 5000]),
                        Err(PutError::Full(_))
                    ));
                }
                assert!(q.get_nowait().unwrap() == item, "{len} bytes, nowait");
                q.blocking_put(item.clone()).unwrap();
                assert!(q.blocking_get().unwrap() == item, "{len} bytes, blocking");
            }
        }
    });
    run(move || async move {
        for maxsize in [0, 1] {
            let q = Queue::<Vec<u8>>::new(maxsize).unwrap();
            for (i, &len) in sizes.iter().enumerate() {
                let item = payload(i as u32, len);
                q.put(item.clone()).await.unwrap();
                assert!(q.get().await.unwrap() == item, "{len} bytes, async");
            }
        }
    });
}

#[test]
fn a_queue_of_maxsize_one_holds_one_item_of_either_kind() {
    run_turning(|| async {
        let q = Queue::<Vec<u8>>::new(1).unwrap();
        for first in [vec![1], payload(1, 9000)] {
            q.put(first.clone()).await.unwrap();
            // Waiting for the one place, cancelled: it takes none.
            assert!(poll_a_while(q.put(vec![2])).await.is_none());
            assert!(poll_a_while(q.put(payload(2, 9000))).await.is_none());
            assert!(q.get().await.unwrap() == first);
            q.put_nowait(vec![3]).unwrap();
            assert!(matches!(q.put_nowait(vec![4]), Err(PutError::Full(_))));
            assert!(q.get().await.unwrap() == [3]);
            assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
        }
    });
    bounded(20, || {
        // A producer and a consumer thread, strictly one item at a time.
        let q = Queue::<Vec<u8>>::new(1).unwrap();
        let producer = thread::spawn({
            let q = q.clone();
            move || {
                for i in 0..600u32 {
                    q.blocking_put(payload(i, mixed_len(i))).unwrap();
                }
                q.close().unwrap();
            }
        });
        let mut i = 0;
        while let Ok(item) = q.blocking_get() {
            assert!(item == payload(i, mixed_len(i)), "item {i}");
            i += 1;
        }
        assert_eq!(i, 600);
        producer.join().unwrap();
    });
}

#[test]
fn a_put_waiting_for_room_in_the_socket_holds_no_place_and_no_lock() {
    run_turning(|| async {
        let q = Queue::<Vec<u8>>::new(50).unwrap();
        // Large items fill the socket's buffer before the bound.
        let mut queued = 0;
        while q.put_nowait(payload(queued, 60_000)).is_ok() {
            queued += 1;
        }
        assert!(queued < 48, "{queued} large items fitted");
        let waiting = spindle_runtime::spawn({
            let q = q.clone();
            async move { q.put(payload(1000, 60_000)).await.is_ok() }
        });
        for _ in 0..4 {
            spindle_runtime::task::yield_now().await;
        }
        assert!(!waiting.is_finished(), "it waits for room in the socket");
        // It holds no place: every other place is free to ring items. And
        // it does not hold the producers' sending lock while it waits:
        // another socket item is refused at once (this task's thread
        // would wait for it forever otherwise).
        let free = 50 - queued;
        for i in 0..free {
            q.put_nowait(vec![i as u8]).unwrap();
        }
        assert!(matches!(q.put_nowait(vec![]), Err(PutError::Full(_))));
        assert!(matches!(
            q.put_nowait(payload(2000, 60_000)),
            Err(PutError::Full(_))
        ));
        for i in 0..queued {
            assert!(q.get().await.unwrap() == payload(i, 60_000));
        }
        for i in 0..free {
            assert!(q.get().await.unwrap() == [i as u8]);
        }
        assert!(waiting.await.unwrap());
        assert!(q.get().await.unwrap() == payload(1000, 60_000));
        assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
    });
}

/// Waits (bounded) until thread `tid` of this process sleeps in the kernel.
fn wait_until_sleeping(tid: libc::pid_t) {
    let start = std::time::Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
        if stat[stat.rfind(')').unwrap() + 2..].starts_with('S') {
            return;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
        thread::yield_now();
    }
}

#[test]
fn a_blocking_put_waits_for_room_in_the_socket_holding_no_place_and_no_lock() {
    bounded(20, || {
        let q = Queue::<Vec<u8>>::new(50).unwrap();
        let mut queued = 0;
        while q.put_nowait(payload(queued, 60_000)).is_ok() {
            queued += 1;
        }
        assert!(queued < 48, "{queued} large items fitted");
        let (tid_tx, tid_rx) = mpsc::channel();
        let producer = thread::spawn({
            let q = q.clone();
            move || {
                // SAFETY: gettid has no arguments and cannot fail.
                tid_tx.send(unsafe { libc::gettid() }).unwrap();
                q.blocking_put(payload(1000, 60_000)).is_ok()
            }
        });
        wait_until_sleeping(tid_rx.recv().unwrap());
        // Whether it sleeps for room yet or not, it holds no place and no
        // lock while it does: the other places are free, another socket
        // item is refused at once.
        let free = 50 - queued;
        for i in 0..free {
            q.put_nowait(vec![i as u8]).unwrap();
        }
        assert!(matches!(
            q.put_nowait(payload(2000, 60_000)),
            Err(PutError::Full(_))
        ));
        for i in 0..queued {
            assert!(q.blocking_get().unwrap() == payload(i, 60_000));
        }
        for i in 0..free {
            assert!(q.blocking_get().unwrap() == [i as u8]);
        }
        assert!(producer.join().unwrap());
        assert!(q.blocking_get().unwrap() == payload(1000, 60_000));
        assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
    });
}
