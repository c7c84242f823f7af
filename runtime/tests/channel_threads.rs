//! Channels across OS threads and runtimes: exact counts, per-producer
//! order, and races between close / drop and in-flight sends.
//! Each test is bounded (fixed message counts, a few threads).

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::thread;

use spindle_runtime::channel::{mpsc, oneshot, Queue};
use spindle_runtime::{spawn, Runtime};

#[derive(Debug)]
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Checks that `got` holds, for each producer `p < producers`, exactly the
/// values `p * per .. p * per + per`, each producer's in order.
fn check_per_producer(got: &[u64], producers: u64, per: u64) {
    let mut next = vec![0; producers as usize];
    for v in got {
        let (p, i) = ((v / per) as usize, v % per);
        assert_eq!(
            i, next[p],
            "producer {p}: value lost, duplicated or reordered"
        );
        next[p] += 1;
    }
    assert!(next.iter().all(|n| *n == per), "missing values: {next:?}");
}

#[test]
fn four_runtimes_on_four_threads_feed_one_channel() {
    const RUNTIMES: u64 = 4;
    const TASKS: u64 = 2;
    const PER: u64 = 5_000;
    let (tx, mut rx) = mpsc::channel(8);
    let threads: Vec<_> = (0..RUNTIMES)
        .map(|r| {
            let tx = tx.clone();
            thread::spawn(move || {
                Runtime::new().unwrap().block_on(async move {
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|t| {
                            let tx = tx.clone();
                            spawn(async move {
                                let p = r * TASKS + t;
                                for i in 0..PER {
                                    tx.send(p * PER + i).await.unwrap();
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                })
            })
        })
        .collect();
    drop(tx);
    let got = Runtime::new().unwrap().block_on(async move {
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            got.push(v);
        }
        got
    });
    for t in threads {
        t.join().unwrap();
    }
    check_per_producer(&got, RUNTIMES * TASKS, PER);
}

#[test]
fn plain_threads_blocking_send_into_an_async_consumer() {
    const THREADS: u64 = 3;
    const PER: u64 = 10_000;
    let (tx, mut rx) = mpsc::channel(4);
    let (utx, mut urx) = mpsc::unbounded();
    let threads: Vec<_> = (0..THREADS)
        .map(|p| {
            let (tx, utx) = (tx.clone(), utx.clone());
            thread::spawn(move || {
                for i in 0..PER {
                    tx.blocking_send(p * PER + i).unwrap();
                    utx.send(p * PER + i).unwrap();
                }
            })
        })
        .collect();
    drop((tx, utx));
    let (got, ugot) = Runtime::new().unwrap().block_on(async move {
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            got.push(v);
        }
        let mut ugot = Vec::new();
        while let Some(v) = urx.recv().await {
            ugot.push(v);
        }
        (got, ugot)
    });
    for t in threads {
        t.join().unwrap();
    }
    check_per_producer(&got, THREADS, PER);
    check_per_producer(&ugot, THREADS, PER);
}

#[test]
fn ping_pong_between_two_runtimes() {
    // Capacity 1 both ways: every message is a cross-thread wake.
    const ROUNDS: u64 = 10_000;
    let (to_b, mut at_b) = mpsc::channel(1);
    let (to_a, mut at_a) = mpsc::channel(1);
    let b = thread::spawn(move || {
        Runtime::new().unwrap().block_on(async move {
            while let Some(v) = at_b.recv().await {
                to_a.send(v + 1).await.unwrap();
            }
        })
    });
    Runtime::new().unwrap().block_on(async move {
        let mut v = 0;
        for _ in 0..ROUNDS {
            to_b.send(v).await.unwrap();
            v = at_a.recv().await.unwrap();
        }
        assert_eq!(v, ROUNDS);
    });
    b.join().unwrap();
}

#[test]
fn closing_while_threads_send_loses_nothing() {
    // Every value is either received, or handed back to its sender.
    const THREADS: u64 = 3;
    const PER: u64 = 20_000;
    let (tx, mut rx) = mpsc::channel(16);
    let start = Arc::new(Barrier::new(THREADS as usize + 1));
    let threads: Vec<_> = (0..THREADS)
        .map(|p| {
            let (tx, start) = (tx.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let (mut ok, mut back) = (0u64, 0u64);
                for i in 0..PER {
                    match tx.blocking_send(p * PER + i) {
                        Ok(()) => ok += 1,
                        Err(e) => {
                            assert_eq!(e.0, p * PER + i, "the value itself comes back");
                            back += 1;
                        }
                    }
                }
                (ok, back)
            })
        })
        .collect();
    drop(tx);
    start.wait();
    let received = Runtime::new().unwrap().block_on(async move {
        let mut received = 0u64;
        while let Some(_v) = rx.recv().await {
            received += 1;
            if received == PER {
                rx.close();
            }
        }
        received
    });
    let (mut ok, mut back) = (0, 0);
    for t in threads {
        let (o, b) = t.join().unwrap();
        ok += o;
        back += b;
    }
    assert_eq!(ok + back, THREADS * PER);
    assert_eq!(received, ok, "every successful send was received");
}

#[test]
fn dropping_the_receiver_while_threads_send_drops_every_value_once() {
    const THREADS: u64 = 3;
    const PER: u64 = 10_000;
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = mpsc::channel(32);
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (tx, drops) = (tx.clone(), drops.clone());
            thread::spawn(move || {
                for _ in 0..PER {
                    // Ok: received or dropped with the buffer; Err: dropped here.
                    let _ = tx.blocking_send(Tracked(drops.clone()));
                }
            })
        })
        .collect();
    drop(tx);
    Runtime::new().unwrap().block_on(async move {
        for _ in 0..PER {
            rx.recv().await.unwrap();
        }
        drop(rx);
    });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(drops.load(SeqCst) as u64, THREADS * PER);
}

#[test]
fn queue_across_runtimes_and_threads() {
    const PRODUCERS: u64 = 2;
    const CONSUMERS: usize = 2;
    const PER: u64 = 10_000;
    let q = Queue::new(8);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = q.clone();
            thread::spawn(move || {
                Runtime::new().unwrap().block_on(async move {
                    for i in 0..PER {
                        q.put(p * PER + i).await.unwrap();
                    }
                })
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let q = q.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                if c == 0 {
                    // One consumer is a plain thread...
                    while let Ok(v) = q.blocking_get() {
                        got.push(v);
                        q.task_done();
                    }
                } else {
                    // ...the other a runtime.
                    Runtime::new().unwrap().block_on(async {
                        while let Ok(v) = q.get().await {
                            got.push(v);
                            q.task_done();
                        }
                    });
                }
                got
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    Runtime::new().unwrap().block_on(q.join());
    q.close();
    let mut all = Vec::new();
    for c in consumers {
        let got = c.join().unwrap();
        // Each consumer sees each producer's values in order.
        for p in 0..PRODUCERS {
            let mine: Vec<_> = got.iter().filter(|v| **v / PER == p).collect();
            assert!(mine.windows(2).all(|w| w[0] < w[1]));
        }
        all.extend(got);
    }
    all.sort();
    assert_eq!(all, (0..PRODUCERS * PER).collect::<Vec<_>>());
}

#[test]
fn oneshots_answer_requests_across_runtimes() {
    // A server runtime answers requests carrying their own oneshot sender.
    const CLIENTS: u64 = 3;
    const PER: u64 = 2_000;
    let (req_tx, mut req_rx) = mpsc::unbounded::<(u64, oneshot::Sender<u64>)>();
    let server = thread::spawn(move || {
        Runtime::new().unwrap().block_on(async move {
            while let Some((v, reply)) = req_rx.recv().await {
                reply.send(v * 2).unwrap();
            }
        })
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let req_tx = req_tx.clone();
            thread::spawn(move || {
                Runtime::new().unwrap().block_on(async move {
                    for i in 0..PER {
                        let (tx, rx) = oneshot::channel();
                        req_tx.send((c * PER + i, tx)).unwrap();
                        assert_eq!(rx.await, Ok((c * PER + i) * 2));
                    }
                })
            })
        })
        .collect();
    drop(req_tx);
    for c in clients {
        c.join().unwrap();
    }
    server.join().unwrap();
}
