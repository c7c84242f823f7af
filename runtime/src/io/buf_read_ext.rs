//! [`AsyncBufReadExt`]: `.await`-able methods for buffered readers, and the
//! futures they return ([`ReadUntil`], [`ReadLine`]; [`Lines`] has its own
//! file).

use std::future::Future;
use std::io;
use std::mem;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::read_to_end::invalid_utf8;
use super::{AsyncBufRead, Lines, Split};

/// `.await`-able methods for every [`AsyncBufRead`].
///
/// Implemented for all buffered readers; bring it into scope with
/// `use spindle_runtime::io::AsyncBufReadExt;`. Wrap a plain reader in a
/// [`BufReader`](super::BufReader) to use them on it.
pub trait AsyncBufReadExt: AsyncBufRead {
    /// Reads bytes into `buf` until the byte `delim` or end of stream,
    /// returning how many bytes were appended. `delim` is included, if found.
    ///
    /// Like [`std::io::BufRead::read_until`]; `Ok(0)` means end of stream.
    /// Cancel safe in the sense that bytes already taken from the reader are
    /// in `buf` when the future is dropped; call it again to read the rest.
    fn read_until<'a>(&'a mut self, delim: u8, buf: &'a mut Vec<u8>) -> ReadUntil<'a, Self>
    where
        Self: Unpin,
    {
        ReadUntil {
            reader: self,
            delim,
            buf,
            read: 0,
        }
    }

    /// Reads a line, up to and including the `\n` (which is kept, as in
    /// [`std::io::BufRead::read_line`]), and appends it to `buf`. Returns how
    /// many bytes were appended; `Ok(0)` means end of stream.
    ///
    /// If the line is not valid UTF-8, fails with
    /// [`io::ErrorKind::InvalidData`] and appends nothing. If an IO error cuts
    /// the line short, the part read is appended if it is valid UTF-8 (as in
    /// std) and the error is returned.
    ///
    /// Not cancel safe: the part of a line read before the future is dropped
    /// is lost. Use [`lines`](AsyncBufReadExt::lines) when that matters.
    fn read_line<'a>(&'a mut self, buf: &'a mut String) -> ReadLine<'a, Self>
    where
        Self: Unpin,
    {
        ReadLine {
            reader: self,
            buf,
            bytes: Vec::new(),
            read: 0,
        }
    }

    /// Turns this reader into a stream of its lines, without the `\n` or
    /// `\r\n` at their ends. See [`Lines`].
    fn lines(self) -> Lines<Self>
    where
        Self: Sized,
    {
        Lines::new(self)
    }

    /// Turns this reader into a stream of the segments between occurrences
    /// of the byte `delim`, without it. See [`Split`].
    fn split(self, delim: u8) -> Split<Self>
    where
        Self: Sized,
    {
        Split::new(self, delim)
    }
}

impl<R: AsyncBufRead + ?Sized> AsyncBufReadExt for R {}

/// Moves bytes from `reader`'s buffer into `buf` until `delim` (included) or
/// end of stream, counting them in `*read`.
///
/// Returns the count and resets `*read` when done. On `Pending` or an error,
/// `buf` and `*read` keep the progress made, so calling again continues.
pub(super) fn poll_read_until<R: AsyncBufRead + ?Sized>(
    mut reader: Pin<&mut R>,
    cx: &mut Context<'_>,
    delim: u8,
    buf: &mut Vec<u8>,
    read: &mut usize,
) -> Poll<io::Result<usize>> {
    loop {
        let (done, used) = {
            let available = match ready!(reader.as_mut().poll_fill_buf(cx)) {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Poll::Ready(Err(e)),
            };
            match available.iter().position(|&b| b == delim) {
                Some(i) => {
                    buf.extend_from_slice(&available[..=i]);
                    (true, i + 1)
                }
                None => {
                    buf.extend_from_slice(available);
                    (available.is_empty(), available.len())
                }
            }
        };
        reader.as_mut().consume(used);
        *read += used;
        if done {
            return Poll::Ready(Ok(mem::take(read)));
        }
    }
}

/// Future returned by [`AsyncBufReadExt::read_until`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ReadUntil<'a, R: ?Sized> {
    reader: &'a mut R,
    delim: u8,
    buf: &'a mut Vec<u8>,
    /// Bytes appended so far.
    read: usize,
}

impl<R: AsyncBufRead + Unpin + ?Sized> Future for ReadUntil<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let reader = Pin::new(&mut *this.reader);
        poll_read_until(reader, cx, this.delim, this.buf, &mut this.read)
    }
}

/// Future returned by [`AsyncBufReadExt::read_line`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ReadLine<'a, R: ?Sized> {
    reader: &'a mut R,
    buf: &'a mut String,
    /// The line so far; checked and appended to `buf` at the end.
    bytes: Vec<u8>,
    read: usize,
}

impl<R: AsyncBufRead + Unpin + ?Sized> Future for ReadLine<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let reader = Pin::new(&mut *this.reader);
        let result = ready!(poll_read_until(
            reader,
            cx,
            b'\n',
            &mut this.bytes,
            &mut this.read
        ));
        // Same rules as std: append the bytes if they are valid UTF-8, even
        // when an IO error cut the line short.
        let text = std::str::from_utf8(&this.bytes);
        if let Ok(text) = text {
            this.buf.push_str(text);
        }
        Poll::Ready(match (result, text) {
            (Ok(n), Ok(_)) => Ok(n),
            (Ok(_), Err(_)) => Err(invalid_utf8()),
            (Err(e), _) => Err(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_util::{block_on, ChunkedReader};
    use crate::io::BufReader;

    fn chunked(data: &[u8], chunk: usize, capacity: usize) -> BufReader<ChunkedReader> {
        BufReader::with_capacity(capacity, ChunkedReader::new(data, chunk))
    }

    #[test]
    fn read_until_spans_many_buffer_fills() {
        let mut reader = chunked(b"alpha,beta,,gamma", 2, 3);
        let mut buf = Vec::new();
        assert_eq!(block_on(reader.read_until(b',', &mut buf)).unwrap(), 6);
        assert_eq!(buf, b"alpha,");
        assert_eq!(block_on(reader.read_until(b',', &mut buf)).unwrap(), 5);
        assert_eq!(block_on(reader.read_until(b',', &mut buf)).unwrap(), 1);
        assert_eq!(block_on(reader.read_until(b',', &mut buf)).unwrap(), 5);
        assert_eq!(buf, b"alpha,beta,,gamma");
        assert_eq!(block_on(reader.read_until(b',', &mut buf)).unwrap(), 0);
        assert!(reader.get_ref().pendings > 5);
    }

    #[test]
    fn read_line_keeps_newline() {
        let mut reader = chunked(b"first\r\nsecond\nlast", 4, 5);
        let mut line = String::new();
        assert_eq!(block_on(reader.read_line(&mut line)).unwrap(), 7);
        assert_eq!(line, "first\r\n");
        line.clear();
        assert_eq!(block_on(reader.read_line(&mut line)).unwrap(), 7);
        assert_eq!(line, "second\n");
        assert_eq!(block_on(reader.read_line(&mut line)).unwrap(), 4);
        assert_eq!(line, "second\nlast");
        assert_eq!(block_on(reader.read_line(&mut line)).unwrap(), 0);
    }

    #[test]
    fn read_line_rejects_invalid_utf8() {
        let mut reader = chunked(b"bad \xc3\x28 line\ngood\n", 3, 4);
        let mut line = String::from("kept ");
        let err = block_on(reader.read_line(&mut line)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(line, "kept ");
        // The bad line was consumed; the next one reads fine.
        assert_eq!(block_on(reader.read_line(&mut line)).unwrap(), 5);
        assert_eq!(line, "kept good\n");
    }

    #[test]
    fn read_line_keeps_valid_partial_line_on_io_error() {
        let inner = ChunkedReader::new(b"abcdef\n", 2).fail_once_at(4, io::ErrorKind::Other);
        let mut reader = BufReader::with_capacity(2, inner);
        let mut line = String::new();
        let err = block_on(reader.read_line(&mut line)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Other);
        assert_eq!(line, "abcd");
    }

    #[test]
    fn read_until_retries_interrupted() {
        let inner = ChunkedReader::new(b"ab;cd", 1).fail_once_at(1, io::ErrorKind::Interrupted);
        let mut reader = BufReader::with_capacity(1, inner);
        let mut buf = Vec::new();
        assert_eq!(block_on(reader.read_until(b';', &mut buf)).unwrap(), 3);
        assert_eq!(buf, b"ab;");
    }
}
