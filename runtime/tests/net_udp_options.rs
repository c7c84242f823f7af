//! UDP's `poll_*` forms, `peek_from`, broadcast and multicast options, on
//! loopback.

use std::future::poll_fn;
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::task::Poll;
use std::time::Duration;

use spindle_runtime::net::UdpSocket;
use spindle_runtime::spawn;
use spindle_runtime::time::timeout;

mod net_support;
use net_support::run;

#[test]
fn poll_send_to_and_poll_recv_from() {
    run(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let mut buf = [0u8; 16];
        // Nothing queued: pending, and the waker is registered ...
        let first = poll_fn(|cx| Poll::Ready(b.poll_recv_from(cx, &mut buf).is_pending())).await;
        assert!(first);
        let n = poll_fn(|cx| a.poll_send_to(cx, b"dgram", b_addr))
            .await
            .unwrap();
        assert_eq!(n, 5);
        // ... and a datagram wakes it.
        let (n, from) = poll_fn(|cx| b.poll_peek_from(cx, &mut buf)).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"dgram"[..], a_addr));
        let (n, from) = poll_fn(|cx| b.poll_recv_from(cx, &mut buf)).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"dgram"[..], a_addr));
    });
}

#[test]
fn poll_send_and_poll_recv_on_a_connected_socket() {
    run(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        a.connect(b.local_addr().unwrap()).await.unwrap();
        b.connect(a.local_addr().unwrap()).await.unwrap();
        let waiter = spawn(async move {
            let mut buf = [0u8; 16];
            let n = poll_fn(|cx| b.poll_recv(cx, &mut buf)).await.unwrap();
            buf[..n].to_vec()
        });
        assert_eq!(poll_fn(|cx| a.poll_send(cx, b"hey")).await.unwrap(), 3);
        assert_eq!(waiter.await.unwrap(), b"hey");
    });
}

#[test]
fn a_dropped_recv_from_loses_no_datagram() {
    run(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut buf = [0u8; 16];
        // A receive that times out (nothing was sent) is dropped mid-await.
        assert!(timeout(Duration::from_millis(5), b.recv_from(&mut buf))
            .await
            .is_err());
        a.send_to(b"kept", b.local_addr().unwrap()).await.unwrap();
        let (n, _) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"kept");
    });
}

#[test]
fn broadcast_option() {
    run(async {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        assert!(!socket.broadcast().unwrap());
        let err = socket.send_to(b"x", "255.255.255.255:9").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied);
        socket.set_broadcast(true).unwrap();
        assert!(socket.broadcast().unwrap());
    });
}

#[test]
fn multicast_options_and_membership() {
    run(async {
        let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
        assert!(socket.multicast_loop_v4().unwrap());
        socket.set_multicast_loop_v4(false).unwrap();
        assert!(!socket.multicast_loop_v4().unwrap());
        assert_eq!(socket.multicast_ttl_v4().unwrap(), 1);
        socket.set_multicast_ttl_v4(4).unwrap();
        assert_eq!(socket.multicast_ttl_v4().unwrap(), 4);

        let group = Ipv4Addr::new(239, 255, 42, 99);
        socket
            .join_multicast_v4(group, Ipv4Addr::LOCALHOST)
            .unwrap();
        // Joining twice is refused; leaving works once.
        let err = socket
            .join_multicast_v4(group, Ipv4Addr::LOCALHOST)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EADDRINUSE));
        socket
            .leave_multicast_v4(group, Ipv4Addr::LOCALHOST)
            .unwrap();
        assert!(socket
            .leave_multicast_v4(group, Ipv4Addr::LOCALHOST)
            .is_err());
        // Not a multicast address.
        assert!(socket
            .join_multicast_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST)
            .is_err());

        if let Ok(v6) = UdpSocket::bind("[::]:0").await {
            assert!(v6.multicast_loop_v6().unwrap());
            v6.set_multicast_loop_v6(false).unwrap();
            assert!(!v6.multicast_loop_v6().unwrap());
            let group6 = "ff02::1:3".parse().unwrap();
            // Interface 1 is the loopback interface on Linux.
            if v6.join_multicast_v6(&group6, 1).is_ok() {
                v6.leave_multicast_v6(&group6, 1).unwrap();
            }
        }
    });
}
