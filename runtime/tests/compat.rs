//! `compat::Compat` and `compat::TokioCompat` (features `futures-io` and
//! `tokio-io`): spindle sockets driven by futures-util's extension traits
//! and by tokio-util's `Framed` codecs, futures-io and tokio in-memory
//! streams driven by spindle's extension traits, 1 MiB round trips, a read
//! cancelled mid-await, and the `ReadBuf` bridge's rules (never zero what is
//! already initialized, zero a bounded stretch otherwise, refuse a reader
//! that over-reports).

use std::future::Future;
use std::io::{self, SeekFrom};
use std::mem::MaybeUninit;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};
use std::thread;

use futures_util::io::{AsyncReadExt as _, AsyncWriteExt as _};
use futures_util::{SinkExt, StreamExt as _};
use spindle_runtime::compat::{Compat, CompatExt, CompatWriteExt, TokioCompat};
use spindle_runtime::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use spindle_runtime::net::{TcpListener, TcpStream};
use spindle_runtime::spawn;
use tokio_util::codec::{Framed, LinesCodec};

mod net_support;
mod support;
use net_support::{echo, run};
use support::bounded;

/// 1 MiB of bytes that are not all alike, so a misplaced chunk shows.
fn mebibyte() -> Vec<u8> {
    (0..1 << 20).map(|i: u32| (i % 251) as u8).collect()
}

/// A listener on a free loopback port whose connections are all echoed.
async fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            spawn(async move {
                // Echo until the client's FIN, then send ours.
                let mut stream = stream;
                let mut buf = [0u8; 16 * 1024];
                loop {
                    let n = stream.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    stream.write_all(&buf[..n]).await.unwrap();
                }
                stream.shutdown().await.unwrap();
            });
        }
    });
    addr
}

#[test]
fn compat_types_are_send_and_sync_when_the_stream_is() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Compat<TcpStream>>();
    send_sync::<TokioCompat<Vec<u8>>>();
}

#[test]
fn tcp_stream_through_futures_util_round_trips_a_mebibyte() {
    bounded(30, || {
        run(async {
            let addr = echo_server().await;
            let (read_half, write_half) = TcpStream::connect(addr).await.unwrap().into_split();
            let (mut reader, mut writer) = (read_half.compat(), write_half.compat_write());
            let data = mebibyte();
            let sent = data.clone();
            // Write from another task while this one reads, or both sides
            // fill their socket buffers and stop.
            let writing = spawn(async move {
                writer.write_all(&sent).await.unwrap(); // futures-util's
                writer.close().await.unwrap(); // futures-io's close = spindle's shutdown
            });
            let mut echoed = Vec::new();
            reader.read_to_end(&mut echoed).await.unwrap(); // futures-util's
            writing.await.unwrap();
            assert_eq!(echoed.len(), data.len());
            assert!(echoed == data, "the echo differs from what was sent");
        })
    });
}

#[test]
fn tcp_stream_through_futures_util_whole_stream_ping_pong() {
    bounded(30, || {
        run(async {
            let addr = echo_server().await;
            let mut stream = TcpStream::connect(addr).await.unwrap().compat();
            for i in 0..100u32 {
                let msg = format!("message {i}");
                stream.write_all(msg.as_bytes()).await.unwrap();
                let mut reply = vec![0; msg.len()];
                stream.read_exact(&mut reply).await.unwrap();
                assert_eq!(reply, msg.as_bytes());
            }
            stream.close().await.unwrap();
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty());
            // The socket comes back out, still spindle's.
            let inner: TcpStream = stream.into_inner();
            assert!(inner.local_addr().unwrap().ip().is_loopback());
        })
    });
}

#[test]
fn tokio_util_framed_lines_over_spindle_sockets() {
    bounded(30, || {
        run(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            // The server: a line codec over a spindle socket, upper-casing.
            let server = spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let mut lines = Framed::new(stream.compat(), LinesCodec::new());
                let mut served = 0;
                while let Some(line) = lines.next().await {
                    lines.send(line.unwrap().to_uppercase()).await.unwrap();
                    served += 1;
                }
                served
            });
            let stream = TcpStream::connect(addr).await.unwrap();
            let mut lines = Framed::new(stream.compat(), LinesCodec::new());
            for i in 0..200 {
                lines
                    .send(format!("line {i} {}", "x".repeat(i * 40)))
                    .await
                    .unwrap();
                let reply = lines.next().await.unwrap().unwrap();
                assert_eq!(reply, format!("LINE {i} {}", "X".repeat(i * 40)));
            }
            // Shut down the write side: the server sees the end and stops.
            let mut stream = lines.into_inner().into_inner();
            stream.shutdown().await.unwrap();
            assert_eq!(server.await.unwrap(), 200);
        })
    });
}

#[test]
fn tokio_util_framed_carries_a_mebibyte_line() {
    bounded(30, || {
        run(async {
            let addr = echo_server().await;
            let (read_half, write_half) = TcpStream::connect(addr).await.unwrap().into_split();
            let line: String = "0123456789abcdef".repeat(1 << 16); // 1 MiB
            let expected = line.clone();
            let writing = spawn(async move {
                let mut sink = tokio_util::codec::FramedWrite::new(
                    write_half.compat_write(),
                    LinesCodec::new(),
                );
                sink.send(line).await.unwrap();
                SinkExt::<String>::close(&mut sink).await.unwrap(); // flush, then tokio's poll_shutdown
            });
            let mut source =
                tokio_util::codec::FramedRead::new(read_half.compat(), LinesCodec::new());
            let got = source.next().await.unwrap().unwrap();
            writing.await.unwrap();
            assert_eq!(got.len(), expected.len());
            assert!(got == expected);
            assert!(source.next().await.is_none());
        })
    });
}

#[test]
fn futures_io_cursor_through_spindle_extension_traits() {
    bounded(30, || {
        run(async {
            let data = mebibyte();
            // Reading: futures-util's in-memory Cursor, spindle's read_to_end.
            let mut reader = Compat::new(futures_util::io::Cursor::new(data.clone()));
            let mut got = Vec::new();
            AsyncReadExt::read_to_end(&mut reader, &mut got)
                .await
                .unwrap();
            assert!(got == data);
            // Writing: spindle's write_all and shutdown (futures-io's close).
            let mut writer = Compat::new(futures_util::io::Cursor::new(Vec::new()));
            AsyncWriteExt::write_all(&mut writer, &data).await.unwrap();
            AsyncWriteExt::shutdown(&mut writer).await.unwrap();
            assert!(writer.into_inner().into_inner() == data);
            // Buffered reading: futures-io's AsyncBufRead as spindle's.
            let text = futures_util::io::Cursor::new(b"first\nsecond\n".to_vec());
            let mut lines = Compat::new(text).lines();
            assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("first"));
            assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("second"));
            assert_eq!(lines.next_line().await.unwrap(), None);
        })
    });
}

#[test]
fn futures_io_allow_std_io_through_spindle_copy() {
    bounded(30, || {
        run(async {
            let data = mebibyte();
            let mut from = Compat::new(futures_util::io::AllowStdIo::new(io::Cursor::new(
                data.clone(),
            )));
            let mut to = Compat::new(futures_util::io::AllowStdIo::new(Vec::new()));
            let copied = spindle_runtime::io::copy(&mut from, &mut to).await.unwrap();
            assert_eq!(copied, data.len() as u64);
            assert!(to.into_inner().into_inner() == data);
        })
    });
}

#[test]
fn tokio_in_memory_streams_through_tokio_compat() {
    bounded(30, || {
        run(async {
            let data = mebibyte();
            let mut reader = TokioCompat::new(&data[..]); // tokio's AsyncRead for &[u8]
            let mut got = Vec::new();
            AsyncReadExt::read_to_end(&mut reader, &mut got)
                .await
                .unwrap();
            assert!(got == data);
            let mut writer = TokioCompat::new(Vec::new()); // tokio's AsyncWrite for Vec<u8>
            AsyncWriteExt::write_all(&mut writer, &data).await.unwrap();
            AsyncWriteExt::shutdown(&mut writer).await.unwrap();
            assert!(writer.into_inner() == data);
            let mut lines = TokioCompat::new(&b"a\nb"[..]).lines(); // tokio's AsyncBufRead
            assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("a"));
            assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("b"));
            assert_eq!(lines.next_line().await.unwrap(), None);
        })
    });
}

#[test]
fn both_directions_compose_back_to_the_same_bytes() {
    // spindle -> tokio -> spindle and spindle -> futures-io -> spindle: a
    // wrapper of a wrapper still carries every byte.
    bounded(30, || {
        run(async {
            let data = mebibyte();
            let (a, b) = spindle_runtime::io::duplex(4096);
            let sent = data.clone();
            let writing = spawn(async move {
                let mut w = TokioCompat::new(a.compat());
                w.write_all(&sent).await.unwrap();
                w.shutdown().await.unwrap();
            });
            let mut r = Compat::new(b.compat());
            let mut got = Vec::new();
            AsyncReadExt::read_to_end(&mut r, &mut got).await.unwrap();
            writing.await.unwrap();
            assert!(got == data);
        })
    });
}

#[test]
fn seeking_forwards_through_tokio_compat_and_compat() {
    bounded(30, || {
        run(async {
            // std's Cursor is a tokio AsyncSeek; TokioCompat makes it a
            // spindle one, Compat a tokio one again, TokioCompat a spindle
            // one again: every seek and read crosses both adapters.
            let data = mebibyte();
            let cursor = io::Cursor::new(data.clone());
            let mut file_like = TokioCompat::new(Compat::new(TokioCompat::new(cursor)));
            let at = file_like.seek(SeekFrom::Start(1000)).await.unwrap();
            assert_eq!(at, 1000);
            let mut some = [0u8; 10];
            file_like.read_exact(&mut some).await.unwrap();
            assert_eq!(&some[..], &data[1000..1010]);
            assert_eq!(
                file_like.seek(SeekFrom::End(-4)).await.unwrap(),
                (1 << 20) - 4
            );
            let mut tail = Vec::new();
            file_like.read_to_end(&mut tail).await.unwrap();
            assert_eq!(tail, &data[data.len() - 4..]);
            let err = file_like
                .seek(SeekFrom::Current(-(2 << 20)))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        })
    });
}

#[test]
fn a_read_dropped_mid_await_loses_nothing() {
    bounded(30, || {
        run(async {
            let addr = echo_server().await;
            let mut stream = TcpStream::connect(addr).await.unwrap().compat();
            // Start a read with nothing to read, poll it once (Pending: the
            // echo server has nothing to send), and drop it.
            {
                let mut buf = [0u8; 8];
                let mut read = pin!(futures_util::io::AsyncReadExt::read_exact(
                    &mut stream,
                    &mut buf
                ));
                let mut cx = Context::from_waker(Waker::noop());
                assert!(read.as_mut().poll(&mut cx).is_pending());
            }
            // Everything sent afterwards still arrives, in order.
            stream.write_all(b"after the cancelled read").await.unwrap();
            let mut reply = [0u8; 24];
            stream.read_exact(&mut reply).await.unwrap();
            assert_eq!(&reply, b"after the cancelled read");
        })
    });
}

#[test]
fn each_end_on_its_own_thread_and_runtime() {
    // Compat<TcpStream> is Send: client and server each run on a thread
    // (and runtime) of their own, over loopback.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        run(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            echo(stream).await;
        })
    });
    bounded(30, move || {
        run(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap().compat();
            let data = mebibyte();
            for chunk in data.chunks(64 * 1024) {
                stream.write_all(chunk).await.unwrap();
                let mut back = vec![0; chunk.len()];
                stream.read_exact(&mut back).await.unwrap();
                assert!(back == chunk);
            }
            stream.close().await.unwrap();
        })
    });
    server.join().unwrap();
}

/// A spindle reader that writes a marker into whatever it is handed, so a
/// test can see which bytes of a `ReadBuf` the adapter passed on and
/// whether it zeroed them first.
struct Marker {
    seen_len: usize,
    first_byte_seen: u8,
    report: usize,
}

impl AsyncRead for Marker {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.seen_len = buf.len();
        this.first_byte_seen = buf.first().copied().unwrap_or(0);
        buf.fill(b'm');
        Poll::Ready(Ok(this.report.min(buf.len() + 1)))
    }
}

fn tokio_poll_read(
    reader: &mut Compat<Marker>,
    buf: &mut tokio::io::ReadBuf<'_>,
) -> io::Result<()> {
    let mut cx = Context::from_waker(Waker::noop());
    match tokio::io::AsyncRead::poll_read(Pin::new(reader), &mut cx, buf) {
        Poll::Ready(result) => result,
        Poll::Pending => panic!("Marker is always ready"),
    }
}

#[test]
fn read_buf_initialized_bytes_are_read_into_without_zeroing() {
    let mut storage = [7u8; 100];
    let mut buf = tokio::io::ReadBuf::new(&mut storage); // all initialized
    buf.advance(10);
    let mut reader = Marker {
        seen_len: 0,
        first_byte_seen: 0,
        report: 30,
    }
    .compat();
    tokio_poll_read(&mut reader, &mut buf).unwrap();
    // The reader got all 90 initialized unfilled bytes, as they were.
    assert_eq!(reader.get_ref().seen_len, 90);
    assert_eq!(reader.get_ref().first_byte_seen, 7);
    assert_eq!(buf.filled().len(), 40);
    assert!(buf.filled()[10..].iter().all(|&b| b == b'm'));
}

#[test]
fn read_buf_uninitialized_room_is_zeroed_in_a_bounded_stretch() {
    let mut storage = vec![MaybeUninit::<u8>::uninit(); 1 << 20];
    let mut buf = tokio::io::ReadBuf::uninit(&mut storage);
    let mut reader = Marker {
        seen_len: 0,
        first_byte_seen: 1,
        report: 5,
    }
    .compat();
    tokio_poll_read(&mut reader, &mut buf).unwrap();
    // Zeroed, not the whole mebibyte: 64 KiB.
    assert_eq!(reader.get_ref().first_byte_seen, 0);
    assert_eq!(reader.get_ref().seen_len, 64 * 1024);
    assert_eq!(buf.filled(), b"mmmmm");
    assert_eq!(buf.initialized().len(), 64 * 1024);
    // The next read reuses the initialized rest without zeroing it again
    // (its first byte still holds the marker), topped up by 5 fresh zeroes
    // to a 64 KiB read.
    tokio_poll_read(&mut reader, &mut buf).unwrap();
    assert_eq!(reader.get_ref().seen_len, 64 * 1024);
    assert_eq!(reader.get_ref().first_byte_seen, b'm');
    assert_eq!(buf.filled().len(), 10);
    assert_eq!(buf.initialized().len(), 64 * 1024 + 5);
}

#[test]
fn read_buf_with_a_small_uninitialized_tail_is_read_whole() {
    let mut storage = [MaybeUninit::<u8>::uninit(); 100];
    let mut buf = tokio::io::ReadBuf::uninit(&mut storage);
    let mut reader = Marker {
        seen_len: 0,
        first_byte_seen: 1,
        report: 100,
    }
    .compat();
    tokio_poll_read(&mut reader, &mut buf).unwrap();
    assert_eq!(reader.get_ref().seen_len, 100);
    assert_eq!(buf.filled(), &[b'm'; 100][..]);
}

#[test]
fn a_reader_that_over_reports_is_an_error_not_a_panic() {
    let mut storage = [0u8; 16];
    let mut buf = tokio::io::ReadBuf::new(&mut storage);
    let mut reader = Marker {
        seen_len: 0,
        first_byte_seen: 0,
        report: usize::MAX,
    }
    .compat();
    let err = tokio_poll_read(&mut reader, &mut buf).unwrap_err();
    assert!(
        err.to_string()
            .contains("17 bytes read into a 16-byte buffer"),
        "{err}"
    );
    assert!(buf.filled().is_empty());
}

/// The `futures::task::Spawn` impl that `Handle`'s docs tell users to write
/// on a newtype, word for word.
struct SpindleSpawner(spindle_runtime::Handle);

impl futures_util::task::Spawn for SpindleSpawner {
    fn spawn_obj(
        &self,
        f: futures_util::task::FutureObj<'static, ()>,
    ) -> Result<(), futures_util::task::SpawnError> {
        drop(self.0.spawn(f));
        Ok(())
    }
}

#[test]
fn a_handle_behind_futures_spawn_runs_tasks_from_another_thread() {
    use futures_util::task::SpawnExt as _;
    run(async {
        let spawner = SpindleSpawner(spindle_runtime::Handle::current());
        let (tx, rx) = spindle_runtime::channel::oneshot::channel();
        // A library on another thread spawns through the trait; the task
        // runs on this runtime (whose thread is the one awaiting below).
        thread::spawn(move || {
            spawner
                .spawn(async move {
                    let id = thread::current().id();
                    let _ = tx.send(id);
                })
                .unwrap();
        })
        .join()
        .unwrap();
        assert_eq!(rx.await.unwrap(), thread::current().id());
    });
}
