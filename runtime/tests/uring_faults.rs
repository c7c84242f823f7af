//! spindle::uring at the edges (cases a review found): `block_in_place`
//! on a multi-threaded runtime while operations are in flight or start, an
//! accept whose completion nobody takes, a `BufRing` used from another
//! worker than the one it was made on, and a socket dropped right after an
//! operation's future (its descriptor must outlive the queued request).

use std::future::Future;
use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::Duration;

use spindle_runtime::task::block_in_place;
use spindle_runtime::uring::{BufRing, TcpListener};
use spindle_runtime::{Handle, Runtime};

mod support;

#[test]
fn block_in_place_with_a_read_in_flight_keeps_the_worker_running() {
    support::bounded(20, || {
        let rt = support::multi_thread(1);
        if rt.backend() == spindle_runtime::Backend::IoUring {
            return; // one io_uring worker refuses block_in_place
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
        let rt = support::multi_thread(1);
        if rt.backend() == spindle_runtime::Backend::IoUring {
            return; // one io_uring worker refuses block_in_place
        }
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

/// Waits until thread `tid` of this process sleeps in `io_uring_enter`
/// (its kernel wait channel), for at most 10 s; false if it never did.
fn wait_until_asleep_in_a_ring(tid: libc::pid_t) -> bool {
    let path = format!("/proc/self/task/{tid}/wchan");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if std::fs::read_to_string(&path).is_ok_and(|w| w.contains("io_cqring_wait")) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

#[test]
fn an_operation_started_on_another_thread_wakes_a_runtime_asleep_in_its_ring() {
    support::bounded(60, || {
        let rt = Runtime::builder().current_thread().build().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = TcpListener::from_std(listener).unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap(); // never writes
                                                                   // Under valgrind no other thread runs while one sleeps in a ring
                                                                   // (uring/driver.rs, "Sleeping"), so the wait channel cannot be
                                                                   // watched; the open is then queued whenever this thread runs, and
                                                                   // the runtime's sleeps, cut short under valgrind, let it.
        let under_valgrind = std::env::var_os("LD_PRELOAD")
            .is_some_and(|preload| preload.to_string_lossy().contains("vgpreload"));
        let sleeps_in_ring = rt.backend() == spindle_runtime::Backend::Epoll && !under_valgrind;
        rt.block_on(async move {
            let (stream, _) = listener.accept().await.unwrap();
            // A read that never completes keeps an operation in flight, so
            // an epoll runtime with nothing to run sleeps in its ring.
            let idle = spindle_runtime::spawn(async move {
                let _ = stream.read(vec![0u8; 16]).await;
            });
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() };
            let opened = spindle_runtime::spawn_blocking(move || {
                // Start the operation only once the runtime is asleep in
                // the ring (on the other backends it sleeps in its poller).
                if sleeps_in_ring {
                    assert!(
                        wait_until_asleep_in_a_ring(tid),
                        "the runtime never slept in its ring"
                    );
                }
                // This thread queues the open on the runtime's ring and
                // must wake the runtime to have it submitted. The runtime
                // has no timer due before the test's 30 s limit: an open
                // that only went in when a timer woke the runtime would
                // take that long.
                let start = std::time::Instant::now();
                let file = support::foreign_block_on(spindle_runtime::uring::fs::File::open(
                    "/proc/self/stat",
                ));
                (file, start.elapsed())
            });
            let opened = spindle_runtime::time::timeout(Duration::from_secs(30), opened).await;
            idle.abort();
            let (file, took) = opened
                .expect("the open queued from another thread never completed")
                .unwrap();
            file.unwrap();
            assert!(
                took < Duration::from_secs(10),
                "the open waited {took:?}: the sleeping runtime was not woken for it"
            );
        });
    });
}

/// Polls `fut` once (its operation is queued for the ring, not yet handed
/// to the kernel), then drops it.
async fn start_and_drop<F: Future>(fut: F) {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        assert!(
            fut.as_mut().poll(cx).is_pending(),
            "the operation finished at once"
        );
        std::task::Poll::Ready(())
    })
    .await;
}

/// A socket or file dropped right after an operation's future, in the same
/// pass: its descriptor must stay open until the kernel is done with the
/// request that names it. Otherwise a socket opened meanwhile could get the
/// number, and the queued request would read from or write to it.
#[test]
fn a_descriptor_outlives_the_requests_that_name_it() {
    use std::os::fd::AsRawFd;
    support::run(|| async {
        // A TCP stream with a receive queued.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let stream = spindle_runtime::uring::TcpStream::from_std(server).unwrap();
        let old = stream.as_raw_fd();
        start_and_drop(stream.read(Vec::with_capacity(16))).await;
        drop(stream);
        support::assert_descriptor_still_taken(
            old,
            "a TcpStream closed its descriptor under a queued receive",
        );

        // A UDP socket with a receive queued.
        let socket = spindle_runtime::uring::UdpSocket::bind("127.0.0.1:0").unwrap();
        let old = socket.as_raw_fd();
        start_and_drop(socket.recv_from(Vec::with_capacity(16))).await;
        drop(socket);
        support::assert_descriptor_still_taken(
            old,
            "a UdpSocket closed its descriptor under a queued receive",
        );

        // A listener with an accept queued.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let old = listener.as_raw_fd();
        start_and_drop(listener.accept()).await;
        drop(listener);
        support::assert_descriptor_still_taken(
            old,
            "a TcpListener closed its descriptor under a queued accept",
        );

        // Once the runtime has turned, the cancelled receive is done and
        // the stream's descriptor is closed: the peer sees the end.
        let rest = spindle_runtime::spawn_blocking(move || {
            let mut client = client;
            client.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut rest = Vec::new();
            client.read_to_end(&mut rest).map(|_| rest)
        })
        .await
        .unwrap()
        .unwrap();
        assert!(rest.is_empty());
    });
}

/// `into_raw_fd` while an abandoned request still holds the descriptor
/// gives a working duplicate, and the original closes when the kernel is
/// done with the request.
#[test]
fn into_raw_fd_with_a_request_still_queued_gives_a_working_descriptor() {
    use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
    support::run(|| async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let stream = spindle_runtime::uring::TcpStream::from_std(server).unwrap();
        let old = stream.as_raw_fd();
        start_and_drop(stream.read(Vec::with_capacity(16))).await;
        let raw = stream.into_raw_fd();
        assert_ne!(
            raw, old,
            "the descriptor a queued request names was given away"
        );
        // SAFETY: `into_raw_fd` just gave us this descriptor to own.
        let mut taken = unsafe { std::net::TcpStream::from_raw_fd(raw) };
        taken.set_nonblocking(false).unwrap();
        // No await since the receive was queued: the runtime has not
        // turned, so the queued receive has not run and takes nothing.
        client.write_all(b"still here").unwrap();
        taken
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut got = [0u8; 10];
        taken.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"still here");
    });
}
