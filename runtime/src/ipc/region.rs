//! A region of memory shared between processes: the storage under
//! [`Shared`](super::Shared), [`SharedArray`](super::SharedArray) and the
//! process locks.
//!
//! A region is an anonymous memory file (`memfd_create`) mapped with
//! `MAP_SHARED`: every process that maps the same file sees the same bytes,
//! whether it inherited the mapping through `fork` or received the
//! descriptor over a socket and mapped it itself (then at another address:
//! only offsets mean something in the region, never pointers). The file's
//! size is sealed at birth, so the region a receiver maps can never shrink
//! under it (touching a page past the end of a file raises `SIGBUS`).
//!
//! A [`Region`] owns the descriptor (to hand it on, see [`Region::encode`])
//! and the mapping (unmapped on drop). The types built on it keep it in an
//! `Arc`, so that a clone shares the same memory and a blocking-pool thread
//! waiting on one of its words keeps it mapped.
//!
//! All access goes through [`Region::word`] (an `AtomicU32`, for locks and
//! counters) or [`Region::ptr`] (raw bytes, read and written only under a
//! lock that lives in the same region).

use std::ffi::CStr;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;

use crate::pool::{decode_fd, encode_fd, DecodeError};
use crate::sys::memory;

/// A shared memory file and its mapping in this process.
pub(super) struct Region {
    fd: OwnedFd,
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping belongs to this value alone (unmapped once, in
// Drop), and is reached only through atomics (`word`) or through raw
// pointers that the owning types use under a lock in the region itself.
unsafe impl Send for Region {}
// SAFETY: as above: shared references only hand out atomics and raw
// pointers, whose use the owning types synchronize.
unsafe impl Sync for Region {}

impl Region {
    /// A new region of `len` zero bytes (at least one word), named `name`
    /// in `/proc/PID/fd` and `/proc/PID/maps`.
    pub(super) fn create(name: &CStr, len: usize) -> io::Result<Arc<Region>> {
        let len = len.max(4);
        // Cache our pid now, before any fork can copy this process (see
        // `sys::process::current_pid`).
        crate::sys::process::current_pid();
        let fd = memory::create_sealed(name, len)?;
        Region::map(fd, len)
    }

    /// Maps `fd`, a region's file that arrived from another process, after
    /// checking that it is a sealed file of at least `len` bytes.
    pub(super) fn open(fd: OwnedFd, len: usize) -> io::Result<Arc<Region>> {
        let len = len.max(4);
        crate::sys::process::current_pid();
        let size = memory::sealed_len(fd.as_fd())?;
        if size < len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a shared memory file of {size} bytes, where {len} were expected"),
            ));
        }
        Region::map(fd, len)
    }

    fn map(fd: OwnedFd, len: usize) -> io::Result<Arc<Region>> {
        let ptr = memory::map_shared(fd.as_fd(), len)?;
        Ok(Arc::new(Region { fd, ptr, len }))
    }

    /// The 32-bit word at byte `offset`.
    ///
    /// # Panics
    /// If the word is not 4-aligned or not inside the region (a bug in the
    /// caller's layout).
    pub(super) fn word(&self, offset: usize) -> &AtomicU32 {
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= self.len,
            "word at {offset} outside the region"
        );
        // SAFETY: the mapping is page-aligned, so `ptr + offset` is
        // 4-aligned; it lies inside the mapping, which lives as long as
        // `self`. Every process touches such a word only atomically.
        unsafe { &*self.ptr.as_ptr().add(offset).cast::<AtomicU32>() }
    }

    /// A raw pointer to the byte at `offset`, for reads and writes that the
    /// caller synchronizes (under a lock in the region).
    ///
    /// # Panics
    /// If `offset + len` passes the end of the region.
    pub(super) fn ptr(&self, offset: usize, len: usize) -> *mut u8 {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.len),
            "bytes {offset}..+{len} outside the region"
        );
        // SAFETY: in bounds of the mapping, as just checked.
        unsafe { self.ptr.as_ptr().add(offset) }
    }

    /// Encodes the region's descriptor (see [`encode_fd`]).
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        encode_fd(self.fd.as_fd(), out);
    }

    /// Decodes a descriptor written by [`Region::encode`] and maps it,
    /// expecting at least `len` bytes.
    pub(super) fn decode(input: &mut &[u8], len: usize) -> Result<Arc<Region>, DecodeError> {
        let fd = decode_fd(input)?;
        Region::open(fd, len).map_err(|_| DecodeError::new("cannot map the shared memory file"))
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `map`, unmapped once; `self`
        // is going away, and every user of the memory holds an `Arc` to it.
        unsafe { memory::unmap(self.ptr, self.len) };
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Region")
            .field("fd", &self.fd)
            .field("len", &self.len)
            .finish()
    }
}
