//! The io_uring backend: readiness from multishot poll requests, built on the
//! raw system calls and the rings they share with the kernel.
//!
//! # The rings
//!
//! `io_uring_setup` creates two ring buffers in memory mapped into both the
//! kernel and this process. We write requests (SQEs) into the submission
//! ring and move its tail; the kernel writes results (CQEs) into the
//! completion ring and moves that tail; `io_uring_enter` tells the kernel how
//! many new requests there are and, optionally, waits for completions.
//!
//! # Readiness through multishot poll
//!
//! Each registration is one `POLL_ADD` request with the multishot flag: it
//! stays armed and posts a completion every time the descriptor's readiness
//! changes (edge-triggered, like `EPOLLET`). `modify` replaces the request,
//! `delete` cancels it with `POLL_REMOVE`. Requests are only queued by
//! `add`/`modify`/`delete`; the next `wait` submits the whole batch in the
//! same `io_uring_enter` that waits for completions, so a loop turn costs
//! one system call however many registrations changed.
//!
//! Every request carries a fresh 64-bit id, never reused. A completion whose
//! id is no longer in the table (its registration was deleted, and the
//! cancellation or a last event is still in flight) is dropped, so a stale
//! completion can never be mistaken for a newer registration.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::event_from_poll_bits;
use super::eventfd::EventFd;
use crate::{Events, Interest, Token};

const IORING_OFF_SQ_RING: libc::off_t = 0;
const IORING_OFF_CQ_RING: libc::off_t = 0x800_0000;
const IORING_OFF_SQES: libc::off_t = 0x1000_0000;
const IORING_OP_POLL_ADD: u8 = 6;
const IORING_OP_POLL_REMOVE: u8 = 7;
const IORING_POLL_ADD_MULTI: u32 = 1;
const IORING_CQE_F_MORE: u32 = 1 << 1;
const IORING_ENTER_GETEVENTS: u32 = 1;
const IORING_ENTER_EXT_ARG: u32 = 1 << 3;
const IORING_FEAT_SINGLE_MMAP: u32 = 1;
/// Run completion work when we enter the kernel, instead of interrupting
/// the thread for it (Linux 5.19+).
const IORING_SETUP_COOP_TASKRUN: u32 = 1 << 8;
/// With COOP_TASKRUN: flag in the submission ring that such work is pending.
const IORING_SETUP_TASKRUN_FLAG: u32 = 1 << 9;
const IORING_SQ_TASKRUN: u32 = 1 << 2;
const IORING_FEAT_EXT_ARG: u32 = 1 << 8;
/// Present from Linux 5.13, the first with multishot poll.
const IORING_FEAT_RSRC_TAGS: u32 = 1 << 10;
const ENTRIES: u32 = 1024;
/// Request ids with a meaning of their own.
const NOTIFY_ID: u64 = u64::MAX;
const IGNORE_ID: u64 = u64::MAX - 1;

#[repr(C)]
#[derive(Default)]
struct SqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    flags: u32,
    dropped: u32,
    array: u32,
    resv1: u32,
    user_addr: u64,
}

#[repr(C)]
#[derive(Default)]
struct CqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    overflow: u32,
    cqes: u32,
    flags: u32,
    resv1: u32,
    user_addr: u64,
}

#[repr(C)]
#[derive(Default)]
struct Params {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    sq_off: SqOffsets,
    cq_off: CqOffsets,
}

/// A submission queue entry, as laid out by `<linux/io_uring.h>`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Sqe {
    opcode: u8,
    flags: u8,
    ioprio: u16,
    fd: i32,
    off: u64,
    addr: u64,
    len: u32,
    op_flags: u32,
    user_data: u64,
    buf_index: u16,
    personality: u16,
    splice_fd_in: i32,
    addr3: u64,
    pad2: u64,
}

#[repr(C)]
struct Cqe {
    user_data: u64,
    res: i32,
    flags: u32,
}

#[repr(C)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    pad: u32,
    ts: u64,
}

/// One mapping of ring memory, unmapped on drop.
struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mmap {
    fn new(fd: RawFd, len: usize, offset: libc::off_t) -> io::Result<Mmap> {
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
    fn at<T>(&self, offset: u32) -> *mut T {
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

/// The submission side: only touched under `Poller::sq`.
struct Submission {
    /// The kernel's flags word of the submission ring (IORING_SQ_TASKRUN).
    flags: *const AtomicU32,
    tail: *const AtomicU32,
    head: *const AtomicU32,
    mask: u32,
    entries: u32,
    sqes: *mut Sqe,
    local_tail: u32,
    unsubmitted: u32,
    /// Registrations: request id -> (fd, token), and fd -> request id.
    by_id: HashMap<u64, (RawFd, Token), BuildIdHasher>,
    by_fd: HashMap<RawFd, u64>,
    next_id: u64,
}

/// The completion side: only touched under `Poller::cq`.
struct Completion {
    head: *const AtomicU32,
    tail: *const AtomicU32,
    mask: u32,
    cqes: *const Cqe,
}

pub(crate) struct Poller {
    ring: OwnedFd,
    sq: Mutex<Submission>,
    cq: Mutex<Completion>,
    notify: EventFd,
    _maps: Vec<Mmap>,
}

// SAFETY: the raw pointers point into ring memory owned by `_maps`; the
// submission side is only used under the `sq` mutex and the completion side
// under the `cq` mutex, and the kernel synchronises with us through the
// atomic head/tail words.
unsafe impl Send for Poller {}
// SAFETY: as above.
unsafe impl Sync for Poller {}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoUringPoller")
            .field("fd", &self.ring.as_raw_fd())
            .finish()
    }
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        // Ask for cooperative task running: without it the kernel interrupts
        // the waiting thread for every poll completion, which costs more CPU
        // per request than epoll. Older kernels refuse the flags: retry plain.
        let (fd, p) = match setup(IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => setup(0)?,
            res => res?,
        };
        let ring = fd;
        let needed = IORING_FEAT_SINGLE_MMAP | IORING_FEAT_EXT_ARG | IORING_FEAT_RSRC_TAGS;
        if p.features & needed != needed {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring on this kernel lacks multishot poll or timed waits (needs Linux 5.13+)",
            ));
        }
        let sq_len = p.sq_off.array as usize + p.sq_entries as usize * 4;
        let cq_len = p.cq_off.cqes as usize + p.cq_entries as usize * std::mem::size_of::<Cqe>();
        let rings = Mmap::new(ring.as_raw_fd(), sq_len.max(cq_len), IORING_OFF_SQ_RING)?;
        let sqes = Mmap::new(
            ring.as_raw_fd(),
            p.sq_entries as usize * std::mem::size_of::<Sqe>(),
            IORING_OFF_SQES,
        )?;
        let _ = IORING_OFF_CQ_RING; // one mapping serves both rings (FEAT_SINGLE_MMAP)
                                    // The ring's index array maps slot i to entry i, once and for all.
        let array: *mut u32 = rings.at(p.sq_off.array);
        for i in 0..p.sq_entries {
            // SAFETY: `array` has sq_entries u32 slots inside the mapping.
            unsafe { array.add(i as usize).write(i) };
        }
        // SAFETY: offsets from the kernel, inside the mapping; read once here.
        let (sq_mask, sq_tail) = unsafe {
            (
                *rings.at::<u32>(p.sq_off.ring_mask),
                (*rings.at::<AtomicU32>(p.sq_off.tail)).load(Ordering::Acquire),
            )
        };
        // SAFETY: as above.
        let cq_mask = unsafe { *rings.at::<u32>(p.cq_off.ring_mask) };
        let sq = Submission {
            flags: rings.at(p.sq_off.flags),
            tail: rings.at(p.sq_off.tail),
            head: rings.at(p.sq_off.head),
            mask: sq_mask,
            entries: p.sq_entries,
            sqes: sqes.at(0),
            local_tail: sq_tail,
            unsubmitted: 0,
            by_id: HashMap::default(),
            by_fd: HashMap::new(),
            next_id: 0,
        };
        let cq = Completion {
            head: rings.at(p.cq_off.head),
            tail: rings.at(p.cq_off.tail),
            mask: cq_mask,
            cqes: rings.at(p.cq_off.cqes),
        };
        let poller = Poller {
            ring,
            sq: Mutex::new(sq),
            cq: Mutex::new(cq),
            notify: EventFd::new()?,
            _maps: vec![rings, sqes],
        };
        let notify_fd = poller.notify.fd();
        poller.push(
            &mut poller.sq(),
            poll_add(notify_fd, libc::POLLIN as u32, NOTIFY_ID),
        )?;
        Ok(poller)
    }

    fn sq(&self) -> MutexGuard<'_, Submission> {
        self.sq.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn add(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        if token == Token::NOTIFY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Token(usize::MAX) is reserved for the poller's notifier",
            ));
        }
        let mut sq = self.sq();
        if sq.by_fd.contains_key(&fd) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        let id = sq.next_id;
        sq.next_id += 1;
        self.push(&mut sq, poll_add(fd, mask(interest), id))?;
        sq.by_id.insert(id, (fd, token));
        sq.by_fd.insert(fd, id);
        Ok(())
    }

    pub(crate) fn modify(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.delete(fd)?;
        self.add(fd, token, interest)
    }

    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        let mut sq = self.sq();
        let id = sq
            .by_fd
            .remove(&fd)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        sq.by_id.remove(&id);
        let remove = Sqe {
            opcode: IORING_OP_POLL_REMOVE,
            fd: -1,
            addr: id,
            user_data: IGNORE_ID,
            ..Sqe::default()
        };
        self.push(&mut sq, remove)
    }

    /// Queues one request; if the ring is full, submits what is queued first.
    fn push(&self, sq: &mut Submission, sqe: Sqe) -> io::Result<()> {
        // SAFETY: the kernel's head pointer stays valid for the ring's life.
        let head = unsafe { (*sq.head).load(Ordering::Acquire) };
        if sq.local_tail.wrapping_sub(head) == sq.entries {
            self.enter(sq.unsubmitted, 0, 0, None)?;
            sq.unsubmitted = 0;
        }
        let index = sq.local_tail & sq.mask;
        // SAFETY: `index` is below sq_entries, and the kernel does not read
        // this slot until the tail is published below.
        unsafe { sq.sqes.add(index as usize).write(sqe) };
        sq.local_tail = sq.local_tail.wrapping_add(1);
        // SAFETY: as for head; Release publishes the entry written above.
        unsafe { (*sq.tail).store(sq.local_tail, Ordering::Release) };
        sq.unsubmitted += 1;
        Ok(())
    }

    fn enter(
        &self,
        submit: u32,
        wait: u32,
        flags: u32,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
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
        // SAFETY: the ring fd is ours; `arg` (and the timespec it points to)
        // outlive the call; the kernel validates counts and flags.
        let res = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                self.ring.as_raw_fd(),
                submit,
                wait,
                flags | IORING_ENTER_EXT_ARG,
                &arg as *const GeteventsArg,
                std::mem::size_of::<GeteventsArg>(),
            )
        };
        if res < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                // Timed out, interrupted, or completions must be reaped first.
                Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY) => Ok(()),
                _ => Err(e),
            };
        }
        Ok(())
    }

    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.list.clear();
        let (submit, taskrun) = {
            let mut sq = self.sq();
            // SAFETY: the flags word is valid for the ring's life.
            let flags = unsafe { (*sq.flags).load(Ordering::Acquire) };
            (
                std::mem::take(&mut sq.unsubmitted),
                flags & IORING_SQ_TASKRUN != 0,
            )
        };
        let block = timeout != Some(Duration::ZERO);
        if block || submit > 0 || taskrun {
            // Entering with GETEVENTS also runs pending completion work.
            let flags = if block || taskrun {
                IORING_ENTER_GETEVENTS
            } else {
                0
            };
            self.enter(submit, block as u32, flags, timeout)?;
        }
        let cq = self.cq.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: ring words valid for the ring's life; we are the only reader.
        let mut head = unsafe { (*cq.head).load(Ordering::Relaxed) };
        // SAFETY: as above; Acquire makes the entries before the tail visible.
        let tail = unsafe { (*cq.tail).load(Ordering::Acquire) };
        let mut rearm = Vec::new();
        // One lock for the whole batch of completions.
        let mut sq = self.sq();
        while head != tail && events.list.len() < events.capacity {
            // SAFETY: entries between head and tail are written by the kernel.
            let cqe = unsafe { &*cq.cqes.add((head & cq.mask) as usize) };
            head = head.wrapping_add(1);
            let ended = cqe.flags & IORING_CQE_F_MORE == 0;
            match cqe.user_data {
                NOTIFY_ID => {
                    self.notify.drain();
                    if ended {
                        rearm.push((self.notify.fd(), libc::POLLIN as u32, NOTIFY_ID));
                    }
                }
                IGNORE_ID => {}
                id => {
                    let Some(&(fd, token)) = sq.by_id.get(&id) else {
                        continue; // deleted: a stale completion
                    };
                    if cqe.res >= 0 {
                        events
                            .list
                            .push(event_from_poll_bits(token, cqe.res as u32));
                    }
                    if ended {
                        // The kernel dropped the multishot request (overflow
                        // or error): arm a new one under the same id.
                        rearm.push((
                            fd,
                            libc::POLLIN as u32 | libc::POLLOUT as u32 | libc::POLLRDHUP as u32,
                            id,
                        ));
                    }
                }
            }
        }
        // SAFETY: as above; Release hands the consumed slots back to the kernel.
        unsafe { (*cq.head).store(head, Ordering::Release) };
        drop(cq);
        for (fd, bits, id) in rearm {
            self.push(&mut sq, poll_add(fd, bits, id))?;
        }
        Ok(())
    }

    pub(crate) fn notify(&self) -> io::Result<()> {
        self.notify.notify()
    }
}

/// `io_uring_setup` with `flags`; returns the ring descriptor and parameters.
fn setup(flags: u32) -> io::Result<(OwnedFd, Params)> {
    let mut p = Params {
        flags,
        ..Params::default()
    };
    // SAFETY: `p` is a valid io_uring_params the kernel fills in.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, ENTRIES, &mut p as *mut Params) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: io_uring_setup returned a new descriptor (close-on-exec by
    // definition) that nothing else owns.
    Ok((unsafe { OwnedFd::from_raw_fd(fd as RawFd) }, p))
}

fn poll_add(fd: RawFd, events: u32, id: u64) -> Sqe {
    Sqe {
        opcode: IORING_OP_POLL_ADD,
        fd,
        len: IORING_POLL_ADD_MULTI,
        op_flags: events,
        user_data: id,
        ..Sqe::default()
    }
}

fn mask(interest: Interest) -> u32 {
    let mut m = libc::POLLRDHUP as u32;
    if interest.is_readable() {
        m |= libc::POLLIN as u32;
    }
    if interest.is_writable() {
        m |= libc::POLLOUT as u32;
    }
    m
}

/// Request ids are sequential `u64`s: a multiply spreads them over the
/// table at a fraction of the cost of the default SipHash.
#[derive(Default, Clone, Copy)]
struct BuildIdHasher;

#[derive(Default)]
struct IdHasher(u64);

impl std::hash::BuildHasher for BuildIdHasher {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}
