//! [`AsyncWriteExt`]: `.await`-able writing methods, and the futures they
//! return.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::number::write_number_methods;
use super::AsyncWrite;

/// `.await`-able writing methods for every [`AsyncWrite`].
///
/// Implemented for all writers; bring it into scope with
/// `use spindle_runtime::io::AsyncWriteExt;`. The methods need `Self: Unpin`;
/// pin a `!Unpin` writer first (`Box::pin(writer)`).
pub trait AsyncWriteExt: AsyncWrite {
    /// Writes some bytes from `buf`, returning how many were accepted (maybe
    /// fewer than `buf.len()`).
    ///
    /// Like [`std::io::Write::write`]. Cancel safe: if the future is dropped
    /// before it completes, nothing was written.
    fn write<'a>(&'a mut self, buf: &'a [u8]) -> Write<'a, Self>
    where
        Self: Unpin,
    {
        Write { writer: self, buf }
    }

    /// Writes all of `buf`, calling `poll_write` as often as needed.
    ///
    /// Fails with [`io::ErrorKind::WriteZero`] if the writer accepts zero
    /// bytes. `Interrupted` errors are retried. Not cancel safe: if the future
    /// is dropped early, an unknown prefix of `buf` has been written.
    fn write_all<'a>(&'a mut self, buf: &'a [u8]) -> WriteAll<'a, Self>
    where
        Self: Unpin,
    {
        WriteAll { writer: self, buf }
    }

    /// Flushes the writer: waits until buffered data has reached its
    /// destination.
    fn flush(&mut self) -> Flush<'_, Self>
    where
        Self: Unpin,
    {
        Flush { writer: self }
    }

    /// Shuts down the write side of the writer, flushing it first (see
    /// [`AsyncWrite::poll_shutdown`]).
    fn shutdown(&mut self) -> Shutdown<'_, Self>
    where
        Self: Unpin,
    {
        Shutdown { writer: self }
    }

    write_number_methods! {
        write_u8: u8, to_be_bytes, "one-byte";
        write_i8: i8, to_be_bytes, "one-byte";
        write_u16: u16, to_be_bytes, "big-endian";
        write_i16: i16, to_be_bytes, "big-endian";
        write_u32: u32, to_be_bytes, "big-endian";
        write_i32: i32, to_be_bytes, "big-endian";
        write_u64: u64, to_be_bytes, "big-endian";
        write_i64: i64, to_be_bytes, "big-endian";
        write_u128: u128, to_be_bytes, "big-endian";
        write_i128: i128, to_be_bytes, "big-endian";
        write_f32: f32, to_be_bytes, "big-endian";
        write_f64: f64, to_be_bytes, "big-endian";
        write_u16_le: u16, to_le_bytes, "little-endian";
        write_i16_le: i16, to_le_bytes, "little-endian";
        write_u32_le: u32, to_le_bytes, "little-endian";
        write_i32_le: i32, to_le_bytes, "little-endian";
        write_u64_le: u64, to_le_bytes, "little-endian";
        write_i64_le: i64, to_le_bytes, "little-endian";
        write_u128_le: u128, to_le_bytes, "little-endian";
        write_i128_le: i128, to_le_bytes, "little-endian";
        write_f32_le: f32, to_le_bytes, "little-endian";
        write_f64_le: f64, to_le_bytes, "little-endian";
    }
}

impl<W: AsyncWrite + ?Sized> AsyncWriteExt for W {}

/// Future returned by [`AsyncWriteExt::write`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Write<'a, W: ?Sized> {
    writer: &'a mut W,
    buf: &'a [u8],
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for Write<'_, W> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        Pin::new(&mut *this.writer).poll_write(cx, this.buf)
    }
}

/// Future returned by [`AsyncWriteExt::write_all`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct WriteAll<'a, W: ?Sized> {
    writer: &'a mut W,
    /// What is still to be written; shrinks from the front, survives
    /// `Pending`.
    buf: &'a [u8],
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for WriteAll<'_, W> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        while !this.buf.is_empty() {
            match ready!(Pin::new(&mut *this.writer).poll_write(cx, this.buf)) {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "failed to write whole buffer",
                    )))
                }
                Ok(n) => {
                    let rest = this.buf;
                    this.buf = &rest[n.min(rest.len())..];
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// Future returned by [`AsyncWriteExt::flush`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Flush<'a, W: ?Sized> {
    writer: &'a mut W,
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for Flush<'_, W> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut *self.get_mut().writer).poll_flush(cx)
    }
}

/// Future returned by [`AsyncWriteExt::shutdown`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Shutdown<'a, W: ?Sized> {
    writer: &'a mut W,
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for Shutdown<'_, W> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut *self.get_mut().writer).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_util::{block_on, ChunkedWriter};

    #[test]
    fn write_accepts_one_chunk() {
        let mut writer = ChunkedWriter::new(3);
        assert_eq!(block_on(writer.write(b"abcdef")).unwrap(), 3);
        assert_eq!(writer.data, b"abc");
        assert_eq!(writer.pendings, 1);
    }

    #[test]
    fn write_all_resumes_across_pending() {
        let data: Vec<u8> = (0..200).collect();
        let mut writer = ChunkedWriter::new(7);
        block_on(writer.write_all(&data)).unwrap();
        assert_eq!(writer.data, data);
        assert!(writer.pendings >= 29);
        assert!(writer.writes.iter().all(|&n| n <= 7));
    }

    #[test]
    fn write_all_fails_with_write_zero() {
        let mut writer = ChunkedWriter::new(4);
        writer.limit = Some(6);
        let err = block_on(writer.write_all(b"0123456789")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);
        assert_eq!(writer.data, b"012345");
    }

    #[test]
    fn write_all_of_nothing_does_not_poll() {
        let mut writer = ChunkedWriter::new(4);
        block_on(writer.write_all(b"")).unwrap();
        assert_eq!(writer.pendings, 0);
    }

    #[test]
    fn flush_and_shutdown_complete_after_pending() {
        let mut writer = ChunkedWriter::new(4);
        block_on(writer.flush()).unwrap();
        assert_eq!(writer.flushes, 1);
        block_on(writer.shutdown()).unwrap();
        assert!(writer.shut_down);
        assert_eq!(writer.pendings, 2);
    }
}
