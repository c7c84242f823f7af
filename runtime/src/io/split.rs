//! [`split`]: one stream that both reads and writes, as a [`ReadHalf`] and
//! a [`WriteHalf`] that separate tasks can own.
//!
//! The stream goes in a `Box` (pinned there, so `!Unpin` streams work too)
//! behind an `Arc<Mutex<..>>` that both halves share. Each `poll_*` call
//! takes the lock for the length of one poll: the halves never hold it
//! across an `.await`, so neither waits on the other for longer than one
//! non-blocking call. The waker each half passes in is stored by the
//! stream itself, per direction, exactly as if one task used the stream.
//!
//! Sockets have a cheaper split of their own (`TcpStream::split` and
//! `into_split`) that needs no lock; this one works for any
//! `AsyncRead + AsyncWrite`: a TLS stream, a [`DuplexStream`](super::DuplexStream),
//! a test double.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use super::{AsyncRead, AsyncWrite};

/// The reading half of a stream divided by [`split`].
pub struct ReadHalf<T> {
    inner: Arc<Mutex<Pin<Box<T>>>>,
}

/// The writing half of a stream divided by [`split`].
pub struct WriteHalf<T> {
    inner: Arc<Mutex<Pin<Box<T>>>>,
}

/// Divides `stream` into a [`ReadHalf`] and a [`WriteHalf`], which can be
/// moved to different tasks. Put them back together with
/// [`ReadHalf::unsplit`].
///
/// ```
/// use spindle_runtime::io::{duplex, split, AsyncReadExt, AsyncWriteExt};
///
/// spindle_runtime::block_on(async {
///     let (stream, mut peer) = duplex(64);
///     let (mut reader, mut writer) = split(stream);
///     writer.write_all(b"out").await.unwrap();
///     peer.write_all(b"in").await.unwrap();
///     let mut buf = [0; 3];
///     peer.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"out");
///     let mut buf = [0; 2];
///     reader.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"in");
/// });
/// ```
pub fn split<T: AsyncRead + AsyncWrite>(stream: T) -> (ReadHalf<T>, WriteHalf<T>) {
    let inner = Arc::new(Mutex::new(Box::pin(stream)));
    (
        ReadHalf {
            inner: inner.clone(),
        },
        WriteHalf { inner },
    )
}

fn lock<T>(inner: &Mutex<Pin<Box<T>>>) -> MutexGuard<'_, Pin<Box<T>>> {
    // A panic inside a poll of the stream leaves it as the stream's own
    // code left it; the other half may still use it, as with a socket.
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T> ReadHalf<T> {
    /// Whether `other` is the write half of the same stream.
    pub fn is_pair_of(&self, other: &WriteHalf<T>) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Joins the two halves back into the stream.
    ///
    /// # Panics
    /// If `write` is not this half's pair (see
    /// [`is_pair_of`](Self::is_pair_of)).
    pub fn unsplit(self, write: WriteHalf<T>) -> T
    where
        T: Unpin,
    {
        assert!(
            self.is_pair_of(&write),
            "ReadHalf::unsplit: the WriteHalf belongs to another stream"
        );
        drop(write);
        let mutex = Arc::try_unwrap(self.inner)
            .unwrap_or_else(|_| unreachable!("both halves are here, so no other owner exists"));
        let pinned = mutex.into_inner().unwrap_or_else(|e| e.into_inner());
        *Pin::into_inner(pinned)
    }
}

impl<T> WriteHalf<T> {
    /// Whether `other` is the read half of the same stream.
    pub fn is_pair_of(&self, other: &ReadHalf<T>) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl<T: AsyncRead> AsyncRead for ReadHalf<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        lock(&self.inner).as_mut().poll_read(cx, buf)
    }
}

impl<T: AsyncWrite> AsyncWrite for WriteHalf<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        lock(&self.inner).as_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        lock(&self.inner).as_mut().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        lock(&self.inner).is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        lock(&self.inner).as_mut().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        lock(&self.inner).as_mut().poll_shutdown(cx)
    }
}

impl<T> fmt::Debug for ReadHalf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("ReadHalf { .. }")
    }
}

impl<T> fmt::Debug for WriteHalf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("WriteHalf { .. }")
    }
}
