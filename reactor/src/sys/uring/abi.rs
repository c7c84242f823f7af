//! The kernel's side of io_uring, as `<linux/io_uring.h>` lays it out: the
//! constants and structures we use, the three system calls
//! (`io_uring_setup`, `io_uring_enter`, `io_uring_register`) and the shared
//! mappings of the rings. Nothing here knows about registrations or tokens;
//! the poller in `mod.rs` builds on it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::{self, NonNull};
use std::time::Duration;

pub(super) const IORING_OFF_SQ_RING: libc::off_t = 0;
pub(super) const IORING_OFF_SQES: libc::off_t = 0x1000_0000;
pub(super) const IORING_OP_POLL_ADD: u8 = 6;
/// Cancels a request by its `user_data` (Linux 5.5).
pub(super) const IORING_OP_ASYNC_CANCEL: u8 = 14;
pub(super) const IORING_POLL_ADD_MULTI: u32 = 1;
pub(super) const IORING_CQE_F_MORE: u32 = 1 << 1;
pub(super) const IORING_ENTER_GETEVENTS: u32 = 1;
const IORING_ENTER_EXT_ARG: u32 = 1 << 3;
pub(super) const IORING_FEAT_SINGLE_MMAP: u32 = 1;
pub(super) const IORING_FEAT_EXT_ARG: u32 = 1 << 8;
/// Present from Linux 5.13, the first with multishot poll.
pub(super) const IORING_FEAT_RSRC_TAGS: u32 = 1 << 10;

/// Created disabled: no submitter thread is chosen until
/// `IORING_REGISTER_ENABLE_RINGS` (Linux 5.10).
pub(super) const IORING_SETUP_R_DISABLED: u32 = 1 << 6;
/// Go on submitting after a request that fails to start (Linux 5.18).
pub(super) const IORING_SETUP_SUBMIT_ALL: u32 = 1 << 7;
/// Run completion work when the thread next enters the kernel, instead of
/// interrupting it (Linux 5.19).
pub(super) const IORING_SETUP_COOP_TASKRUN: u32 = 1 << 8;
/// Flag pending completion work in the submission ring's flags word.
pub(super) const IORING_SETUP_TASKRUN_FLAG: u32 = 1 << 9;
/// Only one thread submits and waits (Linux 6.0).
pub(super) const IORING_SETUP_SINGLE_ISSUER: u32 = 1 << 12;
/// Run completion work only inside `io_uring_enter` with GETEVENTS
/// (Linux 6.1; needs SINGLE_ISSUER).
pub(super) const IORING_SETUP_DEFER_TASKRUN: u32 = 1 << 13;
/// The submission ring's flag that completions overflowed the completion
/// ring: the kernel holds them in a list until an `io_uring_enter` with
/// GETEVENTS moves them into the ring as room allows.
pub(super) const IORING_SQ_CQ_OVERFLOW: u32 = 1 << 1;
/// The submission ring's flag that completion work is waiting to run.
pub(super) const IORING_SQ_TASKRUN: u32 = 1 << 2;
const IORING_REGISTER_ENABLE_RINGS: libc::c_long = 12;

#[repr(C)]
#[derive(Default)]
pub(super) struct SqOffsets {
    pub head: u32,
    pub tail: u32,
    pub ring_mask: u32,
    pub ring_entries: u32,
    pub flags: u32,
    pub dropped: u32,
    pub array: u32,
    pub resv1: u32,
    pub user_addr: u64,
}

#[repr(C)]
#[derive(Default)]
pub(super) struct CqOffsets {
    pub head: u32,
    pub tail: u32,
    pub ring_mask: u32,
    pub ring_entries: u32,
    pub overflow: u32,
    pub cqes: u32,
    pub flags: u32,
    pub resv1: u32,
    pub user_addr: u64,
}

#[repr(C)]
#[derive(Default)]
pub(super) struct Params {
    pub sq_entries: u32,
    pub cq_entries: u32,
    pub flags: u32,
    pub sq_thread_cpu: u32,
    pub sq_thread_idle: u32,
    pub features: u32,
    pub wq_fd: u32,
    pub resv: [u32; 3],
    pub sq_off: SqOffsets,
    pub cq_off: CqOffsets,
}

/// A submission queue entry.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(super) struct Sqe {
    pub opcode: u8,
    pub flags: u8,
    pub ioprio: u16,
    pub fd: i32,
    pub off: u64,
    pub addr: u64,
    pub len: u32,
    pub op_flags: u32,
    pub user_data: u64,
    pub buf_index: u16,
    pub personality: u16,
    pub splice_fd_in: i32,
    pub addr3: u64,
    pub pad2: u64,
}

/// A completion queue entry.
#[repr(C)]
pub(super) struct Cqe {
    pub user_data: u64,
    pub res: i32,
    pub flags: u32,
}

#[repr(C)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    pad: u32,
    ts: u64,
}

/// One mapping of ring memory, unmapped on drop.
pub(super) struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mmap {
    pub(super) fn new(fd: RawFd, len: usize, offset: libc::off_t) -> io::Result<Mmap> {
        // SAFETY: a fresh shared mapping of the ring fd; the kernel checks
        // that `offset` names a ring and `len` fits it.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mmap {
            ptr: NonNull::new(ptr as *mut u8).expect("mmap returned null"),
            len,
        })
    }

    /// A pointer `offset` bytes into the mapping.
    pub(super) fn at<T>(&self, offset: u32) -> *mut T {
        debug_assert!((offset as usize) < self.len);
        // SAFETY: the kernel-provided offsets lie inside the mapping.
        unsafe { self.ptr.as_ptr().add(offset as usize) as *mut T }
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: we mapped exactly this range and nothing uses it any more.
        unsafe { libc::munmap(self.ptr.as_ptr() as *mut libc::c_void, self.len) };
    }
}

/// `io_uring_setup` with `flags`; returns the ring descriptor and parameters.
pub(super) fn setup(entries: u32, flags: u32) -> io::Result<(OwnedFd, Params)> {
    let mut p = Params {
        flags,
        ..Params::default()
    };
    // SAFETY: `p` is a valid io_uring_params the kernel fills in.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, entries, &mut p as *mut Params) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: io_uring_setup returned a new descriptor (close-on-exec by
    // definition) that nothing else owns.
    Ok((unsafe { OwnedFd::from_raw_fd(fd as RawFd) }, p))
}

/// `io_uring_enter`: submits `submit` queued requests and, with
/// `IORING_ENTER_GETEVENTS` in `flags`, runs pending completion work and
/// waits until `wait` completions are ready or `timeout` passes. Returns how
/// many requests the kernel took. A timeout, a signal, or a full completion
/// ring (`EBUSY`: reap first) return `Ok` as well.
pub(super) fn enter(
    ring: &OwnedFd,
    submit: u32,
    wait: u32,
    flags: u32,
    timeout: Option<Duration>,
) -> io::Result<u32> {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let arg = GeteventsArg {
        sigmask: 0,
        sigmask_sz: 0,
        pad: 0,
        ts: ts.as_ref().map_or(0, |t| t as *const libc::timespec as u64),
    };
    // SAFETY: the ring fd is open; `arg` (and the timespec it points to)
    // outlive the call; the kernel validates counts and flags.
    let res = unsafe {
        libc::syscall(
            libc::SYS_io_uring_enter,
            ring.as_raw_fd(),
            submit,
            wait,
            flags | IORING_ENTER_EXT_ARG,
            &arg as *const GeteventsArg,
            std::mem::size_of::<GeteventsArg>(),
        )
    };
    if res >= 0 {
        return Ok(res as u32);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY) => Ok(0),
        // SINGLE_ISSUER: a thread other than the ring's submitter entered.
        Some(libc::EEXIST) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring poller: only the thread that first waited on it may wait on it \
             (the ring is set up with IORING_SETUP_SINGLE_ISSUER)",
        )),
        _ => Err(e),
    }
}

/// Enables a ring created with `IORING_SETUP_R_DISABLED`; with
/// `IORING_SETUP_SINGLE_ISSUER` the calling thread becomes its submitter.
pub(super) fn enable_rings(ring: &OwnedFd) -> io::Result<()> {
    // SAFETY: ENABLE_RINGS takes no argument; the kernel checks the fd.
    let res = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring.as_raw_fd(),
            IORING_REGISTER_ENABLE_RINGS,
            ptr::null::<libc::c_void>(),
            0,
        )
    };
    if res < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
