//! [`BufReader`]: adds a read buffer to any [`AsyncRead`].

use std::fmt;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;

use super::{AsyncBufRead, AsyncRead, AsyncWrite, DEFAULT_BUF_SIZE};

pin_project! {
    /// Adds a buffer to a reader.
    ///
    /// Many small reads from a socket each cost a system call; a `BufReader`
    /// reads big chunks into its buffer and serves small reads from there. It
    /// also implements [`AsyncBufRead`], which is what
    /// [`read_line`](super::AsyncBufReadExt::read_line) and
    /// [`lines`](super::AsyncBufReadExt::lines) need.
    ///
    /// Reads at least as large as the buffer skip it when it is empty. If the
    /// inner type is also a writer, writes pass straight through.
    ///
    /// Dropping a `BufReader` (or calling [`into_inner`](BufReader::into_inner))
    /// loses any data still in its buffer.
    pub struct BufReader<R> {
        #[pin]
        inner: R,
        buf: Box<[u8]>,
        // `buf[pos..filled]` holds the data not yet handed out.
        pos: usize,
        filled: usize,
    }
}

impl<R: AsyncRead> BufReader<R> {
    /// Wraps `inner` with a buffer of the default capacity (8 KiB).
    pub fn new(inner: R) -> Self {
        Self::with_capacity(DEFAULT_BUF_SIZE, inner)
    }

    /// Wraps `inner` with a buffer of `capacity` bytes.
    pub fn with_capacity(capacity: usize, inner: R) -> Self {
        BufReader {
            inner,
            buf: vec![0; capacity].into_boxed_slice(),
            pos: 0,
            filled: 0,
        }
    }
}

impl<R> BufReader<R> {
    /// Returns a shared reference to the underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Returns a mutable reference to the underlying reader. Reading from it
    /// directly skips over the data in the buffer.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Returns a pinned mutable reference to the underlying reader.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut R> {
        self.project().inner
    }

    /// Returns the underlying reader; data still in the buffer is lost.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Returns the buffered data that has not been read yet. Does not read
    /// from the underlying reader.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.pos..self.filled]
    }

    /// Returns the size of the internal buffer.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }
}

impl<R: AsyncRead> AsyncRead for BufReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        // Nothing buffered and a big request: copying through our buffer
        // would only add work.
        if self.pos == self.filled && buf.len() >= self.buf.len() {
            return self.project().inner.poll_read(cx, buf);
        }
        let available = ready!(self.as_mut().poll_fill_buf(cx))?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }
}

impl<R: AsyncRead> AsyncBufRead for BufReader<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.project();
        if *this.pos >= *this.filled {
            // Empty: refill. On `Pending` or an error the buffer stays empty.
            let n = ready!(this.inner.poll_read(cx, this.buf))?;
            *this.pos = 0;
            *this.filled = n.min(this.buf.len());
        }
        Poll::Ready(Ok(&this.buf[*this.pos..*this.filled]))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.project();
        *this.pos = (*this.pos + amt).min(*this.filled);
    }
}

/// Writes go straight to the inner writer; the buffer is for reading only.
impl<R: AsyncWrite> AsyncWrite for BufReader<R> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

impl<R: fmt::Debug> fmt::Debug for BufReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufReader")
            .field("reader", &self.inner)
            .field(
                "buffer",
                &format_args!("{}/{}", self.filled - self.pos, self.buf.len()),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_util::{block_on, ChunkedReader};
    use crate::io::{AsyncReadExt, AsyncWriteExt};
    use std::future::poll_fn;
    use std::io::Cursor;

    #[test]
    fn small_reads_are_served_from_the_buffer() {
        let mut reader = BufReader::with_capacity(8, ChunkedReader::new(b"abcdefghij", 5));
        let mut two = [0; 2];
        block_on(reader.read_exact(&mut two)).unwrap();
        assert_eq!(&two, b"ab");
        // The inner reader gave 5 bytes; 3 are left in the buffer.
        assert_eq!(reader.buffer(), b"cde");
        block_on(reader.read_exact(&mut two)).unwrap();
        assert_eq!(reader.buffer(), b"e");
        let mut rest = Vec::new();
        block_on(reader.read_to_end(&mut rest)).unwrap();
        assert_eq!(rest, b"efghij");
        assert!(reader.get_ref().pendings > 0);
    }

    #[test]
    fn large_reads_bypass_an_empty_buffer() {
        let data: Vec<u8> = (0..64).collect();
        let mut reader = BufReader::with_capacity(4, &data[..]);
        let mut big = [0; 16];
        assert_eq!(block_on(reader.read(&mut big)).unwrap(), 16);
        assert_eq!(&big[..], &data[..16]);
        assert!(reader.buffer().is_empty());

        // With data buffered, a large read returns the buffered data first.
        let mut one = [0; 1];
        block_on(reader.read(&mut one)).unwrap();
        assert_eq!(reader.buffer(), &data[17..20]);
        assert_eq!(block_on(reader.read(&mut big)).unwrap(), 3);
        assert_eq!(&big[..3], &data[17..20]);
    }

    #[test]
    fn fill_buf_and_consume() {
        let mut reader = BufReader::with_capacity(4, ChunkedReader::new(b"xyz", 8));
        let mut pinned = Pin::new(&mut reader);
        let got = block_on(poll_fn(|cx| {
            pinned.as_mut().poll_fill_buf(cx).map_ok(|buf| buf.to_vec())
        }))
        .unwrap();
        assert_eq!(got, b"xyz");
        pinned.as_mut().consume(2);
        assert_eq!(pinned.buffer(), b"z");
        // Consuming more than is buffered just empties the buffer.
        pinned.as_mut().consume(10);
        assert!(pinned.buffer().is_empty());
        let eof = block_on(poll_fn(|cx| {
            pinned.as_mut().poll_fill_buf(cx).map_ok(|buf| buf.len())
        }));
        assert_eq!(eof.unwrap(), 0);
    }

    #[test]
    fn zero_capacity_still_works() {
        let mut reader = BufReader::with_capacity(0, ChunkedReader::new(b"data", 3));
        let mut out = Vec::new();
        block_on(reader.read_to_end(&mut out)).unwrap();
        assert_eq!(out, b"data");
    }

    #[test]
    fn accessors() {
        let mut reader = BufReader::new(&b"abc"[..]);
        assert_eq!(reader.capacity(), DEFAULT_BUF_SIZE);
        assert_eq!(*reader.get_ref(), b"abc");
        *reader.get_mut() = b"xy";
        assert_eq!(
            format!("{reader:?}"),
            "BufReader { reader: [120, 121], buffer: 0/8192 }"
        );
        assert_eq!(reader.into_inner(), b"xy");
    }

    #[test]
    fn forwards_writes() {
        let mut stream = BufReader::new(Cursor::new(Vec::new()));
        block_on(stream.write_all(b"hi")).unwrap();
        block_on(stream.flush()).unwrap();
        assert!(stream.is_write_vectored());
        assert_eq!(stream.into_inner().into_inner(), b"hi");
    }
}
