//! Multishot receive into a provided-buffer ring: messages arrive as ring
//! buffers, buffers go back when dropped, a ring that runs dry waits and
//! loses nothing, the peer's close ends the stream, and a receive dropped
//! while armed gives every buffer back.

use std::io::Write;

use spindle_runtime::uring::{BufRing, TcpListener, TcpStream};

mod support;

fn run<F: std::future::Future + Send>(f: F) -> F::Output
where
    F::Output: Send,
{
    support::bounded_local(10, f)
}

async fn pair() -> (TcpStream, std::net::TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client.set_nodelay(true).unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (server, client)
}

/// A ring, or `None` where the kernel has no provided-buffer rings.
fn ring(count: u16, size: usize) -> Option<BufRing> {
    match BufRing::new(count, size) {
        Ok(r) => Some(r),
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
            eprintln!("skipped: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn messages_arrive_in_ring_buffers_until_the_peer_closes() {
    run(async {
        let Some(bufs) = ring(8, 1024) else { return };
        let (server, mut client) = pair().await;
        let writer = std::thread::spawn(move || {
            for i in 0..1000u32 {
                client.write_all(&i.to_le_bytes()).unwrap();
            }
        });
        let mut recv = server.recv_multi(&bufs);
        let mut got = Vec::new();
        while let Some(buf) = recv.next().await {
            got.extend_from_slice(&buf.unwrap());
        }
        writer.join().unwrap();
        let expected: Vec<u8> = (0..1000u32).flat_map(|i| i.to_le_bytes()).collect();
        assert_eq!(got, expected);
    });
}

#[test]
fn the_single_shot_fallback_receives_the_same_stream() {
    run(async {
        let Some(bufs) = ring(4, 512) else { return };
        let (server, mut client) = pair().await;
        let writer = std::thread::spawn(move || {
            for i in 0..300u32 {
                client.write_all(&i.to_le_bytes()).unwrap();
            }
        });
        let mut recv = server.recv_multi(&bufs).single_shot();
        let mut got = Vec::new();
        while let Some(buf) = recv.next().await {
            got.extend_from_slice(&buf.unwrap());
        }
        writer.join().unwrap();
        let expected: Vec<u8> = (0..300u32).flat_map(|i| i.to_le_bytes()).collect();
        assert_eq!(got, expected);
    });
}

#[test]
fn a_ring_that_runs_dry_waits_for_a_buffer_and_loses_nothing() {
    run(async {
        let Some(bufs) = ring(2, 16) else { return };
        let (server, mut client) = pair().await;
        let mut recv = server.recv_multi(&bufs);
        // Hold both buffers: the kernel has none left for what follows.
        client.write_all(b"first").unwrap();
        let a = recv.next().await.unwrap().unwrap();
        client.write_all(b"second").unwrap();
        let b = recv.next().await.unwrap().unwrap();
        client.write_all(b"third").unwrap();
        assert!(
            support::stays_pending(recv.next()).await,
            "no buffer is free"
        );
        let mut got = [&a[..], &b[..]].concat();
        drop(a); // one back: the receive re-arms and gets the rest
        let c = recv.next().await.unwrap().unwrap();
        got.extend_from_slice(&c);
        drop((b, c));
        assert_eq!(got, b"firstsecondthird");
    });
}

#[test]
fn a_receive_dropped_while_armed_gives_every_buffer_back() {
    run(async {
        let Some(bufs) = ring(4, 64) else { return };
        let (server, mut client) = pair().await;
        {
            let mut recv = server.recv_multi(&bufs);
            client.write_all(b"x").unwrap();
            let held = recv.next().await.unwrap().unwrap();
            assert_eq!(&held[..], b"x");
            // Dropped armed, with a buffer still out (given back after).
            drop(recv);
            drop(held);
        }
        // Every buffer is in the ring again: four messages, all held at
        // once, fit without the ring running dry.
        let mut recv = server.recv_multi(&bufs);
        let mut held = Vec::new();
        for msg in [b"1", b"2", b"3", b"4"] {
            client.write_all(msg).unwrap();
            let buf = recv.next().await.unwrap().unwrap();
            held.push(buf);
        }
        let all: Vec<u8> = held.iter().flat_map(|b| b.to_vec()).collect();
        assert_eq!(all, b"1234");
    });
}
