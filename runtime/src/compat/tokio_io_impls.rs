//! [`Compat`] and tokio's IO traits: a spindle stream inside implements
//! `tokio::io::{AsyncRead, AsyncWrite, AsyncBufRead, AsyncSeek}`; and
//! [`TokioCompat`], the other way round, makes a tokio stream implement
//! spindle's traits. (spindle's `AsyncSeek` has tokio's shape, `start_seek`
//! then `poll_complete`, so seeking forwards as is.)
//!
//! Only tokio's trait definitions are used (the `tokio` dependency has no
//! features), never its runtime: every wake-up still comes from spindle's
//! reactor, through the inner spindle stream.
//!
//! tokio's `poll_read` fills a [`ReadBuf`], whose tail may be
//! uninitialized; spindle's wants an initialized `&mut [u8]`. The module
//! docs of [`compat`](super) explain how [`read_into_read_buf`] bridges the
//! two without `unsafe`.

use std::io::{self, IoSlice, SeekFrom};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::ReadBuf;

use super::Compat;
use crate::io as spindle_io;

/// The most bytes zeroed ahead of one read when a tokio caller hands in a
/// buffer with no initialized room left. Larger than a socket usually has
/// ready (so reads are not made smaller than they would be), small enough
/// that a caller with a multi-megabyte empty buffer does not pay to zero
/// all of it on every read.
const MAX_ZEROED_PER_READ: usize = 64 * 1024;

/// Reads from a spindle reader into the unfilled part of a tokio `ReadBuf`.
///
/// The read goes into the bytes past `filled` that are already initialized;
/// if there are none, up to [`MAX_ZEROED_PER_READ`] of them are zeroed
/// first (`ReadBuf` then remembers them as initialized, so a reused buffer
/// is zeroed once). A reader that reports more bytes than it was given
/// breaks the `AsyncRead` contract; that is reported as an error rather
/// than trusted.
fn read_into_read_buf<R: spindle_io::AsyncRead + ?Sized>(
    reader: Pin<&mut R>,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    let initialized_room = buf.initialized().len() - buf.filled().len();
    let len = buf
        .remaining()
        .min(initialized_room.max(MAX_ZEROED_PER_READ));
    let dst = buf.initialize_unfilled_to(len);
    let n = ready!(reader.poll_read(cx, dst))?;
    if n > len {
        return Poll::Ready(Err(io::Error::other(format!(
            "AsyncRead::poll_read reported {n} bytes read into a {len}-byte buffer"
        ))));
    }
    buf.advance(n);
    Poll::Ready(Ok(()))
}

// ---- a spindle stream, seen as a tokio stream ----

impl<T: spindle_io::AsyncRead> tokio::io::AsyncRead for Compat<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        read_into_read_buf(self.get_pin_mut(), cx, buf)
    }
}

impl<T: spindle_io::AsyncWrite> tokio::io::AsyncWrite for Compat<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        spindle_io::AsyncWrite::poll_write(self.get_pin_mut(), cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        spindle_io::AsyncWrite::poll_write_vectored(self.get_pin_mut(), cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        spindle_io::AsyncWrite::is_write_vectored(self.get_ref())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        spindle_io::AsyncWrite::poll_flush(self.get_pin_mut(), cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        spindle_io::AsyncWrite::poll_shutdown(self.get_pin_mut(), cx)
    }
}

impl<T: spindle_io::AsyncBufRead> tokio::io::AsyncBufRead for Compat<T> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        spindle_io::AsyncBufRead::poll_fill_buf(self.get_pin_mut(), cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        spindle_io::AsyncBufRead::consume(self.get_pin_mut(), amt)
    }
}

impl<T: spindle_io::AsyncSeek> tokio::io::AsyncSeek for Compat<T> {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        spindle_io::AsyncSeek::start_seek(self.get_pin_mut(), position)
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        spindle_io::AsyncSeek::poll_complete(self.get_pin_mut(), cx)
    }
}

// ---- a tokio stream, seen as a spindle stream ----

pin_project_lite::pin_project! {
    /// A tokio stream seen through spindle's IO traits: `TokioCompat::new(s)`
    /// of a `tokio::io::AsyncRead`/`AsyncWrite`/`AsyncBufRead` implements
    /// spindle's [`AsyncRead`](crate::io::AsyncRead)/
    /// [`AsyncWrite`](crate::io::AsyncWrite)/
    /// [`AsyncBufRead`](crate::io::AsyncBufRead).
    ///
    /// [`Compat`]'s twin for tokio types; it has to be a type of its own
    /// (see the [module docs](super)). The stream keeps being driven by
    /// whatever wakes it: a tokio stream that needs tokio's reactor (a
    /// `tokio::net::TcpStream`) still cannot run on spindle, but in-memory
    /// and wrapper streams (tokio-rustls's `TlsStream` over a [`Compat`]
    /// socket, say) can.
    #[derive(Debug, Clone, Default)]
    pub struct TokioCompat<T> {
        #[pin]
        inner: T,
    }
}

impl<T> TokioCompat<T> {
    /// Wraps a tokio stream.
    pub fn new(inner: T) -> Self {
        TokioCompat { inner }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// The wrapped stream, pinned.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut T> {
        self.project().inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: tokio::io::AsyncRead> spindle_io::AsyncRead for TokioCompat<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        // `ReadBuf::new` takes an initialized slice: the tokio reader only
        // fills it, and `filled()` says how far.
        let mut read_buf = ReadBuf::new(buf);
        ready!(tokio::io::AsyncRead::poll_read(
            self.get_pin_mut(),
            cx,
            &mut read_buf
        ))?;
        Poll::Ready(Ok(read_buf.filled().len()))
    }
}

impl<T: tokio::io::AsyncWrite> spindle_io::AsyncWrite for TokioCompat<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(self.get_pin_mut(), cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write_vectored(self.get_pin_mut(), cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        tokio::io::AsyncWrite::is_write_vectored(self.get_ref())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(self.get_pin_mut(), cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(self.get_pin_mut(), cx)
    }
}

impl<T: tokio::io::AsyncBufRead> spindle_io::AsyncBufRead for TokioCompat<T> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        tokio::io::AsyncBufRead::poll_fill_buf(self.get_pin_mut(), cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        tokio::io::AsyncBufRead::consume(self.get_pin_mut(), amt)
    }
}

impl<T: tokio::io::AsyncSeek> spindle_io::AsyncSeek for TokioCompat<T> {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        tokio::io::AsyncSeek::start_seek(self.get_pin_mut(), position)
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        tokio::io::AsyncSeek::poll_complete(self.get_pin_mut(), cx)
    }
}
