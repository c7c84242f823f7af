//! [`copy_bidirectional`]: pump bytes both ways between two streams until
//! both have finished, as a proxy does between a client and a server.
//!
//! Each direction is a `CopyBuffer` (the state machine behind
//! [`copy`](super::copy)) plus a small state: copying, shutting down the
//! writer after the reader's end of stream (so the far side sees the end
//! too), done. One poll advances both directions; the future is ready when
//! both are done, or at the first error in either.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::copy::CopyBuffer;
use super::{AsyncRead, AsyncWrite, DEFAULT_BUF_SIZE};

/// Copies from `a` to `b` and from `b` to `a` at the same time, until both
/// reach end of stream, and resolves to the bytes moved `(a to b, b to a)`.
///
/// When one side's reads reach end of stream, the other side's write half
/// is shut down (for TCP, a FIN), and the opposite direction keeps going
/// until it ends too. The first error in either direction ends the whole
/// copy and is returned; bytes already moved stay moved.
///
/// Not cancel safe: bytes read from one side but not yet written to the
/// other (at most one buffer per direction) are lost if the future is
/// dropped, as with tokio's.
///
/// ```
/// use spindle_runtime::io::{copy_bidirectional, duplex, AsyncReadExt, AsyncWriteExt};
///
/// spindle_runtime::block_on(async {
///     let (mut client, mut proxy_client_side) = duplex(64);
///     let (mut proxy_server_side, mut server) = duplex(64);
///     client.write_all(b"request").await.unwrap();
///     client.shutdown().await.unwrap();
///     server.write_all(b"response!").await.unwrap();
///     server.shutdown().await.unwrap();
///     let moved = copy_bidirectional(&mut proxy_client_side, &mut proxy_server_side)
///         .await
///         .unwrap();
///     assert_eq!(moved, (7, 9));
///     let mut got = String::new();
///     server.read_to_string(&mut got).await.unwrap();
///     assert_eq!(got, "request");
/// });
/// ```
pub fn copy_bidirectional<'a, A, B>(a: &'a mut A, b: &'a mut B) -> CopyBidirectional<'a, A, B>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    copy_bidirectional_with_sizes(a, b, DEFAULT_BUF_SIZE, DEFAULT_BUF_SIZE)
}

/// [`copy_bidirectional`] with buffers of the given sizes for `a` to `b`
/// and `b` to `a` (8 KiB each by default).
pub fn copy_bidirectional_with_sizes<'a, A, B>(
    a: &'a mut A,
    b: &'a mut B,
    a_to_b_buf_size: usize,
    b_to_a_buf_size: usize,
) -> CopyBidirectional<'a, A, B>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    CopyBidirectional {
        a,
        b,
        a_to_b: Direction::Copying(CopyBuffer::new(a_to_b_buf_size)),
        b_to_a: Direction::Copying(CopyBuffer::new(b_to_a_buf_size)),
    }
}

/// Future returned by [`copy_bidirectional`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct CopyBidirectional<'a, A: ?Sized, B: ?Sized> {
    a: &'a mut A,
    b: &'a mut B,
    a_to_b: Direction,
    b_to_a: Direction,
}

/// Where one direction is.
#[derive(Debug)]
enum Direction {
    Copying(CopyBuffer),
    /// The reader ended; shutting the writer down. Holds the count.
    ShuttingDown(u64),
    Done(u64),
}

impl Direction {
    /// Advances this direction; ready with the count once it is done.
    fn poll<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
        writer: &mut W,
    ) -> Poll<io::Result<u64>>
    where
        R: AsyncRead + Unpin + ?Sized,
        W: AsyncWrite + Unpin + ?Sized,
    {
        loop {
            match self {
                Direction::Copying(buf) => {
                    let n =
                        ready!(buf.poll_copy(cx, Pin::new(&mut *reader), Pin::new(&mut *writer)))?;
                    *self = Direction::ShuttingDown(n);
                }
                Direction::ShuttingDown(n) => {
                    ready!(Pin::new(&mut *writer).poll_shutdown(cx))?;
                    *self = Direction::Done(*n);
                }
                Direction::Done(n) => return Poll::Ready(Ok(*n)),
            }
        }
    }

    fn copied(&self) -> u64 {
        match self {
            Direction::Copying(buf) => buf.copied(),
            Direction::ShuttingDown(n) | Direction::Done(n) => *n,
        }
    }
}

impl<A, B> Future for CopyBidirectional<'_, A, B>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    type Output = io::Result<(u64, u64)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // Poll both every time, so each arranges its own wake-up.
        let a_to_b = this.a_to_b.poll(cx, this.a, this.b)?;
        let b_to_a = this.b_to_a.poll(cx, this.b, this.a)?;
        match (a_to_b, b_to_a) {
            (Poll::Ready(a_to_b), Poll::Ready(b_to_a)) => Poll::Ready(Ok((a_to_b, b_to_a))),
            _ => Poll::Pending,
        }
    }
}

impl<A: ?Sized, B: ?Sized> fmt::Debug for CopyBidirectional<'_, A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CopyBidirectional")
            .field("a_to_b", &self.a_to_b.copied())
            .field("b_to_a", &self.b_to_a.copied())
            .finish_non_exhaustive()
    }
}
