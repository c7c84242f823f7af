//! System calls on memory: creating a memory file whose size is sealed,
//! checking one that arrived from another process, mapping it shared, and
//! unmapping it (for IPC); mapping private anonymous memory and asking for
//! huge pages on it (for the task arena, `task/arena`).

use std::io;
#[cfg(feature = "process-pool")]
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use super::cvt;

#[cfg(feature = "process-pool")]
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

/// `mmap(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)`:
/// `len` bytes of zeroed memory of this process alone, at an address the
/// kernel picks, page-aligned. Pages are backed on first touch.
///
/// As with [`map_shared`], the memory is only handed out as a pointer.
pub(crate) fn map_private(len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: a fresh anonymous mapping at an address the kernel picks, so
    // no existing memory is replaced; nothing refers to it yet.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap gave null"))
}

/// `madvise(ptr, len, MADV_HUGEPAGE)`: asks the kernel to back the range
/// with transparent huge pages (2 MiB on x86-64) where it can. It is
/// advice: with THP off, or no huge page free, the range gets small pages
/// as before, and the error (`EINVAL` where THP is not built in) changes
/// nothing either. Advice never changes the memory's contents, so this is
/// safe for any range (one not mapped gets `ENOMEM`).
pub(crate) fn advise_huge_pages(ptr: NonNull<u8>, len: usize) -> io::Result<()> {
    // SAFETY: MADV_HUGEPAGE only changes how the range is backed, never
    // what it holds; the kernel checks the range.
    cvt(unsafe { libc::madvise(ptr.as_ptr().cast(), len, libc::MADV_HUGEPAGE) }).map(drop)
}

/// `madvise(ptr, len, MADV_POPULATE_WRITE)`: backs every page of the range
/// now, writable and zeroed, in one call, instead of one page fault per
/// page on first touch (Linux 5.14 and later; older kernels answer
/// `EINVAL`, and the pages fault in on touch as before). It never changes
/// what the memory holds: pages already backed are left as they are.
pub(crate) fn populate(ptr: NonNull<u8>, len: usize) -> io::Result<()> {
    // SAFETY: MADV_POPULATE_WRITE only backs the range (as a write to it
    // would, without writing), never changes its contents; the kernel
    // checks the range.
    cvt(unsafe { libc::madvise(ptr.as_ptr().cast(), len, libc::MADV_POPULATE_WRITE) }).map(drop)
}

/// `munmap(ptr, len)`.
///
/// # Safety
/// `ptr` and `len` must be a page-aligned range of a mapping made by
/// [`map_shared`] or [`map_private`] and not unmapped yet, and nothing may
/// use the memory afterwards.
pub(crate) unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: the caller guarantees this is a live mapping of ours that is
    // not used any more.
    unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
}

#[cfg(feature = "process-pool")]
/// The seals a shared memory file gets at birth: its size can never change
/// again, and no one can lift the seals.
const SIZE_SEALS: libc::c_int = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;

#[cfg(feature = "process-pool")]
/// `memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)`, `ftruncate(len)`,
/// then `fcntl(F_ADD_SEALS, SHRINK | GROW | SEAL)`: an anonymous memory
/// file of `len` zero bytes whose size is fixed for good.
///
/// The seals are what make it safe to map a file that came from another
/// process (see [`sealed_len`]): touching a mapped page past the end of its
/// file raises `SIGBUS`, so a file someone could shrink would be a crash
/// waiting to happen.
pub(crate) fn create_sealed(name: &std::ffi::CStr, len: usize) -> io::Result<OwnedFd> {
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: `name` is NUL-terminated; the result is a new descriptor or -1.
    let fd = cvt(unsafe { libc::memfd_create(name.as_ptr(), flags) })?;
    // SAFETY: memfd_create just created `fd`; nothing else owns it.
    let fd = unsafe { super::fd::adopt(fd) };
    let len =
        libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: plain integer arguments on a descriptor we own.
    cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), len) })?;
    // SAFETY: plain integer arguments on a descriptor we own.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, SIZE_SEALS) })?;
    Ok(fd)
}

#[cfg(feature = "process-pool")]
/// The size of a memory file made by [`create_sealed`], or an error if
/// `fd` is not a file whose size is sealed (then mapping it would not be
/// safe: its size could change under the mapping).
pub(crate) fn sealed_len(fd: BorrowedFd<'_>) -> io::Result<usize> {
    // SAFETY: plain integer arguments; a descriptor that supports no seals
    // fails with EINVAL.
    let seals = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) })?;
    let fixed = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;
    if seals & fixed != fixed {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the memory file's size is not sealed",
        ));
    }
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `stat` is writable memory for one `struct stat`.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), stat.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded, so it filled the struct in.
    let size = unsafe { stat.assume_init() }.st_size;
    usize::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}
