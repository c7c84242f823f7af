//! spindle-sync's coupling to this runtime through `spindle_sync::coop`:
//! `block_on` marks its thread as running a runtime (so the `blocking_*`
//! methods panic there), the cooperative budget ends when it returns, and
//! plain threads using the `blocking_*` methods meet runtime tasks at the
//! same primitives.

use std::future::Future;
use std::pin::pin;
use std::sync::mpsc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use spindle_runtime::sync::{Barrier, Condvar, Mutex, Notify, Semaphore};
use spindle_runtime::{block_on, spawn, Runtime};
use spindle_sync::coop;

/// Runs `f` on its own thread and fails the test if it has not finished
/// within 10 s; a panic in `f` is passed on.
fn within_watchdog<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (done_tx, done_rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let _ = done_tx.send(f());
    });
    match done_rx.recv_timeout(Duration::from_secs(10)) {
        Ok(result) => result,
        // `f` panicked (the sender is gone): pass its panic on.
        Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the worker ends only by sending or panicking"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("did not finish within 10 s"),
    }
}

#[test]
fn block_on_and_its_tasks_count_as_running_a_runtime() {
    within_watchdog(|| {
        assert!(!coop::is_runtime_running());
        let (in_main, in_task) = block_on(async {
            let in_task = spawn(async { coop::is_runtime_running() }).await.unwrap();
            (coop::is_runtime_running(), in_task)
        });
        assert!(in_main && in_task);
        assert!(!coop::is_runtime_running(), "block_on's guard is gone");
    });
}

#[test]
#[should_panic(expected = "inside a spindle runtime")]
fn notify_blocking_notified_panics_inside_block_on() {
    let notify = Notify::new();
    notify.notify_one();
    block_on(async { notify.blocking_notified() });
}

#[test]
#[should_panic(expected = "inside a spindle runtime")]
fn barrier_blocking_wait_panics_inside_a_task() {
    let rt = Runtime::new().unwrap();
    let outcome = rt.block_on(async {
        spawn(async {
            Barrier::new(1).blocking_wait();
        })
        .await
    });
    // The task's panic comes back as a JoinError; re-raise its message.
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[test]
fn no_budget_is_left_behind_for_a_plain_executor_on_the_same_thread() {
    within_watchdog(|| {
        let sem = Semaphore::new(1);
        // Spend budget inside a runtime: each acquire of a free permit
        // takes a unit.
        block_on(async {
            for _ in 0..1000 {
                drop(sem.acquire().await.unwrap());
            }
        });
        // The same thread, no runtime: polled by hand, an acquire of a free
        // permit is ready every time (a budget left at zero would make it
        // return Pending forever to an executor like this one).
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..1000 {
            let mut acquire = pin!(sem.acquire());
            match acquire.as_mut().poll(&mut cx) {
                Poll::Ready(permit) => drop(permit.unwrap()),
                Poll::Pending => panic!("throttled outside any runtime"),
            }
        }
    });
}

#[test]
fn a_plain_thread_and_runtime_tasks_meet_at_one_barrier() {
    let leaders = within_watchdog(|| {
        let barrier = Arc::new(Barrier::new(3));
        let thread_side = {
            let barrier = barrier.clone();
            thread::spawn(move || barrier.blocking_wait().is_leader())
        };
        let task_leaders = block_on(async {
            let tasks: Vec<_> = (0..2)
                .map(|_| {
                    let barrier = barrier.clone();
                    spawn(async move { barrier.wait().await.is_leader() })
                })
                .collect();
            let mut leaders = 0;
            for t in tasks {
                leaders += t.await.unwrap() as usize;
            }
            leaders
        });
        task_leaders + thread_side.join().unwrap() as usize
    });
    assert_eq!(leaders, 1);
}

#[test]
fn a_plain_thread_waits_on_a_condvar_that_a_task_notifies() {
    let seen = within_watchdog(|| {
        let shared = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let consumer = {
            let shared = shared.clone();
            thread::spawn(move || {
                let (items, cond) = &*shared;
                let items = cond.blocking_wait_while(items.blocking_lock(), |v| v.len() < 3);
                items.clone()
            })
        };
        block_on(async {
            let (items, cond) = &*shared;
            for i in 0..3 {
                items.lock().await.push(i);
                cond.notify_all();
                spindle_runtime::yield_now().await;
            }
        });
        consumer.join().unwrap()
    });
    assert_eq!(seen, [0, 1, 2]);
}
