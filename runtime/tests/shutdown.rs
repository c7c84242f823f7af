//! Integration tests of runtime shutdown: dropping a `Runtime` must drop
//! every future it still holds (whatever the task was waiting on, queued,
//! never polled, or spawned from another thread and never run), and every
//! `JoinHandle` must then report a cancellation.

// Runtimes hand JoinHandles out of `block_on` on purpose, to await them
// after the runtime is gone or on another one.
#![allow(clippy::async_yields_async)]

use std::future::{pending, poll_fn, Future};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{self};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use spindle_runtime::time::{sleep, timeout};
use spindle_runtime::{block_on, spawn, yield_now, JoinError, JoinHandle, Runtime};

mod support;
use support::{bounded, counter, OnDrop};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const HANG: Duration = Duration::from_secs(10);

/// A future that holds a drop counter, records whether it was ever polled,
/// then behaves like `inner`.
fn guarded<F: Future>(
    drops: &Arc<AtomicUsize>,
    polled: &Arc<AtomicBool>,
    inner: F,
) -> impl Future<Output = F::Output> {
    let g = OnDrop(drops.clone());
    let polled = polled.clone();
    async move {
        let _g = g;
        polled.store(true, SeqCst);
        inner.await
    }
}

/// Awaits every handle on a fresh runtime (bounded) and returns the results.
fn join_all_elsewhere<T: 'static>(hs: Vec<JoinHandle<T>>) -> Vec<Result<T, JoinError>> {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let mut out = Vec::new();
        for h in hs {
            out.push(
                timeout(HANG, h)
                    .await
                    .expect("a JoinHandle of a dropped runtime never resolved"),
            );
        }
        out
    })
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn dropping_runtime_drops_every_future() {
    bounded(30, || {
        let drops = counter();
        let rt = support::current_thread();
        let handle = rt.handle();
        let polled_once = Arc::new(AtomicBool::new(false));
        let never = |n: usize| -> Vec<Arc<AtomicBool>> {
            (0..n).map(|_| Arc::new(AtomicBool::new(false))).collect()
        };
        let queued_flags = never(3);
        let (mut handles, mut expected) = rt.block_on(async {
            let mut hs: Vec<JoinHandle<()>> = Vec::new();
            let mut expected = 0;
            // Pending on a future that is never woken.
            hs.push(spawn(guarded(&drops, &polled_once, pending::<()>())));
            expected += 1;
            // Pending on a one-hour sleep.
            hs.push(spawn(guarded(
                &drops,
                &polled_once,
                sleep(Duration::from_secs(3600)),
            )));
            expected += 1;
            // Pending on the JoinHandle of another pending task.
            let inner = spawn(guarded(&drops, &polled_once, pending::<()>()));
            hs.push(spawn(guarded(&drops, &polled_once, async move {
                let _ = inner.await;
            })));
            expected += 2;
            // Detached tasks (handle dropped), one sleeping, one pending.
            drop(spawn(guarded(
                &drops,
                &polled_once,
                sleep(Duration::from_secs(3600)),
            )));
            drop(spawn(guarded(&drops, &polled_once, pending::<()>())));
            expected += 2;
            // A task in the middle of a yield loop (always in the run queue).
            hs.push(spawn(guarded(&drops, &polled_once, async {
                loop {
                    yield_now().await;
                }
            })));
            expected += 1;
            // Let every task above be polled at least once.
            spawn(async {}).await.unwrap();
            // Spawned last, never polled: still in the run queue on return.
            hs.push(spawn(guarded(&drops, &queued_flags[0], pending::<()>())));
            drop(spawn(guarded(&drops, &queued_flags[1], pending::<()>())));
            expected += 2;
            (hs, expected)
        });
        // Spawned outside block_on, never run.
        handles.push(rt.spawn(guarded(&drops, &queued_flags[2], pending::<()>())));
        expected += 1;
        // Spawned from another thread, never run.
        let remote_flags = never(5);
        let remote: Vec<JoinHandle<()>> = {
            let (handle, drops, flags) = (handle.clone(), drops.clone(), remote_flags.clone());
            thread::spawn(move || {
                flags
                    .iter()
                    .map(|f| handle.spawn(guarded(&drops, f, pending::<()>())))
                    .collect()
            })
            .join()
            .unwrap()
        };
        expected += remote.len();
        handles.extend(remote);

        assert_eq!(drops.load(SeqCst), 0, "futures dropped before the runtime");
        drop(rt);
        assert_eq!(drops.load(SeqCst), expected, "not every future was dropped");
        assert!(polled_once.load(SeqCst));
        for f in queued_flags.iter().chain(&remote_flags) {
            assert!(
                !f.load(SeqCst),
                "a never-run task was polled during shutdown"
            );
        }
        for h in &handles {
            assert!(h.is_finished());
        }
        for r in join_all_elsewhere(handles) {
            assert!(r.unwrap_err().is_cancelled());
        }
        // A handle to the dead runtime still spawns (the task is dropped at once).
        let d2 = counter();
        let late = handle.spawn(guarded(&d2, &Arc::new(AtomicBool::new(false)), async {}));
        assert_eq!(d2.load(SeqCst), 1);
        assert!(join_all_elsewhere(vec![late])[0]
            .as_ref()
            .unwrap_err()
            .is_cancelled());
    });
}

#[test]
fn block_on_function_drops_leftover_tasks() {
    bounded(20, || {
        let drops = counter();
        let flag = Arc::new(AtomicBool::new(false));
        let h = block_on(async {
            let h = spawn(guarded(&drops, &flag, sleep(Duration::from_secs(3600))));
            spawn(async {}).await.unwrap();
            h
        });
        assert_eq!(drops.load(SeqCst), 1);
        assert!(join_all_elsewhere(vec![h])[0]
            .as_ref()
            .unwrap_err()
            .is_cancelled());
    });
}

#[test]
fn completed_output_survives_runtime_drop() {
    bounded(20, || {
        let drops = counter();
        let rt = Runtime::new().unwrap();
        let d = drops.clone();
        let h = rt.block_on(async move {
            let h = spawn(async move { (5, OnDrop(d)) });
            // On one thread the task has run once a later one has; with
            // several workers it may still be running elsewhere. Wait for
            // it without taking its output.
            while !h.is_finished() {
                spindle_runtime::yield_now().await;
            }
            h
        });
        drop(rt);
        assert_eq!(drops.load(SeqCst), 0, "output dropped by shutdown");
        let mut out = join_all_elsewhere(vec![h]);
        let (v, guard) = out.pop().unwrap().expect("output of a completed task lost");
        assert_eq!(v, 5);
        drop(guard);
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// A future whose `Drop` spawns another task during shutdown: the new task
/// must be dropped too.
#[test]
fn futures_spawned_while_shutting_down_are_dropped_too() {
    struct SpawnOnDrop {
        drops: Arc<AtomicUsize>,
        tx: mpsc::Sender<JoinHandle<()>>,
    }
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            let g = OnDrop(self.drops.clone());
            let h = spawn(async move {
                let _g = g;
                pending::<()>().await
            });
            let _ = self.tx.send(h);
        }
    }
    bounded(20, || {
        let drops = counter();
        let (tx, rx) = mpsc::channel();
        let rt = Runtime::new().unwrap();
        let s = SpawnOnDrop {
            drops: drops.clone(),
            tx,
        };
        rt.block_on(async move {
            drop(spawn(async move {
                let _s = s;
                pending::<()>().await
            }));
            spawn(async {}).await.unwrap();
        });
        drop(rt);
        let inner = rx.try_recv().expect("SpawnOnDrop was not dropped");
        assert_eq!(drops.load(SeqCst), 1, "task spawned during shutdown leaked");
        assert!(join_all_elsewhere(vec![inner])[0]
            .as_ref()
            .unwrap_err()
            .is_cancelled());
    });
}

/// The same, from a task that was spawned through a `Handle` from another
/// thread and never ran (it is still in the injection queue at shutdown).
#[test]
fn never_run_remote_task_whose_drop_spawns_is_fully_dropped() {
    struct SpawnOnDrop {
        drops: Arc<AtomicUsize>,
        tx: mpsc::Sender<JoinHandle<()>>,
    }
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            let g = OnDrop(self.drops.clone());
            let h = spawn(async move {
                let _g = g;
                pending::<()>().await
            });
            let _ = self.tx.send(h);
        }
    }
    bounded(30, || {
        let drops = counter();
        let (tx, rx) = mpsc::channel();
        let rt = Runtime::new().unwrap();
        let handle = rt.handle();
        let s = SpawnOnDrop {
            drops: drops.clone(),
            tx,
        };
        let outer = thread::spawn(move || {
            handle.spawn(async move {
                let _s = s;
                pending::<()>().await
            })
        })
        .join()
        .unwrap();
        drop(rt);
        let inner = rx.try_recv().expect("SpawnOnDrop was not dropped");
        assert!(outer.is_finished());
        let inner_dropped = drops.load(SeqCst);
        let results = {
            let rt = Runtime::new().unwrap();
            rt.block_on(async {
                (
                    timeout(Duration::from_secs(2), outer).await,
                    timeout(Duration::from_secs(2), inner).await,
                )
            })
        };
        assert!(results.0.unwrap().unwrap_err().is_cancelled());
        assert_eq!(
            inner_dropped, 1,
            "task spawned while dropping an orphan was never cancelled"
        );
        let inner = results
            .1
            .expect("JoinHandle of a task spawned during shutdown never resolves");
        assert!(inner.unwrap_err().is_cancelled());
    });
}

/// Dropping a future during shutdown may wake or abort other tasks.
#[test]
fn drops_that_wake_and_abort_other_tasks_during_shutdown() {
    struct WakeOnDrop(Arc<Mutex<Option<Waker>>>, Option<JoinHandle<()>>);
    impl Drop for WakeOnDrop {
        fn drop(&mut self) {
            if let Some(w) = self.0.lock().unwrap().take() {
                w.wake();
            }
            if let Some(h) = &self.1 {
                h.abort();
            }
        }
    }
    bounded(20, || {
        let drops = counter();
        let rt = Runtime::new().unwrap();
        let flag = Arc::new(AtomicBool::new(false));
        let hs = rt.block_on(async {
            let slot: Arc<Mutex<Option<Waker>>> = Arc::new(Mutex::new(None));
            let s = slot.clone();
            let sleeper = spawn(guarded(
                &drops,
                &flag,
                poll_fn(move |cx| {
                    *s.lock().unwrap() = Some(cx.waker().clone());
                    Poll::<()>::Pending
                }),
            ));
            let victim = spawn(guarded(&drops, &flag, sleep(Duration::from_secs(3600))));
            let w = WakeOnDrop(slot, Some(victim));
            let waker_task = spawn(guarded(&drops, &flag, async move {
                let _w = w;
                pending::<()>().await
            }));
            spawn(async {}).await.unwrap();
            vec![waker_task, sleeper]
        });
        drop(rt);
        assert_eq!(drops.load(SeqCst), 3);
        for r in join_all_elsewhere(hs) {
            assert!(r.unwrap_err().is_cancelled());
        }
    });
}

#[test]
fn panicking_drop_during_shutdown_does_not_stop_it() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("drop panics during shutdown");
        }
    }
    bounded(20, || {
        let drops = counter();
        let flag = Arc::new(AtomicBool::new(false));
        let rt = Runtime::new().unwrap();
        let hs = rt.block_on(async {
            let mut hs = Vec::new();
            for i in 0..10 {
                if i % 3 == 0 {
                    hs.push(spawn(async {
                        let _p = PanicOnDrop;
                        pending::<()>().await
                    }));
                } else {
                    hs.push(spawn(guarded(&drops, &flag, pending::<()>())));
                }
            }
            spawn(async {}).await.unwrap();
            hs
        });
        let r = panic::catch_unwind(AssertUnwindSafe(|| drop(rt)));
        assert!(r.is_ok(), "a panicking Drop escaped from Runtime::drop");
        assert_eq!(drops.load(SeqCst), 6);
        for (i, r) in join_all_elsewhere(hs).into_iter().enumerate() {
            let e = r.unwrap_err();
            if i % 3 == 0 {
                assert!(e.is_panic() || e.is_cancelled());
            } else {
                assert!(e.is_cancelled());
            }
        }
    });
}

/// A plain thread keeps a task's `Waker` past the runtime's death and wakes
/// it afterwards; nothing happens, nothing crashes.
#[test]
fn waker_outliving_runtime_is_harmless() {
    bounded(20, || {
        let drops = counter();
        let flag = Arc::new(AtomicBool::new(false));
        let slot: Arc<Mutex<Option<Waker>>> = Arc::new(Mutex::new(None));
        let main_slot: Arc<Mutex<Option<Waker>>> = Arc::new(Mutex::new(None));
        let rt = Runtime::new().unwrap();
        let h = rt.block_on(async {
            let s = slot.clone();
            let h = spawn(guarded(
                &drops,
                &flag,
                poll_fn(move |cx| {
                    *s.lock().unwrap() = Some(cx.waker().clone());
                    Poll::<()>::Pending
                }),
            ));
            spawn(async {}).await.unwrap();
            // Keep the main future's waker too.
            poll_fn(|cx| {
                *main_slot.lock().unwrap() = Some(cx.waker().clone());
                Poll::Ready(())
            })
            .await;
            h
        });
        drop(rt);
        assert_eq!(drops.load(SeqCst), 1);
        let w = slot.lock().unwrap().take().unwrap();
        let mw = main_slot.lock().unwrap().take().unwrap();
        // Same thread, outside any runtime.
        w.wake_by_ref();
        mw.wake_by_ref();
        // Another thread, then dropped there.
        thread::spawn(move || {
            w.wake_by_ref();
            let w2 = w.clone();
            w2.wake();
            mw.wake();
            w.wake();
        })
        .join()
        .unwrap();
        assert!(join_all_elsewhere(vec![h])[0]
            .as_ref()
            .unwrap_err()
            .is_cancelled());
    });
}

/// A `Sleep` registered with a runtime that is then dropped can be dropped
/// later, or awaited on another runtime.
#[test]
fn sleep_outliving_its_runtime() {
    bounded(20, || {
        let rt = Runtime::new().unwrap();
        let mut a = Box::pin(sleep(Duration::from_millis(20)));
        let mut b = Box::pin(sleep(Duration::from_millis(3_600_000)));
        rt.block_on(poll_fn(|cx| {
            assert!(a.as_mut().poll(cx).is_pending());
            assert!(b.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        }));
        drop(rt);
        drop(b);
        let rt2 = Runtime::new().unwrap();
        rt2.block_on(async {
            timeout(HANG, a)
                .await
                .expect("sleep moved to a new runtime never fired")
        });
        // And the new runtime's timers are fine.
        rt2.block_on(sleep(Duration::from_millis(1)));
    });
}

/// Dropping a runtime inside another runtime's `block_on`.
#[test]
fn drop_runtime_inside_another_runtime() {
    bounded(20, || {
        let drops = counter();
        let flag = Arc::new(AtomicBool::new(false));
        let rt1 = Runtime::new().unwrap();
        let hs = rt1.block_on(async {
            let a = spawn(guarded(&drops, &flag, sleep(Duration::from_secs(3600))));
            let b = spawn(guarded(&drops, &flag, pending::<()>()));
            spawn(async {}).await.unwrap();
            vec![a, b]
        });
        let rt2 = Runtime::new().unwrap();
        let d = drops.clone();
        let out = rt2.block_on(async move {
            let t = spawn(async {
                sleep(Duration::from_millis(2)).await;
                1
            });
            drop(rt1);
            assert_eq!(d.load(SeqCst), 2);
            // rt2 is still current and works.
            let mut sum = timeout(HANG, t).await.unwrap().unwrap();
            sleep(Duration::from_millis(1)).await;
            sum += spawn(async { 1 }).await.unwrap();
            let mut out = Vec::new();
            for h in hs {
                out.push(timeout(HANG, h).await.unwrap());
            }
            (sum, out)
        });
        assert_eq!(out.0, 2);
        for r in out.1 {
            assert!(r.unwrap_err().is_cancelled());
        }
    });
}

fn chain(
    n: usize,
    drops: Arc<AtomicUsize>,
    polled: Arc<AtomicUsize>,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let _g = OnDrop(drops.clone());
        polled.fetch_add(1, SeqCst);
        if n == 0 {
            pending::<()>().await
        } else {
            let _ = spawn(chain(n - 1, drops, polled)).await;
        }
    })
}

/// Builds a chain of `links` tasks, each awaiting the next, the last one
/// pending forever; drops the runtime; checks every future was dropped and
/// the top handle reports a cancellation.
fn drop_chain_of_pending_tasks(links: usize) {
    let drops = counter();
    let polled = counter();
    let rt = Runtime::new().unwrap();
    let (d, p) = (drops.clone(), polled.clone());
    let top = rt.block_on(async move {
        let top = spawn(chain(links - 1, d.clone(), p.clone()));
        // Wait until every link has been spawned and polled.
        let waiter = spawn(async move {
            while p.load(SeqCst) < links {
                yield_now().await;
            }
        });
        timeout(HANG, waiter)
            .await
            .expect("chain never built")
            .unwrap();
        assert_eq!(d.load(SeqCst), 0, "a chain link finished early");
        top
    });
    drop(rt);
    assert_eq!(drops.load(SeqCst), links);
    assert!(join_all_elsewhere(vec![top])[0]
        .as_ref()
        .unwrap_err()
        .is_cancelled());
}

#[test]
fn short_chain_of_pending_tasks_is_dropped() {
    bounded(30, || drop_chain_of_pending_tasks(100));
}

/// 10 000 tasks each awaiting the next, the last one pending forever,
/// dropped with the runtime: every future dropped, no deep recursion.
#[test]
fn deep_chain_of_pending_tasks_is_dropped() {
    bounded(60, || drop_chain_of_pending_tasks(10_001));
}

/// A thread keeps spawning through a `Handle` while the runtime is dropped:
/// every future is dropped exactly once, and every handle ends cancelled
/// (or completed, for tasks that ran before the drop).
#[test]
fn handle_spawn_racing_with_runtime_drop() {
    bounded(60, || {
        let drops = counter();
        let ran = counter();
        let rt = Runtime::new().unwrap();
        let handle = rt.handle();
        let spawned = counter();
        let t = {
            let (drops, ran, spawned) = (drops.clone(), ran.clone(), spawned.clone());
            thread::spawn(move || {
                let mut hs = Vec::new();
                loop {
                    let g = OnDrop(drops.clone());
                    let ran = ran.clone();
                    let h = handle.spawn(async move {
                        let _g = g;
                        ran.fetch_add(1, SeqCst);
                        pending::<()>().await
                    });
                    spawned.fetch_add(1, SeqCst);
                    let done = h.is_finished();
                    hs.push(h);
                    if done {
                        // Spawned after the runtime closed: dropped at once.
                        break hs;
                    }
                }
            })
        };
        rt.block_on(async {
            let s = spawned.clone();
            let waiter = spawn(async move {
                while s.load(SeqCst) < 200 {
                    yield_now().await;
                }
            });
            timeout(HANG, waiter).await.unwrap().unwrap();
        });
        drop(rt);
        let hs = t.join().unwrap();
        assert_eq!(hs.len(), spawned.load(SeqCst));
        assert_eq!(
            drops.load(SeqCst),
            hs.len(),
            "a future was leaked or dropped twice"
        );
        for r in join_all_elsewhere(hs) {
            assert!(r.unwrap_err().is_cancelled());
        }
    });
}

/// Timers of a dropped runtime are gone: a task whose sleep would have
/// completed is not resurrected, its handle is cancelled.
#[test]
fn sleeping_tasks_are_cancelled_not_completed() {
    bounded(20, || {
        let rt = support::current_thread();
        let completed = Arc::new(AtomicBool::new(false));
        let c = completed.clone();
        let h = rt.block_on(async move {
            let h = spawn(async move {
                sleep(Duration::from_millis(1)).await;
                c.store(true, SeqCst);
            });
            spawn(async {}).await.unwrap();
            h
        });
        thread::sleep(Duration::from_millis(5)); // the deadline passes, the runtime is idle
        drop(rt);
        assert!(!completed.load(SeqCst));
        assert!(join_all_elsewhere(vec![h])[0]
            .as_ref()
            .unwrap_err()
            .is_cancelled());
    });
}
