//! The IO traits for in-memory std types: byte slices, `Vec<u8>` and
//! [`std::io::Cursor`]. They behave like their `std::io` impls and never
//! return `Pending`.

use std::io::{self, Cursor, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{AsyncBufRead, AsyncRead, AsyncWrite};

/// Reading from a byte slice takes bytes off its front, like
/// `std::io::Read for &[u8]`.
impl AsyncRead for &[u8] {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(io::Read::read(self.get_mut(), buf))
    }
}

/// A byte slice is its own buffer.
impl AsyncBufRead for &[u8] {
    fn poll_fill_buf(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        Poll::Ready(Ok(*self.get_mut()))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        io::BufRead::consume(self.get_mut(), amt);
    }
}

/// Writing to a `Vec<u8>` appends to it; it never fails or waits.
impl AsyncWrite for Vec<u8> {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(io::Write::write_vectored(self.get_mut(), bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Reads from the cursor's position, like `std::io::Read for Cursor<T>`.
impl<T: AsRef<[u8]> + Unpin> AsyncRead for Cursor<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(io::Read::read(self.get_mut(), buf))
    }
}

/// The buffer is the rest of the cursor's data.
impl<T: AsRef<[u8]> + Unpin> AsyncBufRead for Cursor<T> {
    fn poll_fill_buf(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        Poll::Ready(io::BufRead::fill_buf(self.get_mut()))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        io::BufRead::consume(self.get_mut(), amt);
    }
}

/// `AsyncWrite` for the cursors that implement `std::io::Write`, with the same
/// behaviour: fixed-size buffers report a short write (or `Ok(0)`) when full,
/// vectors grow.
macro_rules! cursor_async_write {
    ($($ty:ty),* $(,)?) => {$(
        impl AsyncWrite for Cursor<$ty> {
            fn poll_write(
                self: Pin<&mut Self>,
                _cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                Poll::Ready(io::Write::write(self.get_mut(), buf))
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                _cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                Poll::Ready(io::Write::write_vectored(self.get_mut(), bufs))
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(io::Write::flush(self.get_mut()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.poll_flush(cx)
            }
        }
    )*};
}

cursor_async_write!(&mut [u8], &mut Vec<u8>, Vec<u8>, Box<[u8]>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_util::block_on;
    use crate::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

    #[test]
    fn slice_reads_from_the_front() {
        let mut src: &[u8] = b"hello";
        let mut buf = [0; 3];
        assert_eq!(block_on(src.read(&mut buf)).unwrap(), 3);
        assert_eq!(&buf, b"hel");
        assert_eq!(src, b"lo");
        assert_eq!(block_on(src.read(&mut buf)).unwrap(), 2);
        assert_eq!(block_on(src.read(&mut buf)).unwrap(), 0);
    }

    #[test]
    fn slice_is_buf_read() {
        let mut src: &[u8] = b"a\nb";
        let mut line = String::new();
        assert_eq!(block_on(src.read_line(&mut line)).unwrap(), 2);
        assert_eq!(line, "a\n");
        assert_eq!(src, b"b");
    }

    #[test]
    fn vec_appends() {
        let mut out = vec![1u8];
        block_on(out.write_all(&[2, 3])).unwrap();
        let bufs = [IoSlice::new(&[4]), IoSlice::new(&[]), IoSlice::new(&[5, 6])];
        let n = block_on(std::future::poll_fn(|cx| {
            Pin::new(&mut out).poll_write_vectored(cx, &bufs)
        }))
        .unwrap();
        assert_eq!(n, 3);
        assert_eq!(out, [1, 2, 3, 4, 5, 6]);
        assert!(out.is_write_vectored());
    }

    #[test]
    fn cursor_reads_and_writes() {
        let mut cursor = Cursor::new(b"abc".to_vec());
        let mut s = String::new();
        block_on(cursor.read_to_string(&mut s)).unwrap();
        assert_eq!(s, "abc");

        let mut cursor = Cursor::new(Vec::new());
        block_on(cursor.write_all(b"xyz")).unwrap();
        assert_eq!(cursor.get_ref(), b"xyz");

        // A fixed-size cursor fills up and then refuses more.
        let mut storage = [0u8; 2];
        let mut cursor = Cursor::new(&mut storage[..]);
        let err = block_on(cursor.write_all(b"xyz")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);
        assert_eq!(storage, *b"xy");
    }
}
