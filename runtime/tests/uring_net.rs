//! spindle::uring sockets over loopback: accept, connect, read and write
//! with owned buffers, UDP, clients on plain threads (so completions must
//! wake a runtime asleep in its poller), and every readiness backend.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use spindle_runtime::uring::{TcpListener, TcpStream, UdpSocket};
use spindle_runtime::{spawn, Backend, Runtime};

mod support;
use support::{bounded, run};

/// An echo server on `spindle::uring`; returns its address.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            spawn(async move {
                let mut buf = Vec::with_capacity(4096);
                loop {
                    let (res, b) = stream.read(buf).await;
                    match res {
                        Ok(0) | Err(_) => return,
                        Ok(n) => assert_eq!(b.len(), n),
                    }
                    let (res, b) = stream.write_all(b).await;
                    if res.is_err() {
                        return;
                    }
                    buf = b;
                }
            });
        }
    });
    addr
}

#[test]
fn echo_between_uring_client_and_server() {
    run(|| async {
        let addr = echo_server();
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut buf = Vec::with_capacity(64);
        for i in 0..100u32 {
            let msg = format!("message {i}").into_bytes();
            let (res, _) = stream.write_all(msg.clone()).await;
            res.unwrap();
            let (res, b) = stream.read(buf).await;
            assert_eq!(res.unwrap(), msg.len());
            assert_eq!(b, msg);
            buf = b;
        }
    });
}

#[test]
fn literals_strings_and_static_slices_are_written_as_they_are() {
    run(|| async {
        let addr = echo_server();
        let stream = TcpStream::connect(addr).await.unwrap();
        static GREETING: &[u8] = b"static slice;";
        let (res, literal) = stream.write_all(b"byte literal;").await;
        res.unwrap();
        assert_eq!(literal, b"byte literal;");
        let (res, _) = stream.write_all("str literal;").await;
        res.unwrap();
        let (res, _) = stream.write_all(GREETING).await;
        res.unwrap();
        let (res, owned) = stream.write_all(String::from("string.")).await;
        res.unwrap();
        assert_eq!(owned, "string.");
        let expected = b"byte literal;str literal;static slice;string.";
        let mut got = Vec::new();
        while got.len() < expected.len() {
            let (res, b) = stream.read(Vec::with_capacity(64)).await;
            assert!(res.unwrap() > 0, "the echo ended early");
            got.extend_from_slice(&b);
        }
        assert_eq!(got, expected);
    });
}

#[test]
fn a_blocking_client_on_another_thread_wakes_the_sleeping_runtime() {
    // Every completion here arrives while the runtime sleeps in its poller:
    // only the ring's eventfd can wake it.
    for backend in [Backend::Epoll, Backend::Poll, Backend::IoUring] {
        bounded(20, move || {
            let rt = Runtime::builder()
                .current_thread()
                .poller(backend)
                .build()
                .unwrap();
            rt.block_on(async {
                let addr = echo_server();
                let client = std::thread::spawn(move || {
                    let mut s = std::net::TcpStream::connect(addr).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    for i in 0..50u32 {
                        std::thread::sleep(Duration::from_millis(1));
                        let msg = i.to_le_bytes();
                        s.write_all(&msg).unwrap();
                        let mut got = [0; 4];
                        s.read_exact(&mut got).unwrap();
                        assert_eq!(got, msg);
                    }
                });
                spindle_runtime::spawn_blocking(move || client.join().unwrap())
                    .await
                    .unwrap();
            });
        });
    }
}

#[test]
fn large_transfer_in_both_directions() {
    run(|| async {
        let addr = echo_server();
        let stream = TcpStream::connect(addr).await.unwrap();
        let data: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
        let expected = data.clone();
        let stream = std::sync::Arc::new(stream);
        let writer = {
            let stream = stream.clone();
            spawn(async move {
                let (res, _) = stream.write_all(data).await;
                res.unwrap();
            })
        };
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536].into_boxed_slice();
        while got.len() < expected.len() {
            let (res, b) = stream.read(buf).await;
            let n = res.unwrap();
            assert!(n > 0, "early end of stream");
            got.extend_from_slice(&b[..n]);
            buf = b;
        }
        writer.await.unwrap();
        assert!(got == expected, "the echoed bytes differ");
    });
}

#[test]
fn read_sees_end_of_stream_and_write_to_a_closed_peer_is_an_error() {
    run(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        drop(client);
        let (res, _) = stream.read(vec![0u8; 16]).await;
        assert_eq!(res.unwrap(), 0);
        // Keep writing until the reset arrives: EPIPE or ECONNRESET, and
        // never a SIGPIPE (which would kill the test process).
        let mut failed = false;
        for _ in 0..100 {
            let (res, _) = stream.write(vec![1u8; 1024]).await;
            if res.is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed, "writes to a closed peer kept succeeding");
    });
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    run(|| async {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn udp_send_to_and_recv_from() {
    run(|| async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let (res, _) = a.send_to(b"ping".to_vec(), b_addr).await;
        assert_eq!(res.unwrap(), 4);
        let (res, buf) = b.recv_from(Vec::with_capacity(64)).await;
        assert_eq!(res.unwrap(), (4, a_addr));
        assert_eq!(buf, b"ping");
        // A datagram longer than the buffer is cut to fit.
        let (res, _) = b.send_to(vec![7u8; 100], a_addr).await;
        res.unwrap();
        let (res, buf) = a.recv_from(vec![0u8; 10].into_boxed_slice()).await;
        assert_eq!(res.unwrap(), (10, b_addr));
        assert_eq!(&buf[..], &[7u8; 10]);
    });
}

#[test]
fn operations_outside_a_runtime_fail_and_give_the_buffer_back() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (res, buf) = support::foreign_block_on(sock.recv_from(vec![0u8; 3]));
    assert!(res
        .unwrap_err()
        .to_string()
        .contains("inside a spindle runtime"));
    assert_eq!(buf, vec![0u8; 3]);
}
