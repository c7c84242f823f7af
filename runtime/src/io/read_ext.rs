//! [`AsyncReadExt`]: `.await`-able reading methods, and the futures they
//! return ([`Read`], [`ReadExact`]; the `read_to_*` futures live in
//! `read_to_end.rs`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::number::read_number_methods;
use super::read_to_end::{ReadToEnd, ReadToString};
use super::AsyncRead;

/// `.await`-able reading methods for every [`AsyncRead`].
///
/// Implemented for all readers; bring it into scope with
/// `use spindle_runtime::io::AsyncReadExt;`. The methods need `Self: Unpin`;
/// pin a `!Unpin` reader first (`Box::pin(reader)`).
pub trait AsyncReadExt: AsyncRead {
    /// Reads some bytes into `buf`, returning how many. `Ok(0)` with a
    /// non-empty `buf` means end of stream.
    ///
    /// Like [`std::io::Read::read`]: one successful read may return fewer
    /// bytes than asked for. Cancel safe: if the future is dropped before it
    /// completes, no data was read.
    fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> Read<'a, Self>
    where
        Self: Unpin,
    {
        Read { reader: self, buf }
    }

    /// Reads exactly `buf.len()` bytes, returning that length.
    ///
    /// Fails with [`io::ErrorKind::UnexpectedEof`] if the stream ends first;
    /// the contents of `buf` are then unspecified. `Interrupted` errors are
    /// retried. Not cancel safe: bytes read before the future was dropped are
    /// lost to the caller.
    fn read_exact<'a>(&'a mut self, buf: &'a mut [u8]) -> ReadExact<'a, Self>
    where
        Self: Unpin,
    {
        ReadExact {
            reader: self,
            buf,
            filled: 0,
        }
    }

    /// Reads until end of stream, appending to `buf`, and returns how many
    /// bytes were appended.
    ///
    /// `Interrupted` errors are retried. On any other error the bytes read
    /// before it remain in `buf`, as they do if the future is dropped early.
    /// If `buf` already has room for all the data, it is not reallocated.
    fn read_to_end<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> ReadToEnd<'a, Self>
    where
        Self: Unpin,
    {
        ReadToEnd::new(self, buf)
    }

    /// Reads until end of stream, appending to `buf`, and returns how many
    /// bytes were appended.
    ///
    /// If the data is not valid UTF-8, fails with
    /// [`io::ErrorKind::InvalidData`] and appends nothing. Likewise nothing is
    /// appended on an IO error or if the future is dropped early.
    fn read_to_string<'a>(&'a mut self, buf: &'a mut String) -> ReadToString<'a, Self>
    where
        Self: Unpin,
    {
        ReadToString::new(self, buf)
    }

    read_number_methods! {
        read_u8: u8, from_be_bytes, "one-byte";
        read_i8: i8, from_be_bytes, "one-byte";
        read_u16: u16, from_be_bytes, "big-endian";
        read_i16: i16, from_be_bytes, "big-endian";
        read_u32: u32, from_be_bytes, "big-endian";
        read_i32: i32, from_be_bytes, "big-endian";
        read_u64: u64, from_be_bytes, "big-endian";
        read_i64: i64, from_be_bytes, "big-endian";
        read_u128: u128, from_be_bytes, "big-endian";
        read_i128: i128, from_be_bytes, "big-endian";
        read_f32: f32, from_be_bytes, "big-endian";
        read_f64: f64, from_be_bytes, "big-endian";
        read_u16_le: u16, from_le_bytes, "little-endian";
        read_i16_le: i16, from_le_bytes, "little-endian";
        read_u32_le: u32, from_le_bytes, "little-endian";
        read_i32_le: i32, from_le_bytes, "little-endian";
        read_u64_le: u64, from_le_bytes, "little-endian";
        read_i64_le: i64, from_le_bytes, "little-endian";
        read_u128_le: u128, from_le_bytes, "little-endian";
        read_i128_le: i128, from_le_bytes, "little-endian";
        read_f32_le: f32, from_le_bytes, "little-endian";
        read_f64_le: f64, from_le_bytes, "little-endian";
    }
}

impl<R: AsyncRead + ?Sized> AsyncReadExt for R {}

/// Future returned by [`AsyncReadExt::read`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Read<'a, R: ?Sized> {
    reader: &'a mut R,
    buf: &'a mut [u8],
}

impl<R: AsyncRead + Unpin + ?Sized> Future for Read<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        Pin::new(&mut *this.reader).poll_read(cx, this.buf)
    }
}

/// Future returned by [`AsyncReadExt::read_exact`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ReadExact<'a, R: ?Sized> {
    reader: &'a mut R,
    buf: &'a mut [u8],
    /// `buf[..filled]` has been read; survives `Pending`.
    filled: usize,
}

impl<R: AsyncRead + Unpin + ?Sized> Future for ReadExact<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        while this.filled < this.buf.len() {
            let unfilled = &mut this.buf[this.filled..];
            match ready!(Pin::new(&mut *this.reader).poll_read(cx, unfilled)) {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "stream ended before the buffer was filled",
                    )))
                }
                Ok(n) => this.filled += n.min(unfilled.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(this.filled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_util::{block_on, ChunkedReader};

    #[test]
    fn read_returns_one_chunk() {
        let mut reader = ChunkedReader::new(b"hello world", 4);
        let mut buf = [0; 16];
        let n = block_on(reader.read(&mut buf)).unwrap();
        assert_eq!(&buf[..n], b"hell");
        assert_eq!(reader.pendings, 1);
    }

    #[test]
    fn read_exact_resumes_across_pending() {
        let data: Vec<u8> = (0..100).collect();
        let mut reader = ChunkedReader::new(&data, 7);
        let mut buf = [0; 50];
        assert_eq!(block_on(reader.read_exact(&mut buf)).unwrap(), 50);
        assert_eq!(&buf[..], &data[..50]);
        assert!(reader.pendings >= 8);
        assert_eq!(block_on(reader.read_exact(&mut buf)).unwrap(), 50);
        assert_eq!(&buf[..], &data[50..]);
    }

    #[test]
    fn read_exact_fails_on_early_eof() {
        let mut reader = ChunkedReader::new(b"short", 2);
        let mut buf = [0; 10];
        let err = block_on(reader.read_exact(&mut buf)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn read_exact_empty_buffer_is_immediate() {
        let mut reader = ChunkedReader::new(b"", 1);
        assert_eq!(block_on(reader.read_exact(&mut [])).unwrap(), 0);
        assert_eq!(reader.pendings, 0);
    }

    #[test]
    fn read_exact_retries_interrupted_and_reports_other_errors() {
        let mut reader =
            ChunkedReader::new(b"abcdef", 2).fail_once_at(2, io::ErrorKind::Interrupted);
        let mut buf = [0; 6];
        block_on(reader.read_exact(&mut buf)).unwrap();
        assert_eq!(&buf, b"abcdef");

        let mut reader = ChunkedReader::new(b"abcdef", 2).fail_once_at(4, io::ErrorKind::Other);
        let err = block_on(reader.read_exact(&mut buf)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Other);
    }
}
