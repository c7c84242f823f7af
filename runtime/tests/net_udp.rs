//! UDP over loopback: addressed and connected datagrams, the readiness API.

use std::io::ErrorKind;
use std::time::Duration;

use spindle_runtime::net::UdpSocket;
use spindle_runtime::spawn;
use spindle_runtime::time::timeout;

mod net_support;
use net_support::run;

#[test]
fn send_to_and_recv_from_round_trip() {
    run(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        assert_eq!(a.send_to(b"ping", b_addr).await.unwrap(), 4);
        let mut buf = [0u8; 64];
        let (n, from) = b.peek_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"ping"[..], a_addr));
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"ping"[..], a_addr));
        b.send_to(b"pong", from).await.unwrap();
        let (n, from) = a.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"pong"[..], b_addr));
        // `peer_addr` of an unconnected socket.
        assert_eq!(a.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
    });
}

#[test]
fn connected_send_and_recv() {
    run(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        a.connect(b.local_addr().unwrap()).await.unwrap();
        b.connect(a.local_addr().unwrap()).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
        let b = std::sync::Arc::new(b);
        let echo = {
            let b = b.clone();
            spawn(async move {
                let mut buf = [0u8; 1500];
                for _ in 0..100 {
                    let n = b.recv(&mut buf).await.unwrap();
                    b.send(&buf[..n]).await.unwrap();
                }
            })
        };
        let mut buf = [0u8; 1500];
        for i in 0..100u32 {
            let msg = i.to_be_bytes();
            a.send(&msg).await.unwrap();
            let n = a.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], &msg);
        }
        echo.await.unwrap();
    });
}

#[test]
fn readiness_api_and_try_methods() {
    run(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(
            b.try_recv(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        assert!(timeout(Duration::from_millis(50), b.readable())
            .await
            .is_err());
        a.writable().await.unwrap();
        let b_addr = b.local_addr().unwrap();
        assert_eq!(a.try_send_to(b"try", b_addr).unwrap(), 3);
        let (n, from) = loop {
            b.readable().await.unwrap();
            match b.try_recv_from(&mut buf) {
                Ok(got) => break got,
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!((&buf[..n], from), (&b"try"[..], a.local_addr().unwrap()));
        // Zero-length datagrams are real datagrams.
        a.send_to(b"", b_addr).await.unwrap();
        assert_eq!(b.recv_from(&mut buf).await.unwrap().0, 0);
    });
}

#[test]
fn options_and_std_conversion() {
    run(async {
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = std_socket.local_addr().unwrap();
        let socket = UdpSocket::from_std(std_socket).unwrap();
        socket.set_broadcast(true).unwrap();
        assert!(socket.broadcast().unwrap());
        socket.set_ttl(7).unwrap();
        assert_eq!(socket.ttl().unwrap(), 7);
        assert!(socket.take_error().unwrap().is_none());
        assert_eq!(socket.into_std().unwrap().local_addr().unwrap(), addr);
    });
}

/// CPU time this thread has used so far (the runtime runs on it).
fn thread_cpu_time() -> Duration {
    let mut usage = libc::rusage {
        // SAFETY: rusage is plain integers; all-zero is valid.
        ..unsafe { std::mem::zeroed() }
    };
    // SAFETY: `usage` is a valid, writable rusage.
    let res = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    assert_eq!(res, 0);
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

#[test]
fn error_on_connected_socket_is_reported_once_then_waits_quietly() {
    run(async {
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let closed_addr = closed.local_addr().unwrap();
        drop(closed);
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.connect(closed_addr).await.unwrap();
        // The ICMP "port unreachable" comes back as a pending socket error
        // (EPOLLERR), which the next receive reports.
        socket.send(b"anyone?").await.unwrap();
        let mut buf = [0u8; 16];
        let err = socket.recv(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        // Then receiving waits for a datagram like on any idle socket,
        // without spinning on the stale error readiness.
        let before = thread_cpu_time();
        let wait = Duration::from_millis(200);
        assert!(timeout(wait, socket.recv(&mut buf)).await.is_err());
        let used = thread_cpu_time() - before;
        // Spinning costs tens of milliseconds here; waiting, almost nothing.
        assert!(used < wait / 10, "waiting used {used:?} of CPU");
    });
}
