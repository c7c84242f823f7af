//! Test helpers: a tiny `block_on`, and in-memory streams that hand out data
//! in small chunks and return `Pending` on every other call, so the tests
//! prove that the futures resume correctly after `Pending`.

use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// Wakes the thread running [`block_on`].
struct Signal {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// Polls `fut` on this thread until it completes, parking in between.
/// Panics if the future returns `Pending` without anyone waking it.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    let signal = Arc::new(Signal {
        thread: thread::current(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !signal.woken.swap(false, Ordering::SeqCst) {
            let now = Instant::now();
            assert!(
                now < deadline,
                "future returned Pending and was never woken"
            );
            thread::park_timeout(deadline - now);
        }
    }
}

/// Returns `true` every other call, starting with the first, after waking the
/// waker (as a real stream would once it became ready).
fn pending_this_time(flip: &mut bool, pendings: &mut usize, cx: &mut Context<'_>) -> bool {
    *flip = !*flip;
    if *flip {
        *pendings += 1;
        cx.waker().wake_by_ref();
    }
    *flip
}

/// A reader that returns at most `chunk` bytes per call and `Pending` every
/// other call.
#[derive(Debug)]
pub(crate) struct ChunkedReader {
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
    flip: bool,
    /// How many times `Pending` was returned.
    pub(crate) pendings: usize,
    /// Fail once with this error kind when the read position reaches `.0`.
    fail_at: Option<(usize, io::ErrorKind)>,
}

impl ChunkedReader {
    pub(crate) fn new(data: &[u8], chunk: usize) -> Self {
        assert!(chunk > 0);
        ChunkedReader {
            data: data.to_vec(),
            pos: 0,
            chunk,
            flip: false,
            pendings: 0,
            fail_at: None,
        }
    }

    /// Makes the first read at or after `offset` fail with `kind` (once).
    pub(crate) fn fail_once_at(mut self, offset: usize, kind: io::ErrorKind) -> Self {
        self.fail_at = Some((offset, kind));
        self
    }
}

impl super::AsyncRead for ChunkedReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if pending_this_time(&mut this.flip, &mut this.pendings, cx) {
            return Poll::Pending;
        }
        if let Some((offset, kind)) = this.fail_at {
            if this.pos >= offset {
                this.fail_at = None;
                return Poll::Ready(Err(io::Error::new(kind, "injected failure")));
            }
        }
        let n = buf.len().min(this.chunk).min(this.data.len() - this.pos);
        buf[..n].copy_from_slice(&this.data[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(n))
    }
}

/// A writer that accepts at most `chunk` bytes per call, returns `Pending`
/// every other call, and records flushes and shutdowns.
#[derive(Debug, Default)]
pub(crate) struct ChunkedWriter {
    /// Everything written so far.
    pub(crate) data: Vec<u8>,
    chunk: usize,
    flip: bool,
    /// How many times `Pending` was returned.
    pub(crate) pendings: usize,
    /// Sizes of the successful `poll_write` calls, in order.
    pub(crate) writes: Vec<usize>,
    /// How many times a flush completed.
    pub(crate) flushes: usize,
    /// Whether a shutdown completed.
    pub(crate) shut_down: bool,
    /// Once `data` holds this many bytes, writes return `Ok(0)`.
    pub(crate) limit: Option<usize>,
    /// Never return `Pending`.
    pub(crate) always_ready: bool,
    /// Have a real vectored write (gathering up to `chunk` bytes from
    /// several buffers in one call) and say so in `is_write_vectored`.
    pub(crate) vectored: bool,
}

impl ChunkedWriter {
    pub(crate) fn new(chunk: usize) -> Self {
        assert!(chunk > 0);
        ChunkedWriter {
            chunk,
            ..ChunkedWriter::default()
        }
    }
}

impl super::AsyncWrite for ChunkedWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.always_ready && pending_this_time(&mut this.flip, &mut this.pendings, cx) {
            return Poll::Pending;
        }
        let room = this.limit.map_or(usize::MAX, |l| l - this.data.len());
        let n = buf.len().min(this.chunk).min(room);
        this.data.extend_from_slice(&buf[..n]);
        this.writes.push(n);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if !self.vectored {
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
            return self.poll_write(cx, first);
        }
        let this = self.get_mut();
        if !this.always_ready && pending_this_time(&mut this.flip, &mut this.pendings, cx) {
            return Poll::Pending;
        }
        let room = this.limit.map_or(usize::MAX, |l| l - this.data.len());
        let mut left = this.chunk.min(room);
        let mut n = 0;
        for buf in bufs {
            let take = buf.len().min(left);
            this.data.extend_from_slice(&buf[..take]);
            n += take;
            left -= take;
        }
        this.writes.push(n);
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.vectored
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.always_ready && pending_this_time(&mut this.flip, &mut this.pendings, cx) {
            return Poll::Pending;
        }
        this.flushes += 1;
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.always_ready && pending_this_time(&mut this.flip, &mut this.pendings, cx) {
            return Poll::Pending;
        }
        this.shut_down = true;
        Poll::Ready(Ok(()))
    }
}
