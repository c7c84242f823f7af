//! [`Lines`]: a buffered reader as a stream of lines.

use std::future::poll_fn;
use std::io;
use std::mem;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::stream::{FusedStream, Stream};
use pin_project_lite::pin_project;

use super::buf_read_ext::poll_read_until;
use super::read_to_end::invalid_utf8;
use super::AsyncBufRead;

pin_project! {
    /// The lines of an [`AsyncBufRead`], as `String`s without their line
    /// ending (`\n` or `\r\n`).
    ///
    /// Created by [`AsyncBufReadExt::lines`](super::AsyncBufReadExt::lines).
    /// Call [`next_line`](Lines::next_line) in a loop, or use it as a
    /// [`Stream`] of `io::Result<String>` (fused: after its end it keeps
    /// answering `None`). The last line need not end with a newline.
    ///
    /// A partly read line is kept inside `Lines`, so dropping a `next_line`
    /// future early loses nothing, and a line interrupted by an IO error is
    /// continued by the next call. A line that is not valid UTF-8 is skipped
    /// and reported as an [`io::ErrorKind::InvalidData`] error.
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct Lines<R> {
        #[pin]
        reader: R,
        // The current line so far.
        bytes: Vec<u8>,
        read: usize,
        // The stream form reported the end.
        terminated: bool,
    }
}

impl<R> Lines<R> {
    pub(super) fn new(reader: R) -> Self {
        Lines {
            reader,
            bytes: Vec::new(),
            read: 0,
            terminated: false,
        }
    }

    /// Returns a shared reference to the underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// Returns a mutable reference to the underlying reader. Reading from it
    /// directly skips over data `Lines` has not seen.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// Returns a pinned mutable reference to the underlying reader.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut R> {
        self.project().reader
    }

    /// Returns the underlying reader. A partly read line is lost.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl<R: AsyncBufRead> Lines<R> {
    /// Returns the next line, or `Ok(None)` at the end of the stream.
    ///
    /// Cancel safe: see the [type docs](Lines).
    pub async fn next_line(&mut self) -> io::Result<Option<String>>
    where
        R: Unpin,
    {
        poll_fn(|cx| Pin::new(&mut *self).poll_next_line(cx)).await
    }

    /// Polls for the next line: the `poll_*` form of
    /// [`next_line`](Lines::next_line), for use in hand-written futures.
    pub fn poll_next_line(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<String>>> {
        let this = self.project();
        ready!(poll_read_until(
            this.reader,
            cx,
            b'\n',
            this.bytes,
            this.read
        ))?;
        if this.bytes.is_empty() {
            return Poll::Ready(Ok(None));
        }
        let mut line = mem::take(this.bytes);
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        Poll::Ready(
            String::from_utf8(line)
                .map(Some)
                .map_err(|_| invalid_utf8()),
        )
    }
}

impl<R: AsyncBufRead> Stream for Lines<R> {
    type Item = io::Result<String>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.terminated {
            return Poll::Ready(None);
        }
        let item = ready!(self.as_mut().poll_next_line(cx)).transpose();
        if item.is_none() {
            *self.project().terminated = true;
        }
        Poll::Ready(item)
    }
}

impl<R: AsyncBufRead> FusedStream for Lines<R> {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_util::{block_on, ChunkedReader};
    use crate::io::{AsyncBufReadExt, BufReader};
    use std::future::Future;
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    fn lines_of(data: &[u8], chunk: usize, capacity: usize) -> Lines<BufReader<ChunkedReader>> {
        BufReader::with_capacity(capacity, ChunkedReader::new(data, chunk)).lines()
    }

    #[test]
    fn next_line_strips_line_endings() {
        let mut lines = lines_of(b"one\ntwo\r\n\nthree\rfour\r\n\r\nlast", 3, 4);
        let mut got = Vec::new();
        while let Some(line) = block_on(lines.next_line()).unwrap() {
            got.push(line);
        }
        assert_eq!(got, ["one", "two", "", "three\rfour", "", "last"]);
        assert!(lines.get_ref().get_ref().pendings > 5);
        // Stays at the end.
        assert_eq!(block_on(lines.next_line()).unwrap(), None);
    }

    #[test]
    fn empty_input_has_no_lines() {
        let mut lines = lines_of(b"", 1, 1);
        assert_eq!(block_on(lines.next_line()).unwrap(), None);
        let mut lines = lines_of(b"\n", 1, 1);
        assert_eq!(block_on(lines.next_line()).unwrap().as_deref(), Some(""));
        assert_eq!(block_on(lines.next_line()).unwrap(), None);
    }

    #[test]
    fn works_as_a_stream() {
        let mut lines = Box::pin(lines_of("a\nβ\r\nc\n".as_bytes(), 2, 3));
        let mut got = Vec::new();
        while let Some(line) = block_on(poll_fn(|cx| lines.as_mut().poll_next(cx))) {
            got.push(line.unwrap());
        }
        assert_eq!(got, ["a", "β", "c"]);
    }

    #[test]
    fn invalid_line_is_reported_and_skipped() {
        let mut lines = lines_of(b"ok\n\xff\xfe\nfine", 2, 2);
        assert_eq!(block_on(lines.next_line()).unwrap().as_deref(), Some("ok"));
        let err = block_on(lines.next_line()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            block_on(lines.next_line()).unwrap().as_deref(),
            Some("fine")
        );
    }

    #[test]
    fn line_continues_after_io_error() {
        let inner = ChunkedReader::new(b"abcdef\nxy", 2).fail_once_at(4, io::ErrorKind::Other);
        let mut lines = BufReader::with_capacity(2, inner).lines();
        let err = block_on(lines.next_line()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Other);
        assert_eq!(
            block_on(lines.next_line()).unwrap().as_deref(),
            Some("abcdef")
        );
        assert_eq!(block_on(lines.next_line()).unwrap().as_deref(), Some("xy"));
        assert_eq!(block_on(lines.next_line()).unwrap(), None);
    }

    #[test]
    fn dropping_next_line_midway_loses_nothing() {
        let mut lines = lines_of(b"hello world\n", 1, 1);
        // Poll the future a few times, then drop it before the line is done.
        {
            let mut fut = Box::pin(lines.next_line());
            let waker = Waker::from(Arc::new(NoopWake));
            let mut cx = Context::from_waker(&waker);
            for _ in 0..8 {
                assert!(fut.as_mut().poll(&mut cx).is_pending());
            }
        }
        assert_eq!(
            block_on(lines.next_line()).unwrap().as_deref(),
            Some("hello world")
        );
    }

    struct NoopWake;
    impl Wake for NoopWake {
        fn wake(self: Arc<Self>) {}
    }
}
