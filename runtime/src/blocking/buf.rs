//! [`Buf`]: the buffer a blocking-pool IO job reads into or writes from,
//! which the async type that started the job owns between jobs.

use std::io::{self, Read};

/// The buffer a blocking-pool IO job reads into or writes from, owned by
/// the async type between jobs (`fs::File`, `io::stdin`): `data[pos..]` is
/// read-ahead not yet handed out.
#[derive(Default)]
pub(crate) struct Buf {
    pub(crate) data: Vec<u8>,
    pos: usize,
}

impl Buf {
    pub(crate) fn unread(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn copy_to(&mut self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.unread());
        dst[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        n
    }

    pub(crate) fn clear(&mut self) {
        self.data.clear();
        self.pos = 0;
    }

    /// One `read` of up to `len` bytes into the buffer (on a pool thread),
    /// retried if a signal interrupts it.
    pub(crate) fn read_from(&mut self, mut src: impl Read, len: usize) -> io::Result<usize> {
        self.data.resize(len, 0);
        self.pos = 0;
        loop {
            match src.read(&mut self.data) {
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
}
