//! The two rings of an io_uring, mapped and ready to use: [`SqRing`], where
//! requests are written, and [`CqRing`], where completions are read.
//!
//! Both the readiness poller (`mod.rs`) and spindle-runtime's completion IO
//! (`spindle::uring`) build on this. What a request means, who may write
//! it, and what a completion's `user_data` names is theirs to decide.
//!
//! ```text
//!   SqRing::push(sqe) -> slot sqes[tail & mask], tail += 1 (Release)
//!   io_uring_enter(submit = unsubmitted())      -> the kernel moves head
//!   kernel: cqes[ctail & mask] = {user_data, res, flags}, ctail += 1
//!   CqRing::drain(|cqe| ...)                    -> head = tail (Release)
//! ```

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use super::abi::*;

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("fd", &self.fd.as_raw_fd())
            .field("flags", &self.flags)
            .finish_non_exhaustive()
    }
}

/// A ring: its descriptor, the features the kernel reported, and its two
/// mapped halves. The fields are public so that an owner can keep the
/// halves under different locks; each half keeps the mappings alive
/// itself, so dropping `maps` (or the `Ring`) first unmaps nothing.
pub struct Ring {
    /// The io_uring descriptor (close-on-exec).
    pub fd: OwnedFd,
    /// `IORING_FEAT_*` bits the kernel reported.
    pub features: u32,
    /// The setup flags the kernel accepted.
    pub flags: u32,
    /// The submission half.
    pub sq: SqRing,
    /// The completion half.
    pub cq: CqRing,
    /// The mappings both halves point into: unmapped when the last of
    /// this and the two halves is dropped.
    pub maps: Arc<RingMaps>,
}

/// The memory mappings of a ring's halves (kept alive as long as the
/// halves are used).
#[allow(missing_debug_implementations)]
pub struct RingMaps {
    _maps: Vec<Mmap>,
}

#[allow(missing_debug_implementations)]
/// The submission half. `&mut self` methods must be called by one thread
/// at a time (the owner keeps it under a lock).
pub struct SqRing {
    /// The kernel's flags word (`IORING_SQ_TASKRUN`, `IORING_SQ_CQ_OVERFLOW`).
    flags: *const AtomicU32,
    tail: *const AtomicU32,
    head: *const AtomicU32,
    mask: u32,
    entries: u32,
    sqes: *mut Sqe,
    local_tail: u32,
    _maps: Arc<RingMaps>,
}

#[allow(missing_debug_implementations)]
/// The completion half.
pub struct CqRing {
    head: *const AtomicU32,
    tail: *const AtomicU32,
    mask: u32,
    cqes: *const Cqe,
    _maps: Arc<RingMaps>,
}

// SAFETY: the pointers point into ring memory that lives as long as the
// `RingMaps` each half holds; the kernel synchronises with us through the
// atomic head and tail words, and the methods that move our side of a ring
// (`SqRing::push`, `CqRing::drain`) take `&mut self`.
unsafe impl Send for SqRing {}
// SAFETY: as above.
unsafe impl Sync for SqRing {}
// SAFETY: as above.
unsafe impl Send for CqRing {}
// SAFETY: as above.
unsafe impl Sync for CqRing {}

impl Ring {
    /// Sets up a ring with room for `entries` requests, with the first of
    /// `setups` (flag sets, best first) the kernel accepts, and maps it.
    /// Fails unless the kernel has every feature in `needed`.
    pub fn new(entries: u32, setups: &[u32], needed: u32) -> io::Result<Ring> {
        let mut last = None;
        let mut ring = None;
        for &flags in setups {
            match setup(entries, flags) {
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
                res => {
                    ring = Some(res?);
                    break;
                }
            }
        }
        let (fd, p) = match ring {
            Some(r) => r,
            None => return Err(last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))),
        };
        if p.features & needed != needed {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring on this kernel lacks features spindle needs (Linux 5.13 or later)",
            ));
        }
        // One mapping serves both rings (FEAT_SINGLE_MMAP), another the SQEs.
        let sq_len = p.sq_off.array as usize + p.sq_entries as usize * 4;
        let cq_len = p.cq_off.cqes as usize + p.cq_entries as usize * std::mem::size_of::<Cqe>();
        let rings = Mmap::new(fd.as_raw_fd(), sq_len.max(cq_len), IORING_OFF_SQ_RING)?;
        let sqes = Mmap::new(
            fd.as_raw_fd(),
            p.sq_entries as usize * std::mem::size_of::<Sqe>(),
            IORING_OFF_SQES,
        )?;
        // The ring's index array maps slot i to entry i, once and for all.
        let array: *mut u32 = rings.at(p.sq_off.array);
        for i in 0..p.sq_entries {
            // SAFETY: `array` has sq_entries u32 slots inside the mapping.
            unsafe { array.add(i as usize).write(i) };
        }
        // SAFETY: offsets from the kernel, inside the mapping; read once here.
        let (sq_mask, sq_tail, cq_mask) = unsafe {
            (
                *rings.at::<u32>(p.sq_off.ring_mask),
                (*rings.at::<AtomicU32>(p.sq_off.tail)).load(Ordering::Acquire),
                *rings.at::<u32>(p.cq_off.ring_mask),
            )
        };
        let sqes_ptr: *mut Sqe = sqes.at(0);
        let (sq_flags, sq_tail_ptr, sq_head) = (
            rings.at(p.sq_off.flags),
            rings.at(p.sq_off.tail),
            rings.at(p.sq_off.head),
        );
        let (cq_head, cq_tail, cqes_ptr) = (
            rings.at(p.cq_off.head),
            rings.at(p.cq_off.tail),
            rings.at(p.cq_off.cqes),
        );
        let maps = Arc::new(RingMaps {
            _maps: vec![rings, sqes],
        });
        let sq = SqRing {
            flags: sq_flags,
            tail: sq_tail_ptr,
            head: sq_head,
            mask: sq_mask,
            entries: p.sq_entries,
            sqes: sqes_ptr,
            local_tail: sq_tail,
            _maps: maps.clone(),
        };
        let cq = CqRing {
            head: cq_head,
            tail: cq_tail,
            mask: cq_mask,
            cqes: cqes_ptr,
            _maps: maps.clone(),
        };
        Ok(Ring {
            fd,
            features: p.features,
            flags: p.flags,
            sq,
            cq,
            maps,
        })
    }
}

impl SqRing {
    /// The kernel's flags word of the submission ring.
    pub fn flags(&self) -> u32 {
        // SAFETY: the flags word is valid for the ring's life.
        unsafe { (*self.flags).load(Ordering::Acquire) }
    }

    /// Requests in the ring the kernel has not taken yet.
    pub fn unsubmitted(&self) -> u32 {
        // SAFETY: the kernel's head pointer stays valid for the ring's life.
        let head = unsafe { (*self.head).load(Ordering::Acquire) };
        self.local_tail.wrapping_sub(head)
    }

    /// Writes `sqe` into the ring and publishes it; false if the ring is full.
    ///
    /// # Safety
    ///
    /// The kernel will read and write whatever memory the request names
    /// (`addr`, `off` for some opcodes, a `msghdr`'s pointers), at any time
    /// until the request's completion is read. The caller must keep that
    /// memory valid, and not use it in a way that conflicts, until then.
    /// Requests that name no memory (a poll, a cancel) have no such duty.
    pub unsafe fn push(&mut self, sqe: Sqe) -> bool {
        // SAFETY: the kernel's head pointer stays valid for the ring's life.
        let head = unsafe { (*self.head).load(Ordering::Acquire) };
        if self.local_tail.wrapping_sub(head) == self.entries {
            return false;
        }
        let index = self.local_tail & self.mask;
        // SAFETY: `index` is below sq_entries, and the kernel does not read
        // this slot until the tail is published below.
        unsafe { self.sqes.add(index as usize).write(sqe) };
        self.local_tail = self.local_tail.wrapping_add(1);
        // SAFETY: as for head; Release publishes the entry written above.
        unsafe { (*self.tail).store(self.local_tail, Ordering::Release) };
        true
    }
}

impl CqRing {
    /// Whether completions are waiting to be read.
    pub fn has_entries(&self) -> bool {
        // SAFETY: ring words valid for the ring's life.
        unsafe { (*self.head).load(Ordering::Relaxed) != (*self.tail).load(Ordering::Acquire) }
    }

    /// Hands each waiting completion to `f`, oldest first, until the ring
    /// is empty or `f` returns false (that completion stays for the next
    /// call); then gives the read slots back to the kernel. Each
    /// completion is handed over once: the head moves past it before `f`
    /// sees the next, and a panic in `f` still moves it.
    pub fn drain(&mut self, mut f: impl FnMut(&Cqe) -> bool) {
        /// Stores the head when dropped, on a panic in `f` too.
        struct Head {
            word: *const AtomicU32,
            value: u32,
        }
        impl Drop for Head {
            fn drop(&mut self) {
                // SAFETY: the head word is valid for the ring's life (the
                // half holds the mapping); Release hands the consumed slots
                // back to the kernel.
                unsafe { (*self.word).store(self.value, Ordering::Release) };
            }
        }
        // SAFETY: ring words valid for the ring's life; `&mut self`: the
        // only reader.
        let value = unsafe { (*self.head).load(Ordering::Relaxed) };
        let mut head = Head {
            word: self.head,
            value,
        };
        // SAFETY: as above; Acquire makes the entries before the tail visible.
        let tail = unsafe { (*self.tail).load(Ordering::Acquire) };
        while head.value != tail {
            // SAFETY: entries between head and tail are written by the
            // kernel, and it does not reuse a slot before we move the head
            // past it. Copied out, so the slot is free once passed.
            let cqe = unsafe { *self.cqes.add((head.value & self.mask) as usize) };
            head.value = head.value.wrapping_add(1);
            if !f(&cqe) {
                // Not taken: it stays for the next call.
                head.value = head.value.wrapping_sub(1);
                break;
            }
        }
    }
}

/// A submission ring with a backlog: a request that does not fit waits, in
/// order, until [`refill`](SqQueue::refill) finds room (after the kernel
/// took some). Every owner of a ring needs this, since a ring is small and
/// a burst of requests is not.
#[allow(missing_debug_implementations)]
pub struct SqQueue {
    ring: SqRing,
    backlog: Vec<Sqe>,
}

impl SqQueue {
    /// A queue over `ring`, with an empty backlog.
    pub fn new(ring: SqRing) -> SqQueue {
        SqQueue {
            ring,
            backlog: Vec::new(),
        }
    }

    /// Queues one request: into the ring, or after the backlog if the ring
    /// is full (or others already wait: the order is kept).
    ///
    /// # Safety
    ///
    /// As for [`SqRing::push`]: the memory the request names must stay
    /// valid until its completion is read.
    pub unsafe fn push(&mut self, sqe: Sqe) {
        // SAFETY: the caller's contract.
        if !self.backlog.is_empty() || !unsafe { self.ring.push(sqe) } {
            self.backlog.push(sqe);
        }
    }

    /// Moves waiting requests into the ring as far as there is room.
    pub fn refill(&mut self) {
        let mut moved = 0;
        // SAFETY: every backlog entry came through `push`, whose callers
        // keep its memory valid until its completion.
        while moved < self.backlog.len() && unsafe { self.ring.push(self.backlog[moved]) } {
            moved += 1;
        }
        self.backlog.drain(..moved);
    }

    /// Whether requests wait for room.
    pub fn has_backlog(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// The ring itself (its flags word, what the kernel has not taken).
    pub fn ring(&self) -> &SqRing {
        &self.ring
    }
}
