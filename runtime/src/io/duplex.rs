//! [`duplex`]: a pair of connected in-memory byte streams, like a socket
//! pair without the kernel, for tests and for joining two pieces of one
//! program.
//!
//! Each direction is a [`Pipe`]: a bounded byte queue behind a mutex, with
//! the waker of a reader waiting for bytes and of a writer waiting for
//! room. A write adds what fits (at most `max_buf_size` bytes may wait)
//! and wakes the reader; a read takes what is there and wakes the writer.
//! Each end owns the write side of one pipe and the read side of the other:
//!
//! ```text
//!   end A  --write-->  [pipe A->B]  --read-->  end B
//!   end A  <--read--   [pipe B->A]  <--write-- end B
//! ```
//!
//! Shutting an end down closes its write side: the other end reads what is
//! queued, then end of stream. Dropping an end also closes its read side:
//! the other end's writes then fail with `BrokenPipe` (nobody will read
//! them), as writes to a socket whose peer is gone do.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll, Waker};

use crate::coop;

use super::{AsyncRead, AsyncWrite};

/// One end of an in-memory byte stream; created in pairs by [`duplex`].
///
/// Both ends are `Send` and `Sync`; the two may be used from different
/// tasks and threads.
#[derive(Debug)]
pub struct DuplexStream {
    /// Where this end reads from (the other end writes into it).
    read: Arc<Mutex<Pipe>>,
    /// Where this end writes to.
    write: Arc<Mutex<Pipe>>,
}

/// One direction: bytes written and not yet read.
#[derive(Debug)]
struct Pipe {
    buffer: VecDeque<u8>,
    max_buf_size: usize,
    /// The writer shut down or dropped its end: reads reach end of stream
    /// once the buffer is drained.
    write_closed: bool,
    /// The reader dropped its end: writes fail.
    read_closed: bool,
    /// A reader waiting for bytes.
    read_waker: Option<Waker>,
    /// A writer waiting for room.
    write_waker: Option<Waker>,
}

/// Creates a connected pair of [`DuplexStream`]s: what one end writes, the
/// other reads. At most `max_buf_size` bytes wait in each direction; a
/// writer that finds the direction full waits until the reader takes some.
///
/// # Panics
/// If `max_buf_size` is 0: no write could ever go through.
///
/// ```
/// use spindle_runtime::io::{duplex, AsyncReadExt, AsyncWriteExt};
///
/// spindle_runtime::block_on(async {
///     let (mut client, mut server) = duplex(64);
///     client.write_all(b"ping").await.unwrap();
///     let mut buf = [0; 4];
///     server.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"ping");
/// });
/// ```
pub fn duplex(max_buf_size: usize) -> (DuplexStream, DuplexStream) {
    assert!(
        max_buf_size > 0,
        "io::duplex: max_buf_size must be at least 1"
    );
    let one = Arc::new(Mutex::new(Pipe::new(max_buf_size)));
    let two = Arc::new(Mutex::new(Pipe::new(max_buf_size)));
    (
        DuplexStream {
            read: one.clone(),
            write: two.clone(),
        },
        DuplexStream {
            read: two,
            write: one,
        },
    )
}

fn lock(pipe: &Mutex<Pipe>) -> MutexGuard<'_, Pipe> {
    pipe.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pipe {
    fn new(max_buf_size: usize) -> Pipe {
        Pipe {
            buffer: VecDeque::new(),
            max_buf_size,
            write_closed: false,
            read_closed: false,
            read_waker: None,
            write_waker: None,
        }
    }

    fn close_write(&mut self) {
        self.write_closed = true;
        if let Some(waker) = self.read_waker.take() {
            waker.wake();
        }
    }

    fn close_read(&mut self) {
        self.read_closed = true;
        if let Some(waker) = self.write_waker.take() {
            waker.wake();
        }
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.buffer.is_empty() {
            if self.write_closed {
                return Poll::Ready(Ok(0));
            }
            self.read_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf.len().min(self.buffer.len());
        for (dst, src) in buf.iter_mut().zip(self.buffer.drain(..n)) {
            *dst = src;
        }
        if let Some(waker) = self.write_waker.take() {
            waker.wake();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.read_closed || self.write_closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                if self.read_closed {
                    "the other end of the duplex stream was dropped"
                } else {
                    "this end of the duplex stream was shut down"
                },
            )));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let room = self.max_buf_size - self.buffer.len();
        if room == 0 {
            self.write_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf.len().min(room);
        self.buffer.extend(&buf[..n]);
        if let Some(waker) = self.read_waker.take() {
            waker.wake();
        }
        Poll::Ready(Ok(n))
    }
}

impl AsyncRead for DuplexStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        ready!(coop::poll_proceed(cx));
        lock(&self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for DuplexStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(coop::poll_proceed(cx));
        lock(&self.write).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Closes this end's write side: the other end reads what is queued,
    /// then end of stream. Later writes fail with `BrokenPipe`.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        lock(&self.write).close_write();
        Poll::Ready(Ok(()))
    }
}

impl Drop for DuplexStream {
    fn drop(&mut self) {
        // The other end reads end of stream after what is queued, and its
        // writes fail: nobody is left to read them.
        lock(&self.write).close_write();
        lock(&self.read).close_read();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_util::block_on;
    use crate::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn a_full_direction_makes_the_writer_wait_for_the_reader() {
        let (mut a, mut b) = duplex(4);
        block_on(async {
            assert_eq!(a.write(b"abcdef").await.unwrap(), 4);
            let mut write = std::pin::pin!(a.write_all(b"gh"));
            let pending =
                std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx).is_pending())).await;
            assert!(pending, "no room: the write waits");
            let mut buf = [0; 2];
            b.read_exact(&mut buf).await.unwrap();
            write.await.unwrap();
            let mut rest = [0; 4];
            b.read_exact(&mut rest).await.unwrap();
            assert_eq!(&buf, b"ab");
            assert_eq!(&rest, b"cdgh");
        });
    }

    #[test]
    #[should_panic(expected = "max_buf_size must be at least 1")]
    fn zero_capacity_is_refused() {
        let _ = duplex(0);
    }

    use std::future::Future;
}
