//! Forwarding impls of the IO traits for pointers: `&mut T` and `Box<T>`
//! (to an `Unpin` stream) and `Pin<P>` (to any stream). The in-memory impls
//! for std types are in `mem_impls.rs`.

use std::io::{self, IoSlice};
use std::ops::DerefMut;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{AsyncBufRead, AsyncRead, AsyncWrite};

/// Body of an `AsyncRead` impl for a pointer to an `Unpin` reader.
macro_rules! deref_async_read {
    () => {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut **self).poll_read(cx, buf)
        }
    };
}

/// Body of an `AsyncWrite` impl for a pointer to an `Unpin` writer.
macro_rules! deref_async_write {
    () => {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut **self).poll_write(cx, buf)
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut **self).poll_write_vectored(cx, bufs)
        }

        fn is_write_vectored(&self) -> bool {
            (**self).is_write_vectored()
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut **self).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut **self).poll_shutdown(cx)
        }
    };
}

/// Body of an `AsyncBufRead` impl for a pointer to an `Unpin` reader.
macro_rules! deref_async_buf_read {
    () => {
        fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
            Pin::new(&mut **self.get_mut()).poll_fill_buf(cx)
        }

        fn consume(mut self: Pin<&mut Self>, amt: usize) {
            Pin::new(&mut **self).consume(amt);
        }
    };
}

impl<T: ?Sized + AsyncRead + Unpin> AsyncRead for &mut T {
    deref_async_read!();
}

impl<T: ?Sized + AsyncRead + Unpin> AsyncRead for Box<T> {
    deref_async_read!();
}

impl<T: ?Sized + AsyncWrite + Unpin> AsyncWrite for &mut T {
    deref_async_write!();
}

impl<T: ?Sized + AsyncWrite + Unpin> AsyncWrite for Box<T> {
    deref_async_write!();
}

impl<T: ?Sized + AsyncBufRead + Unpin> AsyncBufRead for &mut T {
    deref_async_buf_read!();
}

impl<T: ?Sized + AsyncBufRead + Unpin> AsyncBufRead for Box<T> {
    deref_async_buf_read!();
}

// `Pin<P>` (e.g. `Pin<Box<T>>`) forwards to the pinned value, which need not
// be `Unpin`: this is how a `!Unpin` stream is made usable with the `*Ext`
// traits.

impl<P> AsyncRead for Pin<P>
where
    P: DerefMut + Unpin,
    P::Target: AsyncRead,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().as_mut().poll_read(cx, buf)
    }
}

impl<P> AsyncWrite for Pin<P>
where
    P: DerefMut + Unpin,
    P::Target: AsyncWrite,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().as_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().as_mut().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        (**self).is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().as_mut().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().as_mut().poll_shutdown(cx)
    }
}

impl<P> AsyncBufRead for Pin<P>
where
    P: DerefMut + Unpin,
    P::Target: AsyncBufRead,
{
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().as_mut().poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().as_mut().consume(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_util::{block_on, ChunkedReader};
    use crate::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

    #[test]
    fn default_vectored_write_uses_first_non_empty_buffer() {
        struct OneAtATime(Vec<u8>);
        impl AsyncWrite for OneAtATime {
            fn poll_write(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().0.extend_from_slice(buf);
                Poll::Ready(Ok(buf.len()))
            }
            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
        }
        let mut w = OneAtATime(Vec::new());
        assert!(!w.is_write_vectored());
        let bufs = [IoSlice::new(&[]), IoSlice::new(b"ab"), IoSlice::new(b"cd")];
        let n = block_on(std::future::poll_fn(|cx| {
            Pin::new(&mut w).poll_write_vectored(cx, &bufs)
        }))
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(w.0, b"ab");
        let n = block_on(std::future::poll_fn(|cx| {
            Pin::new(&mut w).poll_write_vectored(cx, &[])
        }))
        .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn pointers_forward() {
        // Box<dyn AsyncRead + Unpin>
        let mut boxed: Box<dyn AsyncRead + Unpin> = Box::new(ChunkedReader::new(b"boxed", 2));
        let mut out = Vec::new();
        block_on(boxed.read_to_end(&mut out)).unwrap();
        assert_eq!(out, b"boxed");

        // &mut T: `R` is `&mut ChunkedReader` here.
        fn read_all<R: AsyncRead + Unpin>(mut reader: R) -> Vec<u8> {
            let mut out = Vec::new();
            block_on(reader.read_to_end(&mut out)).unwrap();
            out
        }
        let mut reader = ChunkedReader::new(b"by ref", 4);
        assert_eq!(read_all(&mut reader), b"by ref");
        assert!(reader.pendings > 0);

        // Pin<Box<T>> and Box<dyn AsyncWrite>
        let mut pinned = Box::pin(ChunkedReader::new(b"pinned", 1));
        let mut writer: Box<dyn AsyncWrite + Unpin> = Box::new(Vec::new());
        assert_eq!(
            block_on(crate::io::copy(&mut pinned, &mut writer)).unwrap(),
            6
        );
        block_on(writer.shutdown()).unwrap();
    }

    #[test]
    fn buf_read_forwards_through_pointers() {
        let mut src: &[u8] = b"one\ntwo\n";
        let mut boxed: Box<dyn AsyncBufRead + Unpin + '_> = Box::new(&mut src);
        let mut line = String::new();
        block_on(boxed.read_line(&mut line)).unwrap();
        let mut pinned = Pin::new(&mut boxed);
        block_on(pinned.read_line(&mut line)).unwrap();
        assert_eq!(line, "one\ntwo\n");
    }
}
