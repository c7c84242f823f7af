//! spindle::uring at the edges (cases a review found): `block_in_place`
//! on a multi-threaded runtime while operations are in flight or start, an
//! accept whose completion nobody takes, and a `BufRing` used from another
//! worker than the one it was made on.

use std::future::Future;
use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::Duration;

use spindle_runtime::task::block_in_place;
use spindle_runtime::uring::{BufRing, TcpListener};
use spindle_runtime::{Handle, Runtime};

mod support;

fn one_worker() -> Runtime {
    Runtime::builder()
        .multi_thread()
        .worker_threads(1)
        .build()
        .unwrap()
}

#[test]
fn block_in_place_with_a_read_in_flight_keeps_the_worker_running() {
    support::bounded(20, || {
        let rt = one_worker();
        if rt.backend() == spindle_runtime::Backend::IoUring {
            // No stand-in on the io_uring backend (see block_in_place).
            return;
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = TcpListener::from_std(listener).unwrap();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let (ran, read) = rt.block_on(async move {
            spindle_runtime::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let read = spindle_runtime::spawn(async move {
                    let (res, buf) = stream.read(vec![0u8; 16]).await;
                    res.map(|n| buf[..n].to_vec())
                });
                for _ in 0..5 {
                    spindle_runtime::yield_now().await;
                }
                // The stand-in runs the worker's other tasks (a timer here)
                // without entering the worker's ring.
                let ran = block_in_place(|| {
                    let (tx, rx) = mpsc::channel();
                    Handle::current().spawn(async move {
                        spindle_runtime::time::sleep(Duration::from_millis(5)).await;
                        let _ = tx.send(());
                    });
                    rx.recv_timeout(Duration::from_secs(5)).is_ok()
                });
                client.write_all(b"x").unwrap();
                let read = spindle_runtime::time::timeout(Duration::from_secs(5), read).await;
                (ran, read.unwrap().unwrap().unwrap())
            })
            .await
            .unwrap()
        });
        assert!(ran, "the stand-in ran the worker's timer task");
        assert_eq!(read, b"x");
    });
}

#[test]
fn operations_started_during_block_in_place_complete_after_it() {
    support::bounded(20, || {
        let rt = one_worker();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = TcpListener::from_std(listener).unwrap();
        let got = rt.block_on(async move {
            spindle_runtime::spawn(async move {
                // The worker's first uring operation starts on the stand-in:
                // it waits for the worker's own thread, which then owns the
                // ring (a stand-in never enters it).
                let task = block_in_place(|| {
                    Handle::current().spawn(async move {
                        let (stream, _) = listener.accept().await.unwrap();
                        let (res, buf) = stream.read(vec![0u8; 16]).await;
                        res.map(|n| buf[..n].to_vec())
                    })
                });
                let mut client = std::net::TcpStream::connect(addr).unwrap();
                client.write_all(b"late").unwrap();
                let out = spindle_runtime::time::timeout(Duration::from_secs(5), task).await;
                out.unwrap().unwrap().unwrap()
            })
            .await
            .unwrap()
        });
        assert_eq!(got, b"late");
    });
}

#[test]
fn an_accept_dropped_after_it_completed_closes_the_connection() {
    support::bounded(10, || {
        support::block_on_current_thread(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut accept = Box::pin(listener.accept());
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            assert!(accept.as_mut().poll(&mut cx).is_pending());
            let mut client = std::net::TcpStream::connect(addr).unwrap();
            // Turns of the runtime: the accept is submitted and completes,
            // but the future is never polled again.
            for _ in 0..50 {
                spindle_runtime::yield_now().await;
            }
            drop(accept);
            // And turns after the drop (had the completion not been taken
            // in by then, the cancel's answer carries the descriptor).
            for _ in 0..50 {
                spindle_runtime::yield_now().await;
            }
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut b = [0u8; 1];
            // The accepted descriptor was closed: the client sees the end.
            assert_eq!(client.read(&mut b).unwrap(), 0);
        })
    });
}

#[test]
fn a_buf_ring_serves_tasks_on_any_worker() {
    support::bounded(20, || {
        let rt = Runtime::builder()
            .multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let res = rt.block_on(async {
            let bufs = match BufRing::new(8, 1024) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Unsupported => return None,
                Err(e) => panic!("{e}"),
            };
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let tasks: Vec<_> = (0..4)
                .map(|_| {
                    let bufs = bufs.clone();
                    spindle_runtime::spawn(async move { bufs.buf_size() })
                })
                .collect();
            for t in tasks {
                assert_eq!(t.await.unwrap(), 1024);
            }
            client.write_all(b"hello").unwrap();
            // Made in block_on (its thread's ring), used from a worker.
            spindle_runtime::spawn(async move {
                let mut recv = server.recv_multi(&bufs).single_shot();
                let first = recv.next().await.map(|r| r.map(|b| b.to_vec()));
                spindle_runtime::yield_now().await;
                Some(first)
            })
            .await
            .unwrap()
        });
        if let Some(first) = res {
            assert!(
                matches!(first, Some(Ok(ref v)) if v == b"hello"),
                "{first:?}"
            );
        }
    });
}
