//! Failure paths: peer resets, writes to closed peers (errors, never
//! SIGPIPE), descriptor flags, empty buffers, misuse outside a runtime.

use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::time::Duration;

use spindle_runtime::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use spindle_runtime::net::{
    TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream,
};
use spindle_runtime::spawn;
use spindle_runtime::time::timeout;

mod net_support;
use net_support::{run, tcp_pair};

/// Restores the default SIGPIPE action (terminate) for the whole test
/// process, which Rust programs otherwise ignore: if any send in this
/// binary lacked MSG_NOSIGNAL, the process would die and the run fail.
fn die_on_sigpipe() {
    // SAFETY: installs the default disposition; no handler code runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// Writes small chunks until the write fails; returns the error.
async fn write_until_error<W: AsyncWriteExt + Unpin>(w: &mut W) -> std::io::Error {
    loop {
        if let Err(e) = w.write_all(b"are you there?").await {
            return e;
        }
    }
}

#[test]
fn peer_reset_fails_only_that_stream() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (mut doomed, doomed_server) = tcp_pair(&listener).await;
        let (mut healthy, mut healthy_server) = tcp_pair(&listener).await;
        spawn(async move {
            let mut buf = [0u8; 256];
            loop {
                let n = healthy_server.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                healthy_server.write_all(&buf[..n]).await.unwrap();
            }
        });
        // Linger 0: closing sends RST instead of FIN.
        doomed_server.set_linger(Some(Duration::ZERO)).unwrap();
        drop(doomed_server);
        let mut buf = [0u8; 16];
        let err = doomed.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);

        healthy.write_all(b"still here").await.unwrap();
        let mut reply = [0u8; 10];
        healthy.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"still here");
    });
}

#[test]
fn write_to_closed_peer_is_an_error_not_a_signal() {
    die_on_sigpipe();
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (mut client, server) = tcp_pair(&listener).await;
        drop(server);
        let err = write_until_error(&mut client).await;
        assert!(
            matches!(
                err.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
            ),
            "{err:?}"
        );
        // Same through the readiness API.
        let err = loop {
            client.writable().await.unwrap();
            match client.try_write(b"x") {
                Err(e) if e.kind() != ErrorKind::WouldBlock => break e,
                _ => {}
            }
        };
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);

        // Unix streams raise SIGPIPE too without MSG_NOSIGNAL.
        let (mut a, b) = UnixStream::pair().unwrap();
        drop(b);
        let err = write_until_error(&mut a).await;
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    });
}

fn assert_cloexec_nonblocking(what: &str, fd: &impl AsRawFd) {
    let fd = fd.as_raw_fd();
    // SAFETY: F_GETFD / F_GETFL only read flags of a descriptor we own.
    let (fd_flags, fl_flags) = unsafe {
        (
            libc::fcntl(fd, libc::F_GETFD),
            libc::fcntl(fd, libc::F_GETFL),
        )
    };
    assert!(fd_flags >= 0 && fl_flags >= 0, "{what}: fcntl failed");
    assert_ne!(
        fd_flags & libc::FD_CLOEXEC,
        0,
        "{what} is not close-on-exec"
    );
    assert_ne!(fl_flags & libc::O_NONBLOCK, 0, "{what} is blocking");
}

#[test]
fn every_socket_is_cloexec_and_nonblocking() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (connected, accepted) = tcp_pair(&listener).await;
        assert_cloexec_nonblocking("tcp listener", &listener);
        assert_cloexec_nonblocking("accepted tcp stream", &accepted);
        assert_cloexec_nonblocking("connected tcp stream", &connected);
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        assert_cloexec_nonblocking("udp socket", &udp);
        let (a, b) = UnixStream::pair().unwrap();
        assert_cloexec_nonblocking("unix pair", &a);
        assert_cloexec_nonblocking("unix pair", &b);
        let (c, _d) = UnixDatagram::pair().unwrap();
        assert_cloexec_nonblocking("unix datagram pair", &c);
        let name = format!("\0spindle-faults-{}", std::process::id());
        let unix_listener = UnixListener::bind(&name).unwrap();
        let unix_client = UnixStream::connect(&name).await.unwrap();
        let (unix_accepted, _) = unix_listener.accept().await.unwrap();
        assert_cloexec_nonblocking("unix listener", &unix_listener);
        assert_cloexec_nonblocking("connected unix stream", &unix_client);
        assert_cloexec_nonblocking("accepted unix stream", &unix_accepted);
    });
}

#[test]
fn empty_buffers_complete_at_once() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (mut client, _server) = tcp_pair(&listener).await;
        // The connection is idle: a real read would wait forever.
        let quick = Duration::from_secs(1);
        assert_eq!(
            timeout(quick, client.read(&mut [])).await.unwrap().unwrap(),
            0
        );
        assert_eq!(timeout(quick, client.write(&[])).await.unwrap().unwrap(), 0);
        assert_eq!(client.try_write(&[]).unwrap(), 0);
    });
}

#[test]
fn client_reset_before_accept_does_not_break_listener() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let early = TcpStream::connect(addr).await.unwrap();
        early.set_linger(Some(Duration::ZERO)).unwrap();
        drop(early);
        let mut late = TcpStream::connect(addr).await.unwrap();
        // Linux still hands out the reset connection; it reads as reset or
        // closed. Either way the next connection is served normally.
        let (mut first, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4];
        match first.read(&mut buf).await {
            Ok(0) => {}
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
            Ok(n) => panic!("read {n} bytes from a reset connection"),
        }
        let (mut second, _) = listener.accept().await.unwrap();
        late.write_all(b"ping").await.unwrap();
        second.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
    });
}

#[test]
fn sockets_outside_a_runtime_are_an_error_not_a_panic() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = TcpListener::from_std(std_listener).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other);
    assert!(UnixStream::pair().is_err());
    assert!(UnixDatagram::unbound().is_err());
}

#[test]
fn stream_dropped_on_another_thread() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (client, mut server) = tcp_pair(&listener).await;
        std::thread::spawn(move || drop(client)).join().unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(server.read(&mut buf).await.unwrap(), 0);
        // The runtime keeps working after the off-thread deregistration.
        let (mut c2, mut s2) = tcp_pair(&listener).await;
        c2.write_all(b"k").await.unwrap();
        s2.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"k");
    });
}

/// A (client, server) pair whose client has been closed with an RST
/// (`SO_LINGER` 0), and the server has seen the reset: its connection is
/// gone, which Linux reports to `shutdown(SHUT_WR)` as `ENOTCONN`.
async fn reset_by_peer(listener: &TcpListener) -> TcpStream {
    let (client, server) = tcp_pair(listener).await;
    client.set_linger(Some(Duration::ZERO)).unwrap();
    drop(client);
    // Wait for the RST to arrive (a real event, no sleeping): the socket
    // turns readable and holds ECONNRESET as its pending error.
    server.readable().await.unwrap();
    let pending = server.take_error().unwrap().expect("no pending error");
    assert_eq!(pending.kind(), ErrorKind::ConnectionReset);
    // The raw system call says the connection is gone...
    let raw = server.shutdown_std(std::net::Shutdown::Write).unwrap_err();
    assert_eq!(raw.kind(), ErrorKind::NotConnected);
    server
}

/// Shutting down the write side of a connection the peer already reset
/// succeeds (there is nobody left to tell), as it does in tokio: hyper shuts
/// down every connection a client closes, and must not log an error for
/// each. Covers the stream itself, both kinds of write half, a repeated
/// shutdown, and the poll method under `AsyncWriteExt::shutdown`.
#[test]
fn shutdown_after_peer_reset_is_ok() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();

        let mut server = reset_by_peer(&listener).await;
        server.shutdown().await.unwrap();
        server.shutdown().await.unwrap();
        // A read still reports what happened to the connection.
        let mut buf = [0u8; 4];
        assert_eq!(server.read(&mut buf).await.unwrap(), 0);

        let mut server = reset_by_peer(&listener).await;
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut server).poll_shutdown(cx))
            .await
            .unwrap();

        let mut server = reset_by_peer(&listener).await;
        let (_read, mut write) = server.split();
        write.shutdown().await.unwrap();

        let server = reset_by_peer(&listener).await;
        let (read, mut write) = server.into_split();
        write.shutdown().await.unwrap();
        drop(write);
        drop(read);

        // The same stream, reset while we were reading from it.
        let (client, mut server) = tcp_pair(&listener).await;
        client.set_linger(Some(Duration::ZERO)).unwrap();
        drop(client);
        let err = server.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
        server.shutdown().await.unwrap();
    });
}

/// A unix stream whose peer is gone shuts down cleanly too (Linux does not
/// report `ENOTCONN` for unix streams; this pins that down for the shared
/// code path).
#[test]
fn unix_shutdown_after_peer_closed_is_ok() {
    run(async {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let (_read, mut write) = a.into_split();
        write.shutdown().await.unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let mut a = a;
        a.shutdown().await.unwrap();
        a.shutdown().await.unwrap();
    });
}
