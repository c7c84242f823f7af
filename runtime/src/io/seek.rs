//! [`AsyncSeek`]: moving the position of a stream, asynchronously, and
//! [`AsyncSeekExt`], its `.await`-able methods.
//!
//! A seek is two steps, as in tokio, because a type such as
//! [`fs::File`](crate::fs::File) cannot move its position on the calling
//! thread: [`start_seek`](AsyncSeek::start_seek) submits the move (for a
//! file, starts a blocking-pool job) and fails if another operation is
//! still in flight; [`poll_complete`](AsyncSeek::poll_complete) waits for
//! it and returns the new position. Called with no seek started,
//! `poll_complete` waits for whatever is in flight (a file's buffered
//! write, say) and returns the current position.
//!
//! So the [`Seek`] future that [`AsyncSeekExt::seek`] returns polls
//! `poll_complete` first (settling earlier work and its errors), then
//! `start_seek`, then `poll_complete` again for the answer.

use std::future::Future;
use std::io::{self, Cursor, SeekFrom};
use std::ops::DerefMut;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Seeks: moves the position of a stream, asynchronously. The async
/// version of [`std::io::Seek`]; use [`AsyncSeekExt`] for `.await`-able
/// methods.
pub trait AsyncSeek {
    /// Starts moving the position to `position`.
    ///
    /// Returns at once: `Ok` means the seek was submitted; its outcome comes
    /// from [`poll_complete`](Self::poll_complete). Fails if an operation
    /// is still in flight: call `poll_complete` until it is ready first.
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()>;

    /// Waits for the seek started by [`start_seek`](Self::start_seek) and
    /// returns the new position, counted from the start of the stream.
    ///
    /// With no seek in flight, waits for any other operation in flight and
    /// returns the current position. `Pending` arranges for `cx.waker()` to
    /// be woken.
    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>>;
}

impl<T: ?Sized + AsyncSeek + Unpin> AsyncSeek for &mut T {
    fn start_seek(mut self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        Pin::new(&mut **self).start_seek(position)
    }

    fn poll_complete(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Pin::new(&mut **self).poll_complete(cx)
    }
}

impl<T: ?Sized + AsyncSeek + Unpin> AsyncSeek for Box<T> {
    fn start_seek(mut self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        Pin::new(&mut **self).start_seek(position)
    }

    fn poll_complete(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Pin::new(&mut **self).poll_complete(cx)
    }
}

impl<P> AsyncSeek for Pin<P>
where
    P: DerefMut + Unpin,
    P::Target: AsyncSeek,
{
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        self.get_mut().as_mut().start_seek(position)
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        self.get_mut().as_mut().poll_complete(cx)
    }
}

/// An in-memory cursor seeks at once, with std's rules (seeking before the
/// start is an error; past the end is allowed).
impl<T: AsRef<[u8]> + Unpin> AsyncSeek for Cursor<T> {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        io::Seek::seek(self.get_mut(), position).map(drop)
    }

    fn poll_complete(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Poll::Ready(Ok(self.get_mut().position()))
    }
}

/// `.await`-able seeking methods for every [`AsyncSeek`].
///
/// Bring it into scope with `use spindle_runtime::io::AsyncSeekExt;`. The
/// methods need `Self: Unpin`.
pub trait AsyncSeekExt: AsyncSeek {
    /// Moves the position to `position`; returns the new position from the
    /// start. Like [`std::io::Seek::seek`].
    ///
    /// Waits for earlier operations first (a file's buffered write is
    /// flushed, and its error returned). If the future is dropped after
    /// the seek was submitted, the seek still happens: the next operation
    /// waits for it.
    fn seek(&mut self, position: SeekFrom) -> Seek<'_, Self>
    where
        Self: Unpin,
    {
        Seek {
            seeker: self,
            position: Some(position),
        }
    }

    /// Moves the position back to the start of the stream.
    fn rewind(&mut self) -> Rewind<'_, Self>
    where
        Self: Unpin,
    {
        Rewind {
            seek: self.seek(SeekFrom::Start(0)),
        }
    }

    /// The current position, from the start of the stream.
    fn stream_position(&mut self) -> Seek<'_, Self>
    where
        Self: Unpin,
    {
        self.seek(SeekFrom::Current(0))
    }
}

impl<S: AsyncSeek + ?Sized> AsyncSeekExt for S {}

/// Future returned by [`AsyncSeekExt::seek`] and
/// [`AsyncSeekExt::stream_position`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Seek<'a, S: ?Sized> {
    seeker: &'a mut S,
    /// `Some` until the seek is submitted.
    position: Option<SeekFrom>,
}

impl<S: AsyncSeek + Unpin + ?Sized> Future for Seek<'_, S> {
    type Output = io::Result<u64>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut seeker = Pin::new(&mut *this.seeker);
        if let Some(position) = this.position {
            // Settle what is in flight (and report its error) first.
            ready!(seeker.as_mut().poll_complete(cx))?;
            this.position = None;
            seeker.as_mut().start_seek(position)?;
        }
        seeker.poll_complete(cx)
    }
}

/// Future returned by [`AsyncSeekExt::rewind`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Rewind<'a, S: ?Sized> {
    seek: Seek<'a, S>,
}

impl<S: AsyncSeek + Unpin + ?Sized> Future for Rewind<'_, S> {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.seek).poll(cx).map_ok(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_util::block_on;

    #[test]
    fn cursor_seeks_like_std() {
        let mut cursor = Cursor::new(b"0123456789".to_vec());
        block_on(async {
            assert_eq!(cursor.seek(SeekFrom::Start(3)).await.unwrap(), 3);
            assert_eq!(cursor.seek(SeekFrom::Current(2)).await.unwrap(), 5);
            assert_eq!(cursor.stream_position().await.unwrap(), 5);
            assert_eq!(cursor.seek(SeekFrom::End(-1)).await.unwrap(), 9);
            let err = cursor.seek(SeekFrom::Current(-20)).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert_eq!(cursor.stream_position().await.unwrap(), 9);
            cursor.rewind().await.unwrap();
            assert_eq!(cursor.position(), 0);
        });
    }

    #[test]
    fn seek_through_box_and_mut_ref() {
        let mut boxed: Box<Cursor<Vec<u8>>> = Box::new(Cursor::new(vec![0; 8]));
        block_on(async {
            let mut by_ref: &mut Box<Cursor<Vec<u8>>> = &mut boxed;
            assert_eq!(
                AsyncSeekExt::seek(&mut by_ref, SeekFrom::End(0))
                    .await
                    .unwrap(),
                8
            );
            assert_eq!(boxed.stream_position().await.unwrap(), 8);
        });
    }
}
