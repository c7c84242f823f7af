//! [`Compat`] and futures-io's traits, both ways: a spindle stream inside
//! implements `futures_io::{AsyncRead, AsyncWrite, AsyncBufRead}`, and a
//! futures-io stream inside implements spindle's traits.
//!
//! The two families have the same shape (a `poll_read` that fills an
//! initialized `&mut [u8]` and returns a count), so every method forwards
//! as is. The one rename: futures-io closes the write side with
//! `poll_close`, spindle (like tokio) with `poll_shutdown`.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::Compat;
use crate::io as spindle_io;

// ---- a spindle stream, seen as a futures-io stream ----

impl<T: spindle_io::AsyncRead> futures_io::AsyncRead for Compat<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        spindle_io::AsyncRead::poll_read(self.get_pin_mut(), cx, buf)
    }
}

impl<T: spindle_io::AsyncWrite> futures_io::AsyncWrite for Compat<T> {
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

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        spindle_io::AsyncWrite::poll_flush(self.get_pin_mut(), cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        spindle_io::AsyncWrite::poll_shutdown(self.get_pin_mut(), cx)
    }
}

impl<T: spindle_io::AsyncBufRead> futures_io::AsyncBufRead for Compat<T> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        spindle_io::AsyncBufRead::poll_fill_buf(self.get_pin_mut(), cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        spindle_io::AsyncBufRead::consume(self.get_pin_mut(), amt)
    }
}

// ---- a futures-io stream, seen as a spindle stream ----

impl<T: futures_io::AsyncRead> spindle_io::AsyncRead for Compat<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        futures_io::AsyncRead::poll_read(self.get_pin_mut(), cx, buf)
    }
}

impl<T: futures_io::AsyncWrite> spindle_io::AsyncWrite for Compat<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures_io::AsyncWrite::poll_write(self.get_pin_mut(), cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        futures_io::AsyncWrite::poll_write_vectored(self.get_pin_mut(), cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_flush(self.get_pin_mut(), cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_close(self.get_pin_mut(), cx)
    }
}

impl<T: futures_io::AsyncBufRead> spindle_io::AsyncBufRead for Compat<T> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        futures_io::AsyncBufRead::poll_fill_buf(self.get_pin_mut(), cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        futures_io::AsyncBufRead::consume(self.get_pin_mut(), amt)
    }
}
