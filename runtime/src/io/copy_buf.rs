//! [`copy_buf`]: [`copy`](super::copy) for a reader that has its own
//! buffer, writing straight out of it instead of through a second one.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::{AsyncBufRead, AsyncWrite};

/// Copies everything from the buffered `reader` to `writer`, then flushes
/// `writer`, and resolves to the number of bytes copied.
///
/// Each round asks the reader for its buffer
/// ([`poll_fill_buf`](AsyncBufRead::poll_fill_buf)), writes from it, and
/// [`consume`](AsyncBufRead::consume)s what the writer took: no copy into a
/// buffer of our own. As with [`copy`](super::copy), the writer is flushed
/// whenever the reader has to wait, and is not shut down at the end;
/// `Interrupted` is retried, a writer accepting zero bytes is a `WriteZero`
/// error. Dropping the future early loses nothing: bytes are consumed from
/// the reader only once written.
///
/// ```
/// use spindle_runtime::io::{copy_buf, BufReader};
///
/// spindle_runtime::block_on(async {
///     let mut reader = BufReader::new(&b"buffered bytes"[..]);
///     let mut out = Vec::new();
///     assert_eq!(copy_buf(&mut reader, &mut out).await.unwrap(), 14);
///     assert_eq!(out, b"buffered bytes");
/// });
/// ```
pub fn copy_buf<'a, R, W>(reader: &'a mut R, writer: &'a mut W) -> CopyBuf<'a, R, W>
where
    R: AsyncBufRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    CopyBuf {
        reader,
        writer,
        need_flush: false,
        copied: 0,
    }
}

/// Future returned by [`copy_buf`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct CopyBuf<'a, R: ?Sized, W: ?Sized> {
    reader: &'a mut R,
    writer: &'a mut W,
    /// Something was written since the last flush.
    need_flush: bool,
    copied: u64,
}

impl<R, W> Future for CopyBuf<'_, R, W>
where
    R: AsyncBufRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    type Output = io::Result<u64>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            let buf = match Pin::new(&mut *this.reader).poll_fill_buf(cx) {
                Poll::Ready(Ok(buf)) => buf,
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    // As in `copy`: push out what was written while the
                    // reader waits.
                    if this.need_flush {
                        ready!(Pin::new(&mut *this.writer).poll_flush(cx))?;
                        this.need_flush = false;
                    }
                    return Poll::Pending;
                }
            };
            if buf.is_empty() {
                ready!(Pin::new(&mut *this.writer).poll_flush(cx))?;
                this.need_flush = false;
                return Poll::Ready(Ok(this.copied));
            }
            let n = match ready!(Pin::new(&mut *this.writer).poll_write(cx, buf)) {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "writer accepted zero bytes",
                    )))
                }
                Ok(n) => n.min(buf.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Poll::Ready(Err(e)),
            };
            Pin::new(&mut *this.reader).consume(n);
            this.copied += n as u64;
            this.need_flush = true;
        }
    }
}

impl<R: ?Sized, W: ?Sized> fmt::Debug for CopyBuf<'_, R, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CopyBuf")
            .field("copied", &self.copied)
            .finish_non_exhaustive()
    }
}
