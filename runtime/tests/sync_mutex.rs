//! `sync::Mutex`: locking, FIFO hand-over, cancellation at every await
//! point, sharing across threads and runtimes.
//!
//! Interleavings are forced by polling futures by hand with a waker that
//! counts its wakes: no sleeps decide an order.

mod support;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use spindle_runtime::sync::{Mutex, Notify, OwnedMutexGuard};
use spindle_runtime::time::timeout;
use spindle_runtime::{block_on, spawn, yield_now, Runtime};

/// A waker that counts how often it was woken.
mod sync_support;
use sync_support::{counter, poll, wakes};

#[test]
fn lock_try_lock_get_mut_into_inner() {
    block_on(async {
        let mut m = Mutex::new(vec![1]);
        m.lock().await.push(2);
        {
            let g = m.try_lock().unwrap();
            assert!(m.try_lock().is_err());
            assert_eq!(*g, [1, 2]);
            assert_eq!(format!("{m:?}"), "Mutex { data: <locked> }");
        }
        m.get_mut().push(3);
        assert_eq!(format!("{m:?}"), "Mutex { data: [1, 2, 3] }");
        assert_eq!(m.into_inner(), [1, 2, 3]);
    });
}

#[test]
fn owned_guard_moves_into_a_task() {
    block_on(async {
        let m = Arc::new(Mutex::new(0));
        let g = m.clone().lock_owned().await;
        assert!(m.clone().try_lock_owned().is_err());
        let t = spawn(async move {
            let mut g = g;
            *g += 5;
        });
        t.await.unwrap();
        assert_eq!(*m.lock().await, 5);
        let g = m.clone().try_lock_owned().unwrap();
        assert!(Arc::ptr_eq(OwnedMutexGuard::mutex(&g), &m));
    });
}

#[test]
fn fifo_hand_over_no_barging() {
    let m = Mutex::new(Vec::new());
    let g = m.try_lock().unwrap();
    let mut futs: Vec<_> = (0..5).map(|_| Box::pin(m.lock())).collect();
    let counters: Vec<_> = (0..5).map(|_| counter()).collect();
    for (f, (_, w)) in futs.iter_mut().zip(&counters) {
        assert!(poll(f.as_mut(), w).is_pending());
    }
    drop(g);
    for i in 0..5 {
        // Exactly waiter i was handed the lock; a newcomer cannot take it.
        let woken: Vec<_> = counters.iter().map(|(c, _)| wakes(c)).collect();
        assert_eq!(woken.iter().sum::<usize>(), i + 1, "{woken:?}");
        assert_eq!(woken[i], 1);
        assert!(m.try_lock().is_err());
        let Poll::Ready(mut g) = poll(futs[i].as_mut(), &counters[i].1) else {
            panic!("waiter {i} was handed the lock")
        };
        g.push(i);
    }
    assert_eq!(*m.try_lock().unwrap(), [0, 1, 2, 3, 4]);
}

#[test]
fn cancel_queued_then_granted_waiter() {
    // The brief's scenario: three waiters; drop the middle one while queued,
    // then drop the first after it was granted but before it ran.
    let m = Mutex::new(0);
    let g = m.try_lock().unwrap();
    let ((ca, wa), (cb, wb), (cc, wc)) = (counter(), counter(), counter());
    let mut a = Box::pin(m.lock());
    let mut b = Box::pin(m.lock());
    let mut c = Box::pin(m.lock());
    assert!(poll(a.as_mut(), &wa).is_pending());
    assert!(poll(b.as_mut(), &wb).is_pending());
    assert!(poll(c.as_mut(), &wc).is_pending());
    drop(b);
    drop(g);
    assert_eq!((wakes(&ca), wakes(&cb), wakes(&cc)), (1, 0, 0));
    // A newcomer queues behind c.
    let (cd, wd) = counter();
    let mut d = Box::pin(m.lock());
    assert!(poll(d.as_mut(), &wd).is_pending());
    assert!(m.try_lock().is_err());
    drop(a); // granted, never polled: passes the lock to c
    assert_eq!((wakes(&cc), wakes(&cd)), (1, 0));
    let Poll::Ready(gc) = poll(c.as_mut(), &wc) else {
        panic!("c was handed the lock")
    };
    drop(gc);
    assert_eq!(wakes(&cd), 1);
    assert!(poll(d.as_mut(), &wd).is_ready());
    assert!(m.try_lock().is_ok());
}

#[test]
fn cancel_at_every_point_with_many_waiters() {
    // For every waiter position p and every moment (queued / granted), drop
    // waiter p there, and check the others still get the lock in order.
    for n in 1..=4 {
        for p in 0..n {
            for granted in [false, true] {
                let m = Mutex::new(Vec::new());
                let g = m.try_lock().unwrap();
                let cs: Vec<_> = (0..n).map(|_| counter()).collect();
                let mut fs: Vec<_> = (0..n).map(|_| Some(Box::pin(m.lock()))).collect();
                for (f, (_, w)) in fs.iter_mut().zip(&cs) {
                    assert!(poll(f.as_mut().unwrap().as_mut(), w).is_pending());
                }
                let mut order = Vec::new();
                if !granted {
                    fs[p] = None;
                }
                drop(g);
                for i in 0..n {
                    if fs[i].is_none() {
                        continue;
                    }
                    assert_eq!(wakes(&cs[i].0), 1, "n={n} p={p} i={i}");
                    if granted && i == p {
                        fs[i] = None; // handed the lock, dropped before running
                        continue;
                    }
                    let f = fs[i].as_mut().unwrap().as_mut();
                    let Poll::Ready(mut g) = poll(f, &cs[i].1) else {
                        panic!("n={n} p={p}: waiter {i} should hold the lock")
                    };
                    g.push(i);
                    order.push(i);
                }
                let expected: Vec<_> = (0..n).filter(|&i| i != p).collect();
                assert_eq!(order, expected);
                assert_eq!(*m.try_lock().unwrap(), expected);
            }
        }
    }
}

#[test]
fn timeout_and_abort_do_not_leak_the_lock() {
    block_on(async {
        let m = Arc::new(Mutex::new(0));
        let g = m.lock().await;
        assert!(timeout(Duration::from_millis(1), m.lock()).await.is_err());
        let waiter = {
            let m = m.clone();
            spawn(async move { *m.lock().await += 1 })
        };
        let aborted = {
            let m = m.clone();
            spawn(async move { *m.lock().await += 100 })
        };
        yield_now().await; // both are queued now
        aborted.abort();
        assert!(aborted.await.unwrap_err().is_cancelled());
        drop(g);
        waiter.await.unwrap();
        assert_eq!(*m.lock().await, 1);
    });
}

#[test]
fn guard_held_across_await_serialises_tasks() {
    block_on(async {
        let m = Arc::new(Mutex::new((0, 0)));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let m = m.clone();
                spawn(async move {
                    for _ in 0..10 {
                        let mut g = m.lock().await;
                        let seen = g.0;
                        yield_now().await;
                        g.0 = seen + 1; // lost update if another task got in
                        g.1 += 1;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*m.lock().await, (200, 200));
    });
}

#[test]
fn four_runtimes_on_four_threads_share_one_mutex() {
    let m = Arc::new(Mutex::new(0u64));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                Runtime::new().unwrap().block_on(async move {
                    // Four tasks per runtime: contention on and off the thread.
                    let tasks: Vec<_> = (0..4)
                        .map(|_| {
                            let m = m.clone();
                            spawn(async move {
                                for i in 0..2_500 {
                                    let mut g = m.lock().await;
                                    *g += 1;
                                    if i % 64 == 0 {
                                        yield_now().await;
                                    }
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
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*m.try_lock().unwrap(), 40_000);
}

#[test]
fn plain_thread_feeds_async_consumer() {
    let queue = Arc::new(Mutex::new(Vec::new()));
    let ready = Arc::new(Notify::new());
    let producer = {
        let (queue, ready) = (queue.clone(), ready.clone());
        std::thread::spawn(move || {
            for i in 0..1000u32 {
                queue.blocking_lock().push(i);
                ready.notify_one();
            }
        })
    };
    let got = block_on(async {
        let mut got = Vec::new();
        while got.len() < 1000 {
            got.append(&mut *queue.lock().await);
            if got.len() < 1000 {
                ready.notified().await;
            }
        }
        got
    });
    producer.join().unwrap();
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
}

#[test]
#[should_panic(expected = "inside a spindle runtime")]
fn blocking_lock_inside_runtime_panics() {
    let m = Mutex::new(());
    block_on(async {
        let _g = m.blocking_lock();
    });
}

/// Voluntary context switches of this thread so far (Linux).
fn voluntary_switches() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/thread-self/status").ok()?;
    let line = status
        .lines()
        .find(|l| l.starts_with("voluntary_ctxt_switches"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn contention_on_one_thread_never_blocks_the_thread() {
    // 50 tasks fight over one mutex on one runtime: every wake is a local
    // queue push, so the thread never sleeps (no futex, no epoll_wait).
    std::thread::spawn(|| {
        let rt = support::current_thread();
        let m = Arc::new(Mutex::new(0));
        let before = voluntary_switches();
        rt.block_on(async {
            let tasks: Vec<_> = (0..50)
                .map(|_| {
                    let m = m.clone();
                    spawn(async move {
                        for _ in 0..100 {
                            let mut g = m.lock().await;
                            yield_now().await;
                            *g += 1;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        let after = voluntary_switches();
        assert_eq!(*m.try_lock().unwrap(), 5000);
        let (before, after) = (before.expect("procfs"), after.expect("procfs"));
        assert_eq!(after - before, 0, "the runtime thread went to sleep");
    })
    .join()
    .unwrap();
}

#[test]
fn lock_future_polled_inside_pin_and_dropped_after_one_poll() {
    block_on(async {
        let m = Mutex::new(1);
        let g = m.lock().await;
        {
            let mut f = pin!(m.lock());
            let pending = std::future::poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx).is_pending()));
            assert!(pending.await);
        } // dropped after one poll, while queued
        drop(g);
        assert_eq!(*m.try_lock().unwrap(), 1);
    });
}

#[test]
fn an_always_free_lock_still_yields_to_other_tasks() {
    // The cooperative budget: a loop that always finds the lock free must
    // still let the other task run now and then.
    support::block_on_current_thread(async {
        let m = Mutex::new(0);
        let ran = Arc::new(AtomicUsize::new(0));
        let other = {
            let ran = ran.clone();
            spawn(async move {
                ran.store(1, SeqCst);
            })
        };
        let mut first_seen = None;
        for i in 0..1000 {
            *m.lock().await += 1;
            if first_seen.is_none() && ran.load(SeqCst) == 1 {
                first_seen = Some(i);
            }
        }
        assert!(first_seen.is_some_and(|i| i < 1000), "never yielded");
        other.await.unwrap();
    });
}

#[test]
fn no_budget_outside_a_runtime_even_after_one_ran_here() {
    std::thread::spawn(|| {
        // A runtime ran on this thread and left its budget behind...
        Runtime::new().unwrap().block_on(async {});
        // ...yet plain polls out here are never told to yield.
        let m = Mutex::new(());
        for _ in 0..1000 {
            let mut f = Box::pin(m.lock());
            assert!(poll(f.as_mut(), Waker::noop()).is_ready());
        }
        for _ in 0..1000 {
            drop(m.blocking_lock());
        }
    })
    .join()
    .unwrap();
}
