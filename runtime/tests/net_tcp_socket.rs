//! `TcpSocket`: options, bind before connect, `listen(backlog)`,
//! `SO_REUSEPORT`; and `TcpStream`'s `peek`, linger and ttl. Loopback only.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use spindle_runtime::io::{AsyncReadExt, AsyncWriteExt};
use spindle_runtime::net::{TcpListener, TcpSocket, TcpStream};
use spindle_runtime::spawn;

mod net_support;
use net_support::run;

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn options_round_trip() {
    run(async {
        let socket = TcpSocket::new_v4().unwrap();
        assert!(!socket.reuseaddr().unwrap());
        socket.set_reuseaddr(true).unwrap();
        assert!(socket.reuseaddr().unwrap());
        socket.set_reuseport(true).unwrap();
        assert!(socket.reuseport().unwrap());
        socket.set_keepalive(true).unwrap();
        assert!(socket.keepalive().unwrap());
        socket.set_nodelay(true).unwrap();
        assert!(socket.nodelay().unwrap());
        socket.set_linger(Some(Duration::from_secs(2))).unwrap();
        assert_eq!(socket.linger().unwrap(), Some(Duration::from_secs(2)));
        // Linux doubles the request (and has a floor): at least what we asked.
        socket.set_send_buffer_size(64 * 1024).unwrap();
        assert!(socket.send_buffer_size().unwrap() >= 64 * 1024);
        socket.set_recv_buffer_size(32 * 1024).unwrap();
        assert!(socket.recv_buffer_size().unwrap() >= 32 * 1024);
        assert!(socket.take_error().unwrap().is_none());
    });
}

#[test]
fn bind_then_connect_uses_the_bound_address() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server_addr = listener.local_addr().unwrap();
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(loopback()).unwrap();
        let chosen = socket.local_addr().unwrap();
        assert_ne!(chosen.port(), 0);
        let server = spawn(async move { listener.accept().await.unwrap() });
        let mut stream = socket.connect(server_addr).await.unwrap();
        assert_eq!(stream.local_addr().unwrap(), chosen);
        let (mut accepted, peer) = server.await.unwrap();
        assert_eq!(peer, chosen);
        stream.write_all(b"over").await.unwrap();
        let mut buf = [0; 4];
        accepted.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"over");
    });
}

#[test]
fn listen_with_a_backlog_accepts() {
    run(async {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(loopback()).unwrap();
        let listener = socket.listen(16).unwrap();
        let addr = listener.local_addr().unwrap();
        // Several clients queue in the backlog before any accept.
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        for _ in 0..clients.len() {
            let (_, peer) = listener.accept().await.unwrap();
            assert!(clients.iter().any(|c| c.local_addr().unwrap() == peer));
        }
    });
}

#[test]
fn reuseport_lets_two_listeners_share_a_port() {
    run(async {
        let first = TcpSocket::new_v4().unwrap();
        first.set_reuseport(true).unwrap();
        first.bind(loopback()).unwrap();
        let addr = first.local_addr().unwrap();
        let _first = first.listen(8).unwrap();

        let second = TcpSocket::new_v4().unwrap();
        second.set_reuseport(true).unwrap();
        second.bind(addr).unwrap();
        let _second = second.listen(8).unwrap();

        let third = TcpSocket::new_v4().unwrap();
        let err = third.bind(addr).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
    });
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    run(async {
        // Bind a port, then close it: nothing listens there.
        let addr = {
            let socket = TcpSocket::new_v4().unwrap();
            socket.bind(loopback()).unwrap();
            socket.local_addr().unwrap()
        };
        let err = TcpSocket::new_v4()
            .unwrap()
            .connect(addr)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn v6_socket_when_the_host_has_ipv6() {
    run(async {
        let Ok(socket) = TcpSocket::new_v6() else {
            return; // no IPv6 in this kernel
        };
        if socket.bind("[::1]:0".parse().unwrap()).is_err() {
            return; // no ::1 configured
        }
        let listener = socket.listen(4).unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(addr.is_ipv6());
        let stream = TcpSocket::new_v6().unwrap().connect(addr).await.unwrap();
        assert_eq!(stream.peer_addr().unwrap(), addr);
    });
}

#[test]
fn stream_peek_linger_and_ttl() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        server.write_all(b"peek").await.unwrap();
        let mut buf = [0; 4];
        let n = client.peek(&mut buf).await.unwrap();
        assert!(n > 0 && buf[..n] == b"peek"[..n]);
        let mut client = client;
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"peek");
        client.set_ttl(17).unwrap();
        assert_eq!(client.ttl().unwrap(), 17);
        // Linger zero: dropping the stream resets the connection.
        client.set_linger(Some(Duration::ZERO)).unwrap();
        assert_eq!(client.linger().unwrap(), Some(Duration::ZERO));
        drop(client);
        let err = server.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    });
}

#[test]
fn sockets_connect_from_several_threads() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = std::thread::spawn(move || {
        for _ in 0..4 {
            listener.accept().unwrap();
        }
    });
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                run(async move {
                    let socket = TcpSocket::new_v4().unwrap();
                    socket.bind(loopback()).unwrap();
                    let local = socket.local_addr().unwrap();
                    let stream = socket.connect(addr).await.unwrap();
                    assert_eq!(stream.local_addr().unwrap(), local);
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    acceptor.join().unwrap();
}
