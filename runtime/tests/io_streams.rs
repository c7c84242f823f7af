//! In-memory and generic streams: `duplex`, `split`/`unsplit`, `empty`,
//! `sink`, `repeat`, `copy_bidirectional` (over loopback TCP too) and
//! `copy_buf`; cancellation and use from several threads.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::task::Poll;

use spindle_runtime::io::{
    copy_bidirectional, copy_bidirectional_with_sizes, copy_buf, duplex, empty, repeat, sink,
    split, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader,
};
use spindle_runtime::net::{TcpListener, TcpStream};
use spindle_runtime::{spawn, yield_now, Runtime};

mod support;
use support::{bounded, run};

/// Polls `fut` once; true if it is pending.
async fn is_pending<F: Future + Unpin>(fut: &mut F) -> bool {
    poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut *fut).poll(cx).is_pending())).await
}

#[test]
fn duplex_carries_bytes_both_ways_and_ends_on_shutdown() {
    run(|| async {
        let (mut a, mut b) = duplex(16);
        a.write_all(b"to b").await.unwrap();
        b.write_all(b"to a").await.unwrap();
        let mut buf = [0; 4];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"to b");
        a.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"to a");
        a.write_all(b"last").await.unwrap();
        a.shutdown().await.unwrap();
        let err = a.write_all(b"x").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        let mut rest = Vec::new();
        b.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"last");
        // b's direction is still open.
        b.write_all(b"still").await.unwrap();
        let mut buf = [0; 5];
        a.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"still");
    });
}

#[test]
fn duplex_drop_gives_eof_to_readers_and_broken_pipe_to_writers() {
    run(|| async {
        let (mut a, mut b) = duplex(8);
        a.write_all(b"queued").await.unwrap();
        drop(a);
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"queued", "what was queued before the drop arrives");
        let err = b.write_all(b"nobody").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    });
}

#[test]
fn duplex_writer_blocked_on_a_full_buffer_is_woken_by_the_peer_drop() {
    run(|| async {
        let (mut a, b) = duplex(4);
        let writer = spawn(async move { a.write_all(b"more than four").await });
        yield_now().await;
        drop(b);
        let err = writer.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    });
}

#[test]
fn duplex_cancelled_read_loses_nothing() {
    run(|| async {
        let (mut a, mut b) = duplex(8);
        let mut buf = [0; 4];
        {
            let mut read = pin!(b.read(&mut buf));
            assert!(is_pending(&mut read).await);
        } // dropped mid-await
        a.write_all(b"kept").await.unwrap();
        let mut buf = [0; 4];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"kept");
    });
}

#[test]
fn duplex_ends_on_two_threads_move_a_megabyte() {
    bounded(20, || {
        let (mut a, mut b) = duplex(1024);
        let total = 1 << 20;
        let writer = std::thread::spawn(move || {
            Runtime::new().unwrap().block_on(async move {
                let chunk: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
                for _ in 0..total / chunk.len() {
                    a.write_all(&chunk).await.unwrap();
                }
                a.shutdown().await.unwrap();
            })
        });
        let got = Runtime::new().unwrap().block_on(async move {
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.unwrap();
            got
        });
        writer.join().unwrap();
        assert_eq!(got.len(), total);
        assert!(got.iter().zip((0..=255u8).cycle()).all(|(&a, b)| a == b));
    });
}

#[test]
fn split_halves_work_from_separate_tasks_and_unsplit() {
    run(|| async {
        let (stream, mut peer) = duplex(64);
        let (mut reader, mut writer) = split(stream);
        assert!(reader.is_pair_of(&writer) && writer.is_pair_of(&reader));
        let echo = spawn(async move {
            let mut buf = [0; 5];
            reader.read_exact(&mut buf).await.unwrap();
            (reader, buf)
        });
        let sender = spawn(async move {
            writer.write_all(b"from the write half").await.unwrap();
            writer
        });
        peer.write_all(b"hello").await.unwrap();
        let (reader, buf) = echo.await.unwrap();
        let writer = sender.await.unwrap();
        assert_eq!(&buf, b"hello");
        let mut got = [0; 19];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"from the write half");
        let mut stream = reader.unsplit(writer);
        stream.write_all(b"whole").await.unwrap();
        let mut got = [0; 5];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"whole");
    });
}

#[test]
fn split_halves_on_two_threads() {
    bounded(20, || {
        let rt = Runtime::new().unwrap();
        let (reader, writer, mut peer) = rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let (r, w) = split(client);
            (r, w, server)
        });
        let handle = rt.handle();
        let write_thread = std::thread::spawn(move || {
            let _guard = handle.enter();
            let mut writer = writer;
            spindle_runtime::block_on(async move {
                for i in 0..100u32 {
                    writer.write_all(&i.to_be_bytes()).await.unwrap();
                }
                writer
            })
        });
        let (reader, got) = rt.block_on(async move {
            let mut got = Vec::new();
            let mut buf = [0; 400];
            peer.read_exact(&mut buf).await.unwrap();
            got.extend_from_slice(&buf);
            peer.write_all(b"back").await.unwrap();
            let mut reader = reader;
            let mut back = [0; 4];
            reader.read_exact(&mut back).await.unwrap();
            assert_eq!(&back, b"back");
            (reader, got)
        });
        let writer = write_thread.join().unwrap();
        let expected: Vec<u8> = (0..100u32).flat_map(|i| i.to_be_bytes()).collect();
        assert_eq!(got, expected);
        let _stream: TcpStream = reader.unsplit(writer);
    });
}

#[test]
#[should_panic(expected = "belongs to another stream")]
fn unsplit_of_strangers_panics() {
    let (a, _b) = duplex(4);
    let (c, _d) = duplex(4);
    let (read_a, _write_a) = split(a);
    let (_read_c, write_c) = split(c);
    let _ = read_a.unsplit(write_c);
}

#[test]
fn empty_sink_repeat() {
    run(|| async {
        let mut buf = Vec::new();
        assert_eq!(empty().read_to_end(&mut buf).await.unwrap(), 0);
        let mut line = String::new();
        assert_eq!(empty().read_line(&mut line).await.unwrap(), 0);
        empty().write_all(b"gone").await.unwrap();
        sink().write_all(b"gone too").await.unwrap();
        sink().flush().await.unwrap();
        let mut buf = [0; 1000];
        repeat(7).read_exact(&mut buf).await.unwrap();
        assert!(buf.iter().all(|&b| b == 7));
    });
}

#[test]
fn an_endless_repeat_copy_does_not_starve_other_tasks() {
    run(|| async {
        let copier = spawn(async {
            let _ = spindle_runtime::io::copy(&mut repeat(1), &mut sink()).await;
        });
        // Only runs if the copy yields (cooperative budget).
        let other = spawn(async { 42 });
        assert_eq!(other.await.unwrap(), 42);
        copier.abort();
    });
}

#[test]
fn copy_bidirectional_over_loopback_tcp() {
    run(|| async {
        // client <-> proxy <-> server, all on 127.0.0.1.
        let server_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server_addr = server_listener.local_addr().unwrap();
        let proxy_addr = proxy_listener.local_addr().unwrap();
        let server = spawn(async move {
            let (mut conn, _) = server_listener.accept().await.unwrap();
            let mut request = Vec::new();
            conn.read_to_end(&mut request).await.unwrap();
            let reply: Vec<u8> = request.iter().rev().copied().collect();
            conn.write_all(&reply).await.unwrap();
            conn.shutdown().await.unwrap();
        });
        let proxy = spawn(async move {
            let (mut inbound, _) = proxy_listener.accept().await.unwrap();
            let mut outbound = TcpStream::connect(server_addr).await.unwrap();
            copy_bidirectional(&mut inbound, &mut outbound).await
        });
        let mut client = TcpStream::connect(proxy_addr).await.unwrap();
        let request: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        client.write_all(&request).await.unwrap();
        client.shutdown().await.unwrap();
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).await.unwrap();
        server.await.unwrap();
        let moved = proxy.await.unwrap().unwrap();
        assert_eq!(moved, (100_000, 100_000));
        assert_eq!(reply, request.iter().rev().copied().collect::<Vec<_>>());
    });
}

#[test]
fn copy_bidirectional_reports_an_error_in_either_direction() {
    run(|| async {
        let (mut a, mut a_peer) = duplex(8);
        let (mut b, b_peer) = duplex(8);
        // b's peer is gone: writing what a sends into b fails.
        drop(b_peer);
        a_peer.write_all(b"data").await.unwrap();
        let err = copy_bidirectional_with_sizes(&mut a, &mut b, 2, 2)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    });
}

#[test]
fn copy_buf_moves_everything_and_a_cancelled_one_loses_nothing() {
    run(|| async {
        let (mut tx, rx) = duplex(64);
        let mut reader = BufReader::with_capacity(4, rx);
        let mut out = Vec::new();
        tx.write_all(b"0123456789").await.unwrap();
        {
            let mut copying = pin!(copy_buf(&mut reader, &mut out));
            // Copies all there is, then waits for more.
            assert!(is_pending(&mut copying).await);
        } // cancelled
        assert_eq!(out, b"0123456789");
        tx.write_all(b"abc").await.unwrap();
        tx.shutdown().await.unwrap();
        let n = copy_buf(&mut reader, &mut out).await.unwrap();
        assert_eq!(n, 3);
        assert_eq!(out, b"0123456789abc");
    });
}
