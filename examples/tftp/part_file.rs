//! [`PartFile`]: a file being received, kept under a temporary name until
//! it is complete.
//!
//! A transfer can die halfway (the peer vanishes, the disk fills up). The
//! bytes are therefore written to a hidden file next to the target
//! (`.NAME.PID-N.part`, created with `create_new`, so it never replaces
//! anything), and only a complete file takes the target's name:
//! [`commit`](PartFile::commit) renames it in one step (or, when an
//! existing file must not be replaced, hard-links it, which fails if the
//! name is taken). [`discard`](PartFile::discard) deletes it. Either way no
//! reader ever sees half a file under the real name.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use spindle::fs::{self, File, OpenOptions};
use spindle::io::BufWriter;

/// Bytes gathered before each write to the file: one blocking-pool job
/// per 128 blocks instead of one per block.
const WRITE_BUFFER: usize = 64 * 1024;

/// Tells apart the temporary files of concurrent transfers.
static NEXT_PART: AtomicU64 = AtomicU64::new(0);

/// A file under a temporary name; see the module docs.
#[derive(Debug)]
pub struct PartFile {
    part: PathBuf,
    target: PathBuf,
}

impl PartFile {
    /// Creates the temporary file for `target` in the same directory, and a
    /// buffered writer for it.
    pub async fn create(target: &Path) -> io::Result<(PartFile, BufWriter<File>)> {
        let name = target
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
        let part_name = format!(
            ".{}.{}-{}.part",
            name.to_string_lossy(),
            std::process::id(),
            NEXT_PART.fetch_add(1, Ordering::Relaxed)
        );
        let part = target.with_file_name(part_name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&part)
            .await?;
        let part_file = PartFile {
            part,
            target: target.to_owned(),
        };
        Ok((part_file, BufWriter::with_capacity(WRITE_BUFFER, file)))
    }

    /// Gives the complete file its real name. With `replace` an existing
    /// file of that name is replaced; without, `AlreadyExists` is returned
    /// and the temporary file is deleted.
    pub async fn commit(self, replace: bool) -> io::Result<()> {
        if replace {
            return match fs::rename(&self.part, &self.target).await {
                Ok(()) => Ok(()),
                Err(e) => {
                    self.discard().await;
                    Err(e)
                }
            };
        }
        let linked = fs::hard_link(&self.part, &self.target).await;
        self.discard().await;
        linked
    }

    /// Deletes the temporary file (best effort: a failure here has nobody
    /// to report to but the log, and leaves only a hidden `.part` file).
    pub async fn discard(self) {
        if let Err(e) = fs::remove_file(&self.part).await {
            if e.kind() != io::ErrorKind::NotFound {
                eprintln!("could not remove {}: {e}", self.part.display());
            }
        }
    }
}
