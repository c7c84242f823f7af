//! A `spawn_blocking` closure runs with its runtime entered, as in tokio:
//! `Handle::current()`, `spawn`, `spawn_blocking`, timers and sockets reach
//! the runtime that spawned the job (these are tokio's rt_common tests
//! spawn_from_blocking, spawn_blocking_from_blocking, sleep_from_blocking and
//! socket_from_blocking, plus `Handle::enter` on a plain thread).

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use spindle_runtime::io::{AsyncReadExt, AsyncWriteExt};
use spindle_runtime::net::{TcpListener, TcpStream};
use spindle_runtime::time::sleep;
use spindle_runtime::{spawn, spawn_blocking, Handle, Runtime};

mod support;
use support::{bounded, foreign_block_on, panic_message};

#[test]
fn handle_current_inside_spawn_blocking() {
    bounded(10, || {
        let rt = Runtime::new().unwrap();
        let outer = rt.handle();
        rt.block_on(async move {
            let inner = spawn_blocking(Handle::try_current).await.unwrap();
            let inner = inner.expect("no runtime inside spawn_blocking");
            // The same runtime: a task spawned through it runs here.
            let v = inner.spawn(async { 5 }).await.unwrap();
            assert_eq!(v, 5);
            drop(outer);
        });
    });
}

#[test]
fn spawn_from_blocking() {
    bounded(10, || {
        let out = spindle_runtime::block_on(async {
            let inner = spawn_blocking(|| spawn(async { "hello" })).await.unwrap();
            inner.await.unwrap()
        });
        assert_eq!(out, "hello");
    });
}

#[test]
fn spawn_blocking_from_blocking() {
    bounded(10, || {
        let out = spindle_runtime::block_on(async {
            let inner = spawn_blocking(|| spawn_blocking(|| "hello")).await.unwrap();
            inner.await.unwrap()
        });
        assert_eq!(out, "hello");
    });
}

#[test]
fn sleep_from_blocking() {
    bounded(10, || {
        spindle_runtime::block_on(async {
            spawn_blocking(|| {
                let now = Instant::now();
                let dur = Duration::from_millis(1);
                // Another executor drives the sleep: only the entered
                // runtime can fire its timer.
                foreign_block_on(sleep(dur));
                assert!(now.elapsed() >= dur);
            })
            .await
            .unwrap();
        });
    });
}

#[test]
fn sleeps_from_blocking_while_the_loop_idles() {
    // The loop is asleep with no timer of its own when the remote timers
    // arrive: it must wake, insert them and fire each at its deadline.
    bounded(10, || {
        spindle_runtime::block_on(async {
            let jobs: Vec<_> = (1..=20u64)
                .map(|ms| {
                    spawn_blocking(move || {
                        let start = Instant::now();
                        foreign_block_on(sleep(Duration::from_millis(ms)));
                        start.elapsed() >= Duration::from_millis(ms)
                    })
                })
                .collect();
            for job in jobs {
                assert!(job.await.unwrap(), "a remote sleep ended early");
            }
        });
    });
}

#[test]
fn socket_from_blocking() {
    bounded(10, || {
        spindle_runtime::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let peer = spawn_blocking(move || {
                foreign_block_on(async {
                    let mut stream = TcpStream::connect(addr).await.unwrap();
                    stream.write_all(b"hello").await.unwrap();
                    let mut buf = [0u8; 5];
                    stream.read_exact(&mut buf).await.unwrap();
                    buf
                })
            });
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 5];
            conn.read_exact(&mut buf).await.unwrap();
            conn.write_all(&buf).await.unwrap();
            assert_eq!(&peer.await.unwrap(), b"hello");
        });
    });
}

#[test]
fn a_thread_that_entered_a_runtime_spawns_and_sleeps_on_it() {
    bounded(10, || {
        let rt = Runtime::new().unwrap();
        let handle = rt.handle();
        let (std_listener, addr) = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let a = l.local_addr().unwrap();
            (l, a)
        };
        let worker = std::thread::spawn(move || {
            let _guard = handle.enter();
            let task = spawn(async { Handle::current().spawn(async { 7 }).await.unwrap() });
            foreign_block_on(sleep(Duration::from_millis(2)));
            foreign_block_on(async {
                let mut s = TcpStream::connect(addr).await.unwrap();
                s.write_all(b"x").await.unwrap();
            });
            task
        });
        // The runtime must run for the worker's task, timer and socket.
        rt.block_on(async {
            while !worker.is_finished() {
                sleep(Duration::from_millis(1)).await;
            }
        });
        let task = worker.join().unwrap();
        assert_eq!(rt.block_on(task).unwrap(), 7);
        let (mut conn, _) = std_listener.accept().unwrap();
        let mut byte = [0u8];
        conn.read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"x");
        let _ = conn.write_all(b"");
    });
}

#[test]
fn a_remote_sleep_whose_runtime_shuts_down_does_not_hang() {
    // Shut down before the loop took the timer, and after it put it in its wheel.
    for inserted in [false, true] {
        remote_sleep_outlived_by(inserted);
    }
}

fn remote_sleep_outlived_by(inserted: bool) {
    bounded(10, move || {
        let rt = Runtime::new().unwrap();
        let handle = rt.handle();
        let (polled_tx, polled_rx) = std::sync::mpsc::channel();
        let (dropped_tx, dropped_rx) = std::sync::mpsc::channel::<()>();
        let sleeper = std::thread::spawn(move || {
            let _guard = handle.enter();
            let mut first = true;
            let sleep = sleep(Duration::from_secs(3600));
            let mut sleep = std::pin::pin!(sleep);
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                foreign_block_on(std::future::poll_fn(|cx| {
                    let res = sleep.as_mut().poll(cx);
                    if first {
                        first = false;
                        polled_tx.send(()).unwrap();
                        dropped_rx.recv().unwrap();
                    }
                    res
                }))
            }))
        });
        use std::future::Future;
        polled_rx.recv().unwrap();
        if inserted {
            // A turn of the loop takes the queued timer into the wheel.
            rt.block_on(sleep(Duration::from_millis(1)));
        }
        drop(rt);
        dropped_tx.send(()).unwrap();
        let outcome = sleeper.join().unwrap();
        assert!(
            outcome.is_err(),
            "an hour-long sleep completed although its runtime was dropped"
        );
    });
}

#[test]
fn handle_block_on_inside_spawn_blocking_waits_for_timers_sockets_and_tasks() {
    // tokio's usual bridge from blocking code back to async: the closure
    // blocks on a future through the handle while the runtime's own thread
    // (or its workers) drives the IO and timers.
    bounded(20, || {
        let rt = Runtime::new().unwrap();
        let got = rt.block_on(async {
            spawn_blocking(|| {
                Handle::current().block_on(async {
                    sleep(Duration::from_millis(1)).await;
                    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                    let addr = listener.local_addr().unwrap();
                    let client = spawn(async move {
                        let mut s = TcpStream::connect(addr).await.unwrap();
                        s.write_all(b"ping").await.unwrap();
                    });
                    let (mut s, _) = listener.accept().await.unwrap();
                    let mut buf = [0u8; 4];
                    s.read_exact(&mut buf).await.unwrap();
                    client.await.unwrap();
                    buf
                })
            })
            .await
            .unwrap()
        });
        assert_eq!(&got, b"ping");
    });
}

#[test]
fn handle_block_on_from_a_plain_thread_of_a_multi_threaded_runtime() {
    // Nobody is in Runtime::block_on: the workers drive everything.
    bounded(20, || {
        let rt = Runtime::builder().multi_thread().build().unwrap();
        let handle = rt.handle();
        let got = std::thread::spawn(move || {
            handle.block_on(async {
                sleep(Duration::from_millis(1)).await;
                spawn(async { 6 * 7 }).await.unwrap()
            })
        })
        .join()
        .unwrap();
        assert_eq!(got, 42);
    });
}

#[test]
fn handle_block_on_inside_a_runtime_panics_with_a_reason() {
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let err = rt.block_on(async move {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handle.block_on(async { 1 })
        }))
        .unwrap_err()
    });
    let msg = panic_message(&*err);
    assert!(msg.contains(".await"), "{msg}");
}

#[test]
fn handle_block_on_keeps_its_wake_up_when_the_future_parks_the_thread() {
    // The future's own code parks this thread (a scoped thread's join) after
    // its waker was woken: the wake must not be lost with the park token.
    bounded(20, || {
        let rt = Runtime::builder().multi_thread().build().unwrap();
        let handle = rt.handle();
        let got = std::thread::spawn(move || {
            handle.block_on(async move {
                let (tx, mut rx) = spindle_runtime::channel::oneshot::channel::<u32>();
                let mut tx = Some(tx);
                std::future::poll_fn(move |cx| {
                    use std::future::Future;
                    if let Some(tx) = tx.take() {
                        assert!(std::pin::Pin::new(&mut rx).poll(cx).is_pending());
                        std::thread::scope(|s| {
                            s.spawn(move || {
                                let _ = tx.send(7);
                                // Still running when the scope's join parks.
                                std::thread::sleep(Duration::from_millis(20));
                            });
                        });
                        return std::task::Poll::Pending;
                    }
                    std::pin::Pin::new(&mut rx).poll(cx).map(|r| r.unwrap())
                })
                .await
            })
        })
        .join()
        .unwrap();
        assert_eq!(got, 7);
    });
}
