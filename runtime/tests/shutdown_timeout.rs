//! `Runtime::shutdown_timeout` and `shutdown_background`: a worker stuck in
//! a poll does not hold up the shutdown past the timeout; it drops its
//! tasks and exits by itself once the poll returns. With no worker stuck,
//! `shutdown_timeout` joins every worker, as a drop does.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use spindle_runtime::Runtime;

mod support;
use support::{bounded, multi_thread};

/// The id of the calling thread (gettid).
fn tid() -> libc::pid_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Whether thread `tid` of this process still exists.
fn thread_alive(tid: libc::pid_t) -> bool {
    std::path::Path::new(&format!("/proc/self/task/{tid}")).exists()
}

/// Waits (sleeping, up to `limit`) until `done` holds, for what the OS
/// decides the timing of (a thread's exit).
fn settle(limit: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
    true
}

struct CountDrop(Arc<AtomicUsize>);
impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn a_worker_stuck_in_a_poll_is_left_to_end_by_itself() {
    bounded(30, || {
        let rt = multi_thread(1);
        let (started, release) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let dropped = Arc::new(AtomicUsize::new(0));
        let worker = Arc::new(Mutex::new(0));
        let (s, r, w) = (started.clone(), release.clone(), worker.clone());
        drop(rt.spawn(async move {
            *w.lock().unwrap() = tid();
            s.store(true, SeqCst);
            while !r.load(SeqCst) {
                thread::yield_now(); // never returns to the runtime
            }
        }));
        // A task that waits forever, dropped at shutdown.
        let guard = CountDrop(dropped.clone());
        drop(rt.spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await
        }));
        assert!(settle(Duration::from_secs(10), || started.load(SeqCst)));
        rt.shutdown_timeout(Duration::from_millis(20));
        let worker = *worker.lock().unwrap();
        assert!(
            thread_alive(worker),
            "the stuck worker was not left running"
        );
        assert_eq!(
            dropped.load(SeqCst),
            0,
            "tasks dropped while a worker still polls"
        );
        release.store(true, SeqCst);
        assert!(
            settle(Duration::from_secs(10), || !thread_alive(worker)),
            "the worker did not end once its poll returned"
        );
        assert_eq!(dropped.load(SeqCst), 1, "the worker did not drop its tasks");
    });
}

#[test]
fn shutdown_timeout_with_idle_workers_joins_them() {
    bounded(30, || {
        let rt = Runtime::builder()
            .multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let tids = Arc::new(Mutex::new(Vec::new()));
        let dropped = Arc::new(AtomicUsize::new(0));
        // Both workers' ids: two tasks that wait for each other can only
        // run on two workers at once.
        let arrived = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let (tids, arrived) = (tids.clone(), arrived.clone());
                rt.spawn(async move {
                    tids.lock().unwrap().push(tid());
                    arrived.fetch_add(1, SeqCst);
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while arrived.load(SeqCst) < 2 && Instant::now() < deadline {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        for t in tasks {
            rt.block_on(t).unwrap();
        }
        let guard = CountDrop(dropped.clone());
        drop(rt.spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await
        }));
        rt.shutdown_timeout(Duration::from_secs(10));
        assert_eq!(dropped.load(SeqCst), 1);
        for tid in tids.lock().unwrap().iter() {
            assert!(
                !thread_alive(*tid),
                "worker {tid} outlived shutdown_timeout"
            );
        }
    });
}

#[test]
fn shutdown_background_returns_at_once_and_the_workers_end() {
    bounded(30, || {
        let rt = multi_thread(1);
        let worker = rt.block_on(rt.spawn(async { tid() })).unwrap();
        let dropped = Arc::new(AtomicUsize::new(0));
        let guard = CountDrop(dropped.clone());
        drop(rt.spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await
        }));
        rt.shutdown_background();
        assert!(settle(Duration::from_secs(10), || !thread_alive(worker)));
        assert_eq!(dropped.load(SeqCst), 1);
    });
}

#[test]
fn a_shutdown_while_a_stand_in_runs_ends_both_threads() {
    // A worker's thread blocks in block_in_place while its stand-in runs
    // the loop; the runtime shuts down meanwhile. The stand-in stops at
    // once; the worker's thread, once `f` returns, finishes the task's
    // poll, drops its tasks and exits.
    bounded(30, || {
        let rt = multi_thread(1);
        if rt.backend() == spindle_runtime::Backend::IoUring {
            return; // one io_uring worker refuses block_in_place
        }
        let (in_f, release) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let worker = Arc::new(Mutex::new(0));
        let stand_in = Arc::new(Mutex::new(0));
        let (i, r, w) = (in_f.clone(), release.clone(), worker.clone());
        drop(rt.spawn(async move {
            *w.lock().unwrap() = tid();
            spindle_runtime::task::block_in_place(|| {
                i.store(true, SeqCst);
                while !r.load(SeqCst) {
                    thread::yield_now();
                }
            });
        }));
        assert!(settle(Duration::from_secs(10), || in_f.load(SeqCst)));
        // A task for the stand-in, which notes its thread.
        let s = stand_in.clone();
        rt.block_on(rt.spawn(async move {
            *s.lock().unwrap() = tid();
        }))
        .unwrap();
        let (worker, stand_in) = (*worker.lock().unwrap(), *stand_in.lock().unwrap());
        assert_ne!(worker, stand_in);
        rt.shutdown_background();
        assert!(
            settle(Duration::from_secs(10), || !thread_alive(stand_in)),
            "the stand-in did not stop at the shutdown"
        );
        assert!(thread_alive(worker));
        release.store(true, SeqCst);
        assert!(
            settle(Duration::from_secs(10), || !thread_alive(worker)),
            "the worker's thread did not end after f returned"
        );
    });
}
