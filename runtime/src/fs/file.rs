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
//!   ahead of the logical one; a write, `set_len` or seek first moves it
//!   back by the unread amount.
//! * **Seek** ([`AsyncSeek`]): `start_seek` needs `Idle` (else it fails:
//!   `poll_complete` first, which is what `AsyncSeekExt::seek` does, so a
//!   buffered write is flushed and its error reported before the seek).
//!   It drops the read-ahead, corrects a `SeekFrom::Current` offset by its
//!   length, and starts a job that calls `lseek`; `poll_complete` waits
//!   for it. `File` remembers the OS position each job left (`os_pos`: a
//!   read adds its length, a write and a seek report it), so asking for
//!   the position (`stream_position`, a seek to `Current(0)`) costs a job
//!   only when it is unknown, and the logical position is `os_pos` minus the unread read-ahead.
//!
//! Every job lives in the `File`, never in a future: a future dropped
//! mid-await (a cancelled `seek`, `set_len`, read) leaves its job in
//! `Busy`, and the next operation waits for it and reports its error.
//!
//! This is how tokio's `File` works too. `flush` before relying on data
//! being written (or call [`File::sync_all`], which flushes first).

use std::fmt;
use std::fs::{Metadata, Permissions};
use std::future::{poll_fn, Future};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use super::{asyncify, OpenOptions};
use crate::blocking::Buf;
use crate::io::{AsyncRead, AsyncSeek, AsyncSeekExt, AsyncWrite};
use crate::task::JoinHandle;

/// The most one read or write job moves.
const MAX_BUF: usize = 2 << 20;

/// An open file on which reads and writes run on the runtime's blocking pool.
///
/// Implements [`AsyncRead`], [`AsyncWrite`] and [`AsyncSeek`]; use the
/// extension traits (`read_to_end`, `write_all`, `seek`, ...) from
/// [`crate::io`]. Writes are buffered one job at a time: call `flush` (or
/// [`sync_all`](File::sync_all)) to wait for them and see their errors.
/// See the module docs for the state machine.
pub struct File {
    std: Arc<std::fs::File>,
    state: State,
    /// The OS file position after the last job, when known. The logical
    /// position is this minus the unread read-ahead.
    os_pos: Option<u64>,
}

enum State {
    Idle(Option<Buf>),
    Busy(JoinHandle<(Op, Buf)>),
}

/// What a finished job did.
enum Op {
    Read(io::Result<usize>),
    /// A write, with the OS position it left (`None` if `lseek` failed).
    Write(io::Result<Option<u64>>),
    /// A seek (or position query): the new OS position.
    Seek(io::Result<u64>),
    SetLen(io::Result<()>),
}

impl Buf {
    /// Moves the file position back over `unread` bytes of read-ahead, then
    /// writes the buffer out (on a pool thread). Returns the position the
    /// write left (in append mode, the end of the file).
    fn write_to(&mut self, mut file: &std::fs::File, unread: usize) -> io::Result<Option<u64>> {
        let result = (|| {
            seek_back(file, unread)?;
            file.write_all(&self.data)?;
            Ok(file.stream_position().ok())
        })();
        self.clear();
        result
    }
}

/// Moves the OS position back over `unread` bytes of read-ahead.
fn seek_back(mut file: &std::fs::File, unread: usize) -> io::Result<()> {
    if unread > 0 {
        file.seek(SeekFrom::Current(-(unread as i64)))?;
    }
    Ok(())
}

impl File {
    /// Opens the file at `path` for reading. The async [`std::fs::File::open`].
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        let std = asyncify(move || std::fs::File::open(path)).await?;
        Ok(File::at_start(std))
    }

    /// Creates (or truncates) the file at `path` for writing. The async
    /// [`std::fs::File::create`].
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        let std = asyncify(move || std::fs::File::create(path)).await?;
        Ok(File::at_start(std))
    }

    /// A new [`OpenOptions`] builder, to open a file in another mode
    /// (append, read and write, create new, ...).
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Wraps a file opened by std. Its position is asked of the OS (on the
    /// pool) the first time it is needed.
    pub fn from_std(std: std::fs::File) -> File {
        File {
            std: Arc::new(std),
            state: State::Idle(None),
            os_pos: None,
        }
    }

    /// A file just opened without append: its position is 0.
    fn at_start(std: std::fs::File) -> File {
        File {
            os_pos: Some(0),
            ..File::from_std(std)
        }
    }

    /// Waits for the job in flight, if any, and reports its error.
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
    pub async fn metadata(&mut self) -> io::Result<Metadata> {
        self.settle().await?;
        let std = self.std.clone();
        asyncify(move || std.metadata()).await
    }

    /// Flushes, then sets the file's permissions.
    pub async fn set_permissions(&mut self, perm: Permissions) -> io::Result<()> {
        self.settle().await?;
        let std = self.std.clone();
        asyncify(move || std.set_permissions(perm)).await
    }

    /// Flushes, then truncates or extends (with zeros) the file to `size`
    /// bytes. The position does not move (it may end up past the end).
    ///
    /// Read-ahead is dropped first (the bytes past `size` would be stale).
    /// The job stays with the file: if this future is dropped, the next
    /// operation waits for it and reports its error.
    pub async fn set_len(&mut self, size: u64) -> io::Result<()> {
        self.settle().await?;
        let mut buf = self.idle_buf();
        let unread = buf.unread();
        buf.clear();
        self.os_pos = self.os_pos.map(|p| p - unread as u64);
        let std = self.std.clone();
        self.state = State::Busy(crate::spawn_blocking(move || {
            let result = seek_back(&std, unread).and_then(|()| std.set_len(size));
            (Op::SetLen(result), buf)
        }));
        self.settle().await
    }

    /// Flushes, drops any read-ahead, and moves the file position; returns
    /// the new position from the start of the file. The same as
    /// [`AsyncSeekExt::seek`], callable without importing the trait.
    pub async fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        AsyncSeekExt::seek(self, pos).await
    }

    /// Waits for the job in flight, if any, and returns to `Idle` with
    /// what it did (`None` if there was no job).
    fn poll_job(&mut self, cx: &mut Context<'_>) -> Poll<Option<Op>> {
        let State::Busy(job) = &mut self.state else {
            return Poll::Ready(None);
        };
        let (op, buf) = match ready!(Pin::new(job).poll(cx)) {
            Ok(done) => done,
            Err(e) => {
                // The job panicked: its buffer and the position are lost.
                self.state = State::Idle(None);
                self.os_pos = None;
                return Poll::Ready(Some(Op::SetLen(Err(io::Error::other(e)))));
            }
        };
        self.state = State::Idle(Some(buf));
        self.os_pos = match &op {
            Op::Read(Ok(n)) => self.os_pos.map(|p| p + *n as u64),
            Op::Write(Ok(pos)) => *pos,
            Op::Seek(Ok(pos)) => Some(*pos),
            Op::SetLen(Ok(())) => self.os_pos,
            Op::Read(Err(_)) | Op::Write(Err(_)) | Op::Seek(Err(_)) | Op::SetLen(Err(_)) => None,
        };
        Poll::Ready(Some(op))
    }

    /// Waits for the job in flight and returns to `Idle`. `keep_read_error`
    /// says whether a failed read is reported (by reads) or dropped; the
    /// errors of writes, seeks and `set_len` are always reported. A read
    /// job's length comes back as `Some(n)`.
    fn poll_idle(
        &mut self,
        cx: &mut Context<'_>,
        keep_read_error: bool,
    ) -> Poll<io::Result<Option<usize>>> {
        match ready!(self.poll_job(cx)) {
            Some(Op::Read(Ok(n))) => Poll::Ready(Ok(Some(n))),
            Some(Op::Read(Err(e))) if keep_read_error => Poll::Ready(Err(e)),
            Some(Op::Write(Err(e)) | Op::Seek(Err(e)) | Op::SetLen(Err(e))) => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(None)),
        }
    }

    fn idle_buf(&mut self) -> Buf {
        match &mut self.state {
            State::Idle(buf) => buf.take().unwrap_or_default(),
            State::Busy(_) => unreachable!("poll_idle returned"),
        }
    }

    fn unread(&self) -> usize {
        match &self.state {
            State::Idle(Some(buf)) => buf.unread(),
            _ => 0,
        }
    }

    /// Starts a job that moves the OS position (or, with `Current(0)` and
    /// the read-ahead kept, only asks for it).
    fn start_seek_job(&mut self, pos: SeekFrom, buf: Buf) {
        let std = self.std.clone();
        self.state = State::Busy(crate::spawn_blocking(move || {
            (Op::Seek((&*std).seek(pos)), buf)
        }));
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
                let result = buf.read_from(&*std, len);
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

impl AsyncSeek for File {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        if matches!(this.state, State::Busy(_)) {
            return Err(io::Error::other(
                "another file operation is in flight: call poll_complete before start_seek",
            ));
        }
        if position == SeekFrom::Current(0) && this.os_pos.is_some() {
            // Asking for the position: `poll_complete` knows it already,
            // and the read-ahead stays valid.
            return Ok(());
        }
        let mut buf = this.idle_buf();
        let unread = buf.unread();
        buf.clear();
        // The OS position is `unread` bytes ahead of the logical one.
        let position = match position {
            SeekFrom::Current(off) => match off.checked_sub(unread as i64) {
                Some(off) => SeekFrom::Current(off),
                None => {
                    this.state = State::Idle(Some(buf));
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "seek offset overflows",
                    ));
                }
            },
            other => other,
        };
        this.start_seek_job(position, buf);
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        loop {
            match ready!(this.poll_job(cx)) {
                Some(Op::Seek(Err(e)) | Op::Write(Err(e)) | Op::SetLen(Err(e))) => {
                    return Poll::Ready(Err(e))
                }
                // Done (a seek, or other work); the answer is below.
                Some(_) => {}
                None => {}
            }
            if let Some(os_pos) = this.os_pos {
                return Poll::Ready(Ok(os_pos - this.unread() as u64));
            }
            // Position unknown: ask the OS, keeping the read-ahead.
            let buf = this.idle_buf();
            this.start_seek_job(SeekFrom::Current(0), buf);
        }
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("std", &self.std)
            .field("busy", &matches!(self.state, State::Busy(_)))
            .field("os_pos", &self.os_pos)
            .finish()
    }
}
