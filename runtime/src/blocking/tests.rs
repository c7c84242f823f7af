//! The pool's hand-out rule: every queued job gets a thread promptly,
//! whatever the spinning or idle state of the pool's threads.

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{spawn_blocking, BlockingTask};
use crate::executor::{Config, Local};

/// How long a test waits for something that should take microseconds.
const PATIENCE: Duration = Duration::from_secs(10);

/// A runtime whose pool threads spin for `spin` after each job.
fn runtime(spin: Duration) -> Local {
    let mut config = Config::default();
    config.blocking.spin = spin;
    Local::new(config).expect("runtime")
}

/// Waits (bounded) until the pool's state satisfies `cond`.
fn wait_for_pool(local: &Local, what: &str, cond: impl Fn(usize, bool) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !local.shared.blocking.inspect(&cond) {
        assert!(Instant::now() < deadline, "the pool never became {what}");
        std::thread::yield_now();
    }
}

/// Two jobs queued while a thread spins, the first waiting for the second:
/// the spinner takes one, and the other must get a thread of its own.
#[test]
fn jobs_queued_while_a_thread_spins_each_get_a_thread() {
    if !super::spinning_can_help() {
        return; // one CPU: pool threads never spin, nothing to test
    }
    // A spin long enough that both jobs are queued while it lasts.
    let local = runtime(Duration::from_secs(30));
    local.block_on(async {
        spawn_blocking(|| ()).await.unwrap();
        wait_for_pool(&local, "spinning", |_, spinning| spinning);
        // Both queued before the spinner can react: a consumer, then the
        // producer it waits for.
        let (tx, rx) = mpsc::channel::<()>();
        let rx = Mutex::new(Some(rx));
        let jobs: Vec<BlockingTask<Box<dyn FnOnce() -> bool + Send>>> = vec![
            BlockingTask::new(Box::new(move || {
                let rx = rx.lock().unwrap().take().unwrap();
                rx.recv_timeout(PATIENCE).is_ok()
            })),
            BlockingTask::new(Box::new(move || tx.send(()).is_ok())),
        ];
        let shared = local.shared.clone();
        let mut handles = shared.blocking.spawn_together(jobs, &shared).into_iter();
        let (consumer, producer) = (handles.next().unwrap(), handles.next().unwrap());
        assert!(
            consumer.await.unwrap(),
            "the second job never ran while the first waited for it"
        );
        assert!(producer.await.unwrap());
    });
}

/// A burst of jobs with one idle thread: each job must wake (or start) a
/// thread of its own, not send every wake-up to the same sleeper.
#[test]
fn a_burst_with_one_idle_thread_starts_a_thread_per_job() {
    const JOBS: usize = 8;
    let local = runtime(Duration::ZERO);
    local.block_on(async {
        spawn_blocking(|| ()).await.unwrap();
        wait_for_pool(&local, "idle", |idle, spinning| idle == 1 && !spinning);
        // Every job waits until all of them run at once.
        let started = Arc::new((Mutex::new(0usize), Condvar::new()));
        let jobs: Vec<_> = (0..JOBS)
            .map(|_| {
                let started = started.clone();
                spawn_blocking(move || {
                    let (count, all) = &*started;
                    let mut count = count.lock().unwrap();
                    *count += 1;
                    all.notify_all();
                    let (count, _) = all
                        .wait_timeout_while(count, PATIENCE, |n| *n < JOBS)
                        .unwrap();
                    *count
                })
            })
            .collect();
        for job in jobs {
            assert_eq!(
                job.await.unwrap(),
                JOBS,
                "not every job of the burst got a thread"
            );
        }
    });
}
