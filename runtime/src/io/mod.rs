//! Asynchronous IO: the traits every byte stream in spindle implements, and
//! the helpers built on top of them.
//!
//! # The traits
//!
//! [`AsyncRead`], [`AsyncWrite`] and [`AsyncBufRead`] are the async
//! counterparts of [`std::io::Read`], [`std::io::Write`] and
//! [`std::io::BufRead`]. Sockets, in-memory buffers and wrappers such as
//! [`BufReader`] all implement them, so code written against the traits works
//! with any of them.
//!
//! The difference from std is that these methods never block the thread.
//! Instead of `read(&mut self, buf)` there is
//! `poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf)`, which returns
//! one of:
//!
//! * `Poll::Ready(Ok(n))`: `n` bytes were placed in `buf[..n]`. With a
//!   non-empty `buf`, `n == 0` means end of stream.
//! * `Poll::Ready(Err(e))`: the operation failed.
//! * `Poll::Pending`: nothing can be done right now. *Before* returning
//!   `Pending`, the implementation must arrange for the waker in the context
//!   (`cx.waker()`) to be woken once a new call might make progress. A socket
//!   does that by registering the waker with the reactor, which wakes it when
//!   epoll reports the file descriptor ready.
//!
//! The caller, usually a future, then returns `Pending` to its executor. The
//! executor sets the task aside until the waker is woken, then polls it again,
//! and the future calls `poll_read` again. Returning `Pending` without
//! arranging a wake-up is a bug: nothing will ever poll the task again and it
//! hangs.
//!
//! The `Pin<&mut Self>` receiver lets types that are not [`Unpin`] (for
//! example, ones that contain a future) implement the traits. For ordinary
//! `Unpin` types, `Pin::new(&mut value)` creates the pinned reference and
//! `self.get_mut()` turns it back into `&mut Self`.
//!
//! Here is a minimal reader that hands out bytes that some other part of the
//! program pushes into it:
//!
//! ```
//! use std::collections::VecDeque;
//! use std::io;
//! use std::pin::Pin;
//! use std::task::{Context, Poll, Waker};
//!
//! use spindle_runtime::io::AsyncRead;
//!
//! #[derive(Default)]
//! struct Inbox {
//!     data: VecDeque<u8>,
//!     closed: bool,
//!     waiting_reader: Option<Waker>,
//! }
//!
//! impl Inbox {
//!     fn push(&mut self, bytes: &[u8]) {
//!         self.data.extend(bytes);
//!         // New data: wake the task that got `Pending`, so it polls again.
//!         if let Some(waker) = self.waiting_reader.take() {
//!             waker.wake();
//!         }
//!     }
//! }
//!
//! impl AsyncRead for Inbox {
//!     fn poll_read(
//!         self: Pin<&mut Self>,
//!         cx: &mut Context<'_>,
//!         buf: &mut [u8],
//!     ) -> Poll<io::Result<usize>> {
//!         let this = self.get_mut(); // fine: `Inbox` is `Unpin`
//!         if this.data.is_empty() && !this.closed {
//!             // Arrange the wake-up first, then report `Pending`.
//!             this.waiting_reader = Some(cx.waker().clone());
//!             return Poll::Pending;
//!         }
//!         let n = buf.len().min(this.data.len());
//!         for (dst, src) in buf.iter_mut().zip(this.data.drain(..n)) {
//!             *dst = src;
//!         }
//!         Poll::Ready(Ok(n)) // 0 once closed and drained: end of stream
//!     }
//! }
//! ```
//!
//! # The extension traits
//!
//! Calling `poll_*` methods by hand is the job of futures; application code
//! wants `.await`. [`AsyncReadExt`], [`AsyncWriteExt`] and [`AsyncBufReadExt`]
//! are implemented for every type that implements the matching base trait and
//! provide methods such as [`read_exact`](AsyncReadExt::read_exact),
//! [`write_all`](AsyncWriteExt::write_all) and
//! [`read_line`](AsyncBufReadExt::read_line). Each returns a small named
//! future (such as [`ReadExact`]) that keeps its progress in its fields and
//! calls the `poll_*` method in a loop until it finishes or gets `Pending`, so
//! the next poll resumes where the last one stopped. These methods require
//! `Self: Unpin`; put a `!Unpin` stream in a `Box::pin` first.
//!
//! ```
//! use std::io;
//!
//! use spindle_runtime::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
//!
//! /// Writes every line of `reader` back to `writer`, upper-cased.
//! async fn shout<R, W>(reader: R, writer: &mut W) -> io::Result<()>
//! where
//!     R: AsyncRead + Unpin,
//!     W: AsyncWrite + Unpin,
//! {
//!     let mut lines = BufReader::new(reader).lines();
//!     while let Some(line) = lines.next_line().await? {
//!         writer.write_all(line.to_uppercase().as_bytes()).await?;
//!         writer.write_all(b"\n").await?;
//!     }
//!     writer.flush().await
//! }
//! ```
//!
//! # Buffering and copying
//!
//! [`BufReader`] adds a buffer to a reader (so it implements
//! [`AsyncBufRead`] and small reads become cheap), [`BufWriter`] does the same
//! for writes, and [`copy`] moves everything from a reader to a writer
//! ([`copy_buf`] straight out of a buffered reader's own buffer,
//! [`copy_bidirectional`] both ways between two streams, as a proxy does).
//!
//! # Streams without a kernel
//!
//! [`duplex`] makes two connected in-memory streams (a socket pair for
//! tests), [`empty`], [`sink`] and [`repeat`] are the async twins of their
//! `std::io` namesakes, and [`split`] divides any reader-writer into halves
//! that separate tasks can own.
//!
//! # Binary data
//!
//! [`AsyncReadExt::read_u32`] and its siblings read numbers in network byte
//! order (big-endian), the `_le` twins in little-endian order, and
//! [`AsyncWriteExt`] has a `write_*` for each. [`AsyncBufReadExt::split`]
//! cuts a stream at a delimiter byte.
//!
//! # Readiness: `Interest`, `Ready` and `AsyncFd`
//!
//! Underneath every socket, the runtime waits for *readiness*: the reactor
//! reports that a descriptor became readable or writable, and the operation
//! is then tried without blocking. Sockets expose that through
//! `ready(`[`Interest`]`)`, which answers with a [`Ready`]; [`AsyncFd`]
//! does the same for any descriptor spindle has no type for (a pipe, a tty,
//! an eventfd, an inotify descriptor) and its module docs explain the rules
//! of readiness.

#![forbid(unsafe_code)]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

mod async_fd;
mod async_fd_guard;
mod buf_read_ext;
mod buf_reader;
mod buf_writer;
mod copy;
mod copy_bidirectional;
mod copy_buf;
mod duplex;
mod empty_sink_repeat;
mod impls;
mod interest;
mod lines;
mod mem_impls;
mod number;
mod read_ext;
mod read_to_end;
mod ready;
mod seek;
mod segments;
mod split;
mod stdio;
mod write_ext;

#[cfg(test)]
mod test_util;

/// tokio's path for the descriptor types, `io::unix::AsyncFd`, so that code
/// ported from tokio compiles unchanged; the same items as in [`io`](self).
pub mod unix {
    pub use super::async_fd::{AsyncFd, AsyncFdTryNewError};
    pub use super::async_fd_guard::{AsyncFdReadyGuard, AsyncFdReadyMutGuard, TryIoError};
}

pub use async_fd::{AsyncFd, AsyncFdTryNewError};
pub use async_fd_guard::{AsyncFdReadyGuard, AsyncFdReadyMutGuard, TryIoError};
pub use buf_read_ext::{AsyncBufReadExt, ReadLine, ReadUntil};
pub use buf_reader::BufReader;
pub use buf_writer::BufWriter;
pub use copy::{copy, Copy};
pub use copy_bidirectional::{
    copy_bidirectional, copy_bidirectional_with_sizes, CopyBidirectional,
};
pub use copy_buf::{copy_buf, CopyBuf};
pub use duplex::{duplex, DuplexStream};
pub use empty_sink_repeat::{empty, repeat, sink, Empty, Repeat, Sink};
pub use interest::Interest;
pub use lines::Lines;
pub use number::{ReadNumber, WriteNumber};
pub use read_ext::{AsyncReadExt, Read, ReadExact};
pub use read_to_end::{ReadToEnd, ReadToString};
pub use ready::Ready;
pub use seek::{AsyncSeek, AsyncSeekExt, Rewind, Seek};
pub use segments::Split;
pub use split::{split, ReadHalf, WriteHalf};
pub use stdio::{stderr, stdin, stdout, Stderr, Stdin, Stdout};
pub use write_ext::{AsyncWriteExt, Flush, Shutdown, Write, WriteAll};

/// Size of the buffers used by [`BufReader`], [`BufWriter`] and [`copy`]
/// unless told otherwise: 8 KiB, like std.
pub(crate) const DEFAULT_BUF_SIZE: usize = 8 * 1024;

/// Reads bytes from a source, asynchronously.
///
/// The async version of [`std::io::Read`]. See the [module docs](self) for how
/// `poll_read` works; use [`AsyncReadExt`] for `.await`-able methods.
pub trait AsyncRead {
    /// Attempts to read bytes into `buf`.
    ///
    /// On success returns `Poll::Ready(Ok(n))` with the bytes in `buf[..n]`,
    /// where `n <= buf.len()`. `Ok(0)` with a non-empty `buf` means the end
    /// of the stream.
    ///
    /// If no data is available yet, returns `Poll::Pending` and arranges for
    /// `cx.waker()` to be woken when the read might succeed. Only the waker
    /// from the most recent call needs to be woken.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>>;
}

/// Writes bytes to a sink, asynchronously.
///
/// The async version of [`std::io::Write`], plus [`poll_shutdown`] to close
/// the write side. See the [module docs](self) for how `poll_*` methods work;
/// use [`AsyncWriteExt`] for `.await`-able methods.
///
/// [`poll_shutdown`]: AsyncWrite::poll_shutdown
pub trait AsyncWrite {
    /// Attempts to write bytes from `buf`.
    ///
    /// On success returns `Poll::Ready(Ok(n))`: the first `n` bytes of `buf`
    /// were accepted, `n <= buf.len()`. `Ok(0)` with a non-empty `buf`
    /// usually means the sink can no longer accept data.
    ///
    /// If the sink is not ready, returns `Poll::Pending` and arranges for
    /// `cx.waker()` to be woken when it might be.
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>>;

    /// Like [`poll_write`](AsyncWrite::poll_write), but takes the data from a
    /// list of buffers, in order.
    ///
    /// The default implementation writes the first non-empty buffer with
    /// `poll_write`. Types that can write several buffers at once (with
    /// `writev`, say) override it and return `true` from
    /// [`is_write_vectored`](AsyncWrite::is_write_vectored).
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let buf = bufs
            .iter()
            .find(|buf| !buf.is_empty())
            .map_or(&[][..], |buf| &**buf);
        self.poll_write(cx, buf)
    }

    /// Whether this writer has an efficient
    /// [`poll_write_vectored`](AsyncWrite::poll_write_vectored). Defaults to
    /// `false`.
    fn is_write_vectored(&self) -> bool {
        false
    }

    /// Attempts to flush: makes sure all data written so far has reached its
    /// destination (for example, leaves a user-space buffer).
    ///
    /// Returns `Poll::Pending` (arranging a wake-up) if that cannot be
    /// finished yet.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Attempts to shut down the write side: flushes, then tells the other end
    /// that no more data will come (for TCP, sends a FIN).
    ///
    /// Returns `Poll::Pending` (arranging a wake-up) if that cannot be
    /// finished yet. Writing after a successful shutdown is an error or a
    /// no-op, depending on the type.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// A reader with an internal buffer, which lets callers look at the buffered
/// bytes before deciding how many to take.
///
/// The async version of [`std::io::BufRead`]. Use [`AsyncBufReadExt`] for
/// `.await`-able methods such as [`read_line`](AsyncBufReadExt::read_line),
/// and [`BufReader`] to add a buffer to any [`AsyncRead`].
pub trait AsyncBufRead: AsyncRead {
    /// Attempts to return the contents of the internal buffer, filling it from
    /// the underlying reader first if it is empty.
    ///
    /// An empty slice means the end of the stream. The bytes stay in the
    /// buffer until [`consume`](AsyncBufRead::consume) is called. If the
    /// buffer is empty and no data is available, returns `Poll::Pending` and
    /// arranges for `cx.waker()` to be woken.
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>>;

    /// Marks `amt` bytes of the buffer returned by
    /// [`poll_fill_buf`](AsyncBufRead::poll_fill_buf) as read, so they are
    /// not returned again. `amt` must not exceed the length of that buffer.
    fn consume(self: Pin<&mut Self>, amt: usize);
}
