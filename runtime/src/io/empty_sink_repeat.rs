//! Three trivial streams: [`empty`] (reads nothing, accepts anything),
//! [`sink`] (accepts and discards anything) and [`repeat`] (reads one byte
//! forever), the async twins of `std::io::{empty, sink, repeat}`.
//!
//! They never wait, so a loop over one would never give its thread back:
//! each operation takes a unit of the task's cooperative budget
//! (`spindle_sync::coop`) and, once the budget is spent, returns `Pending`
//! after waking the task, which lets the others run first.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use crate::coop;

use super::{AsyncBufRead, AsyncRead, AsyncWrite};

/// A reader that is always at end of stream, and a writer that accepts and
/// discards everything. Created by [`empty`].
#[derive(Clone, Copy, Default)]
pub struct Empty {
    _private: (),
}

/// Creates an [`Empty`]: reads return `Ok(0)` at once, writes succeed with
/// the whole buffer.
///
/// ```
/// use spindle_runtime::io::{empty, AsyncReadExt};
///
/// spindle_runtime::block_on(async {
///     let mut buf = Vec::new();
///     assert_eq!(empty().read_to_end(&mut buf).await.unwrap(), 0);
/// });
/// ```
pub fn empty() -> Empty {
    Empty { _private: () }
}

impl AsyncRead for Empty {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        _buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        ready!(coop::poll_proceed(cx));
        Poll::Ready(Ok(0))
    }
}

impl AsyncBufRead for Empty {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        ready!(coop::poll_proceed(cx));
        Poll::Ready(Ok(&[]))
    }

    fn consume(self: Pin<&mut Self>, _amt: usize) {}
}

impl AsyncWrite for Empty {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(coop::poll_proceed(cx));
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(coop::poll_proceed(cx));
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(coop::poll_proceed(cx));
        Poll::Ready(Ok(()))
    }
}

impl fmt::Debug for Empty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Empty { .. }")
    }
}

/// A writer that accepts and discards everything. Created by [`sink`].
#[derive(Clone, Copy, Default)]
pub struct Sink {
    _private: (),
}

/// Creates a [`Sink`]: every write succeeds with the whole buffer, and the
/// bytes go nowhere.
///
/// ```
/// use spindle_runtime::io::{copy, sink};
///
/// spindle_runtime::block_on(async {
///     let mut data: &[u8] = b"discarded";
///     assert_eq!(copy(&mut data, &mut sink()).await.unwrap(), 9);
/// });
/// ```
pub fn sink() -> Sink {
    Sink { _private: () }
}

impl AsyncWrite for Sink {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(coop::poll_proceed(cx));
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(coop::poll_proceed(cx));
        Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(coop::poll_proceed(cx));
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(coop::poll_proceed(cx));
        Poll::Ready(Ok(()))
    }
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Sink { .. }")
    }
}

/// A reader that yields one byte over and over. Created by [`repeat`].
#[derive(Clone, Copy, Debug)]
pub struct Repeat {
    byte: u8,
}

/// Creates a [`Repeat`]: every read fills the whole buffer with `byte`,
/// forever. Bound it with [`AsyncReadExt::read_exact`](super::AsyncReadExt::read_exact)
/// or a limit of your own.
///
/// ```
/// use spindle_runtime::io::{repeat, AsyncReadExt};
///
/// spindle_runtime::block_on(async {
///     let mut buf = [0; 3];
///     repeat(b'z').read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"zzz");
/// });
/// ```
pub fn repeat(byte: u8) -> Repeat {
    Repeat { byte }
}

impl AsyncRead for Repeat {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        ready!(coop::poll_proceed(cx));
        buf.fill(self.byte);
        Poll::Ready(Ok(buf.len()))
    }
}
