//! spawn_blocking: blocking work runs on the pool while the event loop keeps going.

use spindle_runtime::time::{sleep, timeout};
use spindle_runtime::{block_on, spawn, spawn_blocking, Handle, Runtime};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

#[test]
fn blocking_calls_overlap_and_the_loop_keeps_running() {
    block_on(async {
        // Eight closures that each block until all eight are running at once:
        // this only completes if they really run in parallel on the pool.
        let all_in = Arc::new(Barrier::new(8));
        let jobs: Vec<_> = (0..8)
            .map(|i| {
                let all_in = all_in.clone();
                spawn_blocking(move || {
                    all_in.wait();
                    std::thread::sleep(Duration::from_millis(100));
                    i
                })
            })
            .collect();
        // Meanwhile a timer on the event loop still fires, long before the jobs end.
        let start = Instant::now();
        sleep(Duration::from_millis(10)).await;
        let timer_done = start.elapsed();
        let mut sum = 0;
        for job in jobs {
            sum += timeout(Duration::from_secs(10), job)
                .await
                .unwrap()
                .unwrap();
        }
        let jobs_done = start.elapsed();
        assert_eq!(sum, 28);
        assert!(
            timer_done < jobs_done,
            "the timer waited for the blocking jobs"
        );
        assert!(jobs_done >= Duration::from_millis(100));
    });
}

#[test]
fn panic_in_blocking_job_is_a_join_error() {
    block_on(async {
        let err = spawn_blocking(|| -> u32 { panic!("disk on fire") })
            .await
            .unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.panic_message(), Some("disk on fire"));
        // The pool keeps working.
        assert_eq!(spawn_blocking(|| 7).await.unwrap(), 7);
    });
}

#[test]
fn queued_job_can_be_aborted_and_limit_is_respected() {
    let rt = Runtime::builder().max_blocking_threads(1).build().unwrap();
    rt.block_on(async {
        let gate = Arc::new(Barrier::new(2));
        let ran = Arc::new(AtomicUsize::new(0));
        let g = gate.clone();
        let first = spawn_blocking(move || {
            g.wait();
        });
        let r = ran.clone();
        // With one thread, this job waits in the queue behind `first`.
        let second = spawn_blocking(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        second.abort();
        gate.wait();
        first.await.unwrap();
        assert!(second.await.unwrap_err().is_cancelled());
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn handle_spawn_blocking_from_a_plain_thread() {
    let rt = Runtime::new().unwrap();
    let handle: Handle = rt.handle();
    let job = std::thread::spawn(move || handle.spawn_blocking(|| 40 + 2))
        .join()
        .unwrap();
    let v = rt.block_on(async move {
        spawn(async move { timeout(Duration::from_secs(10), job).await })
            .await
            .unwrap()
    });
    assert_eq!(v.unwrap().unwrap(), 42);
}

#[test]
fn max_blocking_threads_is_the_whole_runtimes_limit() {
    // On a multi-threaded runtime every worker and the block_on thread
    // spawn into one pool: with a limit of one, no two jobs ever overlap,
    // wherever they were spawned from.
    let rt = Runtime::builder()
        .multi_thread()
        .worker_threads(2)
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let job = {
        let (running, peak) = (running.clone(), peak.clone());
        move || {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            // Long enough for jobs from other threads to overlap this one
            // if the limit let them.
            std::thread::sleep(Duration::from_millis(5));
            running.fetch_sub(1, Ordering::SeqCst);
        }
    };
    rt.block_on(async {
        let mut jobs = Vec::new();
        for _ in 0..4 {
            jobs.push(spawn_blocking(job.clone()));
            // From tasks, which run on the workers.
            let job = job.clone();
            jobs.push(spawn(async move { spawn_blocking(job).await.unwrap() }));
        }
        for j in jobs {
            timeout(Duration::from_secs(10), j)
                .await
                .expect("jobs hung")
                .unwrap();
        }
    });
    assert_eq!(peak.load(Ordering::SeqCst), 1);
}

#[test]
fn thread_name_stack_size_and_hooks_reach_the_blocking_pool() {
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    let rt = Runtime::builder()
        .thread_name("app")
        .thread_stack_size(8 << 20)
        .on_thread_start(move || {
            s.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let job = rt.spawn_blocking(|| {
        // Deeper than the 2 MiB default stack allows.
        fn deep(n: u32) -> u32 {
            let pad = std::hint::black_box([n as u8; 1024]);
            let below = if n == 0 { 0 } else { deep(n - 1) + 1 };
            // Keeps `pad` on this frame's stack until the call returned.
            std::hint::black_box(&pad);
            below
        }
        assert_eq!(deep(2500), 2500);
        std::thread::current().name().map(String::from)
    });
    let name = rt.block_on(job).unwrap();
    assert_eq!(name.as_deref(), Some("app-blocking"));
    assert!(started.load(Ordering::SeqCst) >= 1);
}
