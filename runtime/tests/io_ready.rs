//! `ready(Interest)` on TcpStream, UdpSocket, UnixStream and UnixDatagram:
//! what `Ready` reports, waiting for the first of several kinds, and a
//! cancelled wait losing nothing.

use spindle_runtime::io::{AsyncReadExt, AsyncWriteExt, Interest};
use spindle_runtime::net::{TcpListener, UdpSocket, UnixDatagram, UnixStream};
use spindle_runtime::{spawn, Backend};

mod net_support;
use net_support::{run, tcp_pair};
mod support;
use support::stays_pending;

const BOTH: Interest = Interest::READABLE.add(Interest::WRITABLE);

#[test]
fn tcp_ready_reports_writable_then_readable_then_read_closed() {
    let select = spindle_runtime::Runtime::new().unwrap().backend() == Backend::Select;
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (client, mut server) = tcp_pair(&listener).await;
        let ready = client.ready(BOTH).await.unwrap();
        assert!(ready.is_writable() && !ready.is_readable(), "{ready:?}");
        assert!(stays_pending(client.ready(Interest::READABLE)).await);
        server.write_all(b"hi").await.unwrap();
        let ready = client.ready(Interest::READABLE).await.unwrap();
        assert!(ready.is_readable() && !ready.is_writable(), "{ready:?}");
        let mut buf = [0; 8];
        assert_eq!(client.try_read(&mut buf).unwrap(), 2);
        // The short read proved the buffer drained: the next wait waits.
        assert!(stays_pending(client.ready(Interest::READABLE)).await);
        server.shutdown().await.unwrap();
        let ready = client.ready(Interest::READABLE).await.unwrap();
        // select(2) has no hang-up report: a closed peer shows as readable.
        assert!(
            ready.is_readable() && (select || ready.is_read_closed()),
            "{ready:?}"
        );
        assert_eq!(client.try_read(&mut buf).unwrap(), 0);
    });
}

#[test]
fn tcp_ready_wakes_several_waiters_and_a_dropped_one_loses_nothing() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (client, mut server) = tcp_pair(&listener).await;
        let client = std::sync::Arc::new(client);
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let client = client.clone();
                spawn(async move { client.ready(Interest::READABLE).await.unwrap() })
            })
            .collect();
        assert!(stays_pending(client.ready(Interest::READABLE)).await);
        server.write_all(b"abc").await.unwrap();
        for waiter in waiters {
            assert!(waiter.await.unwrap().is_readable());
        }
        let mut buf = [0; 8];
        assert_eq!(client.try_read(&mut buf).unwrap(), 3);
    });
}

#[test]
fn udp_ready() {
    run(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        b.connect(a.local_addr().unwrap()).await.unwrap();
        assert!(a.ready(BOTH).await.unwrap().is_writable());
        assert!(stays_pending(a.ready(Interest::READABLE)).await);
        b.send(b"dgram").await.unwrap();
        assert!(a.ready(Interest::READABLE).await.unwrap().is_readable());
        let mut buf = [0; 8];
        assert_eq!(a.try_recv(&mut buf).unwrap(), 5);
    });
}

#[test]
fn unix_stream_ready() {
    run(async {
        let (a, mut b) = UnixStream::pair().unwrap();
        assert!(a.ready(Interest::WRITABLE).await.unwrap().is_writable());
        assert!(stays_pending(a.ready(Interest::READABLE)).await);
        b.write_all(b"u").await.unwrap();
        assert!(a.ready(Interest::READABLE).await.unwrap().is_readable());
        let mut buf = [0; 4];
        let mut a = a;
        assert_eq!(a.read(&mut buf).await.unwrap(), 1);
        drop(b);
        let ready = a.ready(Interest::READABLE).await.unwrap();
        assert!(ready.is_readable(), "{ready:?}");
        assert_eq!(a.try_read(&mut buf).unwrap(), 0);
    });
}

#[test]
fn unix_datagram_ready() {
    run(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        assert!(a.ready(BOTH).await.unwrap().is_writable());
        assert!(stays_pending(a.ready(Interest::READABLE)).await);
        b.send(b"d").await.unwrap();
        assert!(a.ready(Interest::READABLE).await.unwrap().is_readable());
        let mut buf = [0; 4];
        assert_eq!(a.try_recv(&mut buf).unwrap(), 1);
    });
}

#[test]
fn interest_and_ready_algebra() {
    use spindle_runtime::io::Ready;
    let i = Interest::READABLE | Interest::ERROR;
    assert!(i.is_readable() && i.is_error() && !i.is_writable());
    assert_eq!(i.remove(Interest::ERROR), Some(Interest::READABLE));
    assert_eq!(format!("{i:?}"), "READABLE | ERROR");
    let r = Ready::READABLE | Ready::WRITE_CLOSED;
    assert!(r.is_readable() && r.is_writable() && r.is_write_closed());
    assert!(!r.is_error() && !r.is_read_closed());
    assert_eq!(r - Ready::READABLE, Ready::WRITE_CLOSED);
    assert_eq!(r & Ready::READABLE, Ready::READABLE);
    assert!(Ready::EMPTY.is_empty());
    assert!(Ready::ALL.is_error());
}

#[test]
fn udp_error_interest_sees_a_refused_datagram() {
    // select(2) reports a pending error only as readable, with no error flag.
    let select = spindle_runtime::Runtime::new().unwrap().backend() == Backend::Select;
    run(async move {
        // A port that was bound and released: nobody listens there.
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let closed_addr = closed.local_addr().unwrap();
        drop(closed);
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sock.connect(closed_addr).await.unwrap();
        sock.send(b"anyone?").await.unwrap();
        // The ICMP "port unreachable" comes back as a pending socket error.
        let interest = if select {
            Interest::READABLE
        } else {
            Interest::ERROR
        };
        let ready = sock.ready(interest).await.unwrap();
        assert!(select || ready.is_error(), "{ready:?}");
        let err = sock.take_error().unwrap().expect("a pending error");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    });
}
