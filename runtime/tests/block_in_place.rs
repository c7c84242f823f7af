//! `task::block_in_place` on the multi-threaded runtime: while the thread
//! that called it blocks, a stand-in thread runs the worker's loop, so the
//! worker's queue, reactor and timers keep going; a nested call on the
//! stand-in hands back only its own stand-in; the stand-in sleeps while
//! nothing it may run waits; `spawn_local` refuses to pin a task to it;
//! what a task on the stand-in starts (a socket, an ipc receive, an
//! io_uring operation) goes to a reactor or ring that turns while `f`
//! blocks. On the current-thread runtime `block_in_place` panics with a reason.
//! Dropping the runtime while `f` waits for a channel whose sender a task
//! holds drops that task first (idle, pinned to the other worker, among
//! thousands, or waiting in the injection queue), so the drop ends.
//!
//! No test orders events with sleeps: each waits for what it needs through
//! a channel, with a deadline.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use spindle_runtime::task::block_in_place;
use spindle_runtime::time::sleep;
use spindle_runtime::{spawn, spawn_local, yield_now, Backend, Handle, Runtime};

mod support;
use support::{bounded, multi_thread, panic_message};

fn thread_name() -> String {
    thread::current().name().unwrap_or("").to_string()
}

#[test]
fn block_in_place_keeps_the_workers_tasks_and_timers_running() {
    // One worker: while its thread blocks, a task queued on it and a timer
    // of its wheel must still run, or the receive times out.
    bounded(30, || {
        let rt = multi_thread(1);
        if rt.backend() == Backend::IoUring {
            return; // one io_uring worker refuses block_in_place
        }
        let got = rt.block_on(async {
            spawn(async {
                let (tx, rx) = mpsc::channel();
                drop(spawn(async move {
                    sleep(Duration::from_millis(5)).await;
                    tx.send(42).unwrap();
                }));
                block_in_place(|| rx.recv_timeout(Duration::from_secs(10)))
            })
            .await
            .unwrap()
        });
        assert_eq!(got, Ok(42));
    });
}

#[test]
fn block_in_place_hands_queued_tasks_to_the_other_workers() {
    // A task queued on the blocked worker runs meanwhile: on its stand-in
    // or, stolen, on another worker.
    bounded(30, || {
        let rt = multi_thread(2);
        let got = rt.block_on(async {
            spawn(async {
                let (tx, rx) = mpsc::channel();
                drop(spawn(async move {
                    tx.send(thread_name()).unwrap();
                }));
                block_in_place(|| rx.recv_timeout(Duration::from_secs(10)))
            })
            .await
            .unwrap()
        });
        assert!(got.unwrap().starts_with("spindle-worker-"));
    });
}

#[test]
fn block_in_place_borrows_and_the_worker_comes_back() {
    bounded(30, || {
        let rt = multi_thread(2);
        rt.block_on(async {
            spawn(async {
                let data = [1u64, 2, 3];
                let before = thread::current().id();
                let total = block_in_place(|| data.iter().sum::<u64>());
                // The task goes on on the thread that blocked (until its
                // next await, after which any worker may poll it).
                assert_eq!(thread::current().id(), before);
                // Inside, spindle calls go through the runtime it entered.
                let inner = block_in_place(|| Handle::current().spawn(async { 7 }));
                assert_eq!(thread::current().id(), before);
                assert_eq!(inner.await.unwrap(), 7);
                total
            })
            .await
            .unwrap()
        });
    });
}

#[test]
fn block_in_place_on_a_current_thread_runtime_panics_with_a_reason() {
    let rt = Runtime::builder().current_thread().build().unwrap();
    let err = rt.block_on(async { std::panic::catch_unwind(|| block_in_place(|| 1)).unwrap_err() });
    let msg = panic_message(&*err);
    assert!(msg.contains("current-thread"), "{msg}");
}

#[test]
fn a_nested_block_in_place_on_a_stand_in_hands_back_only_its_own_stand_in() {
    // One worker. Task A blocks in block_in_place until task B has sent;
    // B runs on A's stand-in, blocks in a block_in_place of its own, then
    // waits on a timer of the worker. When B's call returns, B's stand-in
    // must stop and A's must go on running the worker, or B's timer never
    // fires and A's receive times out.
    bounded(30, || {
        let rt = multi_thread(1);
        if rt.backend() == Backend::IoUring {
            return; // one io_uring worker refuses block_in_place
        }
        let got = rt.block_on(async {
            spawn(async {
                let (tx, rx) = mpsc::channel();
                drop(spawn(async move {
                    let inner = block_in_place(thread_name);
                    sleep(Duration::from_millis(5)).await;
                    let _ = tx.send(inner);
                }));
                block_in_place(|| rx.recv_timeout(Duration::from_secs(10)))
            })
            .await
            .unwrap()
        });
        let inner = got.expect("the worker stopped running while its thread blocked");
        // B's block_in_place ran on A's stand-in, itself stood in for.
        assert!(inner.ends_with("-stand-in"), "{inner}");
    });
}

#[test]
fn spawn_local_on_a_stand_in_panics_with_a_reason() {
    // The stand-in thread ends when block_in_place returns: a `!Send` task
    // pinned to it could never run again, and its future (made on that
    // thread) must not move to another.
    bounded(30, || {
        let rt = multi_thread(1);
        if rt.backend() == Backend::IoUring {
            return; // one io_uring worker refuses block_in_place
        }
        let (on, err) = rt.block_on(async {
            spawn(async {
                let (tx, rx) = mpsc::channel();
                drop(spawn(async move {
                    let on = thread_name();
                    let rc = std::rc::Rc::new(());
                    let spawned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        drop(spawn_local(async move {
                            let _rc = rc;
                        }))
                    }));
                    let _ = tx.send((on, spawned.err().map(|e| panic_message(&*e))));
                }));
                block_in_place(|| rx.recv_timeout(Duration::from_secs(10)))
            })
            .await
            .unwrap()
            .unwrap()
        });
        assert!(on.ends_with("-stand-in"), "{on}");
        let err = err.expect("spawn_local on a stand-in must panic");
        assert!(err.contains("stand-in"), "{err}");
    });
}

#[test]
fn a_stand_in_sleeps_while_a_pinned_task_waits_for_its_worker() {
    // A pinned task woken from another thread waits in its worker's own
    // injection queue, which only the worker's thread takes from. While
    // that thread blocks, the stand-in must sleep, not spin on the queue.
    bounded(30, || {
        let rt = multi_thread(1);
        if rt.backend() == Backend::IoUring {
            return; // one io_uring worker refuses block_in_place
        }
        let parks = rt.block_on(async {
            spawn(async {
                let (tx, rx) = spindle_runtime::channel::oneshot::channel::<()>();
                let started = Arc::new(AtomicBool::new(false));
                let s = started.clone();
                let local = spawn_local(async move {
                    s.store(true, SeqCst);
                    rx.await.unwrap();
                });
                while !started.load(SeqCst) {
                    yield_now().await;
                }
                let metrics = Handle::current().metrics();
                let parks = block_in_place(|| {
                    // From the blocked thread, outside the worker: a remote
                    // wake, into the worker's own injection queue.
                    tx.send(()).unwrap();
                    let before = metrics.worker_park_count(0);
                    thread::sleep(Duration::from_millis(200));
                    metrics.worker_park_count(0) - before
                });
                local.await.unwrap();
                parks
            })
            .await
            .unwrap()
        });
        // A spinning stand-in parks (with a zero timeout) some 100,000
        // times in 200 ms; a sleeping one a handful.
        assert!(parks < 50, "the stand-in parked {parks} times in 200 ms");
    });
}

#[test]
fn block_in_place_on_one_io_uring_worker_panics_with_a_reason() {
    // Only the worker's own thread may wait on an io_uring poller's ring,
    // and one worker has no other reactor for IO made while `f` runs:
    // `f` waiting on such IO would never return.
    bounded(30, || {
        let Some(rt) = io_uring_workers(1) else {
            return;
        };
        let err = rt.block_on(async {
            spawn(async {
                std::panic::catch_unwind(|| block_in_place(|| 1))
                    .map_err(|e| panic_message(&*e))
                    .unwrap_err()
            })
            .await
            .unwrap()
        });
        assert!(err.contains("io_uring"), "{err}");
    });
}

/// A multi-threaded runtime of `workers` workers on the io_uring poller;
/// `None` if this kernel has none (the poller fell back).
fn io_uring_workers(workers: usize) -> Option<Runtime> {
    let rt = Runtime::builder()
        .multi_thread()
        .worker_threads(workers)
        .poller(Backend::IoUring)
        .build()
        .unwrap();
    (rt.backend() == Backend::IoUring).then_some(rt)
}

#[test]
fn on_io_uring_tasks_and_timers_run_while_every_worker_blocks() {
    // Both workers' threads inside block_in_place: their stand-ins (which
    // sleep on the poller's notify, not in the ring) still run a task and
    // its timer. (Before io_uring workers had stand-ins, nothing ran.)
    bounded(30, || {
        let Some(rt) = io_uring_workers(2) else {
            return;
        };
        let (a_tx, a_rx) = mpsc::channel::<()>();
        let (b_tx, b_rx) = mpsc::channel::<()>();
        let (blocked_tx, blocked_rx) = mpsc::channel::<()>();
        for (rx, blocked) in [(a_rx, blocked_tx.clone()), (b_rx, blocked_tx)] {
            rt.spawn(async move {
                block_in_place(|| {
                    blocked.send(()).unwrap();
                    rx.recv_timeout(Duration::from_secs(10))
                })
                .unwrap()
            });
        }
        for _ in 0..2 {
            blocked_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        let done = rt.spawn(async move {
            sleep(Duration::from_millis(5)).await;
            a_tx.send(()).unwrap();
            b_tx.send(()).unwrap();
            thread_name()
        });
        let ran_on = rt.block_on(done).unwrap();
        assert!(ran_on.starts_with("spindle-worker-"), "{ran_on}");
    });
}

#[test]
fn on_io_uring_a_socket_made_on_a_stand_in_joins_a_reactor_that_turns() {
    // A task running on an io_uring worker's stand-in connects a socket:
    // only the blocked thread may wait on that worker's ring, so the socket
    // must join the other worker's reactor, or `f`, waiting for what the
    // socket reads, never returns. The other worker is kept busy until `f`
    // has written, so the task surely runs on the stand-in.
    bounded(30, || {
        let Some(rt) = io_uring_workers(2) else {
            return;
        };
        let (release, busy) = keep_a_worker_busy(&rt);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let task = rt.spawn(async move {
            assert_ne!(thread_name(), busy);
            let (read_tx, read_rx) = mpsc::channel::<(String, std::io::Result<u8>)>();
            // Queued here: with the other worker busy, the stand-in runs it.
            spawn(async move {
                use spindle_runtime::io::AsyncReadExt;
                let on = thread_name();
                let read = async {
                    let mut stream = spindle_runtime::net::TcpStream::connect(addr).await?;
                    let mut byte = [0u8; 1];
                    stream.read_exact(&mut byte).await?;
                    Ok(byte[0])
                };
                read_tx.send((on, read.await)).unwrap();
            });
            block_in_place(move || {
                let (mut peer, _) = listener.accept().unwrap();
                std::io::Write::write_all(&mut peer, b"7").unwrap();
                release.store(true, SeqCst);
                read_rx.recv_timeout(Duration::from_secs(10))
            })
        });
        let got = rt.block_on(task).unwrap();
        let (on, read) = got.expect("the stand-in's socket never read");
        assert!(on.ends_with("-stand-in"), "ran on {on}");
        assert_eq!(read.unwrap(), b'7');
    });
}

#[test]
fn a_uring_operation_started_on_a_stand_in_goes_to_a_ring_that_turns() {
    // A task running on a stand-in starts `spindle::uring` operations (a
    // connect, then a read). A stand-in never enters its worker's ring:
    // only the ring's own thread may, and it is blocked in `f`. So the
    // operations must go to the other worker's ring, or `f`, waiting for
    // what they read, never returns (it timed out before they did). On
    // every poller: the completion ring is the same beside epoll.
    bounded(60, || {
        for rt in [Some(multi_thread(2)), io_uring_workers(2)] {
            let Some(rt) = rt else { continue };
            if !has_uring(&rt) {
                return;
            }
            a_uring_read_on_a_stand_in(rt);
        }
    });
}

#[cfg(feature = "process-pool")]
#[test]
fn on_io_uring_an_ipc_receive_awaited_on_a_stand_in_hears_its_sender() {
    // A task on an io_uring worker's stand-in awaits an ipc pipe: the
    // pipe's registration must join a reactor that turns (the other
    // worker's), not the blocked worker's ring, which the stand-in never
    // waits on; or `f`, which sends only once the receive waits, never
    // hears back.
    bounded(30, || {
        let Some(rt) = io_uring_workers(2) else {
            return;
        };
        let (release, busy) = keep_a_worker_busy(&rt);
        let (tx, rx) = spindle_runtime::ipc::pipe_one_way::<u32>().unwrap();
        let task = rt.spawn(async move {
            assert_ne!(thread_name(), busy);
            let (steps, heard) = mpsc::channel::<Result<String, std::io::Result<u32>>>();
            // Queued here: with the other worker busy, the stand-in runs it.
            spawn(async move {
                let on = thread_name();
                let mut recv = std::pin::pin!(rx.recv());
                let mut told = false;
                let got = std::future::poll_fn(|cx| {
                    let poll = std::future::Future::poll(recv.as_mut(), cx);
                    if poll.is_pending() && !told {
                        // Waiting (registered) now: `f` may send.
                        told = true;
                        steps.send(Ok(on.clone())).unwrap();
                    }
                    poll
                })
                .await;
                let _ = steps.send(Err(got));
            });
            block_in_place(move || {
                let step = || heard.recv_timeout(Duration::from_secs(10));
                let Ok(Ok(on)) = step() else {
                    return Err("the receive never waited".to_string());
                };
                release.store(true, SeqCst);
                tx.blocking_send(7).unwrap();
                match step() {
                    Ok(Err(got)) => Ok((on, got.map_err(|e| e.to_string()))),
                    _ => Err(format!("the receive awaited on {on} never heard the send")),
                }
            })
        });
        let (on, got) = rt.block_on(task).unwrap().unwrap();
        assert!(on.ends_with("-stand-in"), "ran on {on}");
        assert_eq!(got.unwrap(), 7);
    });
}

/// Whether this kernel lets `rt` run an io_uring connect.
fn has_uring(rt: &Runtime) -> bool {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    match rt.block_on(spindle_runtime::uring::TcpStream::connect(addr)) {
        Ok(_) => true,
        Err(e) => {
            assert_eq!(e.kind(), std::io::ErrorKind::Unsupported, "{e}");
            false
        }
    }
}

fn a_uring_read_on_a_stand_in(rt: Runtime) {
    let (release, busy) = keep_a_worker_busy(&rt);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let task = rt.spawn(async move {
        assert_ne!(thread_name(), busy);
        let (tx, rx) = mpsc::channel::<Step>();
        // Queued here: with the other worker busy, the stand-in runs it.
        spawn(async move {
            tx.send(Step::Started(thread_name())).unwrap();
            let read = async {
                let stream = spindle_runtime::uring::TcpStream::connect(addr).await?;
                tx.send(Step::Connected).unwrap();
                let (res, buf) = stream.read(Vec::with_capacity(1)).await;
                res.map(|_| buf)
            };
            let _ = tx.send(Step::Read(read.await));
        });
        block_in_place(move || {
            let step = || rx.recv_timeout(Duration::from_secs(10));
            let Ok(Step::Started(on)) = step() else {
                return Err("the task never started".to_string());
            };
            // The operations started on the stand-in; now the other
            // worker may run (and turn its ring).
            release.store(true, SeqCst);
            match step() {
                Ok(Step::Connected) => {}
                Ok(Step::Read(Err(e))) => return Err(format!("connect failed: {e}")),
                _ => return Err(format!("the connect started on {on} never completed")),
            }
            let (mut peer, _) = listener.accept().unwrap();
            std::io::Write::write_all(&mut peer, b"7").unwrap();
            match step() {
                Ok(Step::Read(read)) => Ok((on, read.map_err(|e| e.to_string()))),
                _ => Err(format!("the read started on {on} never completed")),
            }
        })
    });
    let (on, read) = rt.block_on(task).unwrap().unwrap();
    assert!(on.ends_with("-stand-in"), "ran on {on}");
    assert_eq!(read.unwrap(), b"7");
}

/// What the task of [`a_uring_read_on_a_stand_in`] reports to `f`.
enum Step {
    Started(String),
    Connected,
    Read(std::io::Result<Vec<u8>>),
}

/// Spawns a task that spins until the returned flag is set, so that a
/// worker is busy; returns the flag and the name of the worker it occupies.
fn keep_a_worker_busy(rt: &Runtime) -> (Arc<AtomicBool>, String) {
    let release = Arc::new(AtomicBool::new(false));
    let hold = release.clone();
    let (busy_tx, busy_rx) = mpsc::channel::<String>();
    rt.spawn(async move {
        busy_tx.send(thread_name()).unwrap();
        while !hold.load(SeqCst) {
            std::hint::spin_loop();
        }
    });
    (
        release,
        busy_rx.recv_timeout(Duration::from_secs(10)).unwrap(),
    )
}

#[test]
fn on_io_uring_timers_and_tasks_made_in_f_run_while_the_worker_blocks() {
    // No stand-in turns the blocked worker's ring: `f` enters another
    // worker, so a timer it awaits (tokio's idiom: block_in_place, then
    // Handle::current().block_on) fires there.
    bounded(30, || {
        let rt = Runtime::builder()
            .multi_thread()
            .worker_threads(2)
            .poller(Backend::IoUring)
            .build()
            .unwrap();
        if rt.backend() != Backend::IoUring {
            return; // this kernel has no io_uring: the poller fell back
        }
        let got = rt.block_on(async {
            spawn(async {
                block_in_place(|| {
                    Handle::current().block_on(async {
                        sleep(Duration::from_millis(5)).await;
                        spawn(async { 7 }).await.unwrap()
                    })
                })
            })
            .await
            .unwrap()
        });
        assert_eq!(got, 7);
    });
}

#[test]
fn an_io_uring_operation_started_in_f_completes_while_the_worker_blocks() {
    // A stand-in never enters its worker's ring (only the ring's own thread
    // may): an operation `f` starts goes to another worker's ring, which
    // runs.
    bounded(30, || {
        let rt = multi_thread(2);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let got = rt.block_on(async move {
            spawn(async move {
                block_in_place(|| {
                    Handle::current().block_on(async {
                        spindle_runtime::uring::TcpStream::connect(addr)
                            .await
                            .map(drop)
                    })
                })
            })
            .await
            .unwrap()
        });
        if let Err(e) = got {
            // Only a kernel without io_uring may refuse.
            assert_eq!(e.kind(), std::io::ErrorKind::Unsupported, "{e}");
        }
        drop(listener);
    });
}

/// Dropping the runtime while a `block_in_place` closure waits for a
/// channel whose last sender an idle task holds: the drop aborts the task
/// (dropping the sender) before the workers wait for each other, so the
/// closure returns and the drop finishes. It once hung: no future was
/// dropped until every worker had stopped polling, and the blocked task
/// never stopped.
#[test]
fn dropping_the_runtime_releases_a_block_in_place_waiting_on_a_task() {
    on_one_and_two_workers(|rt| {
        let (tx, rx) = mpsc::channel::<()>();
        // Holds the only sender and never finishes.
        rt.spawn(async move {
            let _tx = tx;
            std::future::pending::<()>().await
        });
        let (returned, _) = block_until_closed(&rt, rx);
        drop(rt);
        // The closure saw the channel close: its sender was dropped.
        assert_eq!(returned.recv_timeout(Duration::from_secs(1)), Ok(true));
    });
}

/// Runs `test` on a fresh multi-threaded runtime of one worker, then of
/// two, each under the watchdog (not one io_uring worker, where
/// `block_in_place` refuses to run).
fn on_one_and_two_workers(test: fn(Runtime)) {
    for workers in [1, 2] {
        bounded(30, move || {
            let rt = multi_thread(workers);
            if workers == 1 && rt.backend() == Backend::IoUring {
                return;
            }
            test(rt)
        });
    }
}

/// Starts a `block_in_place` on a worker whose closure returns once
/// `rx` is closed (its last sender dropped); returns a receiver for what
/// the closure saw, after the closure has started, and the worker's name.
fn block_until_closed(rt: &Runtime, rx: mpsc::Receiver<()>) -> (mpsc::Receiver<bool>, String) {
    let (blocked_tx, blocked_rx) = mpsc::channel::<String>();
    let (returned_tx, returned_rx) = mpsc::channel::<bool>();
    rt.spawn(async move {
        let name = thread_name();
        let released = block_in_place(|| {
            blocked_tx.send(name).unwrap();
            rx.recv().is_err()
        });
        returned_tx.send(released).unwrap();
    });
    let name = blocked_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the closure never started");
    (returned_rx, name)
}

/// As above, with 2000 more idle tasks than the sender's holder: aborted
/// and dropped where they are found, they never overflow a worker's
/// queue into the (closing) injection queue, whose tasks were once left
/// for after the gate.
#[test]
fn dropping_the_runtime_drops_thousands_of_idle_tasks_before_the_gate() {
    bounded(30, || {
        let rt = multi_thread(2);
        let (tx, rx) = mpsc::channel::<()>();
        let (polled_tx, polled_rx) = mpsc::channel::<()>();
        let holder = polled_tx.clone();
        rt.spawn(async move {
            let _tx = tx;
            holder.send(()).unwrap();
            std::future::pending::<()>().await
        });
        for _ in 0..2000 {
            let polled = polled_tx.clone();
            rt.spawn(async move {
                polled.send(()).unwrap();
                std::future::pending::<()>().await
            });
        }
        for _ in 0..2001 {
            polled_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        let (returned, _) = block_until_closed(&rt, rx);
        drop(rt);
        assert_eq!(returned.recv_timeout(Duration::from_secs(1)), Ok(true));
    });
}

/// The sender is held by a pinned (`spawn_local`) task of the *other*
/// worker: that worker's own thread drops it before the gate, whoever
/// aborted the rest.
#[test]
fn dropping_the_runtime_drops_a_pinned_holder_on_another_worker() {
    bounded(30, || {
        let rt = multi_thread(2);
        let (tx, rx) = mpsc::channel::<()>();
        let (pinned_tx, pinned_rx) = mpsc::channel::<String>();
        let release = Arc::new(AtomicBool::new(false));
        let hold = release.clone();
        // Pins the holder to the worker it runs on, then keeps that worker
        // busy until released, so the blocking task must go to the other.
        rt.spawn(async move {
            spawn_local(async move {
                let _tx = tx;
                std::future::pending::<()>().await
            });
            pinned_tx.send(thread_name()).unwrap();
            while !hold.load(SeqCst) {
                std::hint::spin_loop();
            }
        });
        let pinned_on = pinned_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let (returned, blocked_on) = block_until_closed(&rt, rx);
        assert_ne!(pinned_on, blocked_on);
        release.store(true, SeqCst);
        drop(rt);
        assert_eq!(returned.recv_timeout(Duration::from_secs(1)), Ok(true));
    });
}

/// The holder is woken from a plain thread just before the drop, so it
/// may be waiting in the injection queue when the drop begins: the
/// workers take it from there and drop it before the gate.
#[test]
fn dropping_the_runtime_drops_a_holder_waiting_in_the_injection_queue() {
    on_one_and_two_workers(|rt| {
        let (tx, rx) = mpsc::channel::<()>();
        let (waker_tx, waker_rx) = mpsc::channel::<std::task::Waker>();
        rt.spawn(async move {
            let _tx = tx;
            let mut waker_tx = Some(waker_tx);
            std::future::poll_fn(|cx| {
                if let Some(waker_tx) = waker_tx.take() {
                    waker_tx.send(cx.waker().clone()).unwrap();
                }
                std::task::Poll::<()>::Pending
            })
            .await
        });
        let waker = waker_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let (returned, _) = block_until_closed(&rt, rx);
        waker.wake();
        drop(rt);
        assert_eq!(returned.recv_timeout(Duration::from_secs(1)), Ok(true));
    });
}

/// The sender is held by a `spawn_blocking` job queued behind a running
/// one (one blocking thread): the drop cancels queued jobs before the
/// workers meet, so the closure is released without the running job
/// ending. (The job once ran instead, after the running one, and the drop
/// waited for both.)
#[test]
fn dropping_the_runtime_cancels_a_queued_blocking_job_holding_the_sender() {
    bounded(30, || {
        let rt = Runtime::builder()
            .multi_thread()
            .worker_threads(2)
            .max_blocking_threads(1)
            .build()
            .unwrap();
        let (tx, rx) = mpsc::channel::<()>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        rt.block_on(async move {
            // Takes the one blocking thread until the test lets it go.
            drop(spindle_runtime::spawn_blocking(move || {
                started_tx.send(()).unwrap();
                let _ = release_rx.recv();
            }));
            // Queued behind it; if it ever ran, the closure would see Ok.
            drop(spindle_runtime::spawn_blocking(move || {
                let _ = tx.send(());
            }));
        });
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let (returned, _) = block_until_closed(&rt, rx);
        drop(rt);
        assert_eq!(returned.recv_timeout(Duration::from_secs(1)), Ok(true));
        release_tx.send(()).unwrap();
    });
}
