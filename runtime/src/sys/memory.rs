//! System calls on memory: mapping a file shared between processes, and
//! unmapping it.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

/// `mmap(len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)`: maps the first
/// `len` bytes of `fd` at an address the kernel picks. Writes are seen by
/// every process that maps the same file. The mapping outlives `fd`.
///
/// The memory is only handed out as a pointer: reading or writing through
/// it, and unmapping it once, is the caller's business ([`unmap`]).
pub(crate) fn map_shared(fd: BorrowedFd<'_>, len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: a fresh mapping at an address the kernel picks (so no
    // existing memory is replaced); nothing refers to it yet.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap gave null"))
}

/// `munmap(ptr, len)`.
///
/// # Safety
/// `ptr` and `len` must be exactly a mapping made by [`map_shared`] and not
/// unmapped yet, and nothing may use the memory afterwards.
pub(crate) unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: the caller guarantees this is a live mapping of ours that is
    // not used any more.
    unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
}
