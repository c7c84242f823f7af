//! Files read and written through io_uring: real asynchronous file IO.
//!
//! Readiness cannot help with files: a regular file is always "readable",
//! and the `read` then blocks the thread while the disk works. That is why
//! `spindle::fs` runs file IO on the blocking pool. Here the kernel runs
//! it: `read_at` queues a request and the task sleeps until the data is
//! in its buffer, and since the methods take `&self` and an offset,
//! several reads (or writes) can be in flight on one file at once.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use spindle_reactor::uring::*;

use super::buf::{io_len, write_all_from, IoBuf, IoBufMut};
use super::net::{finish_read, read_sqe};
use super::op::Op;

/// `fsync` (Linux 5.1).
const IORING_OP_FSYNC: u8 = 3;

/// A file whose reads and writes are io_uring operations at explicit
/// offsets (see the module docs).
#[derive(Debug)]
pub struct File {
    /// Shared with the operations in flight (see `Op::start_on`).
    fd: Arc<OwnedFd>,
}

impl File {
    /// Opens `path` for reading.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        File::open_with(path.as_ref(), libc::O_RDONLY, 0).await
    }

    /// Creates `path` for writing (truncating it if it exists), with mode
    /// 0o666 before the umask, as `std::fs::File::create`.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        File::open_with(
            path.as_ref(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
            0o666,
        )
        .await
    }

    /// Options for opening a file another way (append, create only if
    /// new, read and write, a mode): [`OpenOptions`], as
    /// `std::fs::File::options`.
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    async fn open_with(path: &Path, flags: libc::c_int, mode: u32) -> io::Result<File> {
        let path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))?;
        // Boxed: the kernel reads the path when it runs the request, after
        // this call returns (the CString's heap bytes do not move).
        let op = Op::start("openat", path, |p, _| Sqe {
            opcode: IORING_OP_OPENAT,
            fd: libc::AT_FDCWD,
            addr: p.as_ptr() as u64,
            len: mode,
            op_flags: (flags | libc::O_CLOEXEC) as u32,
            ..Sqe::default()
        })
        .map_err(|(e, _)| e)?
        .makes_fd();
        let fd = op.await.result? as RawFd;
        // SAFETY: openat just created this descriptor; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(File { fd: Arc::new(fd) })
    }

    /// Reads into `buf` from its start, up to its
    /// [`bytes_total`](crate::uring::IoBuf::bytes_total) (a `Vec`'s
    /// capacity, not its length), from the file at `offset`; gives it back
    /// with how many bytes were read (0 at the end of the file, or if `buf`
    /// has no room: `Vec::new()`).
    pub async fn read_at<B: IoBufMut>(&self, buf: B, offset: u64) -> (io::Result<usize>, B) {
        if let Err(e) = check_offset(offset) {
            return (Err(e), buf);
        }
        let sqe = |b: &mut B, fd, ring| read_sqe(fd, b, ring, Some(offset));
        match Op::start_on("read", &self.fd, buf, sqe) {
            Err((e, buf)) => (Err(e), buf),
            Ok(op) => {
                let done = op.await;
                finish_read(done.result, done.data)
            }
        }
    }

    /// Writes the initialised bytes of `buf` to the file at `offset` (once:
    /// maybe not all); gives it back with how many were written.
    pub async fn write_at<B: IoBuf>(&self, buf: B, offset: u64) -> (io::Result<usize>, B) {
        self.write_at_from(buf, offset, 0).await
    }

    /// Writes all the initialised bytes of `buf` to the file from `offset`
    /// on, in as many operations as it takes; gives it back. Fails with
    /// `WriteZero` if the file takes no more (a full disk reports its own
    /// error first).
    pub async fn write_all_at<B: IoBuf>(&self, buf: B, offset: u64) -> (io::Result<()>, B) {
        write_all_from(buf, |buf, start| {
            // Saturated, a sum past u64::MAX is refused like any offset
            // beyond i64::MAX.
            self.write_at_from(buf, offset.saturating_add(start as u64), start)
        })
        .await
    }

    /// One write of `buf[start..bytes_init()]` at `offset`.
    async fn write_at_from<B: IoBuf>(
        &self,
        buf: B,
        offset: u64,
        start: usize,
    ) -> (io::Result<usize>, B) {
        if let Err(e) = check_offset(offset) {
            return (Err(e), buf);
        }
        let sqe = |b: &mut B, fd, ring| {
            let fixed = b.fixed_index().filter(|&(r, _)| r == ring);
            Sqe {
                opcode: if fixed.is_some() {
                    IORING_OP_WRITE_FIXED
                } else {
                    IORING_OP_WRITE
                },
                fd,
                addr: b.stable_ptr() as u64 + start as u64,
                len: io_len(b.bytes_init() - start),
                off: offset,
                buf_index: fixed.map_or(0, |(_, index)| index),
                ..Sqe::default()
            }
        };
        match Op::start_on("write", &self.fd, buf, sqe) {
            Err((e, buf)) => (Err(e), buf),
            Ok(op) => {
                let done = op.await;
                (done.result.map(|n| n as usize), done.data)
            }
        }
    }

    /// Flushes the file's data and metadata to the disk (`fsync`).
    pub async fn sync_all(&self) -> io::Result<()> {
        let op = Op::start_on("fsync", &self.fd, (), |_, fd, _| Sqe {
            opcode: IORING_OP_FSYNC,
            fd,
            ..Sqe::default()
        })
        .map_err(|(e, _)| e)?;
        op.await.result.map(drop)
    }
}

/// File offsets go up to `i64::MAX`, as for `pread`/`pwrite`. (To io_uring,
/// `u64::MAX` would mean "at the file's current position" instead.)
fn check_offset(offset: u64) -> io::Result<()> {
    if offset > i64::MAX as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a file offset beyond i64::MAX",
        ));
    }
    Ok(())
}

/// How to open a [`File`]: the same options, checked the same way, as
/// `std::fs::OpenOptions` (plus its Unix `mode`), opened by an io_uring
/// `openat`.
///
/// ```no_run
/// # async fn log() -> std::io::Result<()> {
/// use spindle_runtime::uring::fs::OpenOptions;
///
/// let log = OpenOptions::new().append(true).create(true).open("app.log").await?;
/// let (res, _) = log.write_all_at(b"started\n", 0).await; // O_APPEND: at the end
/// res
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// No access at all yet (choose `read`, `write` or `append`), mode
    /// 0o666 before the umask.
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
        }
    }

    /// Open for reading.
    pub fn read(&mut self, read: bool) -> &mut Self {
        self.read = read;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, write: bool) -> &mut Self {
        self.write = write;
        self
    }

    /// Open for writing, every write at the end of the file (`O_APPEND`:
    /// the offset a write names is ignored).
    pub fn append(&mut self, append: bool) -> &mut Self {
        self.append = append;
        self
    }

    /// Cut an existing file to length 0 (needs `write`).
    pub fn truncate(&mut self, truncate: bool) -> &mut Self {
        self.truncate = truncate;
        self
    }

    /// Create the file if it does not exist (needs `write` or `append`).
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.create = create;
        self
    }

    /// Create the file, failing with `AlreadyExists` if it exists (needs
    /// `write` or `append`; `create` and `truncate` are then ignored).
    pub fn create_new(&mut self, create_new: bool) -> &mut Self {
        self.create_new = create_new;
        self
    }

    /// The permission bits of a file this creates, before the umask.
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// Opens `path` with these options.
    ///
    /// Fails with `InvalidInput` for a combination `std::fs` refuses too:
    /// no access chosen, or creating or truncating without write access,
    /// or truncating in append mode.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        File::open_with(path.as_ref(), self.flags()?, self.mode).await
    }

    fn flags(&self) -> io::Result<libc::c_int> {
        let invalid =
            |what: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, what.to_owned()));
        let writes = self.write || self.append;
        let access = match (self.read, writes) {
            (true, false) => libc::O_RDONLY,
            (false, true) => libc::O_WRONLY,
            (true, true) => libc::O_RDWR,
            (false, false) => return invalid("no access chosen: read, write or append"),
        };
        if !writes && (self.truncate || self.create || self.create_new) {
            return invalid("creating or truncating a file needs write or append access");
        }
        if self.append && self.truncate && !self.create_new {
            return invalid("truncate and append together");
        }
        let creation = if self.create_new {
            libc::O_CREAT | libc::O_EXCL
        } else {
            (if self.create { libc::O_CREAT } else { 0 })
                | (if self.truncate { libc::O_TRUNC } else { 0 })
        };
        let append = if self.append { libc::O_APPEND } else { 0 };
        Ok(access | creation | append)
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
