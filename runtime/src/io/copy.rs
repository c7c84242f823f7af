//! [`copy`]: move everything from a reader to a writer.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::{AsyncRead, AsyncWrite, DEFAULT_BUF_SIZE};

/// Copies everything from `reader` to `writer`, then flushes `writer`.
/// Resolves to the number of bytes copied.
///
/// Data goes through an internal 8 KiB buffer. Whenever the reader has
/// nothing to offer for the moment, the writer is flushed, so that data does
/// not sit in a buffered writer while the other end waits for it. The writer
/// is not shut down at the end.
///
/// `Interrupted` errors are retried; any other error ends the copy. A writer
/// that accepts zero bytes causes an [`io::ErrorKind::WriteZero`] error.
///
/// ```
/// use std::io;
///
/// use spindle_runtime::io::{copy, AsyncRead, AsyncWrite};
///
/// async fn forward<R, W>(from: &mut R, to: &mut W) -> io::Result<()>
/// where
///     R: AsyncRead + Unpin,
///     W: AsyncWrite + Unpin,
/// {
///     let n = copy(from, to).await?;
///     println!("forwarded {n} bytes");
///     Ok(())
/// }
/// ```
pub fn copy<'a, R, W>(reader: &'a mut R, writer: &'a mut W) -> Copy<'a, R, W>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    Copy {
        reader,
        writer,
        buf: CopyBuffer::new(DEFAULT_BUF_SIZE),
    }
}

/// Future returned by [`copy`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Copy<'a, R: ?Sized, W: ?Sized> {
    reader: &'a mut R,
    writer: &'a mut W,
    buf: CopyBuffer,
}

impl<R, W> Future for Copy<'_, R, W>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    type Output = io::Result<u64>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.buf
            .poll_copy(cx, Pin::new(&mut *this.reader), Pin::new(&mut *this.writer))
    }
}

/// The state of one copy from a reader to a writer, kept between polls:
/// [`copy`] has one, [`copy_bidirectional`](super::copy_bidirectional) two.
pub(super) struct CopyBuffer {
    buf: Box<[u8]>,
    /// `buf[pos..filled]` has been read but not yet written.
    pos: usize,
    filled: usize,
    /// The reader reported end of stream.
    read_done: bool,
    /// Something was written since the last flush.
    need_flush: bool,
    copied: u64,
}

impl fmt::Debug for CopyBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CopyBuffer")
            .field("copied", &self.copied)
            .field("buffered", &(self.filled - self.pos))
            .field("read_done", &self.read_done)
            .finish()
    }
}

impl CopyBuffer {
    pub(super) fn new(size: usize) -> CopyBuffer {
        CopyBuffer {
            buf: vec![0; size.max(1)].into_boxed_slice(),
            pos: 0,
            filled: 0,
            read_done: false,
            need_flush: false,
            copied: 0,
        }
    }

    /// Bytes copied so far.
    pub(super) fn copied(&self) -> u64 {
        self.copied
    }

    /// Copies until the reader's end of stream, then flushes, and resolves
    /// to the number of bytes copied. Returns `Pending` (with the reader's
    /// or writer's wake-up arranged) whenever either must wait.
    pub(super) fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut reader: Pin<&mut R>,
        mut writer: Pin<&mut W>,
    ) -> Poll<io::Result<u64>>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        loop {
            // 1. The buffer is empty: refill it.
            if self.pos == self.filled && !self.read_done {
                match reader.as_mut().poll_read(cx, &mut self.buf) {
                    Poll::Ready(Ok(0)) => self.read_done = true,
                    Poll::Ready(Ok(n)) => {
                        self.pos = 0;
                        self.filled = n.min(self.buf.len());
                    }
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {
                        // The reader will wake us. Meanwhile push out what
                        // we wrote: the other side may be waiting for it
                        // before it sends more.
                        if self.need_flush {
                            ready!(writer.as_mut().poll_flush(cx))?;
                            self.need_flush = false;
                        }
                        return Poll::Pending;
                    }
                }
            }

            // 2. Write out what is buffered.
            while self.pos < self.filled {
                let pending = &self.buf[self.pos..self.filled];
                match ready!(writer.as_mut().poll_write(cx, pending)) {
                    Ok(0) => {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::WriteZero,
                            "writer accepted zero bytes",
                        )))
                    }
                    Ok(n) => {
                        let n = n.min(pending.len());
                        self.pos += n;
                        self.copied += n as u64;
                        self.need_flush = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }

            // 3. Everything read was written; at the end, flush.
            if self.read_done {
                ready!(writer.as_mut().poll_flush(cx))?;
                self.need_flush = false;
                return Poll::Ready(Ok(self.copied));
            }
        }
    }
}

impl<R: ?Sized, W: ?Sized> fmt::Debug for Copy<'_, R, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Copy")
            .field("copied", &self.buf.copied)
            .field("buffered", &(self.buf.filled - self.buf.pos))
            .field("read_done", &self.buf.read_done)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_util::{block_on, ChunkedReader, ChunkedWriter};
    use crate::io::BufWriter;

    #[test]
    fn copies_everything_and_flushes() {
        let data: Vec<u8> = (0..=255).cycle().take(50_000).collect();
        let mut reader = ChunkedReader::new(&data, 3000);
        let mut writer = ChunkedWriter::new(1000);
        let n = block_on(copy(&mut reader, &mut writer)).unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(writer.data, data);
        assert!(writer.flushes >= 1);
        assert!(!writer.shut_down);
        assert!(reader.pendings > 10 && writer.pendings > 10);
    }

    #[test]
    fn empty_reader_copies_nothing() {
        let mut reader: &[u8] = b"";
        let mut writer = ChunkedWriter::new(4);
        assert_eq!(block_on(copy(&mut reader, &mut writer)).unwrap(), 0);
        assert_eq!(writer.flushes, 1);
    }

    #[test]
    fn flushes_while_the_reader_is_pending() {
        let mut reader = ChunkedReader::new(b"abcdefghij", 2);
        let mut inner = ChunkedWriter::new(100);
        inner.always_ready = true;
        let mut writer = BufWriter::with_capacity(1024, inner);
        block_on(copy(&mut reader, &mut writer)).unwrap();
        let inner = writer.get_ref();
        assert_eq!(inner.data, b"abcdefghij");
        // The reader returned `Pending` after each of its 5 chunks: each time
        // the BufWriter was flushed. Plus the final flush.
        assert_eq!(inner.writes, [2, 2, 2, 2, 2]);
        assert_eq!(inner.flushes, 6);
    }

    #[test]
    fn write_zero_is_an_error() {
        let mut reader: &[u8] = b"0123456789";
        let mut writer = ChunkedWriter::new(3);
        writer.limit = Some(5);
        let err = block_on(copy(&mut reader, &mut writer)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);
        assert_eq!(writer.data, b"01234");
    }

    #[test]
    fn read_errors_end_the_copy_but_interrupted_is_retried() {
        let mut reader =
            ChunkedReader::new(b"abcdef", 2).fail_once_at(2, io::ErrorKind::Interrupted);
        let mut writer = Vec::new();
        assert_eq!(block_on(copy(&mut reader, &mut writer)).unwrap(), 6);
        assert_eq!(writer, b"abcdef");

        let mut reader =
            ChunkedReader::new(b"abcdef", 2).fail_once_at(4, io::ErrorKind::BrokenPipe);
        let mut writer = Vec::new();
        let err = block_on(copy(&mut reader, &mut writer)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(writer, b"abcd");
    }

    #[test]
    fn works_with_trait_objects() {
        let mut reader: Box<dyn AsyncRead + Unpin> = Box::new(&b"dyn"[..]);
        let mut out = Vec::new();
        let writer: &mut (dyn AsyncWrite + Unpin) = &mut out;
        let fut = copy(&mut *reader, writer);
        assert!(format!("{fut:?}").starts_with("Copy { copied: 0"));
        assert_eq!(block_on(fut).unwrap(), 3);
        assert_eq!(out, b"dyn");
    }
}
