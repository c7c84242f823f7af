//! The multi-threaded runtime's own promises: tasks run on the workers, in
//! parallel; an idle worker steals from a busy one; `spawn_local` tasks
//! never change threads (`block_in_place` has its own file); metrics count; a panicking task costs nothing but itself;
//! dropping the runtime drops every future and joins every worker thread;
//! sockets and timers made off the workers (in `block_on`, under
//! `Handle::enter`) keep working when nobody is in `block_on`.
//!
//! No test orders events with sleeps: where two things must overlap in
//! time, each waits for the other through an atomic, with a deadline.

use std::cell::Cell;
use std::future::pending;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use spindle_runtime::io::{AsyncReadExt, AsyncWriteExt};
use spindle_runtime::net::{TcpListener, TcpStream};
use spindle_runtime::time::sleep;
use spindle_runtime::{spawn, spawn_local, yield_now, JoinHandle, Runtime};

mod support;
use support::{bounded, multi_thread};

/// Spins until `flag` is set, for at most 10 s; true if it was set.
fn wait_for(flag: &AtomicBool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !flag.load(SeqCst) {
        if Instant::now() > deadline {
            return false;
        }
        std::hint::spin_loop();
    }
    true
}

/// Waits (sleeping, up to `limit`) until `done` holds, for what the OS
/// decides the timing of (a thread's exit, a worker's first park).
fn settle(limit: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
}

/// Spawns two tasks that each note themselves with `each`, then wait
/// (spinning, up to 10 s) for the other to have started; true if they
/// overlapped, which only two workers running at once can do.
async fn two_tasks_overlap(each: impl Fn() + Send + Sync + 'static) -> bool {
    let each = Arc::new(each);
    let (a, b) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let task = |mine: Arc<AtomicBool>, other: Arc<AtomicBool>| {
        let each = each.clone();
        spawn(async move {
            each();
            mine.store(true, SeqCst);
            wait_for(&other)
        })
    };
    let (t1, t2) = (task(a.clone(), b.clone()), task(b, a));
    t1.await.unwrap() && t2.await.unwrap()
}

fn thread_name() -> String {
    thread::current().name().unwrap_or("").to_string()
}

#[test]
fn spawned_tasks_run_on_the_workers_and_block_on_on_the_caller() {
    bounded(30, || {
        let rt = multi_thread(2);
        let caller = thread::current().id();
        let (sum, names) = rt.block_on(async move {
            assert_eq!(thread::current().id(), caller);
            let hs: Vec<JoinHandle<(u64, String)>> = (0..10_000u64)
                .map(|i| spawn(async move { (i, thread_name()) }))
                .collect();
            let mut sum = 0;
            let mut names = std::collections::BTreeSet::new();
            for h in hs {
                let (i, name) = h.await.unwrap();
                sum += i;
                names.insert(name);
            }
            (sum, names)
        });
        assert_eq!(sum, 10_000 * 9_999 / 2);
        assert!(
            names.iter().all(|n| n.starts_with("spindle-worker-")),
            "{names:?}"
        );
    });
}

#[test]
fn two_tasks_run_at_the_same_time_on_two_workers() {
    // Each waits for the other to have started: only possible in parallel.
    bounded(30, || {
        let rt = multi_thread(2);
        rt.block_on(async {
            assert!(two_tasks_overlap(|| {}).await, "the two never overlapped");
        });
    });
}

#[test]
fn an_idle_worker_steals_from_a_busy_one() {
    // A task fills its own worker's queue and then never yields: the tasks
    // can only finish if the other worker steals them.
    bounded(30, || {
        let rt = multi_thread(2);
        let metrics = rt.handle().metrics();
        rt.block_on(async {
            spawn(async {
                let done = Arc::new(AtomicUsize::new(0));
                for _ in 0..64 {
                    let done = done.clone();
                    drop(spawn(async move {
                        done.fetch_add(1, SeqCst);
                    }));
                }
                let deadline = Instant::now() + Duration::from_secs(10);
                while done.load(SeqCst) < 64 && Instant::now() < deadline {
                    std::hint::spin_loop();
                }
                done.load(SeqCst)
            })
            .await
            .unwrap()
        });
        let steals: u64 = (0..2).map(|w| metrics.worker_steal_count(w)).sum();
        assert!(steals >= 1, "no steal recorded");
    });
}

#[test]
fn spawn_local_on_a_worker_stays_on_that_thread() {
    bounded(30, || {
        let rt = multi_thread(2);
        rt.block_on(async {
            spawn(async {
                let home = thread::current().id();
                let (tx, rx) = spindle_runtime::channel::oneshot::channel::<()>();
                let local = spawn_local(async move {
                    // Rc: this future is not Send, so it must never move.
                    let seen = Rc::new(Cell::new(0));
                    for _ in 0..20 {
                        assert_eq!(thread::current().id(), home);
                        seen.set(seen.get() + 1);
                        yield_now().await;
                    }
                    // Woken from another thread: still comes home.
                    rx.await.unwrap();
                    assert_eq!(thread::current().id(), home);
                    seen.get() + 1
                });
                thread::spawn(move || tx.send(()).unwrap()).join().unwrap();
                assert_eq!(local.await.unwrap(), 21);
            })
            .await
            .unwrap()
        });
    });
}

#[test]
fn a_panicking_task_costs_only_itself() {
    bounded(30, || {
        let rt = multi_thread(2);
        rt.block_on(async {
            for _ in 0..20 {
                let err = spawn(async { panic!("boom") }).await.unwrap_err();
                assert!(err.is_panic());
            }
            // Both workers still run tasks.
            assert!(two_tasks_overlap(|| {}).await);
        });
    });
}

/// A waker of somebody else's that panics when woken.
struct Bomb(AtomicBool);
impl std::task::Wake for Bomb {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, SeqCst);
        panic!("a waker that panics");
    }
}

/// Polls `future` once on this thread with `waker`.
fn poll_once_with<F: std::future::Future + Unpin>(
    future: &mut F,
    waker: &std::task::Waker,
) -> bool {
    let mut cx = std::task::Context::from_waker(waker);
    std::pin::Pin::new(future).poll(&mut cx).is_pending()
}

#[test]
fn a_join_handle_waker_that_panics_costs_no_worker() {
    // The task completes on a worker, which wakes the handle's waker: its
    // panic is the waker's owner's business, and must not kill the worker
    // (whose tasks would then never run, and whose runtime would never
    // finish dropping).
    bounded(30, || {
        let rt = multi_thread(2);
        let (tx, rx) = spindle_runtime::channel::oneshot::channel::<u32>();
        let mut handle = rt.spawn(async move { rx.await.unwrap() });
        let bomb = Arc::new(Bomb(AtomicBool::new(false)));
        let waker = std::task::Waker::from(bomb.clone());
        assert!(poll_once_with(&mut handle, &waker));
        tx.send(7).unwrap();
        assert!(wait_for(&bomb.0), "the task never completed");
        assert_eq!(rt.block_on(handle).unwrap(), 7);
        // Both workers still run tasks.
        assert!(rt.block_on(two_tasks_overlap(|| {})));
        drop(rt);
    });
}

#[test]
fn a_worker_killed_by_a_panicking_waker_is_reported_when_the_runtime_drops() {
    // A waker the reactor calls (one of a foreign executor's, polling a
    // spindle socket) panics on the worker: that worker's thread dies. The
    // others must not wait for it at shutdown; dropping the runtime joins
    // every worker and then reports the panic. The dead worker's idle
    // tasks are dropped by the other (it aborts every worker's tasks), its
    // listener fails once the runtime is gone. Left alone: a task pinned to
    // the dead worker leaks (it may be dropped on that thread only).
    bounded(30, || {
        let rt = multi_thread(2);
        let tids = Arc::new(std::sync::Mutex::new(Vec::new()));
        let t = tids.clone();
        assert!(rt.block_on(two_tasks_overlap(move || t.lock().unwrap().push(tid()))));
        let listener = {
            let handle = rt.handle();
            let _enter = handle.enter();
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(TcpListener::from_std)
                .unwrap()
        };
        let addr = listener.local_addr().unwrap();
        // Idle tasks of every worker's home (spawned from outside, they go
        // round the workers): the surviving worker drops them all, the dead
        // one's too.
        let idle_dropped = Arc::new(AtomicUsize::new(0));
        let (polled_tx, polled_rx) = std::sync::mpsc::channel();
        for _ in 0..4 {
            let guard = CountDrop(idle_dropped.clone());
            let polled = polled_tx.clone();
            drop(rt.spawn(async move {
                let _guard = guard;
                polled.send(()).unwrap();
                pending::<()>().await
            }));
        }
        for _ in 0..4 {
            polled_rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("a task was never polled");
        }
        let handle = rt.handle();
        let bomb = Arc::new(Bomb(AtomicBool::new(false)));
        let waker = std::task::Waker::from(bomb.clone());
        let mut accept = Box::pin(listener.accept());
        assert!(poll_once_with(&mut accept, &waker));
        let _client = std::net::TcpStream::connect(addr).unwrap();
        assert!(wait_for(&bomb.0), "the reactor never woke the waker");
        // A timer set from a thread that only entered the runtime joins the
        // first worker's wheel, the dead one's: queued for a loop that is
        // gone, it must learn so when the runtime is dropped.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut sleep = Box::pin(spindle_runtime::time::sleep(
            std::time::Duration::from_secs(3600),
        ));
        {
            let _enter = handle.enter();
            assert!(std::future::Future::poll(sleep.as_mut(), &mut cx).is_pending());
        }
        // A pinned task of the block_on thread: its half still shuts down.
        let pinned_dropped = Arc::new(AtomicUsize::new(0));
        let guard = CountDrop(pinned_dropped.clone());
        rt.block_on(async move {
            drop(spawn_local(async move {
                let _guard = guard;
                pending::<()>().await
            }));
        });
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(rt)));
        let err = dropped.expect_err("the worker's panic is reported");
        assert_eq!(
            pinned_dropped.load(SeqCst),
            1,
            "the block_on thread's tasks leaked"
        );
        assert_eq!(idle_dropped.load(SeqCst), 4, "idle tasks leaked");
        assert!(format!("{:?}", err.downcast_ref::<&str>()).contains("panics"));
        for tid in tids.lock().unwrap().iter() {
            assert!(
                !thread_alive(*tid),
                "worker thread {tid} outlived its runtime"
            );
        }
        // The timer: orphaned, so its next poll looks for a live runtime to
        // join and panics with the reason (no loop will ever fire it).
        let entered = handle.enter();
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            std::future::Future::poll(sleep.as_mut(), &mut cx)
        }));
        assert!(
            polled.is_err(),
            "the dead worker's remote timer still waits"
        );
        drop(entered);
        // The listener was on the dead worker's reactor: it fails now
        // instead of waiting for a reactor that is gone.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match std::future::Future::poll(accept.as_mut(), &mut cx) {
            std::task::Poll::Ready(Err(e)) => {
                assert!(e.to_string().contains("has shut down"), "{e}")
            }
            other => panic!("the accept on the dead worker's reactor: {other:?}"),
        }
    });
}

struct CountDrop(Arc<AtomicUsize>);
impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// The id of the calling thread (gettid).
fn tid() -> libc::pid_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Whether thread `tid` of this process still exists.
fn thread_alive(tid: libc::pid_t) -> bool {
    std::path::Path::new(&format!("/proc/self/task/{tid}")).exists()
}

#[test]
fn dropping_the_runtime_drops_every_future_and_joins_the_workers() {
    bounded(30, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let rt = multi_thread(2);
        let d = drops.clone();
        let tids = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
        let t = tids.clone();
        let handles = rt.block_on(async move {
            let mut hs = Vec::new();
            // Learn the workers' thread ids: tasks that wait for each other
            // run on both.
            assert!(
                two_tasks_overlap(move || {
                    t.lock().unwrap().insert(tid());
                })
                .await
            );
            for _ in 0..50 {
                let g = CountDrop(d.clone());
                hs.push(spawn(async move {
                    let _g = g;
                    pending::<()>().await
                }));
                let g = CountDrop(d.clone());
                hs.push(spawn(async move {
                    let _g = g;
                    sleep(Duration::from_secs(3600)).await
                }));
            }
            // A !Send task pinned to a worker, and one always runnable.
            let g = CountDrop(d.clone());
            hs.push(spawn(async move {
                let g = Rc::new(g);
                spawn_local(async move {
                    let _g = g;
                    pending::<()>().await
                })
                .await
                .unwrap()
            }));
            let g = CountDrop(d.clone());
            hs.push(spawn(async move {
                let _g = g;
                loop {
                    yield_now().await;
                }
            }));
            // Let them all start.
            for _ in 0..10 {
                sleep(Duration::from_millis(1)).await;
            }
            hs
        });
        let tids = tids.lock().unwrap().clone();
        assert_eq!(tids.len(), 2);
        assert!(tids.iter().all(|&t| thread_alive(t)));
        drop(rt);
        assert_eq!(drops.load(SeqCst), 102, "not every future was dropped");
        for h in &handles {
            assert!(h.is_finished());
        }
        // Both worker threads have exited. A joined thread's entry in
        // /proc can outlive the join by a moment (the kernel wakes the
        // joiner before it releases the thread), so allow it that moment.
        settle(Duration::from_secs(5), || {
            tids.iter().all(|&t| !thread_alive(t))
        });
        assert!(
            tids.iter().all(|&t| !thread_alive(t)),
            "a worker thread lives on"
        );
    });
}

#[test]
fn sockets_are_served_from_any_worker() {
    bounded(30, || {
        let rt = multi_thread(2);
        rt.block_on(async {
            // Created on the block_on thread, accepted from a worker.
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            spawn(async move {
                loop {
                    let (mut s, _) = listener.accept().await.unwrap();
                    spawn(async move {
                        let mut buf = [0u8; 64];
                        loop {
                            let n = s.read(&mut buf).await.unwrap();
                            if n == 0 {
                                break;
                            }
                            s.write_all(&buf[..n]).await.unwrap();
                        }
                    });
                }
            });
            let clients: Vec<_> = (0..50u8)
                .map(|i| {
                    spawn(async move {
                        let mut c = TcpStream::connect(addr).await.unwrap();
                        for round in 0..20u8 {
                            let msg = [i, round, 7, 9];
                            c.write_all(&msg).await.unwrap();
                            let mut back = [0u8; 4];
                            c.read_exact(&mut back).await.unwrap();
                            assert_eq!(back, msg);
                        }
                    })
                })
                .collect();
            for c in clients {
                c.await.unwrap();
            }
        });
    });
}

/// One echo of four bytes from a plain blocking client.
fn echo_once(addr: std::net::SocketAddr, tag: u8) {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(&[tag, 1, 2, 3]).unwrap();
    let mut back = [0u8; 4];
    c.read_exact(&mut back).unwrap();
    assert_eq!(back, [tag, 1, 2, 3]);
}

/// Accepts `n` connections and echoes four bytes on each.
async fn serve_echoes(listener: TcpListener, n: usize) {
    for _ in 0..n {
        let (mut s, _) = listener.accept().await.unwrap();
        spawn(async move {
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
    }
}

#[test]
fn a_listener_bound_in_block_on_is_served_after_block_on_returns() {
    // tokio's usual start: bind inside block_on, serve from a spawned task,
    // and let the main thread do something else. The block_on thread is no
    // worker (its reactor turns only inside a block_on), so the listener
    // must have joined a worker's reactor to hear of its connections.
    bounded(30, || {
        let rt = multi_thread(2);
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = rt.spawn(serve_echoes(listener, 3));
        // Blocking clients on this thread: nobody is in block_on meanwhile.
        for tag in 0..3 {
            echo_once(addr, tag);
        }
        rt.block_on(server).unwrap();
    });
}

#[test]
fn a_listener_made_under_enter_on_a_plain_thread_is_served_by_the_workers() {
    bounded(30, || {
        let rt = multi_thread(2);
        let handle = rt.handle();
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let listener = thread::spawn(move || {
            let _entered = handle.enter();
            TcpListener::from_std(std_listener).unwrap()
        })
        .join()
        .unwrap();
        let server = rt.spawn(serve_echoes(listener, 2));
        for tag in 0..2 {
            echo_once(addr, tag);
        }
        rt.block_on(server).unwrap();
    });
}

/// Polls `future` to its end on this thread, parking between polls: an
/// executor of somebody else's, under `Handle::enter`.
fn poll_on_this_thread<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

#[test]
fn a_timer_polled_under_enter_fires_with_nobody_in_block_on() {
    // The timer goes to a worker's wheel: the block_on thread's turns only
    // inside a block_on, and none runs here.
    bounded(30, || {
        let rt = multi_thread(2);
        let handle = rt.handle();
        let slept = thread::spawn(move || {
            let _entered = handle.enter();
            let start = Instant::now();
            poll_on_this_thread(sleep(Duration::from_millis(20)));
            start.elapsed()
        })
        .join()
        .unwrap();
        assert!(slept >= Duration::from_millis(20), "{slept:?}");
        drop(rt);
    });
}

#[test]
fn an_io_uring_operation_started_under_enter_completes_with_nobody_in_block_on() {
    // The operation goes to a worker's ring: the block_on thread's is
    // turned only inside a block_on, and none runs here.
    bounded(30, || {
        let rt = multi_thread(2);
        let handle = rt.handle();
        let path = std::env::temp_dir().join(format!("spindle-mt-uring-{}", std::process::id()));
        std::fs::write(&path, b"hello").unwrap();
        let read = thread::spawn({
            let path = path.clone();
            move || {
                let _entered = handle.enter();
                poll_on_this_thread(async {
                    let file = spindle_runtime::uring::fs::File::open(&path).await?;
                    let (n, buf) = file.read_at(vec![0u8; 16], 0).await;
                    n.map(|n| buf[..n].to_vec())
                })
            }
        })
        .join()
        .unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read.unwrap(), b"hello");
    });
}

#[cfg(feature = "process-pool")]
#[test]
fn an_ipc_pipe_awaited_under_enter_is_woken_with_nobody_in_block_on() {
    // A ping-pong, so that nearly every receive has to wait for readiness,
    // which the first worker's reactor reports.
    bounded(30, || {
        let rt = multi_thread(2);
        let handle = rt.handle();
        let (ours, theirs) = spindle_runtime::ipc::pipe::<u32>().unwrap();
        let peer = thread::spawn(move || {
            for i in 0..20 {
                theirs.blocking_send(i).unwrap();
                assert_eq!(theirs.blocking_recv().unwrap(), i + 1);
            }
        });
        thread::spawn(move || {
            let _entered = handle.enter();
            poll_on_this_thread(async {
                for _ in 0..20 {
                    let v = ours.recv().await.unwrap();
                    ours.send(v + 1).await.unwrap();
                }
            })
        })
        .join()
        .unwrap();
        peer.join().unwrap();
    });
}

#[test]
fn tasks_run_without_a_block_on_and_remote_spawns_wake_an_idle_worker() {
    bounded(30, || {
        let rt = multi_thread(2);
        let handle = rt.handle();
        // Nobody is in block_on: the workers are parked.
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            drop(handle.spawn(async move {
                sleep(Duration::from_millis(1)).await;
                tx.send(thread_name()).unwrap();
            }));
        })
        .join()
        .unwrap();
        let name = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(name.starts_with("spindle-worker-"), "{name}");
    });
}

#[test]
fn metrics_count_polls_per_worker() {
    bounded(30, || {
        let rt = multi_thread(2);
        let metrics = rt.handle().metrics();
        assert_eq!(metrics.num_workers(), 2);
        rt.block_on(async {
            for _ in 0..100 {
                spawn(async {}).await.unwrap();
            }
        });
        let polls: u64 = (0..2).map(|w| metrics.worker_poll_count(w)).sum();
        assert!(polls >= 100, "{polls}");
        // Idle workers park; how soon depends on when the OS runs them.
        let parks = || (0..2).map(|w| metrics.worker_park_count(w)).sum::<u64>();
        settle(Duration::from_secs(10), || parks() >= 1);
        assert!(parks() >= 1);
        assert_eq!(metrics.injection_queue_depth(), 0);
        let ct = Runtime::builder().current_thread().build().unwrap();
        assert_eq!(ct.handle().metrics().num_workers(), 0);
    });
}

#[test]
fn the_test_clock_refuses_a_multi_threaded_runtime() {
    let rt = multi_thread(1);
    let err =
        rt.block_on(async { std::panic::catch_unwind(spindle_runtime::time::pause).unwrap_err() });
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("current-thread"), "{msg}");
    assert!(Runtime::builder()
        .multi_thread()
        .start_paused(true)
        .build()
        .is_err());
}
