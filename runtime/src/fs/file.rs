//! [`File`]: an open file whose reads and writes run on the blocking pool.
//!
//! # The state machine
//!
//! `AsyncRead::poll_read` cannot simply call `read(2)` (it may block), and
//! it cannot hand the caller's buffer to another thread (the buffer is only
//! borrowed for this one call). So `File` owns a buffer of its own and is
//! always in one of two states:
//!
//! ```text
//!            poll_read: buffer empty -> start a read job (up to 2 MiB)
//!   Idle(buf) ---------------------------------------------------> Busy(job)
//!      ^      poll_write: copy the data into buf, start a write job    |
//!      |      (and report it written at once: write-behind)            |
//!      +---------------------------------------------------------------+
//!               job done: the buffer comes back (with the data read)
//! ```
//!
//! * **Read**: in `Idle` with bytes left in the buffer, copy them out. With
//!   an empty buffer, move it into a `spawn_blocking` job that fills it with
//!   one `read` of up to `min(len, 2 MiB)` bytes, and wait. When the job
//!   finishes, copy what fits into the caller's buffer; the rest stays for
//!   the next read.
//! * **Write**: in `Idle`, copy up to 2 MiB of the caller's data into the
//!   buffer, start a job that writes it all (`write_all`), and return
//!   `Ok(n)` at once. The data is not on disk yet: its error, if any, is
//!   reported by the *next* operation, and `flush` waits for the job.
//! * **Busy**: every operation first waits for the job in flight. Only one
//!   job per file runs at a time, so operations happen in program order.
//! * Read-ahead that was never consumed would put the OS file position
//!   ahead of the logical one; a write or `seek` first moves it back by
//!   the unread amount.
//!
//! This is how tokio's `File` works too. `flush` before relying on data
//! being written (or call [`File::sync_all`], which flushes first).

use std::fmt;
use std::future::{poll_fn, Future};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use super::asyncify;
use crate::io::{AsyncRead, AsyncWrite};
use crate::task::JoinHandle;

/// The most one read or write job moves.
const MAX_BUF: usize = 2 << 20;

/// An open file on which reads and writes run on the runtime's blocking pool.
///
/// Implements [`AsyncRead`] and [`AsyncWrite`]; use the extension traits
/// (`read_to_end`, `write_all`, ...) from [`crate::io`]. Writes are
/// buffered one job at a time: call `flush` (or [`sync_all`](File::sync_all))
/// to wait for them and see their errors. See the module docs for the
/// state machine.
pub struct File {
    std: Arc<std::fs::File>,
    state: State,
}

enum State {
    Idle(Option<Buf>),
    Busy(JoinHandle<(Op, Buf)>),
}

enum Op {
    Read(io::Result<usize>),
    Write(io::Result<()>),
}

/// The file's own buffer: `data[pos..]` is read-ahead not yet handed out.
#[derive(Default)]
struct Buf {
    data: Vec<u8>,
    pos: usize,
}

impl Buf {
    fn unread(&self) -> usize {
        self.data.len() - self.pos
    }

    fn copy_to(&mut self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.unread());
        dst[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        n
    }

    fn clear(&mut self) {
        self.data.clear();
        self.pos = 0;
    }

    /// One `read` of up to `len` bytes into the buffer (on a pool thread).
    fn read_from(&mut self, mut file: &std::fs::File, len: usize) -> io::Result<usize> {
        self.data.resize(len, 0);
        self.pos = 0;
        loop {
            match file.read(&mut self.data) {
                Ok(n) => {
                    self.data.truncate(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.data.clear();
                    return Err(e);
                }
            }
        }
    }

    /// Moves the file position back over `unread` bytes of read-ahead, then
    /// writes the buffer out (on a pool thread).
    fn write_to(&mut self, mut file: &std::fs::File, unread: usize) -> io::Result<()> {
        let result = (|| {
            if unread > 0 {
                file.seek(SeekFrom::Current(-(unread as i64)))?;
            }
            file.write_all(&self.data)
        })();
        self.clear();
        result
    }
}

impl File {
    /// Opens the file at `path` for reading. The async [`std::fs::File::open`].
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        let std = asyncify(move || std::fs::File::open(path)).await?;
        Ok(File::from_std(std))
    }

    /// Creates (or truncates) the file at `path` for writing. The async
    /// [`std::fs::File::create`].
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        let std = asyncify(move || std::fs::File::create(path)).await?;
        Ok(File::from_std(std))
    }

    /// Wraps a file opened by std (for options such as append or
    /// read-and-write, use [`std::fs::OpenOptions`], then this).
    pub fn from_std(std: std::fs::File) -> File {
        File {
            std: Arc::new(std),
            state: State::Idle(None),
        }
    }

    /// Waits for the write in flight, if any, and reports its error.
    async fn settle(&mut self) -> io::Result<()> {
        poll_fn(|cx| Pin::new(&mut *self).poll_flush(cx)).await
    }

    /// Flushes, then makes sure all data and metadata are on disk (`fsync`).
    pub async fn sync_all(&mut self) -> io::Result<()> {
        self.settle().await?;
        let std = self.std.clone();
        asyncify(move || std.sync_all()).await
    }

    /// Flushes, then makes sure all data is on disk (`fdatasync`).
    pub async fn sync_data(&mut self) -> io::Result<()> {
        self.settle().await?;
        let std = self.std.clone();
        asyncify(move || std.sync_data()).await
    }

    /// Flushes, then queries the file's metadata (so the size includes
    /// every write made so far).
    pub async fn metadata(&mut self) -> io::Result<std::fs::Metadata> {
        self.settle().await?;
        let std = self.std.clone();
        asyncify(move || std.metadata()).await
    }

    /// Flushes, drops any read-ahead, and moves the file position; returns
    /// the new position from the start of the file.
    pub async fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.settle().await?;
        let unread = match &mut self.state {
            State::Idle(Some(buf)) => {
                let n = buf.unread();
                buf.clear();
                n
            }
            _ => 0,
        };
        let pos = match pos {
            SeekFrom::Current(off) => SeekFrom::Current(off - unread as i64),
            other => other,
        };
        let std = self.std.clone();
        asyncify(move || (&*std).seek(pos)).await
    }

    /// Waits for the job in flight and returns to `Idle`. `keep_read_error`
    /// says whether a failed read is reported (by reads) or dropped.
    fn poll_idle(
        &mut self,
        cx: &mut Context<'_>,
        keep_read_error: bool,
    ) -> Poll<io::Result<Option<usize>>> {
        let State::Busy(job) = &mut self.state else {
            return Poll::Ready(Ok(None));
        };
        let (op, buf) = match ready!(Pin::new(job).poll(cx)) {
            Ok(done) => done,
            Err(e) => {
                self.state = State::Idle(None);
                return Poll::Ready(Err(io::Error::other(e)));
            }
        };
        self.state = State::Idle(Some(buf));
        match op {
            Op::Read(Ok(n)) => Poll::Ready(Ok(Some(n))),
            Op::Read(Err(e)) if keep_read_error => Poll::Ready(Err(e)),
            Op::Read(Err(_)) | Op::Write(Ok(())) => Poll::Ready(Ok(None)),
            Op::Write(Err(e)) => Poll::Ready(Err(e)),
        }
    }

    fn idle_buf(&mut self) -> Buf {
        match &mut self.state {
            State::Idle(buf) => buf.take().unwrap_or_default(),
            State::Busy(_) => unreachable!("poll_idle returned"),
        }
    }
}

impl AsyncRead for File {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            // A read job that found the end of the file.
            if let Some(0) = ready!(this.poll_idle(cx, true))? {
                return Poll::Ready(Ok(0));
            }
            let mut buf = this.idle_buf();
            if buf.unread() > 0 || dst.is_empty() {
                let n = buf.copy_to(dst);
                this.state = State::Idle(Some(buf));
                return Poll::Ready(Ok(n));
            }
            let std = this.std.clone();
            let len = dst.len().min(MAX_BUF);
            this.state = State::Busy(crate::spawn_blocking(move || {
                let result = buf.read_from(&std, len);
                (Op::Read(result), buf)
            }));
            // Next turn polls the job: it registers the waker or is done.
        }
    }
}

impl AsyncWrite for File {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        src: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_idle(cx, false))?;
        if src.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut buf = this.idle_buf();
        let unread = buf.unread();
        buf.clear();
        let n = src.len().min(MAX_BUF);
        buf.data.extend_from_slice(&src[..n]);
        let std = this.std.clone();
        this.state = State::Busy(crate::spawn_blocking(move || {
            let result = buf.write_to(&std, unread);
            (Op::Write(result), buf)
        }));
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_idle(cx, false))?;
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("std", &self.std)
            .field("busy", &matches!(self.state, State::Busy(_)))
            .finish()
    }
}
