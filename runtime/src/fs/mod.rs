//! Files, without blocking the event loop: every operation runs on the
//! runtime's blocking pool.
//!
//! # Why files go to a thread pool
//!
//! epoll cannot help with regular files: it reports a file "always ready",
//! and the `read(2)` that follows may still wait for the disk. So spindle,
//! like tokio and Python's `asyncio` (`loop.run_in_executor`), performs
//! file system calls on the blocking pool behind
//! [`spawn_blocking`](crate::spawn_blocking) and awaits the result. The
//! event loop keeps serving sockets and timers meanwhile.
//!
//! The free functions ([`read`], [`read_to_string`], [`write()`], ...) are one
//! hop each: the whole `std::fs` call runs on a pool thread. [`File`] is a
//! handle for streaming, implementing [`AsyncRead`](crate::io::AsyncRead)
//! and [`AsyncWrite`](crate::io::AsyncWrite); its docs explain the state
//! machine that turns `poll_read` / `poll_write` into pool jobs (and
//! [`AsyncSeek`](crate::io::AsyncSeek) into one). The path operations
//! (`rename`, `create_dir_all`, `copy`, ...) are in `paths.rs`,
//! [`read_dir`] (entries fetched a batch per pool job) in `read_dir.rs`,
//! and [`OpenOptions`] in `open_options.rs`.
//!
//! All functions must be called inside a runtime (they use
//! `spawn_blocking`).
//!
//! ```
//! # spindle_runtime::block_on(async {
//! let path = std::env::temp_dir().join(format!("spindle-fs-doc-{}", std::process::id()));
//! spindle_runtime::fs::write(&path, b"hello").await?;
//! assert_eq!(spindle_runtime::fs::read_to_string(&path).await?, "hello");
//! spindle_runtime::fs::remove_file(&path).await?;
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```

#![forbid(unsafe_code)]

mod file;
mod open_options;
mod paths;
mod read_dir;

pub use file::File;
pub use open_options::OpenOptions;
pub use paths::{
    canonicalize, copy, create_dir, create_dir_all, hard_link, read_link, remove_dir,
    remove_dir_all, rename, set_permissions, symlink, symlink_metadata, try_exists,
};
pub use read_dir::{read_dir, DirEntry, ReadDir};

use std::io;
use std::path::Path;

/// Runs a blocking `std::fs` call on the blocking pool.
pub(crate) async fn asyncify<F, T>(f: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    match crate::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) => Err(io::Error::other(e)),
    }
}

/// Reads the whole file at `path`. The async [`std::fs::read`].
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::read(path)).await
}

/// Reads the whole file at `path` as UTF-8. The async [`std::fs::read_to_string`].
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::read_to_string(path)).await
}

/// Creates or truncates the file at `path` and writes `contents` to it.
/// The async [`std::fs::write`].
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let contents = contents.as_ref().to_owned();
    asyncify(move || std::fs::write(path, contents)).await
}

/// Removes the file at `path`. The async [`std::fs::remove_file`].
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::remove_file(path)).await
}

/// The metadata of the file at `path`, following symlinks. The async [`std::fs::metadata`].
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<std::fs::Metadata> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::metadata(path)).await
}
