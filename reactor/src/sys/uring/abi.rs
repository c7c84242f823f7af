//! The kernel's side of io_uring, as `<linux/io_uring.h>` lays it out: the
//! constants and structures we use, the three system calls
//! (`io_uring_setup`, `io_uring_enter`, `io_uring_register`) and the shared
//! mappings of the rings. Nothing here knows about registrations or tokens;
//! the poller in `mod.rs` builds on it.
//!
//! The names and fields are the kernel's, as `<linux/io_uring.h>` and
//! `io_uring_enter(2)` document them; only ours carry doc comments here.
#![allow(missing_docs, missing_debug_implementations)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::{self, NonNull};
use std::time::Duration;

pub const IORING_OFF_SQ_RING: libc::off_t = 0;
pub const IORING_OFF_SQES: libc::off_t = 0x1000_0000;
pub const IORING_OP_POLL_ADD: u8 = 6;
/// Cancels a request by its `user_data` (Linux 5.5).
pub const IORING_OP_ASYNC_CANCEL: u8 = 14;
pub const IORING_POLL_ADD_MULTI: u32 = 1;
pub const IORING_CQE_F_MORE: u32 = 1 << 1;
pub const IORING_ENTER_GETEVENTS: u32 = 1;
const IORING_ENTER_EXT_ARG: u32 = 1 << 3;
/// `recvmsg(2)` (Linux 5.3).
pub const IORING_OP_RECVMSG: u8 = 10;
/// `sendmsg(2)` (Linux 5.3).
pub const IORING_OP_SENDMSG: u8 = 9;
/// `read(2)` into a registered buffer (Linux 5.1).
pub const IORING_OP_READ_FIXED: u8 = 4;
/// `write(2)` from a registered buffer (Linux 5.1).
pub const IORING_OP_WRITE_FIXED: u8 = 5;
/// `accept4(2)` (Linux 5.5).
pub const IORING_OP_ACCEPT: u8 = 13;
/// `connect(2)` (Linux 5.5).
pub const IORING_OP_CONNECT: u8 = 16;
/// `openat(2)` (Linux 5.6).
pub const IORING_OP_OPENAT: u8 = 18;
/// `close(2)` (Linux 5.6).
pub const IORING_OP_CLOSE: u8 = 19;
/// `pread(2)` (Linux 5.6).
pub const IORING_OP_READ: u8 = 22;
/// `pwrite(2)` (Linux 5.6).
pub const IORING_OP_WRITE: u8 = 23;
/// `send(2)` (Linux 5.6).
pub const IORING_OP_SEND: u8 = 26;
/// `recv(2)` (Linux 5.6).
pub const IORING_OP_RECV: u8 = 27;
/// The number of opcodes this file knows (the probe's table size).
pub const IORING_OP_LAST: usize = 64;
/// In `ioprio` of a RECV or SEND: arm the wait for readiness at once,
/// without first trying the transfer (which is expected to fail: the
/// socket was just drained) (Linux 5.19).
pub const IORING_RECVSEND_POLL_FIRST: u16 = 1 << 0;
/// In `ioprio` of a RECV: keep the request and post a completion per
/// message (Linux 6.0), each in a buffer the kernel picks from a group.
pub const IORING_RECV_MULTISHOT: u16 = 1 << 1;
/// In an SQE's flags: the kernel picks the buffer from group `buf_group`.
pub const IOSQE_BUFFER_SELECT: u8 = 1 << 5;
/// In a CQE's flags: a buffer id is in the upper 16 bits.
pub const IORING_CQE_F_BUFFER: u32 = 1;
/// In an ASYNC_CANCEL's op_flags: cancel every request (Linux 5.19).
pub const IORING_ASYNC_CANCEL_ANY: u32 = 1 << 2;
const IORING_REGISTER_BUFFERS: libc::c_long = 0;
const IORING_REGISTER_EVENTFD: libc::c_long = 4;
const IORING_REGISTER_PROBE: libc::c_long = 8;
const IORING_REGISTER_PBUF_RING: libc::c_long = 22;
const IORING_UNREGISTER_PBUF_RING: libc::c_long = 23;
pub const IORING_FEAT_SINGLE_MMAP: u32 = 1;
/// Completions are never dropped: overflow waits in the kernel (Linux 5.5).
pub const IORING_FEAT_NODROP: u32 = 1 << 1;
pub const IORING_FEAT_EXT_ARG: u32 = 1 << 8;
/// Present from Linux 5.13, the first with multishot poll.
pub const IORING_FEAT_RSRC_TAGS: u32 = 1 << 10;

/// Created disabled: no submitter thread is chosen until
/// `IORING_REGISTER_ENABLE_RINGS` (Linux 5.10).
pub const IORING_SETUP_R_DISABLED: u32 = 1 << 6;
/// Go on submitting after a request that fails to start (Linux 5.18).
pub const IORING_SETUP_SUBMIT_ALL: u32 = 1 << 7;
/// Run completion work when the thread next enters the kernel, instead of
/// interrupting it (Linux 5.19).
pub const IORING_SETUP_COOP_TASKRUN: u32 = 1 << 8;
/// Flag pending completion work in the submission ring's flags word.
pub const IORING_SETUP_TASKRUN_FLAG: u32 = 1 << 9;
/// Only one thread submits and waits (Linux 6.0).
pub const IORING_SETUP_SINGLE_ISSUER: u32 = 1 << 12;
/// Run completion work only inside `io_uring_enter` with GETEVENTS
/// (Linux 6.1; needs SINGLE_ISSUER).
pub const IORING_SETUP_DEFER_TASKRUN: u32 = 1 << 13;
/// The submission ring's flag that completions overflowed the completion
/// ring: the kernel holds them in a list until an `io_uring_enter` with
/// GETEVENTS moves them into the ring as room allows.
pub const IORING_SQ_CQ_OVERFLOW: u32 = 1 << 1;
/// The submission ring's flag that completion work is waiting to run.
pub const IORING_SQ_TASKRUN: u32 = 1 << 2;
const IORING_REGISTER_ENABLE_RINGS: libc::c_long = 12;

#[repr(C)]
#[derive(Default)]
pub struct SqOffsets {
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
pub struct CqOffsets {
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
pub struct Params {
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
pub struct Sqe {
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
#[derive(Clone, Copy, Debug)]
pub struct Cqe {
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
pub struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a mapping is plain memory owned by this value; it is only
// unmapped in Drop, and what is read or written through it is up to the
// users of the ring halves (which synchronise with the kernel's atomics).
unsafe impl Send for Mmap {}
// SAFETY: as above; `&Mmap` only hands out addresses.
unsafe impl Sync for Mmap {}

impl Mmap {
    pub fn new(fd: RawFd, len: usize, offset: libc::off_t) -> io::Result<Mmap> {
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
    pub fn at<T>(&self, offset: u32) -> *mut T {
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
pub fn setup(entries: u32, flags: u32) -> io::Result<(OwnedFd, Params)> {
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
pub fn enter(
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

/// `io_uring_register(opcode, arg, nr)`.
fn register(
    ring: &OwnedFd,
    opcode: libc::c_long,
    arg: *const libc::c_void,
    nr: u32,
) -> io::Result<()> {
    // SAFETY: the caller's `arg` is valid for what `opcode` reads or
    // writes (`nr` entries); the kernel checks the fd and the opcode.
    let res = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring.as_raw_fd(),
            opcode,
            arg,
            nr,
        )
    };
    if res < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Has the kernel signal `eventfd` when completions are posted (on a
/// `DEFER_TASKRUN` ring: when completion work is queued for the
/// submitter), so the ring can be watched by another poller.
pub fn register_eventfd(ring: &OwnedFd, eventfd: RawFd) -> io::Result<()> {
    register(
        ring,
        IORING_REGISTER_EVENTFD,
        (&eventfd as *const RawFd).cast(),
        1,
    )
}

/// Registers `iovecs` as the ring's fixed buffers (READ_FIXED and
/// WRITE_FIXED name them by index). The memory must stay valid, and not
/// move, until the ring is closed.
pub fn register_buffers(ring: &OwnedFd, iovecs: &[libc::iovec]) -> io::Result<()> {
    register(
        ring,
        IORING_REGISTER_BUFFERS,
        iovecs.as_ptr().cast(),
        iovecs.len() as u32,
    )
}

/// The opcodes this kernel supports: `supported[op]` (IORING_REGISTER_PROBE,
/// Linux 5.6).
pub fn probe(ring: &OwnedFd) -> io::Result<[bool; IORING_OP_LAST]> {
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct ProbeOp {
        op: u8,
        resv: u8,
        flags: u16,
        resv2: u32,
    }
    #[repr(C)]
    struct Probe {
        last_op: u8,
        ops_len: u8,
        resv: u16,
        resv2: [u32; 3],
        ops: [ProbeOp; IORING_OP_LAST],
    }
    let mut probe = Probe {
        last_op: 0,
        ops_len: 0,
        resv: 0,
        resv2: [0; 3],
        ops: [ProbeOp::default(); IORING_OP_LAST],
    };
    register(
        ring,
        IORING_REGISTER_PROBE,
        (&mut probe as *mut Probe).cast(),
        IORING_OP_LAST as u32,
    )?;
    const IO_URING_OP_SUPPORTED: u16 = 1;
    let mut supported = [false; IORING_OP_LAST];
    for op in &probe.ops[..(probe.ops_len as usize).min(IORING_OP_LAST)] {
        if (op.op as usize) < IORING_OP_LAST {
            supported[op.op as usize] = op.flags & IO_URING_OP_SUPPORTED != 0;
        }
    }
    Ok(supported)
}

/// Registers a ring of provided buffers for group `bgid` (Linux 5.19):
/// `ring_addr` points to `entries` (a power of two) `io_uring_buf`
/// entries, page aligned, that stay valid until unregistered.
pub fn register_buf_ring(
    ring: &OwnedFd,
    ring_addr: u64,
    entries: u32,
    bgid: u16,
) -> io::Result<()> {
    #[repr(C)]
    struct BufReg {
        ring_addr: u64,
        ring_entries: u32,
        bgid: u16,
        flags: u16,
        resv: [u64; 3],
    }
    let reg = BufReg {
        ring_addr,
        ring_entries: entries,
        bgid,
        flags: 0,
        resv: [0; 3],
    };
    register(
        ring,
        IORING_REGISTER_PBUF_RING,
        (&reg as *const BufReg).cast(),
        1,
    )
}

/// Unregisters the provided-buffer ring of group `bgid`.
pub fn unregister_buf_ring(ring: &OwnedFd, bgid: u16) -> io::Result<()> {
    #[repr(C)]
    struct BufReg {
        ring_addr: u64,
        ring_entries: u32,
        bgid: u16,
        flags: u16,
        resv: [u64; 3],
    }
    let reg = BufReg {
        ring_addr: 0,
        ring_entries: 0,
        bgid,
        flags: 0,
        resv: [0; 3],
    };
    register(
        ring,
        IORING_UNREGISTER_PBUF_RING,
        (&reg as *const BufReg).cast(),
        1,
    )
}

/// Enables a ring created with `IORING_SETUP_R_DISABLED`; with
/// `IORING_SETUP_SINGLE_ISSUER` the calling thread becomes its submitter.
pub fn enable_rings(ring: &OwnedFd) -> io::Result<()> {
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
