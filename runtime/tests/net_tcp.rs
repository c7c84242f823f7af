//! TCP over loopback: echo, refused connections, many concurrent
//! connections, split halves, the readiness API, half-close.

use std::io::{ErrorKind, IoSlice};
use std::time::Duration;

use spindle_runtime::io::{AsyncReadExt, AsyncWriteExt};
use spindle_runtime::net::{TcpListener, TcpStream};
use spindle_runtime::spawn;
use spindle_runtime::time::timeout;

mod net_support;
use net_support::{echo, ping_pong, run, tcp_pair};

/// A listener on a free loopback port whose connections are all echoed.
async fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            spawn(echo(stream));
        }
    });
    addr
}

#[test]
fn bind_port_zero_accept_and_echo_many_messages() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        let server = spawn(async move {
            let (stream, peer) = listener.accept().await.unwrap();
            assert_eq!(peer, stream.peer_addr().unwrap());
            assert_eq!(stream.local_addr().unwrap(), addr);
            echo(stream).await;
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.set_nodelay(true).unwrap();
        assert!(client.nodelay().unwrap());
        assert_eq!(client.peer_addr().unwrap(), addr);
        ping_pong(&mut client, 1000).await;
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        server.await.unwrap();
    });
}

#[test]
fn bind_by_name_tries_resolved_addresses() {
    run(async {
        let listener = TcpListener::bind(("localhost", 0)).await.unwrap();
        assert!(listener.local_addr().unwrap().ip().is_loopback());
        let addrs = [
            "127.0.0.1:1".parse().unwrap(),
            listener.local_addr().unwrap(),
        ];
        // The first address is refused; connect moves on to the second.
        let stream = TcpStream::connect(&addrs[..]).await.unwrap();
        assert_eq!(stream.peer_addr().unwrap(), addrs[1]);
    });
}

#[test]
fn connect_to_closed_port_is_refused() {
    run(async {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        // The std listener is dropped: nothing listens on `addr` now.
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn two_hundred_concurrent_connections_each_echo() {
    run(async {
        let addr = echo_server().await;
        let clients: Vec<_> = (0..200u32)
            .map(|i| {
                spawn(async move {
                    let mut stream = TcpStream::connect(addr).await.unwrap();
                    let msg: Vec<u8> = (0..10_000u32).map(|b| (b * 7 + i) as u8).collect();
                    stream.write_all(&msg).await.unwrap();
                    let mut reply = vec![0; msg.len()];
                    stream.read_exact(&mut reply).await.unwrap();
                    assert_eq!(reply, msg);
                })
            })
            .collect();
        for client in clients {
            client.await.unwrap();
        }
    });
}

#[test]
fn into_split_halves_used_from_two_tasks() {
    run(async {
        let addr = echo_server().await;
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut read, mut write) = stream.into_split();
        assert_eq!(read.peer_addr().unwrap(), addr);
        assert_eq!(write.peer_addr().unwrap(), addr);
        const TOTAL: usize = 1 << 20;
        let writer = spawn(async move {
            let chunk = [7u8; 8192];
            for _ in 0..TOTAL / chunk.len() {
                write.write_all(&chunk).await.unwrap();
            }
            // Dropping the write half sends FIN; the echo server then closes.
        });
        let reader = spawn(async move {
            let mut buf = vec![0u8; 16384];
            let mut total = 0;
            loop {
                let n = read.read(&mut buf).await.unwrap();
                if n == 0 {
                    return total;
                }
                assert!(buf[..n].iter().all(|&b| b == 7));
                total += n;
            }
        });
        writer.await.unwrap();
        assert_eq!(reader.await.unwrap(), TOTAL);
    });
}

#[test]
fn borrowed_split_reads_and_writes() {
    run(async {
        let addr = echo_server().await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let (mut read, mut write) = stream.split();
        write.write_all(b"split").await.unwrap();
        let mut buf = [0; 5];
        read.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"split");
        // `&TcpStream` is a reader and a writer as well.
        let mut shared = &stream;
        shared.write_all(b"ref").await.unwrap();
        let mut buf = [0; 3];
        shared.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ref");
    });
}

#[test]
fn readiness_api_on_idle_connection() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (client, server) = tcp_pair(&listener).await;
        let mut buf = [0u8; 64];
        // Nothing was sent: no data, and `readable` does not complete.
        let err = client.try_read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        assert!(timeout(Duration::from_millis(50), client.readable())
            .await
            .is_err());
        // An empty buffer reads nothing, at once.
        assert_eq!(client.try_read(&mut []).unwrap(), 0);

        server.writable().await.unwrap();
        let parts = [IoSlice::new(b"hel"), IoSlice::new(b"lo")];
        assert_eq!(server.try_write_vectored(&parts).unwrap(), 5);
        let n = loop {
            client.readable().await.unwrap();
            match client.try_read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(&buf[..n], b"hello");
        let err = client.try_read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
    });
}

#[test]
fn peek_leaves_data_for_the_next_read() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (mut client, mut server) = tcp_pair(&listener).await;
        server.write_all(b"peekaboo").await.unwrap();
        let mut buf = [0u8; 8];
        let mut seen = 0;
        while seen < 8 {
            seen = client.peek(&mut buf).await.unwrap();
        }
        assert_eq!(&buf, b"peekaboo");
        let mut again = [0u8; 8];
        client.read_exact(&mut again).await.unwrap();
        assert_eq!(&again, b"peekaboo");
    });
}

#[test]
fn shutdown_write_half_gives_peer_eof() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (mut client, mut server) = tcp_pair(&listener).await;
        client.write_all(b"bye").await.unwrap();
        client.shutdown().await.unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"bye");
        // Half-close: the other direction still works.
        server.write_all(b"ok").await.unwrap();
        drop(server);
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, b"ok");
    });
}

#[test]
fn std_conversions_and_options() {
    run(async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let listener = TcpListener::from_std(std_listener).unwrap();
        let std_client = std::net::TcpStream::connect(addr).unwrap();
        let mut client = TcpStream::from_std(std_client).unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        client.write_all(b"x").await.unwrap();
        let mut byte = [0];
        server.read_exact(&mut byte).await.unwrap();
        assert_eq!(&byte, b"x");

        client.set_ttl(42).unwrap();
        assert_eq!(client.ttl().unwrap(), 42);
        listener.set_ttl(43).unwrap();
        assert_eq!(listener.ttl().unwrap(), 43);
        client.set_linger(Some(Duration::from_secs(3))).unwrap();
        assert_eq!(client.linger().unwrap(), Some(Duration::from_secs(3)));
        client.set_linger(None).unwrap();
        assert_eq!(client.linger().unwrap(), None);
        assert!(client.take_error().unwrap().is_none());

        let std_client = client.into_std().unwrap();
        assert_eq!(std_client.peer_addr().unwrap(), addr);
        let std_listener = listener.into_std().unwrap();
        assert_eq!(std_listener.local_addr().unwrap(), addr);
    });
}

#[test]
fn ipv6_loopback_when_available() {
    run(async {
        let listener = match TcpListener::bind("[::1]:0").await {
            Ok(listener) => listener,
            Err(e) => return eprintln!("no IPv6 loopback here ({e}); skipped"),
        };
        let addr = listener.local_addr().unwrap();
        assert!(addr.is_ipv6());
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut server, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        server.write_all(b"v6").await.unwrap();
        let mut buf = [0; 2];
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"v6");
    });
}
