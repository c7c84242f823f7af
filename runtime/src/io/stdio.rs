//! [`stdin`], [`stdout`] and [`stderr`]: the process's standard streams as
//! [`AsyncRead`] and [`AsyncWrite`], for tokio programs that use
//! `tokio::io::stdin()` and friends.
//!
//! The standard streams may be a terminal, a file or a pipe, and a
//! terminal or a file cannot be watched for readiness, so, as tokio does,
//! each read and write runs on the blocking pool (`spawn_blocking`) and
//! the task awaits it:
//!
//! ```text
//!  poll_read:  buffered bytes?  copy them out
//!              else a read job  (std::io::stdin().read into an owned
//!                                buffer, on the pool) -> Pending
//!              job done         keep its bytes, copy them out
//!  poll_write: the previous job done? copy the bytes into an owned
//!              buffer, start a write_all job, Ready(n) at once
//!  poll_flush: wait for the job, then a flush job
//! ```
//!
//! So a write is accepted before it reaches the stream: flush (or shut
//! down) to know it did, and to see its error. One job at a time per
//! handle; two handles to one stream (two `stdout()`s) may interleave
//! their writes.

use std::fmt;
use std::future::Future;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::{AsyncRead, AsyncWrite};
use crate::blocking::Buf;
use crate::task::JoinHandle;

/// The most one job reads or writes.
const MAX_BUF: usize = 16 * 1024;

/// What a job hands back: the stream, its buffer, and its result.
type Done<T> = (T, Buf, io::Result<usize>);

/// A standard stream run on the blocking pool, one job at a time.
struct Blocking<T> {
    /// The stream, while no job holds it.
    inner: Option<T>,
    /// Bytes read and not yet handed out, or a buffer to reuse.
    buf: Buf,
    job: Option<JoinHandle<Done<T>>>,
    /// A write job's error, reported by the next write or flush.
    error: Option<io::Error>,
    /// The job in flight is a flush.
    flushing: bool,
}

impl<T: Send + 'static> Blocking<T> {
    fn new(inner: T) -> Blocking<T> {
        Blocking {
            inner: Some(inner),
            buf: Buf::default(),
            job: None,
            error: None,
            flushing: false,
        }
    }

    /// Waits for the job in flight, if any, and takes the stream and its
    /// buffer back. Returns the job's result.
    fn poll_job(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some(job) = &mut self.job else {
            return Poll::Ready(Ok(0));
        };
        let done = ready!(Pin::new(job).poll(cx));
        self.job = None;
        self.flushing = false;
        match done {
            Ok((inner, buf, res)) => {
                self.inner = Some(inner);
                self.buf = buf;
                Poll::Ready(res)
            }
            // The job was cancelled (the runtime shut down) or panicked: the
            // stream went with it.
            Err(e) => Poll::Ready(Err(io::Error::other(e))),
        }
    }

    fn start(
        &mut self,
        job: impl FnOnce(&mut T, &mut Buf) -> io::Result<usize> + Send + 'static,
    ) -> io::Result<()> {
        let Some(mut inner) = self.inner.take() else {
            return Err(io::Error::other(
                "the standard stream was lost with a failed job",
            ));
        };
        let mut buf = std::mem::take(&mut self.buf);
        self.job = Some(crate::spawn_blocking(move || {
            let res = job(&mut inner, &mut buf);
            (inner, buf, res)
        }));
        Ok(())
    }
}

impl<T: Read + Send + 'static> Blocking<T> {
    fn poll_read(&mut self, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            if self.job.is_some() {
                // A job's read leaves exactly what it read in the buffer
                // (nothing after an error).
                if ready!(self.poll_job(cx))? == 0 {
                    return Poll::Ready(Ok(0)); // the end of the stream
                }
            }
            if self.buf.unread() > 0 || out.is_empty() {
                return Poll::Ready(Ok(self.buf.copy_to(out)));
            }
            let want = out.len().min(MAX_BUF);
            self.start(move |inner, buf| buf.read_from(inner, want))?;
        }
    }
}

impl<T: Write + Send + 'static> Blocking<T> {
    fn poll_write(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_write_job(cx))?;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = data.len().min(MAX_BUF);
        self.buf.clear();
        self.buf.data.extend_from_slice(&data[..n]);
        self.start(|inner, buf| inner.write_all(&buf.data).map(|()| buf.data.len()))?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.flushing {
            ready!(self.poll_write_job(cx))?;
            self.start(|inner, _| inner.flush().map(|()| 0))?;
            self.flushing = true;
        }
        // (The job's end clears `flushing`: a flush whose future was dropped
        // half-way is over once its job is.)
        self.poll_write_job(cx)
    }

    /// Waits for the write job in flight and reports its error, or one
    /// kept from before.
    fn poll_write_job(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Err(e) = ready!(self.poll_job(cx)) {
            self.error = Some(e);
        }
        match self.error.take() {
            Some(e) => Poll::Ready(Err(e)),
            None => Poll::Ready(Ok(())),
        }
    }
}

macro_rules! std_stream {
    ($(#[$doc:meta])* $name:ident, $std:ident, $make:ident) => {
        $(#[$doc])*
        pub struct $name {
            inner: Blocking<io::$std>,
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }

        #[doc = concat!("The process's ", stringify!($make), ", read or written on the blocking pool (see [`", stringify!($name), "`]).")]
        pub fn $make() -> $name {
            $name {
                inner: Blocking::new(io::$make()),
            }
        }
    };
}

std_stream!(
    /// The process's standard input: [`stdin`]. Each read runs
    /// `std::io::stdin().read` on the blocking pool; wrap it in a
    /// [`BufReader`](super::BufReader) to read lines.
    Stdin, Stdin, stdin
);
std_stream!(
    /// The process's standard output: [`stdout`]. Writes run on the
    /// blocking pool; flush to see that they reached the stream.
    Stdout, Stdout, stdout
);
std_stream!(
    /// The process's standard error: [`stderr`]. Writes run on the
    /// blocking pool; flush to see that they reached the stream.
    Stderr, Stderr, stderr
);

impl AsyncRead for Stdin {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().inner.poll_read(cx, buf)
    }
}

macro_rules! write_impl {
    ($name:ident) => {
        impl AsyncWrite for $name {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().inner.poll_write(cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.get_mut().inner.poll_flush(cx)
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.get_mut().inner.poll_flush(cx)
            }
        }
    };
}

write_impl!(Stdout);
write_impl!(Stderr);
