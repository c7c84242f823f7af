//! Integration tests of tasks: spawning, joining, detaching, aborting,
//! panics, `spawn_local`, `yield_now` ordering, `JoinError`, and spawning or
//! waking from plain threads (the runtime parked in `epoll_wait`).
//!
//! Every test that could hang runs under [`bounded`] (a watchdog thread) and
//! awaits with `time::timeout`, so a lost wake-up fails instead of hanging.

// Runtimes hand JoinHandles out of `block_on` on purpose, to await them
// after the runtime is gone or on another one.
#![allow(clippy::async_yields_async)]

use std::cell::{Cell, RefCell};
use std::future::{pending, poll_fn, Future};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{self};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use spindle_runtime::time::{sleep, timeout};
use spindle_runtime::{
    block_on, spawn, spawn_local, yield_now, Handle, JoinError, JoinHandle, Runtime,
};

mod support;
use support::{bounded, counter, panic_message, OnDrop};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Generous bound for awaits that must complete "soon" (only detects hangs).
const HANG: Duration = Duration::from_secs(10);

/// A one-shot channel usable from any thread (std only).
struct Chan<T> {
    value: Option<T>,
    waker: Option<Waker>,
}

struct Tx<T>(Arc<Mutex<Chan<T>>>);
struct Rx<T>(Arc<Mutex<Chan<T>>>);

fn oneshot<T>() -> (Tx<T>, Rx<T>) {
    let c = Arc::new(Mutex::new(Chan {
        value: None,
        waker: None,
    }));
    (Tx(c.clone()), Rx(c))
}

impl<T> Tx<T> {
    fn send(self, v: T) {
        let waker = {
            let mut c = self.0.lock().unwrap();
            c.value = Some(v);
            c.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Future for Rx<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut c = self.0.lock().unwrap();
        match c.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                c.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Linux thread id of the calling thread.
fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Waits (spinning, bounded) until thread `tid` of this process is blocked
/// in `epoll_wait`, i.e. the runtime on it is parked.
fn wait_until_in_epoll(tid: i32) {
    let wchan = format!("/proc/self/task/{tid}/wchan");
    let stat = format!("/proc/self/task/{tid}/stat");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let w = std::fs::read_to_string(&wchan).unwrap_or_default();
        let s = std::fs::read_to_string(&stat).unwrap_or_default();
        let sleeping = s
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('S'));
        // epoll_wait, poll, select or io_uring_enter, whichever backend runs.
        let in_poller = ["poll", "select", "uring", "cqring"]
            .iter()
            .any(|name| w.contains(name));
        if sleeping && in_poller {
            return;
        }
        thread::yield_now();
    }
    panic!("the runtime thread never blocked in its poller although nothing was runnable");
}

// ---------------------------------------------------------------------------
// spawn / join
// ---------------------------------------------------------------------------

#[test]
fn spawn_and_join_returns_outputs() {
    bounded(20, || {
        block_on(async {
            assert_eq!(spawn(async { 40 + 2 }).await.unwrap(), 42);
            assert_eq!(
                spawn(async { String::from("hello") }).await.unwrap(),
                "hello"
            );
            spawn(async {}).await.unwrap();
            let v = spawn(async { vec![1u8; 1 << 20] }).await.unwrap();
            assert_eq!(v.len(), 1 << 20);

            // Handles awaited in reverse order of spawning.
            let hs: Vec<JoinHandle<usize>> = (0..100)
                .map(|i| {
                    spawn(async move {
                        for _ in 0..(i % 5) {
                            yield_now().await;
                        }
                        i
                    })
                })
                .collect();
            for (i, h) in hs.into_iter().enumerate().rev() {
                assert_eq!(h.await.unwrap(), i);
            }
        })
    });
}

#[test]
fn join_handle_is_send_and_can_be_awaited_by_another_task() {
    bounded(20, || {
        block_on(async {
            let inner = spawn(async {
                yield_now().await;
                7u32
            });
            let outer = spawn(async move { inner.await.unwrap() * 6 });
            assert_eq!(timeout(HANG, outer).await.unwrap().unwrap(), 42);
        })
    });
}

#[test]
fn runtime_spawn_before_block_on_runs_in_block_on() {
    bounded(20, || {
        let rt = Runtime::new().unwrap();
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let h = rt.spawn(async move {
            r.store(true, SeqCst);
            5
        });
        assert!(!ran.load(SeqCst), "spawned task ran before any block_on");
        assert!(!h.is_finished());
        let v = rt.block_on(h).unwrap();
        assert_eq!(v, 5);
        assert!(ran.load(SeqCst));
    });
}

#[test]
fn dropped_join_handle_detaches_task_which_still_completes() {
    bounded(20, || {
        block_on(async {
            let done = counter();
            let output_drops = counter();
            let (tx, rx) = mpsc::channel();
            let (sig_tx, sig_rx) = oneshot();
            {
                let done = done.clone();
                let output_drops = output_drops.clone();
                let h = spawn(async move {
                    for _ in 0..10 {
                        yield_now().await;
                    }
                    sleep(Duration::from_millis(2)).await;
                    done.fetch_add(1, SeqCst);
                    tx.send("finished").unwrap();
                    sig_tx.send(());
                    // The output is dropped by the runtime, nobody reads it.
                    OnDrop(output_drops)
                });
                drop(h);
            }
            assert_eq!(done.load(SeqCst), 0);
            timeout(HANG, sig_rx)
                .await
                .expect("detached task never ran");
            // Let the task return after signalling.
            let h = spawn(async {});
            h.await.unwrap();
            yield_now().await;
            assert_eq!(done.load(SeqCst), 1);
            assert_eq!(rx.try_recv().unwrap(), "finished");
            // Its output (no handle to take it) must have been dropped.
            let waiter = spawn({
                let output_drops = output_drops.clone();
                async move {
                    while output_drops.load(SeqCst) == 0 {
                        yield_now().await;
                    }
                }
            });
            timeout(HANG, waiter)
                .await
                .expect("output of detached task never dropped")
                .unwrap();
            assert_eq!(output_drops.load(SeqCst), 1);
        })
    });
}

#[test]
fn is_finished_tracks_completion() {
    bounded(20, || {
        support::block_on_current_thread(async {
            let (tx, rx) = oneshot::<()>();
            let h = spawn(async move {
                rx.await;
                1
            });
            assert!(!h.is_finished());
            let helper = spawn(async {});
            helper.await.unwrap(); // h has run once and is now waiting.
            assert!(!h.is_finished());
            tx.send(());
            let waiter = spawn(async {
                yield_now().await;
            });
            waiter.await.unwrap();
            // h was woken before `waiter` was spawned, so it ran first.
            assert!(h.is_finished());
            assert!(format!("{h:?}").contains("true"));
            assert_eq!(h.await.unwrap(), 1);

            let p = spawn(async { panic!("x") });
            let c = spawn(pending::<()>());
            c.abort();
            spawn(async {}).await.unwrap();
            assert!(p.is_finished());
            assert!(c.is_finished());
            assert!(p.await.unwrap_err().is_panic());
            assert!(c.await.unwrap_err().is_cancelled());
        })
    });
}

// ---------------------------------------------------------------------------
// abort
// ---------------------------------------------------------------------------

#[test]
fn abort_idle_task_drops_future_and_reports_cancelled() {
    bounded(20, || {
        block_on(async {
            let drops = counter();
            let (started_tx, started_rx) = oneshot();
            let after_pending = Arc::new(AtomicBool::new(false));
            let h = spawn({
                let g = OnDrop(drops.clone());
                let after = after_pending.clone();
                async move {
                    let _g = g;
                    started_tx.send(());
                    pending::<()>().await;
                    after.store(true, SeqCst);
                }
            });
            timeout(HANG, started_rx).await.unwrap();
            assert_eq!(drops.load(SeqCst), 0);
            assert!(!h.is_finished());
            h.abort();
            h.abort(); // a second abort is harmless
            let err = timeout(HANG, h)
                .await
                .expect("aborted task hung")
                .unwrap_err();
            assert!(err.is_cancelled());
            assert!(!err.is_panic());
            assert_eq!(err.panic_message(), None);
            assert_eq!(drops.load(SeqCst), 1);
            assert!(!after_pending.load(SeqCst));
        })
    });
}

#[test]
fn abort_task_waiting_on_sleep() {
    bounded(20, || {
        block_on(async {
            let drops = counter();
            let (started_tx, started_rx) = oneshot();
            let h = spawn({
                let g = OnDrop(drops.clone());
                async move {
                    let _g = g;
                    started_tx.send(());
                    sleep(Duration::from_secs(3600)).await;
                }
            });
            timeout(HANG, started_rx).await.unwrap();
            h.abort();
            assert!(timeout(HANG, h).await.unwrap().unwrap_err().is_cancelled());
            assert_eq!(drops.load(SeqCst), 1);
            // The runtime's timers still work after the aborted sleep left the wheel.
            let t = Instant::now();
            sleep(Duration::from_millis(3)).await;
            assert!(t.elapsed() >= Duration::from_millis(3));
        })
    });
}

#[test]
fn abort_scheduled_task_before_it_ever_runs() {
    bounded(20, || {
        support::block_on_current_thread(async {
            let drops = counter();
            let polled = Arc::new(AtomicBool::new(false));
            let h = spawn({
                let g = OnDrop(drops.clone());
                let polled = polled.clone();
                async move {
                    let _g = g;
                    polled.store(true, SeqCst);
                    5
                }
            });
            h.abort();
            let err = timeout(HANG, h).await.unwrap().unwrap_err();
            assert!(err.is_cancelled());
            assert!(!polled.load(SeqCst), "aborted task was polled");
            assert_eq!(drops.load(SeqCst), 1);
        })
    });
}

#[test]
fn abort_before_block_on_runs_nothing() {
    bounded(20, || {
        // Only a current-thread runtime waits for `block_on` to run tasks;
        // workers would start this one at once.
        let rt = support::current_thread();
        let polled = Arc::new(AtomicBool::new(false));
        let p = polled.clone();
        let h = rt.spawn(async move {
            p.store(true, SeqCst);
        });
        h.abort();
        let err = rt.block_on(async { timeout(HANG, h).await.unwrap().unwrap_err() });
        assert!(err.is_cancelled());
        assert!(!polled.load(SeqCst));
    });
}

#[test]
fn abort_finished_task_keeps_its_output() {
    bounded(20, || {
        // "Finished before the next spawned task" is one thread's order.
        support::block_on_current_thread(async {
            let output_drops = counter();
            let h = spawn({
                let d = output_drops.clone();
                async move { (7, OnDrop(d)) }
            });
            spawn(async {}).await.unwrap(); // h ran to completion before this one
            assert!(h.is_finished());
            h.abort();
            let (v, guard) = timeout(HANG, h)
                .await
                .unwrap()
                .expect("output lost by abort");
            assert_eq!(v, 7);
            assert_eq!(output_drops.load(SeqCst), 0);
            drop(guard);
            assert_eq!(output_drops.load(SeqCst), 1);
        })
    });
}

/// A task gets its own `JoinHandle` through `slot`, aborts itself and then
/// waits: the abort takes effect when it returns `Pending`.
#[test]
fn abort_from_inside_the_task_itself() {
    bounded(20, || {
        block_on(async {
            let slot: Arc<Mutex<Option<JoinHandle<u32>>>> = Arc::new(Mutex::new(None));
            let drops = counter();
            let reached = Arc::new(AtomicBool::new(false));
            let (aborted_tx, aborted_rx) = oneshot();
            let (go_tx, go_rx) = oneshot::<()>();
            let h = spawn({
                let slot = slot.clone();
                let g = OnDrop(drops.clone());
                let reached = reached.clone();
                async move {
                    let _g = g;
                    go_rx.await;
                    slot.lock().unwrap().as_ref().unwrap().abort();
                    aborted_tx.send(());
                    yield_now().await;
                    reached.store(true, SeqCst);
                    1
                }
            });
            *slot.lock().unwrap() = Some(h);
            go_tx.send(());
            timeout(HANG, aborted_rx).await.unwrap();
            // The task no longer touches the slot: take the handle back.
            let h = slot.lock().unwrap().take().unwrap();
            let h = timeout(HANG, h).await;
            assert!(h.is_ok(), "self-aborted task never finished");
            let h = h.unwrap();
            let err = h.unwrap_err();
            assert!(err.is_cancelled());
            assert!(!reached.load(SeqCst), "task ran past its own abort");
            assert_eq!(drops.load(SeqCst), 1);
        })
    });
}

/// A task that aborts itself but completes in that same poll keeps its output.
#[test]
fn abort_from_inside_then_complete_in_same_poll_keeps_output() {
    bounded(20, || {
        block_on(async {
            let slot: Arc<Mutex<Option<JoinHandle<u32>>>> = Arc::new(Mutex::new(None));
            let (go_tx, go_rx) = oneshot::<()>();
            let (done_tx, done_rx) = oneshot();
            let h = spawn({
                let slot = slot.clone();
                async move {
                    go_rx.await;
                    slot.lock().unwrap().as_ref().unwrap().abort();
                    done_tx.send(());
                    9
                }
            });
            *slot.lock().unwrap() = Some(h);
            go_tx.send(());
            timeout(HANG, done_rx).await.unwrap();
            let h = slot.lock().unwrap().take().unwrap();
            assert_eq!(timeout(HANG, h).await.unwrap().unwrap(), 9);
        })
    });
}

#[test]
fn abort_from_another_std_thread() {
    bounded(20, || {
        block_on(async {
            let drops = counter();
            let (started_tx, started_rx) = oneshot();
            let h = spawn({
                let g = OnDrop(drops.clone());
                async move {
                    let _g = g;
                    started_tx.send(());
                    pending::<()>().await
                }
            });
            timeout(HANG, started_rx).await.unwrap();
            let (tx, rx) = oneshot();
            let t = thread::spawn(move || {
                h.abort();
                tx.send(h);
            });
            let h = timeout(HANG, rx).await.expect("handle never came back");
            let err = timeout(HANG, h)
                .await
                .expect("remote abort never reached the runtime")
                .unwrap_err();
            assert!(err.is_cancelled());
            assert_eq!(drops.load(SeqCst), 1);
            t.join().unwrap();
        })
    });
}

/// A thread aborts, one after another, tasks that are running, queued or
/// idle on the runtime at that moment: every one ends cancelled, and every
/// future is dropped exactly once.
#[test]
fn abort_many_tasks_from_another_thread_while_they_run() {
    bounded(30, || {
        block_on(async {
            const N: usize = 600;
            let drops = counter();
            let hs: Vec<JoinHandle<()>> = (0..N)
                .map(|i| {
                    let g = OnDrop(drops.clone());
                    spawn(async move {
                        let _g = g;
                        if i % 3 == 0 {
                            pending::<()>().await
                        } else {
                            loop {
                                yield_now().await;
                            }
                        }
                    })
                })
                .collect();
            let (tx, rx) = oneshot();
            let t = thread::spawn(move || {
                for h in &hs {
                    h.abort();
                }
                tx.send(hs);
            });
            let hs = timeout(HANG, rx)
                .await
                .expect("aborting thread never finished");
            for h in hs {
                let err = timeout(HANG, h)
                    .await
                    .expect("aborted task hung")
                    .unwrap_err();
                assert!(err.is_cancelled());
            }
            assert_eq!(drops.load(SeqCst), N);
            t.join().unwrap();
        })
    });
}

// ---------------------------------------------------------------------------
// panics
// ---------------------------------------------------------------------------

#[test]
fn panicking_task_reports_panic_and_runtime_keeps_working() {
    bounded(20, || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let bystander = spawn(async {
                for _ in 0..20 {
                    yield_now().await;
                }
                "alive"
            });
            let h = spawn(async {
                yield_now().await;
                panic!("boom {}", 42);
            });
            let err = timeout(HANG, h).await.unwrap().unwrap_err();
            assert!(err.is_panic());
            assert!(!err.is_cancelled());
            assert_eq!(err.panic_message(), Some("boom 42"));
            let payload = err.into_panic();
            assert_eq!(panic_message(&*payload), "boom 42");

            let h = spawn(async { panic!("static str") });
            let err = h.await.unwrap_err();
            assert_eq!(err.panic_message(), Some("static str"));

            assert_eq!(bystander.await.unwrap(), "alive");
        });
        // The runtime is still usable in a later block_on.
        assert_eq!(rt.block_on(rt.spawn(async { 3 })).unwrap(), 3);
    });
}

#[test]
fn panic_with_non_string_payload() {
    bounded(20, || {
        block_on(async {
            let h = spawn(async {
                std::panic::panic_any(12345u64);
            });
            let err = h.await.unwrap_err();
            assert!(err.is_panic());
            assert_eq!(err.panic_message(), None);
            assert_eq!(err.to_string(), "task panicked");
            match err.try_into_panic() {
                Ok(p) => assert_eq!(*p.downcast::<u64>().unwrap(), 12345),
                Err(e) => panic!("try_into_panic refused a panic: {e:?}"),
            }
        })
    });
}

#[test]
fn panicking_detached_task_does_not_disturb_others() {
    bounded(20, || {
        block_on(async {
            for _ in 0..10 {
                drop(spawn(async { panic!("detached") }));
            }
            let hs: Vec<_> = (0..10u32)
                .map(|i| {
                    spawn(async move {
                        yield_now().await;
                        i
                    })
                })
                .collect();
            let mut sum = 0;
            for h in hs {
                sum += h.await.unwrap();
            }
            assert_eq!(sum, 45);
        })
    });
}

/// A future whose `Drop` panics, aborted: the abort completes, the handle
/// reports the panic of the drop, and the runtime goes on.
#[test]
fn future_whose_drop_panics_when_aborted() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("drop boom");
        }
    }
    bounded(20, || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let (started_tx, started_rx) = oneshot();
            let h = spawn(async move {
                let _p = PanicOnDrop;
                started_tx.send(());
                pending::<()>().await
            });
            timeout(HANG, started_rx).await.unwrap();
            h.abort();
            let err = timeout(HANG, h).await.expect("abort hung").unwrap_err();
            assert!(err.is_panic(), "unexpected error {err:?}");
            assert_eq!(err.panic_message(), Some("drop boom"));
            // Also a task aborted before its first poll (the value is captured).
            let p = PanicOnDrop;
            let h = spawn(async move {
                let _p = p;
                pending::<()>().await
            });
            h.abort();
            let err = timeout(HANG, h).await.expect("abort hung").unwrap_err();
            assert!(err.is_panic(), "unexpected error {err:?}");
            assert_eq!(err.panic_message(), Some("drop boom"));
            assert_eq!(spawn(async { 1 }).await.unwrap(), 1);
        });
        assert_eq!(rt.block_on(async { spawn(async { 2 }).await.unwrap() }), 2);
    });
}

#[test]
fn panic_in_main_future_leaves_runtime_usable() {
    bounded(20, || {
        let rt = Runtime::new().unwrap();
        let h = rt.spawn(async {
            yield_now().await;
            11
        });
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async {
                yield_now().await;
                panic!("main future panicked");
            })
        }));
        let msg = panic_message(&*r.unwrap_err());
        assert_eq!(msg, "main future panicked");
        assert_eq!(
            rt.block_on(async { timeout(HANG, h).await })
                .unwrap()
                .unwrap(),
            11
        );
        // And no runtime is left "current" on this thread.
        assert!(Handle::try_current().is_none());
    });
}

// ---------------------------------------------------------------------------
// spawn_local, nesting, ordering
// ---------------------------------------------------------------------------

#[test]
fn spawn_local_accepts_non_send_future_and_output() {
    bounded(20, || {
        block_on(async {
            let shared = Rc::new(Cell::new(0));
            let log = Rc::new(RefCell::new(Vec::new()));
            let hs: Vec<JoinHandle<Rc<u32>>> = (0..10u32)
                .map(|i| {
                    let shared = shared.clone();
                    let log = log.clone();
                    spawn_local(async move {
                        yield_now().await;
                        shared.set(shared.get() + 1);
                        log.borrow_mut().push(i);
                        Rc::new(i)
                    })
                })
                .collect();
            let mut sum = 0;
            for h in hs {
                sum += *h.await.unwrap();
            }
            assert_eq!(sum, 45);
            assert_eq!(shared.get(), 10);
            assert_eq!(*log.borrow(), (0..10).collect::<Vec<_>>());
        })
    });
}

#[test]
fn spawn_from_inside_spawned_tasks() {
    bounded(20, || {
        block_on(async {
            let leaves = counter();
            let root = spawn({
                let leaves = leaves.clone();
                async move {
                    let mut children = Vec::new();
                    for i in 0..10usize {
                        let leaves = leaves.clone();
                        children.push(spawn(async move {
                            let mut grand = Vec::new();
                            for j in 0..10usize {
                                let leaves = leaves.clone();
                                grand.push(spawn(async move {
                                    yield_now().await;
                                    leaves.fetch_add(1, SeqCst);
                                    i * 10 + j
                                }));
                            }
                            let mut s = 0;
                            for g in grand {
                                s += g.await.unwrap();
                            }
                            s
                        }));
                    }
                    let mut s = 0;
                    for c in children {
                        s += c.await.unwrap();
                    }
                    s
                }
            });
            assert_eq!(timeout(HANG, root).await.unwrap().unwrap(), 99 * 100 / 2);
            assert_eq!(leaves.load(SeqCst), 100);
        })
    });
}

fn chain(n: usize) -> Pin<Box<dyn Future<Output = usize> + Send>> {
    Box::pin(async move {
        if n == 0 {
            0
        } else {
            spawn(chain(n - 1)).await.unwrap() + 1
        }
    })
}

#[test]
fn spawn_chain_ten_thousand_deep() {
    bounded(60, || {
        block_on(async {
            let depth = timeout(Duration::from_secs(50), spawn(chain(10_000)))
                .await
                .expect("chain hung")
                .unwrap();
            assert_eq!(depth, 10_000);
        })
    });
}

#[test]
fn yield_now_alternates_tasks_deterministically() {
    bounded(20, || {
        support::block_on_current_thread(async {
            let log = Arc::new(Mutex::new(Vec::new()));
            let mk = |name: &'static str| {
                let log = log.clone();
                spawn(async move {
                    for i in 1..=5 {
                        log.lock().unwrap().push(format!("{name}{i}"));
                        yield_now().await;
                    }
                })
            };
            let a = mk("A");
            let b = mk("B");
            let c = mk("C");
            a.await.unwrap();
            b.await.unwrap();
            c.await.unwrap();
            let expected: Vec<String> = (1..=5)
                .flat_map(|i| ["A", "B", "C"].map(|n| format!("{n}{i}")))
                .collect();
            assert_eq!(*log.lock().unwrap(), expected);
        })
    });
}

/// `yield_now` in the future given to `block_on` must let spawned tasks run
/// ("Gives other tasks (and the reactor) a turn").
#[test]
fn yield_now_in_main_future_lets_spawned_tasks_run() {
    bounded(20, || {
        block_on(async {
            let flag = Arc::new(AtomicBool::new(false));
            let f = flag.clone();
            let _h = spawn(async move { f.store(true, SeqCst) });
            let mut spins = 0u64;
            let start = Instant::now();
            while !flag.load(SeqCst) {
                yield_now().await;
                spins += 1;
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "spawned task never ran while the main future yielded ({spins} yields)"
                );
            }
        })
    });
}

/// A task that wakes itself many times during one poll is queued once: it
/// is polled exactly twice.
#[test]
fn many_wakes_during_one_poll_requeue_once() {
    bounded(20, || {
        block_on(async {
            let polls = counter();
            let p = polls.clone();
            let h = spawn(poll_fn(move |cx| {
                if p.fetch_add(1, SeqCst) == 0 {
                    for _ in 0..1000 {
                        cx.waker().wake_by_ref();
                        let w = cx.waker().clone();
                        w.wake();
                    }
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            }));
            timeout(HANG, h).await.unwrap().unwrap();
            assert_eq!(polls.load(SeqCst), 2);
        })
    });
}

// ---------------------------------------------------------------------------
// JoinError
// ---------------------------------------------------------------------------

#[test]
fn join_error_display_debug_and_conversions() {
    bounded(20, || {
        block_on(async {
            let c = spawn(pending::<()>());
            c.abort();
            let cancelled: JoinError = c.await.unwrap_err();
            let p = spawn(async { panic!("kaput") });
            let panicked: JoinError = p.await.unwrap_err();

            let d = cancelled.to_string();
            assert!(d.contains("cancel"), "{d}");
            let d = format!("{cancelled:?}");
            assert!(d.contains("Cancelled"), "{d}");

            let d = panicked.to_string();
            assert!(d.contains("panic") && d.contains("kaput"), "{d}");
            let d = format!("{panicked:?}");
            assert!(d.contains("Panic") && d.contains("kaput"), "{d}");

            // std::error::Error and io::Error conversion.
            let e: &dyn std::error::Error = &panicked;
            assert!(e.to_string().contains("kaput"));
            let io: std::io::Error = cancelled.into();
            assert_eq!(io.kind(), std::io::ErrorKind::Other);
            assert!(io.to_string().contains("cancel"));

            // try_into_panic on a cancellation gives the error back.
            let c = spawn(pending::<()>());
            c.abort();
            let e = c.await.unwrap_err();
            let e = e.try_into_panic().unwrap_err();
            assert!(e.is_cancelled());
            let r = panic::catch_unwind(AssertUnwindSafe(|| e.into_panic()));
            assert!(r.is_err(), "into_panic of a cancellation must panic");

            let payload = panicked.into_panic();
            assert_eq!(*payload.downcast_ref::<&str>().unwrap(), "kaput");
        })
    });
}

// ---------------------------------------------------------------------------
// Misuse
// ---------------------------------------------------------------------------

#[test]
fn spawn_outside_runtime_panics_with_helpful_message() {
    let r = panic::catch_unwind(|| {
        drop(spawn(async {}));
    });
    let msg = panic_message(&*r.unwrap_err());
    assert!(msg.contains("runtime"), "unhelpful message: {msg}");
    assert!(msg.contains("Handle::spawn"), "unhelpful message: {msg}");

    let r = panic::catch_unwind(|| {
        drop(spawn_local(async {}));
    });
    let msg = panic_message(&*r.unwrap_err());
    assert!(msg.contains("runtime"), "unhelpful message: {msg}");

    assert!(Handle::try_current().is_none());
    let r = panic::catch_unwind(Handle::current);
    let msg = panic_message(&*r.unwrap_err());
    assert!(msg.contains("outside"), "unhelpful message: {msg}");
}

#[test]
fn block_on_inside_block_on_panics() {
    bounded(20, || {
        let rt = Runtime::new().unwrap();
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async {
                block_on(async {});
            })
        }));
        let msg = panic_message(&*r.unwrap_err());
        assert!(msg.contains("block_on"), "unhelpful message: {msg}");

        // The same runtime, re-entered.
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async { rt.block_on(async {}) })
        }));
        assert!(r.is_err());

        // From inside a task: the task panics, the runtime goes on.
        let err = rt.block_on(async {
            spawn(async {
                block_on(async {});
            })
            .await
            .unwrap_err()
        });
        assert!(err.is_panic());
        assert!(err.panic_message().unwrap().contains("block_on"));

        assert_eq!(rt.block_on(async { 5 }), 5);
        assert!(Handle::try_current().is_none());
    });
}

#[test]
fn handle_current_inside_runtime() {
    bounded(20, || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let h = Handle::current();
            assert!(Handle::try_current().is_some());
            // Handle::spawn on its own runtime from inside it.
            assert_eq!(h.spawn(async { 4 }).await.unwrap(), 4);
            let inner = spawn(async { Handle::try_current().is_some() });
            assert!(inner.await.unwrap());
        });
    });
}

// ---------------------------------------------------------------------------
// Cross-thread spawning and waking of a parked runtime
// ---------------------------------------------------------------------------

/// The runtime is asleep in `epoll_wait` with nothing runnable; a plain
/// thread spawns onto it through a `Handle`. Only the eventfd can wake it.
#[test]
fn handle_spawn_from_plain_thread_wakes_parked_runtime() {
    bounded(30, || {
        let rt = Runtime::new().unwrap();
        let handle = rt.handle();
        let tid = gettid();
        type Signal = Arc<Mutex<(Option<u32>, Option<Waker>)>>;
        let signal: Signal = Arc::new(Mutex::new((None, None)));
        let (jh_tx, jh_rx) = mpsc::channel::<JoinHandle<u32>>();
        let sig = signal.clone();
        let t = thread::spawn(move || {
            wait_until_in_epoll(tid);
            let jh = handle.spawn(async move {
                let waker = {
                    let mut s = sig.lock().unwrap();
                    s.0 = Some(7);
                    s.1.take()
                };
                if let Some(w) = waker {
                    w.wake();
                }
                42
            });
            jh_tx.send(jh).unwrap();
        });
        let out = rt.block_on(async {
            let got = timeout(
                HANG,
                poll_fn(|cx| {
                    let mut s = signal.lock().unwrap();
                    match s.0 {
                        Some(v) => Poll::Ready(v),
                        None => {
                            s.1 = Some(cx.waker().clone());
                            Poll::Pending
                        }
                    }
                }),
            )
            .await
            .expect("parked runtime was not woken by Handle::spawn");
            assert_eq!(got, 7);
            let jh = jh_rx.recv().unwrap();
            timeout(HANG, jh).await.unwrap().unwrap()
        });
        assert_eq!(out, 42);
        t.join().unwrap();
    });
}

/// The main future awaits a `JoinHandle` of a task spawned by a plain thread
/// while the runtime is parked.
#[test]
fn main_future_awaits_handle_spawned_task_while_parked() {
    bounded(30, || {
        let rt = Runtime::new().unwrap();
        let handle = rt.handle();
        let tid = gettid();
        let (tx, rx) = oneshot::<JoinHandle<&'static str>>();
        let t = thread::spawn(move || {
            wait_until_in_epoll(tid);
            let jh = handle.spawn(async { "from thread" });
            tx.send(jh);
        });
        let out = rt.block_on(async {
            let jh = timeout(HANG, rx).await.expect("main future never woken");
            timeout(HANG, jh).await.expect("task never ran").unwrap()
        });
        assert_eq!(out, "from thread");
        t.join().unwrap();
    });
}

/// A plain thread holds a clone of a task's `Waker` and wakes it while the
/// runtime is parked.
#[test]
fn task_waker_woken_from_plain_thread_resumes_parked_executor() {
    bounded(30, || {
        let rt = Runtime::new().unwrap();
        let tid = gettid();
        let slot: Arc<Mutex<Option<Waker>>> = Arc::new(Mutex::new(None));
        let go = Arc::new(AtomicBool::new(false));
        let (s2, g2) = (slot.clone(), go.clone());
        let t = thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(5);
            while s2.lock().unwrap().is_none() {
                assert!(Instant::now() < deadline, "task never stored its waker");
                thread::yield_now();
            }
            wait_until_in_epoll(tid);
            g2.store(true, SeqCst);
            let w = s2.lock().unwrap().take().unwrap();
            w.wake();
        });
        let out = rt.block_on(async {
            let (s, g) = (slot.clone(), go.clone());
            let h = spawn(poll_fn(move |cx| {
                if g.load(SeqCst) {
                    Poll::Ready(9)
                } else {
                    *s.lock().unwrap() = Some(cx.waker().clone());
                    Poll::Pending
                }
            }));
            timeout(HANG, h).await.expect("remote wake lost").unwrap()
        });
        assert_eq!(out, 9);
        t.join().unwrap();
    });
}

/// The same with the waker of the future passed to `block_on`.
#[test]
fn main_waker_woken_from_plain_thread_resumes_parked_executor() {
    bounded(30, || {
        let rt = Runtime::new().unwrap();
        let tid = gettid();
        let slot: Arc<Mutex<Option<Waker>>> = Arc::new(Mutex::new(None));
        let go = Arc::new(AtomicBool::new(false));
        let (s2, g2) = (slot.clone(), go.clone());
        let t = thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(5);
            while s2.lock().unwrap().is_none() {
                assert!(
                    Instant::now() < deadline,
                    "main future never stored its waker"
                );
                thread::yield_now();
            }
            wait_until_in_epoll(tid);
            g2.store(true, SeqCst);
            let w = s2.lock().unwrap().take().unwrap();
            w.wake();
        });
        let out = rt.block_on(async {
            timeout(
                HANG,
                poll_fn(|cx| {
                    if go.load(SeqCst) {
                        Poll::Ready(3)
                    } else {
                        *slot.lock().unwrap() = Some(cx.waker().clone());
                        Poll::Pending
                    }
                }),
            )
            .await
            .expect("remote wake of the main future lost")
        });
        assert_eq!(out, 3);
        t.join().unwrap();
    });
}

/// Four threads wake one task as fast as they can; the task finishes once it
/// has seen all increments, so no wake may be lost.
#[test]
fn concurrent_remote_wakes_are_never_lost() {
    bounded(60, || {
        const THREADS: usize = 4;
        const PER: usize = 5_000;
        block_on(async {
            let count = counter();
            let slot: Arc<Mutex<Option<Waker>>> = Arc::new(Mutex::new(None));
            let polls = counter();
            let h = spawn({
                let (count, slot, polls) = (count.clone(), slot.clone(), polls.clone());
                poll_fn(move |cx| {
                    polls.fetch_add(1, SeqCst);
                    *slot.lock().unwrap() = Some(cx.waker().clone());
                    if count.load(SeqCst) == THREADS * PER {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                })
            });
            // Make sure the task stored its waker before the threads start.
            spawn(async {}).await.unwrap();
            let barrier = Arc::new(Barrier::new(THREADS));
            let threads: Vec<_> = (0..THREADS)
                .map(|_| {
                    let (count, slot, barrier) = (count.clone(), slot.clone(), barrier.clone());
                    thread::spawn(move || {
                        barrier.wait();
                        for _ in 0..PER {
                            count.fetch_add(1, SeqCst);
                            let w = slot.lock().unwrap().clone();
                            if let Some(w) = w {
                                w.wake();
                            }
                        }
                    })
                })
                .collect();
            timeout(Duration::from_secs(50), h)
                .await
                .expect("a remote wake was lost")
                .unwrap();
            for t in threads {
                t.join().unwrap();
            }
            assert!(polls.load(SeqCst) >= 2);
        })
    });
}

/// Several threads spawn onto one runtime at once.
#[test]
fn many_handle_spawns_from_several_threads() {
    bounded(60, || {
        const THREADS: usize = 4;
        const PER: usize = 1_000;
        let rt = Runtime::new().unwrap();
        let handle = rt.handle();
        let ran = counter();
        let (tx, rx) = oneshot::<Vec<JoinHandle<usize>>>();
        let collector = thread::spawn(move || {
            let barrier = Arc::new(Barrier::new(THREADS));
            let threads: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (handle, ran, barrier) = (handle.clone(), ran.clone(), barrier.clone());
                    thread::spawn(move || {
                        barrier.wait();
                        (0..PER)
                            .map(|i| {
                                let ran = ran.clone();
                                handle.spawn(async move {
                                    ran.fetch_add(1, SeqCst);
                                    yield_now().await;
                                    t * PER + i
                                })
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let all: Vec<_> = threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect();
            tx.send(all);
        });
        let sum = rt.block_on(async {
            let hs = timeout(HANG, rx).await.expect("spawning threads hung");
            let mut sum = 0;
            for h in hs {
                sum += timeout(HANG, h).await.unwrap().unwrap();
            }
            sum
        });
        let n = THREADS * PER;
        assert_eq!(sum, n * (n - 1) / 2);
        collector.join().unwrap();
    });
}

/// A task of runtime A (thread 1) is awaited by runtime B (thread 2): the
/// completion wakes a waker of another runtime.
#[test]
fn join_handle_awaited_from_another_runtime_on_another_thread() {
    bounded(30, || {
        let (h_tx, h_rx) = mpsc::channel::<Vec<JoinHandle<u64>>>();
        let (done_tx, done_rx) = oneshot::<u64>();
        let a = thread::spawn(move || {
            let rt = Runtime::new().unwrap();
            let hs: Vec<_> = (0..200u64)
                .map(|i| {
                    rt.spawn(async move {
                        sleep(Duration::from_millis(i % 7)).await;
                        i
                    })
                })
                .collect();
            h_tx.send(hs).unwrap();
            rt.block_on(async { timeout(HANG, done_rx).await.expect("never told to stop") })
        });
        let b = thread::spawn(move || {
            let hs = h_rx.recv().unwrap();
            let rt = Runtime::new().unwrap();
            let sum = rt.block_on(async {
                let mut sum = 0;
                for h in hs {
                    sum += timeout(HANG, h)
                        .await
                        .expect("cross-runtime join wake lost")
                        .unwrap();
                }
                sum
            });
            done_tx.send(sum);
            sum
        });
        let sum_b = b.join().unwrap();
        let sum_a = a.join().unwrap();
        assert_eq!(sum_a, 199 * 200 / 2);
        assert_eq!(sum_b, sum_a);
    });
}

/// Join handles dropped on another thread while their tasks complete: each
/// output is dropped exactly once, whoever gets there first.
#[test]
fn join_handles_dropped_on_another_thread_race_with_completion() {
    bounded(30, || {
        const N: usize = 2_000;
        let drops = counter();
        block_on(async {
            let hs: Vec<JoinHandle<OnDrop>> = (0..N)
                .map(|i| {
                    let d = drops.clone();
                    spawn(async move {
                        for _ in 0..(i % 4) {
                            yield_now().await;
                        }
                        OnDrop(d)
                    })
                })
                .collect();
            let (tx, rx) = oneshot();
            let t = thread::spawn(move || {
                for h in hs {
                    drop(h);
                }
                tx.send(());
            });
            timeout(HANG, rx).await.unwrap();
            t.join().unwrap();
            // Let every task finish.
            let drops2 = drops.clone();
            let waiter = spawn(async move {
                while drops2.load(SeqCst) < N {
                    yield_now().await;
                }
            });
            timeout(HANG, waiter)
                .await
                .expect("some outputs were never dropped")
                .unwrap();
        });
        assert_eq!(drops.load(SeqCst), N);
    });
}

#[test]
fn handle_spawn_after_runtime_dropped_reports_cancelled() {
    bounded(20, || {
        let rt = Runtime::new().unwrap();
        let handle = rt.handle();
        drop(rt);
        let drops = counter();
        let polled = Arc::new(AtomicBool::new(false));
        let h = {
            let g = OnDrop(drops.clone());
            let p = polled.clone();
            handle.spawn(async move {
                let _g = g;
                p.store(true, SeqCst);
                1
            })
        };
        assert_eq!(drops.load(SeqCst), 1, "future kept alive by a dead runtime");
        assert!(h.is_finished());
        // From another thread as well.
        let h2 = {
            let handle = handle.clone();
            let d = drops.clone();
            thread::spawn(move || {
                let g = OnDrop(d);
                handle.spawn(async move {
                    let _g = g;
                    2
                })
            })
            .join()
            .unwrap()
        };
        assert_eq!(drops.load(SeqCst), 2);
        let rt2 = Runtime::new().unwrap();
        let (e1, e2) = rt2.block_on(async {
            (
                timeout(HANG, h).await.unwrap().unwrap_err(),
                timeout(HANG, h2).await.unwrap().unwrap_err(),
            )
        });
        assert!(e1.is_cancelled());
        assert!(e2.is_cancelled());
        assert!(!polled.load(SeqCst));
    });
}

#[test]
fn tasks_left_pending_resume_on_next_block_on() {
    bounded(20, || {
        let rt = support::current_thread();
        let stage = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = oneshot::<u32>();
        let h = rt.block_on({
            let stage = stage.clone();
            async move {
                let (started_tx, started_rx) = oneshot();
                let h = spawn(async move {
                    stage.fetch_add(1, SeqCst);
                    started_tx.send(());
                    let v = rx.await;
                    stage.fetch_add(1, SeqCst);
                    v * 2
                });
                started_rx.await;
                h
            }
        });
        assert_eq!(stage.load(SeqCst), 1);
        assert!(!h.is_finished());
        // Woken while no block_on is running (on the owner thread).
        tx.send(21);
        assert_eq!(stage.load(SeqCst), 1);
        let v = rt.block_on(async { timeout(HANG, h).await.expect("pending task lost") });
        assert_eq!(v.unwrap(), 42);
        assert_eq!(stage.load(SeqCst), 2);

        // A detached task spawned during one block_on finishes in the next.
        let done = Arc::new(AtomicBool::new(false));
        let (tx, rx) = oneshot::<()>();
        rt.block_on({
            let done = done.clone();
            async move {
                drop(spawn(async move {
                    rx.await;
                    done.store(true, SeqCst);
                }));
            }
        });
        assert!(!done.load(SeqCst));
        tx.send(());
        rt.block_on(async {
            let d = done.clone();
            let waiter = spawn(async move {
                while !d.load(SeqCst) {
                    yield_now().await;
                }
            });
            timeout(HANG, waiter)
                .await
                .expect("detached task lost")
                .unwrap();
        });
    });
}

fn detaching_chain(
    n: usize,
    built: Arc<AtomicUsize>,
    done: Arc<Mutex<Option<Tx<()>>>>,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        built.fetch_add(1, SeqCst);
        if n == 0 {
            sleep(Duration::from_millis(50)).await;
            if let Some(tx) = done.lock().unwrap().take() {
                tx.send(());
            }
        } else {
            // Poll the child's handle once (as a `select!` whose other branch
            // wins would), then drop it: the child is detached and keeps
            // running after this link has finished.
            let mut child = spawn(detaching_chain(n - 1, built, done));
            poll_fn(|cx| {
                assert!(Pin::new(&mut child).poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            drop(child);
        }
    })
}

/// Each link of a 10 000-deep chain polls its child's `JoinHandle` once,
/// then drops it and finishes; the deepest child finishes long after all its
/// ancestors. Freeing it must not cascade recursively through them.
#[test]
fn detached_children_release_their_ancestors_without_recursion() {
    bounded(60, || {
        const LINKS: usize = 10_000;
        block_on(async {
            let built = counter();
            let (tx, rx) = oneshot();
            let done = Arc::new(Mutex::new(Some(tx)));
            let top = spawn(detaching_chain(LINKS - 1, built.clone(), done));
            timeout(HANG, top).await.unwrap().unwrap();
            timeout(HANG, rx)
                .await
                .expect("deepest link never finished");
            assert_eq!(built.load(SeqCst), LINKS);
            // Let the deepest task complete and be freed.
            spawn(async {}).await.unwrap();
            sleep(Duration::from_millis(1)).await;
        })
    });
}

/// Every future and every output is dropped exactly once, whatever becomes
/// of its task: the output taken by the handle, left in the task by a handle
/// dropped after completion, dropped by the runtime when the handle went
/// first, a future aborted before its first poll or while waiting, and a
/// future still pending when the runtime shuts down. (The task keeps its
/// future, then its output, in one union whose live field a tag in the
/// header names; this checks that bookkeeping.)
#[test]
fn futures_and_outputs_are_dropped_exactly_once_in_every_ending() {
    use futures_core::FusedFuture;
    bounded(20, || {
        let futures = counter();
        let outputs = counter();
        // A future that owns a drop counter and returns another.
        let task = |wait: bool| {
            let future_guard = OnDrop(futures.clone());
            let output = OnDrop(outputs.clone());
            async move {
                let _future_guard = future_guard;
                if wait {
                    pending::<()>().await;
                }
                output
            }
        };
        // "Done after three yields" is one thread's promise: current-thread.
        let rt = support::current_thread();
        rt.block_on(async {
            // Output taken by the handle, which then reports it is done.
            let mut taken = spawn(task(false));
            let output = (&mut taken).await.unwrap();
            assert!(taken.is_terminated());
            assert_eq!((futures.load(SeqCst), outputs.load(SeqCst)), (1, 0));
            drop(output);
            drop(taken);
            assert_eq!((futures.load(SeqCst), outputs.load(SeqCst)), (1, 1));

            // Completed, never read: the handle's drop drops the output.
            let unread = spawn(task(false));
            while !unread.is_finished() {
                yield_now().await;
            }
            assert!(!unread.is_terminated());
            assert_eq!((futures.load(SeqCst), outputs.load(SeqCst)), (2, 1));
            drop(unread);
            assert_eq!((futures.load(SeqCst), outputs.load(SeqCst)), (2, 2));

            // Handle dropped first: the runtime drops the output.
            drop(spawn(task(false)));
            for _ in 0..3 {
                yield_now().await;
            }
            assert_eq!((futures.load(SeqCst), outputs.load(SeqCst)), (3, 3));

            // Aborted before its first poll, and while waiting: the future
            // goes (with the output it would have returned, which it owns).
            let early = spawn(task(true));
            early.abort();
            assert!(matches!(early.await, Err(e) if e.is_cancelled()));
            let waiting = spawn(task(true));
            yield_now().await;
            waiting.abort();
            assert!(matches!(waiting.await, Err(e) if e.is_cancelled()));
            assert_eq!((futures.load(SeqCst), outputs.load(SeqCst)), (5, 5));

            // Still pending at shutdown, its handle kept past the runtime.
            spawn(task(true))
        });
        let kept = rt.block_on(async { spawn(task(true)) });
        drop(rt);
        assert_eq!((futures.load(SeqCst), outputs.load(SeqCst)), (7, 7));
        let joined = block_on(kept);
        assert!(matches!(joined, Err(e) if e.is_cancelled()));
        assert_eq!((futures.load(SeqCst), outputs.load(SeqCst)), (7, 7));
    });
}
