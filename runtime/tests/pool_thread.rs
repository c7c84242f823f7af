//! ThreadPool: submit / map keep order, panics become errors, callbacks,
//! blocking waits from plain threads, and shutdown waits for queued work.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use spindle_runtime::block_on;
use spindle_runtime::pool::{PoolError, ThreadPool};
use spindle_runtime::time::timeout;

#[test]
fn submit_and_wait_from_a_plain_thread() {
    let pool = ThreadPool::new(2);
    assert_eq!(pool.size(), 2);
    let handles: Vec<_> = (0..50u64).map(|i| pool.submit(move || i * 3)).collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.wait(), Ok(i as u64 * 3));
    }
}

#[test]
fn handles_are_futures_inside_a_runtime() {
    let pool = ThreadPool::new(2);
    block_on(async {
        let a = pool.submit(|| "a".repeat(3));
        let b = pool.submit(|| 40 + 2);
        assert_eq!(a.await.unwrap(), "aaa");
        assert_eq!(b.await.unwrap(), 42);
        let squares = timeout(Duration::from_secs(30), pool.map(|x: u64| x * x, 0..10_000))
            .await
            .unwrap()
            .unwrap();
        assert!(squares
            .iter()
            .enumerate()
            .all(|(i, &s)| s == (i * i) as u64));
    });
}

#[test]
fn map_blocking_keeps_input_order_even_when_jobs_finish_out_of_order() {
    let pool = ThreadPool::new(4);
    // The first item waits until the last has run: results still come back in input order.
    let gate = Arc::new(Barrier::new(2));
    let g = gate.clone();
    let out = pool.map_blocking(
        move |i: usize| {
            if i == 0 || i == 7 {
                g.wait();
            }
            i * 10
        },
        0..8,
    );
    assert_eq!(out, Ok((0..8).map(|i| i * 10).collect::<Vec<_>>()));
}

#[test]
fn all_threads_run_at_once() {
    // Four jobs that each wait for all four: only completes with four threads.
    let pool = ThreadPool::new(4);
    let all_in = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let all_in = all_in.clone();
            pool.submit(move || {
                all_in.wait();
                i
            })
        })
        .collect();
    let sum: i32 = handles.into_iter().map(|h| h.wait().unwrap()).sum();
    assert_eq!(sum, 6);
}

#[test]
fn a_panic_is_an_error_and_the_pool_keeps_serving() {
    let pool = ThreadPool::new(1);
    let err = pool
        .submit(|| -> u8 { panic!("deliberate panic (testing a job that panics): boom {}", 7) })
        .wait()
        .unwrap_err();
    assert_eq!(
        err,
        PoolError::Panicked("deliberate panic (testing a job that panics): boom 7".into())
    );
    assert_eq!(
        err.panic_message(),
        Some("deliberate panic (testing a job that panics): boom 7")
    );
    assert_eq!(pool.submit(|| 5).wait(), Ok(5));
    let mapped = pool.map_blocking(
        |x: i32| {
            if x == 2 {
                panic!("deliberate panic (testing a job that panics): two")
            } else {
                x
            }
        },
        0..4,
    );
    assert_eq!(
        mapped,
        Err(PoolError::Panicked(
            "deliberate panic (testing a job that panics): two".into()
        ))
    );
    assert_eq!(pool.submit(|| 6).wait(), Ok(6));
}

#[test]
fn on_done_delivers_the_result_to_a_callback() {
    let pool = ThreadPool::new(2);
    let (tx, rx) = mpsc::channel();
    for i in 0..10u32 {
        let tx = tx.clone();
        pool.submit(move || i * i)
            .on_done(move |r| tx.send(r.unwrap()).unwrap());
    }
    drop(tx);
    let mut got: Vec<u32> = rx.iter().collect();
    got.sort_unstable();
    assert_eq!(got, (0..10).map(|i| i * i).collect::<Vec<_>>());
    // A callback added after the job finished runs at once, on this thread.
    let handle = pool.submit(|| 1);
    while !handle.is_finished() {
        std::thread::yield_now();
    }
    let (tx, rx) = mpsc::channel();
    let me = std::thread::current().id();
    handle.on_done(move |r| tx.send((r, std::thread::current().id())).unwrap());
    assert_eq!(rx.try_recv().unwrap(), (Ok(1), me));
    // A panicking callback (registered before the job ends, so it runs on
    // the pool's only thread) does not kill that thread.
    let single = ThreadPool::new(1);
    let (go, wait_for_go) = mpsc::channel::<()>();
    single
        .submit(move || wait_for_go.recv().unwrap())
        .on_done(|_| panic!("deliberate panic (testing a callback that panics)"));
    go.send(()).unwrap();
    assert_eq!(single.submit(|| 2).wait(), Ok(2));
}

#[test]
fn shutdown_waits_for_queued_jobs_then_refuses_new_ones() {
    let pool = ThreadPool::new(2);
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..200 {
        let done = done.clone();
        drop(pool.submit(move || {
            std::hint::black_box((0..1000).sum::<u64>());
            done.fetch_add(1, Ordering::SeqCst);
        }));
    }
    pool.shutdown();
    assert_eq!(done.load(Ordering::SeqCst), 200);
    assert_eq!(pool.submit(|| 1).wait(), Err(PoolError::ShutDown));
    assert_eq!(
        pool.map_blocking(|x: u8| x, [1, 2]),
        Err(PoolError::ShutDown)
    );
    pool.shutdown(); // again: a no-op
}

#[test]
fn drop_is_shutdown() {
    let done = Arc::new(AtomicUsize::new(0));
    {
        let pool = ThreadPool::new(3);
        for _ in 0..100 {
            let done = done.clone();
            drop(pool.submit(move || done.fetch_add(1, Ordering::SeqCst)));
        }
    }
    assert_eq!(done.load(Ordering::SeqCst), 100);
}

#[test]
#[should_panic(expected = "use `.await` inside a runtime")]
fn wait_inside_a_runtime_panics() {
    let pool = ThreadPool::new(1);
    block_on(async {
        let _ = pool.submit(|| 1).wait();
    });
}
