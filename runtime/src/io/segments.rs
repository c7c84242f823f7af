//! [`Split`]: a buffered reader as a stream of segments separated by one
//! byte (`AsyncBufReadExt::split`), the async `std::io::BufRead::split`.
//!
//! Like [`Lines`](super::Lines), it keeps the segment read so far inside
//! itself, so a `next_segment` future dropped midway (cancelled by a
//! timeout or `select!`) loses nothing: the next call continues the same
//! segment.

use std::future::poll_fn;
use std::io;
use std::mem;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::stream::{FusedStream, Stream};
use pin_project_lite::pin_project;

use super::buf_read_ext::poll_read_until;
use super::AsyncBufRead;

pin_project! {
    /// The segments of an [`AsyncBufRead`] between occurrences of one byte,
    /// without that byte, as `Vec<u8>`s.
    ///
    /// Created by [`AsyncBufReadExt::split`](super::AsyncBufReadExt::split).
    /// As in std, the last segment need not end with the delimiter, and a
    /// delimiter at the very end does not start an empty last segment:
    /// `b"a,b,"` gives `a`, `b`; `b",a"` gives an empty segment, then `a`.
    /// Call [`next_segment`](Split::next_segment) in a loop, or use it as a
    /// [`Stream`] of `io::Result<Vec<u8>>` (fused: after its end it keeps
    /// answering `None`).
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct Split<R> {
        #[pin]
        reader: R,
        delim: u8,
        // The current segment so far.
        bytes: Vec<u8>,
        read: usize,
        // The stream form reported the end.
        terminated: bool,
    }
}

impl<R> Split<R> {
    pub(super) fn new(reader: R, delim: u8) -> Self {
        Split {
            reader,
            delim,
            bytes: Vec::new(),
            read: 0,
            terminated: false,
        }
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// The underlying reader, mutably. Reading from it directly skips over
    /// data `Split` has not seen.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// Returns the underlying reader. A partly read segment is lost.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl<R: AsyncBufRead> Split<R> {
    /// Returns the next segment, or `Ok(None)` at the end of the stream.
    /// Cancel safe: see the [type docs](Split).
    pub async fn next_segment(&mut self) -> io::Result<Option<Vec<u8>>>
    where
        R: Unpin,
    {
        poll_fn(|cx| Pin::new(&mut *self).poll_next_segment(cx)).await
    }

    /// Polls for the next segment: the `poll_*` form of
    /// [`next_segment`](Split::next_segment).
    pub fn poll_next_segment(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<Vec<u8>>>> {
        let this = self.project();
        let n = ready!(poll_read_until(
            this.reader,
            cx,
            *this.delim,
            this.bytes,
            this.read
        ))?;
        if n == 0 && this.bytes.is_empty() {
            return Poll::Ready(Ok(None));
        }
        let mut segment = mem::take(this.bytes);
        if segment.last() == Some(this.delim) {
            segment.pop();
        }
        Poll::Ready(Ok(Some(segment)))
    }
}

impl<R: AsyncBufRead> Stream for Split<R> {
    type Item = io::Result<Vec<u8>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.terminated {
            return Poll::Ready(None);
        }
        let item = ready!(self.as_mut().poll_next_segment(cx)).transpose();
        if item.is_none() {
            *self.project().terminated = true;
        }
        Poll::Ready(item)
    }
}

impl<R: AsyncBufRead> FusedStream for Split<R> {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

#[cfg(test)]
mod tests {
    use crate::io::test_util::{block_on, ChunkedReader};
    use crate::io::{AsyncBufReadExt, BufReader};

    fn segments(data: &[u8], chunk: usize, capacity: usize) -> Vec<Vec<u8>> {
        let reader = BufReader::with_capacity(capacity, ChunkedReader::new(data, chunk));
        let mut split = reader.split(b',');
        let mut out = Vec::new();
        while let Some(segment) = block_on(split.next_segment()).unwrap() {
            out.push(segment);
        }
        out
    }

    #[test]
    fn splits_like_std() {
        for data in [&b"a,b,"[..], b",a", b"", b"abc", b",,", b"one,two,three"] {
            let want: Vec<Vec<u8>> = std::io::BufRead::split(data, b',')
                .map(Result::unwrap)
                .collect();
            assert_eq!(
                segments(data, 2, 3),
                want,
                "{:?}",
                String::from_utf8_lossy(data)
            );
        }
    }
}
