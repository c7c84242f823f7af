//! [`BufWriter`]: adds a write buffer to any [`AsyncWrite`].

use std::fmt;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;

use super::{AsyncBufRead, AsyncRead, AsyncWrite, DEFAULT_BUF_SIZE};

pin_project! {
    /// Adds a buffer to a writer.
    ///
    /// Many small writes to a socket each cost a system call; a `BufWriter`
    /// collects them in its buffer and writes it out in one go when it is
    /// full, and on [`poll_flush`](AsyncWrite::poll_flush) and
    /// [`poll_shutdown`](AsyncWrite::poll_shutdown). Writes at least as
    /// large as the buffer skip it (after flushing what was buffered, to keep
    /// the order). If the inner type is also a reader, reads pass straight
    /// through.
    ///
    /// There is no async `Drop`, so dropping a `BufWriter` loses whatever is
    /// still buffered: call [`flush`](super::AsyncWriteExt::flush) or
    /// [`shutdown`](super::AsyncWriteExt::shutdown) first.
    pub struct BufWriter<W> {
        #[pin]
        inner: W,
        buf: Vec<u8>,
        // `buf[..written]` has already been handed to `inner` by a flush that
        // has not finished yet.
        written: usize,
    }
}

impl<W: AsyncWrite> BufWriter<W> {
    /// Wraps `inner` with a buffer of the default capacity (8 KiB).
    pub fn new(inner: W) -> Self {
        Self::with_capacity(DEFAULT_BUF_SIZE, inner)
    }

    /// Wraps `inner` with a buffer of `capacity` bytes.
    pub fn with_capacity(capacity: usize, inner: W) -> Self {
        BufWriter {
            inner,
            buf: Vec::with_capacity(capacity),
            written: 0,
        }
    }

    /// Writes the buffer out to `inner` (without flushing `inner`).
    ///
    /// On `Pending` the progress is remembered in `written`. On an error the
    /// bytes already written are removed from the buffer and the rest kept.
    fn poll_flush_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut this = self.project();
        while *this.written < this.buf.len() {
            let result = ready!(this
                .inner
                .as_mut()
                .poll_write(cx, &this.buf[*this.written..]));
            let error = match result {
                Ok(0) => io::Error::new(
                    io::ErrorKind::WriteZero,
                    "failed to write the buffered data",
                ),
                Ok(n) => {
                    *this.written += n;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => e,
            };
            this.buf.drain(..*this.written);
            *this.written = 0;
            return Poll::Ready(Err(error));
        }
        this.buf.clear();
        *this.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<W> BufWriter<W> {
    /// Returns a shared reference to the underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Returns a mutable reference to the underlying writer. Writing to it
    /// directly jumps ahead of the data in the buffer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Returns a pinned mutable reference to the underlying writer.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut W> {
        self.project().inner
    }

    /// Returns the underlying writer; data still in the buffer is lost, so
    /// flush first.
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// Returns the data waiting in the buffer.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.written..]
    }

    /// Returns the size of the internal buffer.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

impl<W: AsyncWrite> AsyncWrite for BufWriter<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.buf.len() + buf.len() > self.buf.capacity() {
            ready!(self.as_mut().poll_flush_buf(cx))?;
        }
        let this = self.project();
        if buf.len() >= this.buf.capacity() {
            this.inner.poll_write(cx, buf)
        } else {
            this.buf.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
    }

    /// Gathers `bufs` into the buffer.
    ///
    /// If the inner writer has vectored IO, a batch too big for the buffer
    /// goes to it in one call (after the buffered data). If it does not,
    /// that call would write only the first slice, so instead the slices
    /// are buffered in order for as long as whole slices fit, and the count
    /// of those is returned (a short write, which `write_all`-style callers
    /// continue). Only a single slice at least as large as the buffer goes
    /// straight through. So 100 slices of 100 bytes through an 8 KiB
    /// buffer take two writes, not one per slice.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.inner.is_write_vectored() {
            let total = bufs
                .iter()
                .fold(0usize, |sum, buf| sum.saturating_add(buf.len()));
            if self.buf.len().saturating_add(total) > self.buf.capacity() {
                ready!(self.as_mut().poll_flush_buf(cx))?;
            }
            let this = self.project();
            if total >= this.buf.capacity() {
                return this.inner.poll_write_vectored(cx, bufs);
            }
            for buf in bufs {
                this.buf.extend_from_slice(buf);
            }
            return Poll::Ready(Ok(total));
        }
        let mut rest = bufs.iter().skip_while(|buf| buf.is_empty());
        let Some(first) = rest.next() else {
            return Poll::Ready(Ok(0));
        };
        // The first slice is handled like a plain `poll_write`, so there is
        // always progress: make room for it, or write it directly.
        if self.buf.len() + first.len() > self.buf.capacity() {
            ready!(self.as_mut().poll_flush_buf(cx))?;
        }
        let this = self.project();
        if first.len() >= this.buf.capacity() {
            return this.inner.poll_write(cx, first);
        }
        this.buf.extend_from_slice(first);
        let mut written = first.len();
        for buf in rest {
            if this.buf.len() + buf.len() > this.buf.capacity() {
                break;
            }
            this.buf.extend_from_slice(buf);
            written += buf.len();
        }
        Poll::Ready(Ok(written))
    }

    /// Always `true`: gathering several buffers into ours is cheap.
    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush_buf(cx))?;
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush_buf(cx))?;
        self.project().inner.poll_shutdown(cx)
    }
}

/// Reads go straight to the inner reader; the buffer is for writing only.
impl<W: AsyncRead> AsyncRead for BufWriter<W> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_read(cx, buf)
    }
}

impl<W: AsyncBufRead> AsyncBufRead for BufWriter<W> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.project().inner.poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.project().inner.consume(amt);
    }
}

impl<W: fmt::Debug> fmt::Debug for BufWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufWriter")
            .field("writer", &self.inner)
            .field(
                "buffer",
                &format_args!("{}/{}", self.buffer().len(), self.capacity()),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_util::{block_on, ChunkedWriter};
    use crate::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    use std::future::poll_fn;
    use std::io::Cursor;

    #[test]
    fn small_writes_are_buffered_until_flush() {
        let mut writer = BufWriter::with_capacity(16, ChunkedWriter::new(3));
        block_on(writer.write_all(b"hello ")).unwrap();
        block_on(writer.write_all(b"world")).unwrap();
        assert!(writer.get_ref().data.is_empty());
        assert_eq!(writer.buffer(), b"hello world");
        block_on(writer.flush()).unwrap();
        assert_eq!(writer.get_ref().data, b"hello world");
        assert_eq!(writer.get_ref().flushes, 1);
        assert!(writer.get_ref().pendings > 3);
        assert!(writer.buffer().is_empty());
    }

    #[test]
    fn full_buffer_is_written_out_in_order() {
        let data: Vec<u8> = (0..100).collect();
        let mut writer = BufWriter::with_capacity(10, ChunkedWriter::new(4));
        for piece in data.chunks(3) {
            block_on(writer.write_all(piece)).unwrap();
        }
        assert!(writer.buffer().len() <= 10);
        block_on(writer.shutdown()).unwrap();
        assert_eq!(writer.get_ref().data, data);
        assert!(writer.get_ref().shut_down);
    }

    #[test]
    fn large_writes_bypass_the_buffer() {
        let mut writer = BufWriter::with_capacity(4, ChunkedWriter::new(100));
        block_on(writer.write_all(b"ab")).unwrap();
        // Too big to buffer: flushes "ab", then writes directly.
        assert_eq!(block_on(writer.write(b"0123456789")).unwrap(), 10);
        assert!(writer.buffer().is_empty());
        assert_eq!(writer.get_ref().writes, [2, 10]);
        assert_eq!(writer.get_ref().data, b"ab0123456789");
    }

    #[test]
    fn vectored_writes_are_gathered() {
        let mut writer = BufWriter::with_capacity(8, ChunkedWriter::new(100));
        assert!(writer.is_write_vectored());
        let bufs = [IoSlice::new(b"ab"), IoSlice::new(b""), IoSlice::new(b"cd")];
        let mut pinned = Pin::new(&mut writer);
        let n = block_on(poll_fn(|cx| pinned.as_mut().poll_write_vectored(cx, &bufs))).unwrap();
        assert_eq!(n, 4);
        assert_eq!(pinned.buffer(), b"abcd");
        // A slice too big to buffer goes straight to the inner writer,
        // after what was buffered.
        let big = [IoSlice::new(b"0123456789")];
        let n = block_on(poll_fn(|cx| pinned.as_mut().poll_write_vectored(cx, &big))).unwrap();
        assert_eq!(n, 10);
        assert_eq!(writer.get_ref().data, b"abcd0123456789");
    }

    /// Writes all of `bufs` with `poll_write_vectored`, as a
    /// `write_all_vectored` would, then flushes.
    fn write_all_vectored<W: AsyncWrite + Unpin>(writer: &mut W, bufs: &mut [IoSlice<'_>]) {
        let mut bufs = bufs;
        while !bufs.is_empty() {
            let n = block_on(poll_fn(|cx| {
                Pin::new(&mut *writer).poll_write_vectored(cx, bufs)
            }))
            .unwrap();
            assert!(n > 0, "no progress");
            IoSlice::advance_slices(&mut bufs, n);
        }
        block_on(writer.flush()).unwrap();
    }

    /// 100 slices of 100 bytes, each slice filled with its own number.
    fn hundred_slices() -> Vec<Vec<u8>> {
        (0..100u8).map(|i| vec![i; 100]).collect()
    }

    #[test]
    fn vectored_writes_to_a_plain_writer_fill_the_buffer() {
        for always_ready in [true, false] {
            let slices = hundred_slices();
            let mut inner = ChunkedWriter::new(usize::MAX);
            inner.always_ready = always_ready;
            assert!(!inner.is_write_vectored());
            let mut writer = BufWriter::new(inner);
            let mut bufs: Vec<IoSlice<'_>> = slices.iter().map(|s| IoSlice::new(s)).collect();
            write_all_vectored(&mut writer, &mut bufs);
            assert_eq!(writer.get_ref().data, slices.concat());
            // 10 000 bytes through an 8 KiB buffer: two writes (81 slices,
            // then the other 19), not one per slice.
            assert_eq!(writer.get_ref().writes, [8100, 1900]);
        }
        // A slice as large as the buffer still goes straight through, after
        // the buffered bytes, and the slices after it are left for the next
        // call.
        let mut writer = BufWriter::with_capacity(8, ChunkedWriter::new(100));
        let mut bufs = [
            IoSlice::new(b"ab"),
            IoSlice::new(b"cd"),
            IoSlice::new(b"0123456789"),
            IoSlice::new(b"ef"),
            IoSlice::new(b""),
        ];
        write_all_vectored(&mut writer, &mut bufs);
        assert_eq!(writer.get_ref().data, b"abcd0123456789ef");
        assert_eq!(writer.get_ref().writes, [4, 10, 2]);
        // Nothing but empty slices: nothing to do.
        let empty = [IoSlice::new(b""), IoSlice::new(b"")];
        let mut pinned = Pin::new(&mut writer);
        let n = block_on(poll_fn(|cx| {
            pinned.as_mut().poll_write_vectored(cx, &empty)
        }))
        .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn vectored_writes_to_a_vectored_writer_go_through_in_one_call() {
        let slices = hundred_slices();
        let mut inner = ChunkedWriter::new(usize::MAX);
        inner.vectored = true;
        let mut writer = BufWriter::new(inner);
        block_on(writer.write_all(b"head")).unwrap();
        let mut bufs: Vec<IoSlice<'_>> = slices.iter().map(|s| IoSlice::new(s)).collect();
        write_all_vectored(&mut writer, &mut bufs);
        let mut expected = b"head".to_vec();
        expected.extend(slices.concat());
        assert_eq!(writer.get_ref().data, expected);
        // The buffered head, then all 100 slices in one gathered write.
        assert_eq!(writer.get_ref().writes, [4, 10_000]);
    }

    #[test]
    fn write_zero_while_flushing_is_an_error_and_keeps_the_rest() {
        let mut inner = ChunkedWriter::new(2);
        inner.limit = Some(3);
        let mut writer = BufWriter::with_capacity(8, inner);
        block_on(writer.write_all(b"abcdef")).unwrap();
        let err = block_on(writer.flush()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);
        assert_eq!(writer.get_ref().data, b"abc");
        assert_eq!(writer.buffer(), b"def");
    }

    #[test]
    fn zero_capacity_writes_through() {
        let mut writer = BufWriter::with_capacity(0, ChunkedWriter::new(2));
        block_on(writer.write_all(b"abc")).unwrap();
        assert_eq!(writer.get_ref().data, b"abc");
    }

    #[test]
    fn accessors_and_read_forwarding() {
        let mut stream = BufWriter::new(Cursor::new(b"line\nrest".to_vec()));
        assert_eq!(stream.capacity(), DEFAULT_BUF_SIZE);
        let mut line = String::new();
        block_on(stream.read_line(&mut line)).unwrap();
        assert_eq!(line, "line\n");
        let mut rest = String::new();
        block_on(stream.read_to_string(&mut rest)).unwrap();
        assert_eq!(rest, "rest");
        assert_eq!(stream.get_ref().position(), 9);
        block_on(stream.write_all(b"!")).unwrap();
        assert!(format!("{stream:?}").ends_with("buffer: 1/8192 }"));
        stream.get_mut().set_position(0);
        assert_eq!(stream.into_inner().into_inner(), b"line\nrest");
    }
}
