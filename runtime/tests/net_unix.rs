//! Unix-domain sockets: stream echo through a listener, pairs, split
//! halves, datagrams by pair and by path.

use std::os::linux::net::SocketAddrExt;

use spindle_runtime::io::{AsyncReadExt, AsyncWriteExt};
use spindle_runtime::net::{UnixDatagram, UnixListener, UnixStream};
use spindle_runtime::spawn;

mod net_support;
use net_support::{ping_pong, run, TempPath};

#[test]
fn stream_echo_through_listener() {
    let path = TempPath::new("echo");
    run(async {
        let listener = UnixListener::bind(&path.0).unwrap();
        assert_eq!(listener.local_addr().unwrap().as_pathname(), Some(&*path.0));
        let server = spawn(async move {
            let (mut stream, peer) = listener.accept().await.unwrap();
            assert!(peer.is_unnamed());
            let mut buf = [0u8; 1024];
            loop {
                let n = stream.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                stream.write_all(&buf[..n]).await.unwrap();
            }
        });
        let mut client = UnixStream::connect(&path.0).await.unwrap();
        assert_eq!(client.peer_addr().unwrap().as_pathname(), Some(&*path.0));
        assert!(client.local_addr().unwrap().is_unnamed());
        ping_pong(&mut client, 500).await;
        server.await.unwrap();
        // The path is taken while the file exists.
        let err = UnixListener::bind(&path.0).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    });
}

#[test]
fn connect_to_missing_path_fails() {
    let path = TempPath::new("missing");
    run(async {
        let err = UnixStream::connect(&path.0).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    });
}

#[test]
fn pair_into_split_and_peer_cred() {
    run(async {
        let (a, mut b) = UnixStream::pair().unwrap();
        assert_eq!(a.peer_cred().unwrap().pid(), std::process::id() as i32);
        let (mut read, mut write) = a.into_split();
        let writer = spawn(async move {
            for i in 0..1000u32 {
                write.write_all(&i.to_le_bytes()).await.unwrap();
            }
        });
        let reader = spawn(async move {
            let mut all = Vec::new();
            read.read_to_end(&mut all).await.unwrap();
            all
        });
        // Echo from `b` until the write half is dropped (shut down).
        let mut buf = [0u8; 512];
        loop {
            let n = b.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            b.write_all(&buf[..n]).await.unwrap();
        }
        drop(b);
        writer.await.unwrap();
        let all = reader.await.unwrap();
        let expected: Vec<u8> = (0..1000u32).flat_map(|i| i.to_le_bytes()).collect();
        assert_eq!(all, expected);
    });
}

#[test]
fn abstract_namespace_address() {
    run(async {
        let name = format!("\0spindle-test-{}", std::process::id());
        let listener = UnixListener::bind(&name).unwrap();
        let addr = listener.local_addr().unwrap();
        assert_eq!(addr.as_abstract_name(), Some(&name.as_bytes()[1..]));
        let mut client = UnixStream::connect(&name).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        client.write_all(b"abs").await.unwrap();
        let mut buf = [0; 3];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"abs");
    });
}

#[test]
fn datagram_pair() {
    run(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        let mut buf = [0u8; 32];
        for msg in [&b"one"[..], b"two", b""] {
            a.send(msg).await.unwrap();
            let n = b.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], msg);
        }
        assert_eq!(
            a.try_recv(&mut buf).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );
        b.try_send(b"back").unwrap();
        a.readable().await.unwrap();
        let n = a.try_recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"back");
    });
}

#[test]
fn datagrams_by_path() {
    let (path_a, path_b) = (TempPath::new("dgram-a"), TempPath::new("dgram-b"));
    run(async {
        let a = UnixDatagram::bind(&path_a.0).unwrap();
        let b = UnixDatagram::bind(&path_b.0).unwrap();
        a.send_to(b"hello", &path_b.0).await.unwrap();
        let mut buf = [0u8; 32];
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(from.as_pathname(), Some(&*path_a.0));
        // An unbound sender shows up unnamed; a connected one needs no path.
        let anon = UnixDatagram::unbound().unwrap();
        anon.send_to(b"anon", &path_b.0).await.unwrap();
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"anon");
        assert!(from.is_unnamed());
        anon.connect(&path_a.0).unwrap();
        anon.send(b"conn").await.unwrap();
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"conn");
        assert_eq!(anon.peer_addr().unwrap().as_pathname(), Some(&*path_a.0));
    });
}
