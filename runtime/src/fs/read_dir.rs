//! [`read_dir`]: the entries of a directory, fetched from the blocking pool
//! a batch at a time.
//!
//! `std::fs::ReadDir` is an iterator whose `next` may block on the disk
//! (`getdents64`). [`ReadDir`] owns it and is in one of two states:
//!
//! ```text
//!   Idle(iterator, batch) --batch empty: move the iterator into a job--> Busy(job)
//!          ^                                                               |
//!          +------ job done: the iterator comes back with up to 32 --------+
//!                  entries (and each entry's file type, usually free)
//! ```
//!
//! `next_entry` hands out the batch first and starts a job only when it is
//! empty, so a directory of `n` entries costs about `n / 32` pool hops.
//! The job lives in `ReadDir`, not in the future `next_entry` returns:
//! dropping that future mid-await loses nothing, the next call picks up the
//! same job and its entries.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::fs::{FileType, Metadata};
use std::future::{poll_fn, Future};
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use super::asyncify;
use crate::task::JoinHandle;

/// How many entries one pool job reads.
const BATCH: usize = 32;

/// Opens the directory at `path` for listing. The async [`std::fs::read_dir`].
///
/// ```
/// # spindle_runtime::block_on(async {
/// let mut entries = spindle_runtime::fs::read_dir(".").await?;
/// while let Some(entry) = entries.next_entry().await? {
///     println!("{}", entry.path().display());
/// }
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path = path.as_ref().to_owned();
    let std = asyncify(move || std::fs::read_dir(path)).await?;
    Ok(ReadDir {
        state: State::Idle(Some(Batch {
            std,
            entries: VecDeque::new(),
            done: false,
        })),
    })
}

/// The entries of a directory, from [`read_dir`]. `.` and `..` are not
/// listed; the order is whatever the file system gives.
pub struct ReadDir {
    state: State,
}

enum State {
    /// `None` only while a job is being started.
    Idle(Option<Batch>),
    Busy(JoinHandle<Batch>),
}

/// The std iterator and the entries it gave that were not handed out yet.
struct Batch {
    std: std::fs::ReadDir,
    entries: VecDeque<io::Result<DirEntry>>,
    /// The iterator has ended.
    done: bool,
}

impl Batch {
    /// Reads up to [`BATCH`] entries (on a pool thread).
    fn fill(&mut self) {
        for _ in 0..BATCH {
            match self.std.next() {
                Some(entry) => self.entries.push_back(entry.map(DirEntry::new)),
                None => {
                    self.done = true;
                    return;
                }
            }
        }
    }
}

impl ReadDir {
    /// The next entry: `Ok(None)` once every entry was returned. An error
    /// reading one entry is returned in its place; later calls continue
    /// with the entries after it.
    ///
    /// Cancel-safe: dropping the future loses no entry.
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        poll_fn(|cx| self.poll_next_entry(cx)).await
    }

    /// The poll form of [`next_entry`](Self::next_entry): `Pending` while a
    /// batch is being read (the waker of the last call is woken).
    pub fn poll_next_entry(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<DirEntry>>> {
        loop {
            match &mut self.state {
                State::Busy(job) => {
                    let batch = ready!(Pin::new(job).poll(cx));
                    match batch {
                        Ok(batch) => self.state = State::Idle(Some(batch)),
                        Err(e) => {
                            // The job panicked: the iterator is gone with it.
                            self.state = State::Idle(None);
                            return Poll::Ready(Err(io::Error::other(e)));
                        }
                    }
                }
                State::Idle(None) => return Poll::Ready(Ok(None)),
                State::Idle(Some(batch)) => {
                    if let Some(entry) = batch.entries.pop_front() {
                        return Poll::Ready(entry.map(Some));
                    }
                    if batch.done {
                        return Poll::Ready(Ok(None));
                    }
                    let Some(mut batch) = self.take_batch() else {
                        unreachable!("matched Idle(Some)")
                    };
                    self.state = State::Busy(crate::spawn_blocking(move || {
                        batch.fill();
                        batch
                    }));
                }
            }
        }
    }

    fn take_batch(&mut self) -> Option<Batch> {
        match &mut self.state {
            State::Idle(batch) => batch.take(),
            State::Busy(_) => None,
        }
    }
}

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadDir")
            .field("busy", &matches!(self.state, State::Busy(_)))
            .finish()
    }
}

/// One entry of a directory, from [`ReadDir::next_entry`].
///
/// The path and name are known without a system call. The file type was
/// read with the entry (from the directory listing itself on most file
/// systems), so [`file_type`](Self::file_type) rarely needs the pool;
/// [`metadata`](Self::metadata) always does.
#[derive(Debug, Clone)]
pub struct DirEntry {
    std: Arc<std::fs::DirEntry>,
    file_type: Option<FileType>,
}

impl DirEntry {
    /// Wraps std's entry (on a pool thread), asking for its type while there.
    fn new(std: std::fs::DirEntry) -> DirEntry {
        let file_type = std.file_type().ok();
        DirEntry {
            std: Arc::new(std),
            file_type,
        }
    }

    /// The full path: the directory given to [`read_dir`] joined with
    /// [`file_name`](Self::file_name).
    pub fn path(&self) -> PathBuf {
        self.std.path()
    }

    /// The entry's name within its directory.
    pub fn file_name(&self) -> OsString {
        self.std.file_name()
    }

    /// The entry's inode number, as the directory listing gives it.
    pub fn ino(&self) -> u64 {
        std::os::unix::fs::DirEntryExt::ino(&*self.std)
    }

    /// The entry's metadata, not following a symlink (as std's
    /// `DirEntry::metadata`).
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let std = self.std.clone();
        asyncify(move || std.metadata()).await
    }

    /// The entry's file type, not following a symlink.
    pub async fn file_type(&self) -> io::Result<FileType> {
        if let Some(file_type) = self.file_type {
            return Ok(file_type);
        }
        let std = self.std.clone();
        asyncify(move || std.file_type()).await
    }
}
