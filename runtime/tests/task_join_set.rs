//! `task::JoinSet`: joining in completion order, abort_all, shutdown,
//! detach_all, drop, try_join_next, spawn_local / spawn_blocking, a
//! cancelled `join_next` losing nothing, use from another thread, and the
//! efficiency promise: the waiter is woken by completions only.

use std::future::{pending, poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use std::thread;
use std::time::Duration;

use spindle_runtime::channel::oneshot;
use spindle_runtime::sync::Notify;
use spindle_runtime::task::JoinSet;
use spindle_runtime::time::timeout;
use spindle_runtime::{block_on, yield_now, Runtime};

mod support;
use support::{bounded, counter, foreign_block_on, OnDrop};

const HANG: Duration = Duration::from_secs(10);

#[test]
fn join_next_returns_every_output_then_none() {
    bounded(10, || {
        block_on(async {
            let mut set = JoinSet::new();
            assert!(set.is_empty());
            for i in 0..100u64 {
                set.spawn(async move { i });
            }
            assert_eq!(set.len(), 100);
            let mut sum = 0;
            while let Some(res) = set.join_next().await {
                sum += res.unwrap();
            }
            assert_eq!(sum, 99 * 100 / 2);
            assert!(set.is_empty());
            assert!(set.join_next().await.is_none());
        })
    });
}

#[test]
fn results_come_in_completion_order() {
    bounded(10, || {
        block_on(async {
            let mut set = JoinSet::new();
            let mut senders = Vec::new();
            for i in 0..5u32 {
                let (tx, rx) = oneshot::channel::<()>();
                senders.push(tx);
                set.spawn(async move {
                    rx.await.unwrap();
                    i
                });
            }
            // Finish them in the order 3, 0, 4, 1, 2.
            let mut senders: Vec<Option<_>> = senders.into_iter().map(Some).collect();
            for i in [3usize, 0, 4, 1, 2] {
                senders[i].take().unwrap().send(()).unwrap();
                let got = timeout(HANG, set.join_next()).await.unwrap();
                assert_eq!(got.unwrap().unwrap(), i as u32);
            }
        })
    });
}

#[test]
fn abort_all_cancels_and_results_still_come_back() {
    bounded(10, || {
        support::block_on_current_thread(async {
            let drops = counter();
            let mut set = JoinSet::new();
            set.spawn(async { 1 });
            // Let the first task finish before the abort: it keeps its output.
            while set.try_join_next().is_none() {
                yield_now().await;
            }
            set.spawn(async { 1 });
            yield_now().await;
            for _ in 0..3 {
                let g = OnDrop(drops.clone());
                set.spawn(async move {
                    let _g = g;
                    pending::<u32>().await
                });
            }
            yield_now().await;
            set.abort_all();
            let (mut ok, mut cancelled) = (0, 0);
            while let Some(res) = timeout(HANG, set.join_next()).await.unwrap() {
                match res {
                    Ok(_) => ok += 1,
                    Err(e) if e.is_cancelled() => cancelled += 1,
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!((ok, cancelled), (1, 3));
            assert_eq!(drops.load(SeqCst), 3);
        })
    });
}

#[test]
fn shutdown_empties_the_set() {
    bounded(10, || {
        block_on(async {
            let drops = counter();
            let mut set = JoinSet::new();
            for _ in 0..10 {
                let g = OnDrop(drops.clone());
                set.spawn(async move {
                    let _g = g;
                    pending::<()>().await
                });
            }
            timeout(HANG, set.shutdown()).await.unwrap();
            assert!(set.is_empty());
            assert_eq!(drops.load(SeqCst), 10);
        })
    });
}

#[test]
fn dropping_the_set_aborts_its_tasks() {
    bounded(10, || {
        block_on(async {
            let drops = counter();
            let mut set = JoinSet::new();
            let mut aborts = Vec::new();
            for _ in 0..10 {
                let g = OnDrop(drops.clone());
                aborts.push(set.spawn(async move {
                    let _g = g;
                    pending::<()>().await
                }));
            }
            yield_now().await;
            drop(set);
            for a in &aborts {
                while !a.is_finished() {
                    yield_now().await;
                }
            }
            assert_eq!(drops.load(SeqCst), 10);
        })
    });
}

#[test]
fn detach_all_lets_tasks_run_on() {
    bounded(10, || {
        block_on(async {
            let mut set = JoinSet::new();
            let (go_tx, go_rx) = oneshot::channel::<()>();
            let (done_tx, done_rx) = oneshot::channel::<u32>();
            set.spawn(async move {
                go_rx.await.unwrap();
                done_tx.send(5).unwrap();
            });
            set.detach_all();
            assert!(set.is_empty());
            drop(set);
            go_tx.send(()).unwrap();
            assert_eq!(timeout(HANG, done_rx).await.unwrap().unwrap(), 5);
        })
    });
}

/// A key from a detached task must not be taken for the newer task that
/// reused its slot.
#[test]
fn a_detached_task_finishing_later_is_not_confused_with_a_new_one() {
    bounded(10, || {
        block_on(async {
            let mut set = JoinSet::new();
            let (old_tx, old_rx) = oneshot::channel::<()>();
            let old = set.spawn(async move {
                old_rx.await.unwrap();
                "old"
            });
            // The old task is parked in its await, its completion waker in place.
            yield_now().await;
            set.detach_all();
            let (new_tx, new_rx) = oneshot::channel::<()>();
            set.spawn(async move {
                new_rx.await.unwrap();
                "new"
            });
            old_tx.send(()).unwrap();
            while !old.is_finished() {
                yield_now().await;
            }
            assert!(set.try_join_next().is_none());
            assert_eq!(set.len(), 1);
            new_tx.send(()).unwrap();
            let got = timeout(HANG, set.join_next()).await.unwrap();
            assert_eq!(got.unwrap().unwrap(), "new");
        })
    });
}

#[test]
fn try_join_next_does_not_wait() {
    bounded(10, || {
        support::block_on_current_thread(async {
            let mut set = JoinSet::new();
            assert!(set.try_join_next().is_none());
            let (tx, rx) = oneshot::channel::<()>();
            let h = set.spawn(async move {
                rx.await.unwrap();
                3
            });
            yield_now().await;
            assert!(set.try_join_next().is_none());
            tx.send(()).unwrap();
            while !h.is_finished() {
                yield_now().await;
            }
            assert_eq!(set.try_join_next().unwrap().unwrap(), 3);
            assert!(set.try_join_next().is_none());
        })
    });
}

#[test]
fn join_next_with_id_names_the_task() {
    bounded(10, || {
        block_on(async {
            let mut set = JoinSet::new();
            let abort = set.spawn(async { spindle_runtime::task::id() });
            let (id, inner) = set.join_next_with_id().await.unwrap().unwrap();
            assert_eq!(id, abort.id());
            assert_eq!(inner, id);
        })
    });
}

#[test]
fn spawn_local_and_spawn_blocking_join_too() {
    bounded(10, || {
        block_on(async {
            let mut set = JoinSet::new();
            let rc = Rc::new(5);
            set.spawn_local(async move { *rc });
            for i in 0..20 {
                set.spawn_blocking(move || i);
            }
            let mut sum = 0;
            while let Some(res) = timeout(HANG, set.join_next()).await.unwrap() {
                sum += res.unwrap();
            }
            assert_eq!(sum, 5 + 19 * 20 / 2);
        })
    });
}

#[test]
fn a_cancelled_join_next_loses_nothing() {
    bounded(10, || {
        block_on(async {
            let mut set = JoinSet::new();
            let (tx, rx) = oneshot::channel::<()>();
            set.spawn(async move {
                rx.await.unwrap();
                9
            });
            {
                let mut next = pin!(set.join_next());
                // Poll once: pending. Then drop it mid-await.
                poll_fn(|cx| {
                    assert!(next.as_mut().poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
            }
            tx.send(()).unwrap();
            let got = timeout(HANG, set.join_next()).await.unwrap();
            assert_eq!(got.unwrap().unwrap(), 9);
        })
    });
}

#[test]
fn panics_come_back_as_join_errors() {
    bounded(10, || {
        block_on(async {
            let mut set = JoinSet::new();
            set.spawn(async { panic!("boom") });
            let err = set.join_next().await.unwrap().unwrap_err();
            assert!(err.is_panic());
            assert_eq!(err.panic_message(), Some("boom"));
        })
    });
}

#[test]
fn join_all_collects_and_resumes_a_panic() {
    bounded(10, || {
        block_on(async {
            let set: JoinSet<u32> = (0..10).map(|i| async move { i }).collect();
            let mut all = set.join_all().await;
            all.sort();
            assert_eq!(all, (0..10).collect::<Vec<_>>());
        });
        let rt = Runtime::new().unwrap();
        let drops = counter();
        let d = drops.clone();
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(async move {
                let mut set = JoinSet::new();
                let g = OnDrop(d);
                set.spawn(async move {
                    let _g = g;
                    pending::<()>().await
                });
                set.spawn(async { panic!("join_all boom") });
                set.join_all().await
            })
        }));
        let payload = res.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"join_all boom"));
        // The pending task was aborted when the set went away with the panic.
        rt.block_on(async {
            while drops.load(SeqCst) == 0 {
                yield_now().await;
            }
        });
    });
}

/// The waiter is woken by completions only: tasks in the set that are
/// woken without finishing do not wake (or make work for) `join_next`.
#[test]
fn join_next_wakes_only_on_completion() {
    bounded(20, || {
        support::block_on_current_thread(async {
            const TASKS: usize = 1000;
            let notify = Arc::new(Notify::new());
            // How many waits the tasks have entered: counted in the same
            // poll that registers the wait, so once it reaches a round's
            // total, every task is waiting.
            let waiting = Arc::new(AtomicUsize::new(0));
            let mut set = JoinSet::new();
            for _ in 0..TASKS {
                let notify = notify.clone();
                let waiting = waiting.clone();
                set.spawn(async move {
                    // Woken many times, finishing only on the 4th notification.
                    for _ in 0..4 {
                        let notified = notify.notified();
                        waiting.fetch_add(1, SeqCst);
                        notified.await;
                    }
                });
            }
            let all_waiting = |round: usize| {
                let waiting = waiting.clone();
                async move {
                    while waiting.load(SeqCst) < TASKS * round {
                        yield_now().await;
                    }
                }
            };
            let polls = AtomicUsize::new(0);
            let mut next = pin!(set.join_next());
            let mut wait = pin!(poll_fn(|cx| {
                polls.fetch_add(1, SeqCst);
                next.as_mut().poll(cx)
            }));
            // Poll the waiter once: pending.
            poll_fn(|cx| {
                assert!(wait.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            // Wake every task three times; none completes.
            for round in 1..=3 {
                all_waiting(round).await;
                notify.notify_waiters();
            }
            all_waiting(4).await;
            assert_eq!(
                polls.load(SeqCst),
                1,
                "join_next was woken without a completion"
            );
            notify.notify_waiters();
            let first = timeout(HANG, wait.as_mut()).await.unwrap();
            assert!(first.unwrap().is_ok());
            // One poll when `timeout` first ran (nothing finished yet), one
            // for the wake of the first completion.
            assert_eq!(polls.load(SeqCst), 3);
        })
    });
}

/// A set is `Send`: filled and joined from a plain thread, with tasks on a
/// runtime running elsewhere.
#[test]
fn joined_from_another_thread() {
    bounded(20, || {
        let rt = Runtime::new().unwrap();
        let handle = rt.handle();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let joiner = thread::spawn(move || {
            let mut set = JoinSet::new();
            for i in 0..200u64 {
                set.spawn_on(
                    async move {
                        yield_now().await;
                        i
                    },
                    &handle,
                );
            }
            let sum = foreign_block_on(async {
                let mut sum = 0;
                while let Some(res) = set.join_next().await {
                    sum += res.unwrap();
                }
                sum
            });
            stop_tx.send(()).unwrap();
            sum
        });
        rt.block_on(async { stop_rx.await.unwrap() });
        assert_eq!(joiner.join().unwrap(), 199 * 200 / 2);
    });
}
