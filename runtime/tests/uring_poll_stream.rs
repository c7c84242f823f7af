//! `uring::PollStream`: a completion-based stream behind the poll-style
//! traits. Byte-exact echo of a large pattern (partial sends, the receive
//! buffer growing, writes over 64 KiB), buffered reads, the end of the
//! stream, a shutdown that flushes first, a peer that resets, and a read
//! cancelled in flight. The read-side tests run twice: with the stream's
//! own receive buffer, and receiving into a shared `BufRing` small enough
//! to run out (`PollStream::with_buf_ring`); streams sharing one ring wait
//! for its buffers and lose nothing.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use spindle_runtime::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use spindle_runtime::uring::{BufRing, PollStream, TcpListener, TcpStream};
use spindle_runtime::{spawn, time};

mod support;
use support::run;

/// A listener on loopback and its address.
fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// A client on a plain thread that connects to `addr` and reads until the
/// end of the stream; joined, it gives back what arrived.
fn peer_reading_to_end(addr: SocketAddr) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(8)))
            .unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).unwrap();
        got
    })
}

/// Joins a client thread without blocking the runtime's thread.
async fn join<T: Send + 'static>(client: thread::JoinHandle<T>) -> T {
    spindle_runtime::spawn_blocking(move || client.join().unwrap())
        .await
        .unwrap()
}

/// Where a `PollStream` receives into.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// A buffer of its own (`PollStream::new`).
    Own,
    /// A ring of 8 buffers of 4 KiB (`PollStream::with_buf_ring`): a large
    /// transfer runs it out over and over.
    Ring,
}

impl Mode {
    fn wrap(self, stream: TcpStream) -> PollStream {
        match self {
            Mode::Own => PollStream::new(stream),
            Mode::Ring => PollStream::with_buf_ring(stream, &BufRing::new(8, 4096).unwrap()),
        }
    }
}

/// Runs a read-side test once per `Mode`, as two tests.
macro_rules! in_both_modes {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn own_buffer() {
                super::$name(super::Mode::Own);
            }

            #[test]
            fn buf_ring() {
                super::$name(super::Mode::Ring);
            }
        }
    )*};
}

in_both_modes!(
    echoes_four_mebibytes_byte_for_byte,
    buffered_reads_see_lines_and_the_end_of_the_stream,
    a_peer_that_resets_is_an_error_not_a_hang,
    a_read_cancelled_in_flight_leaves_the_runtime_serving,
);

/// `len` bytes that differ from their neighbours, so a lost, doubled or
/// reordered chunk shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn echoes_four_mebibytes_byte_for_byte(mode: Mode) {
    run(move || async move {
        let (listener, addr) = listener();
        let sent = pattern(4 << 20);
        let expect = sent.clone();
        // The client writes everything while it reads the echo back.
        let client = thread::spawn(move || {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(8)))
                .unwrap();
            let mut writer = stream.try_clone().unwrap();
            let feeder = thread::spawn(move || {
                writer.write_all(&sent).unwrap();
                writer.shutdown(std::net::Shutdown::Write).unwrap();
            });
            let mut back = Vec::new();
            stream.read_to_end(&mut back).unwrap();
            feeder.join().unwrap();
            back
        });
        let (stream, _) = listener.accept().await.unwrap();
        let mut stream = mode.wrap(stream);
        // Reads of odd sizes, and writes of 100 KiB (more than one send
        // takes) as well as of a few bytes.
        let mut buf = vec![0u8; 100 * 1024 + 3];
        let mut total = 0;
        loop {
            let want = if total % 3 == 0 { buf.len() } else { 17 };
            let n = stream.read(&mut buf[..want]).await.unwrap();
            if n == 0 {
                break;
            }
            stream.write_all(&buf[..n]).await.unwrap();
            total += n;
        }
        stream.shutdown().await.unwrap();
        assert_eq!(total, 4 << 20);
        let back = join(client).await;
        assert!(back == expect, "the echo differs from what was sent");
    });
}

fn buffered_reads_see_lines_and_the_end_of_the_stream(mode: Mode) {
    run(move || async move {
        let (listener, addr) = listener();
        let client = thread::spawn(move || {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream.write_all(b"first line\nsecond").unwrap();
            stream.write_all(b" line\nno newline").unwrap();
        });
        let (stream, _) = listener.accept().await.unwrap();
        let mut stream = mode.wrap(stream);
        let mut line = String::new();
        stream.read_line(&mut line).await.unwrap();
        assert_eq!(line, "first line\n");
        line.clear();
        stream.read_line(&mut line).await.unwrap();
        assert_eq!(line, "second line\n");
        line.clear();
        stream.read_line(&mut line).await.unwrap();
        assert_eq!(line, "no newline");
        client.join().unwrap();
        // The end of the stream reads as 0, every time it is asked.
        let mut buf = [0u8; 8];
        assert_eq!(stream.read(&mut buf).await.unwrap(), 0);
        assert_eq!(stream.read(&mut buf).await.unwrap(), 0);
    });
}

#[test]
fn shutdown_sends_what_was_written_then_the_end_and_refuses_later_writes() {
    run(|| async {
        let (listener, addr) = listener();
        let client = peer_reading_to_end(addr);
        let (stream, _) = listener.accept().await.unwrap();
        let mut stream = PollStream::new(stream);
        let body = pattern(300 * 1024);
        // No flush of our own: shutdown waits for the sends first.
        stream.write_all(&body).await.unwrap();
        stream.shutdown().await.unwrap();
        // Shut is shut: again is fine, a write is refused.
        stream.shutdown().await.unwrap();
        let late = stream.write(b"late").await.unwrap_err();
        assert_eq!(late.kind(), std::io::ErrorKind::BrokenPipe);
        let got = join(client).await;
        assert!(
            got == body,
            "the peer got {} bytes, not the body",
            got.len()
        );
    });
}

fn a_peer_that_resets_is_an_error_not_a_hang(mode: Mode) {
    run(move || async move {
        let (listener, addr) = listener();
        let client = thread::spawn(move || {
            let stream = std::net::TcpStream::connect(addr).unwrap();
            // Linger 0: close sends a reset.
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: a valid socket and a linger of the size given.
            let rc = unsafe {
                libc::setsockopt(
                    std::os::fd::AsRawFd::as_raw_fd(&stream),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&raw const linger).cast(),
                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                )
            };
            assert_eq!(rc, 0);
            drop(stream);
        });
        let (stream, _) = listener.accept().await.unwrap();
        client.join().unwrap();
        let mut stream = mode.wrap(stream);
        let mut buf = [0u8; 16];
        let read = stream.read(&mut buf).await;
        let err = read.expect_err("a reset peer reads as an error");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
        // Writing to it fails too, at the latest when flushed.
        let mut failed = false;
        for _ in 0..4 {
            if stream.write_all(b"anyone there?").await.is_err() || stream.flush().await.is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed, "writes to a reset peer kept succeeding");
    });
}

fn a_read_cancelled_in_flight_leaves_the_runtime_serving(mode: Mode) {
    run(move || async move {
        let (listener, addr) = listener();
        // The server drops its stream with a read in flight: the client
        // sees the end of the stream.
        let client = peer_reading_to_end(addr);
        let (stream, _) = listener.accept().await.unwrap();
        let reader = spawn(async move {
            let mut stream = mode.wrap(stream);
            let mut buf = [0u8; 8];
            let _ = stream.read(&mut buf).await;
            unreachable!("nobody writes to this stream");
        });
        // Let the receive start, then cancel it with its task.
        for _ in 0..10 {
            spindle_runtime::yield_now().await;
        }
        reader.abort();
        assert!(reader.await.unwrap_err().is_cancelled());
        let rest = join(client).await;
        assert!(rest.is_empty());
        // The runtime goes on: a timer still fires.
        time::sleep(Duration::from_millis(1)).await;
    });
}

#[test]
fn a_stream_dropped_with_a_send_queued_keeps_its_descriptor_until_the_kernel_has_it() {
    run(|| async {
        use std::os::fd::AsRawFd;
        let (listener, addr) = listener();
        // Whatever arrives, then the end of the stream: the socket closes
        // once the kernel is done with the queued send.
        let peer = peer_reading_to_end(addr);
        let (stream, _) = listener.accept().await.unwrap();
        let old_fd = stream.as_raw_fd();
        let mut stream = PollStream::new(stream);
        // One write, not flushed: the send is only queued for the ring.
        let wrote = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::pin::Pin::new(&mut stream).poll_write(cx, b"queued"))
        })
        .await;
        assert!(matches!(wrote, std::task::Poll::Ready(Ok(6))));
        drop(stream);
        // In the same pass, before the runtime's next turn: a new socket.
        // Had the drop closed the descriptor, the new socket would get its
        // number (the lowest free one), and the queued send would go to it.
        support::assert_descriptor_still_taken(
            old_fd,
            "the dropped stream's descriptor was closed with a send still queued",
        );
        let got = join(peer).await;
        // The send either went out before its cancel or was cancelled.
        assert!(got.is_empty() || got == b"queued", "the peer got {got:?}");
    });
}

#[test]
fn streams_sharing_a_ring_too_small_for_them_wait_for_buffers_and_lose_nothing() {
    run(|| async {
        let (listener, addr) = listener();
        // Two buffers of 64 bytes for three streams of 5000 bytes each:
        // the kernel runs the ring dry on every few receives, and a stream
        // whose request ran out of buffers must wait for another stream to
        // give one back, then go on where it stopped.
        let bufs = BufRing::new(2, 64).unwrap();
        let clients: Vec<_> = (0..3u8)
            .map(|i| {
                let sent: Vec<u8> = pattern(5000).iter().map(|b| b ^ i).collect();
                thread::spawn(move || {
                    let mut stream = std::net::TcpStream::connect(addr).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(8)))
                        .unwrap();
                    stream.write_all(&sent).unwrap();
                    stream.shutdown(std::net::Shutdown::Write).unwrap();
                    let mut back = Vec::new();
                    stream.read_to_end(&mut back).unwrap();
                    assert!(
                        back == sent,
                        "stream {i}: the echo differs from what was sent"
                    );
                })
            })
            .collect();
        let mut echoes = Vec::new();
        for _ in 0..3 {
            let (stream, _) = listener.accept().await.unwrap();
            let mut stream = PollStream::with_buf_ring(stream, &bufs);
            echoes.push(spawn(async move {
                let mut got = Vec::new();
                stream.read_to_end(&mut got).await.unwrap();
                stream.write_all(&got).await.unwrap();
                stream.shutdown().await.unwrap();
                got.len()
            }));
        }
        for echo in echoes {
            assert_eq!(echo.await.unwrap(), 5000);
        }
        for client in clients {
            join(client).await;
        }
    });
}
