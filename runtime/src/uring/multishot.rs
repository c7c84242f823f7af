//! Multishot receive with a ring of provided buffers: one request that
//! keeps receiving, the kernel picking a buffer for each message from a
//! [`BufRing`] the program shares with it.
//!
//! A plain completion-based read costs a request per read, and a buffer per
//! connection even while it is idle (the read in flight owns it). With a
//! multishot `RECV` (Linux 6.0) and `IOSQE_BUFFER_SELECT`, one request
//! stays armed; when data arrives the kernel takes a free buffer from the
//! group's ring, fills it, and posts a completion that names it. Idle
//! connections hold no buffer, and a busy one costs no new request per read.
//!
//! ```text
//!   BufRing: [b0 b1 b2 b3 ...]  (the kernel takes from the head, we add at the tail)
//!   RECV{multishot, group} ───▶ data ─▶ kernel fills b2 ─▶ CQE{n, F_BUFFER|b2, F_MORE}
//!   RecvMulti::next() -> RingBuf(b2, n) ... dropped -> b2 back at the tail
//! ```
//!
//! # Falling back
//!
//! Every step is probed, not assumed. A kernel without provided-buffer
//! rings (before 5.19) makes [`BufRing::new`] fail with an error that says
//! so (use [`TcpStream::read`](super::TcpStream::read) then). A kernel that
//! has them but not multishot receive answers the first request with
//! `EINVAL`; [`RecvMulti`] then re-issues single-shot receives from the
//! same ring, one per message, and says nothing.
//!
//! When every buffer is out (the program holds them all), the kernel ends
//! the request with `ENOBUFS`; [`RecvMulti`] waits until a buffer comes
//! back, then re-arms. No data is lost: it stays in the socket meanwhile.

use std::alloc::{self, Layout};
use std::any::Any;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::marker::PhantomData;
use std::ops::Deref;
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};

use futures_core::Stream;
use spindle_reactor::uring::*;

use super::driver::{Driver, Slot};
use super::TcpStream;
use crate::executor::{context, Shared};

/// One entry of a provided-buffer ring (`struct io_uring_buf`).
#[repr(C)]
struct BufEntry {
    addr: u64,
    len: u32,
    bid: u16,
    /// In entry 0, this field is the ring's tail (never written as a field).
    #[allow(dead_code)]
    resv: u16,
}

/// The memory of a [`BufRing`], shared with the kernel. Kept alive by the
/// ring's driver until the ring closes (the kernel may look at it until
/// then), and by every [`RingBuf`] and receive that uses it.
struct BufRingMemory {
    /// The runtime thread whose ring the group is registered with: every
    /// receive into it is queued there, from whatever thread (weak: the
    /// driver keeps this memory, and must not keep itself).
    shared: Weak<Shared>,
    bgid: u16,
    count: u16,
    buf_size: usize,
    entries: *mut BufEntry,
    bufs: *mut u8,
    /// Our tail (entries published so far), under the lock that orders
    /// buffers coming back from any thread.
    tail: Mutex<u16>,
    /// Buffers given back so far: a receive that ran out waits for this
    /// to move.
    returned: AtomicU64,
    /// The tasks of receives that ran out of buffers, woken by the next
    /// buffer that comes back. A waker here holds its task, whose runtime
    /// holds this memory (through its driver): the driver empties the list
    /// at shutdown, or the three would keep each other alive.
    waiters: Mutex<Vec<Waker>>,
}

// SAFETY: the buffers are handed out one `RingBuf` each (the kernel never
// picks a buffer until it is back in the ring), the ring's tail is written
// under `tail`'s lock, and the rest is atomics or behind mutexes.
unsafe impl Send for BufRingMemory {}
// SAFETY: as above.
unsafe impl Sync for BufRingMemory {}

impl BufRingMemory {
    fn entries_layout(count: u16) -> Layout {
        Layout::from_size_align(count as usize * std::mem::size_of::<BufEntry>(), 4096)
            .expect("a small layout")
    }

    fn bufs_layout(count: u16, buf_size: usize) -> Layout {
        Layout::from_size_align(count as usize * buf_size, 64).expect("checked size")
    }

    fn buf_ptr(&self, bid: u16) -> *mut u8 {
        // SAFETY: bid < count, so the part lies inside the allocation.
        unsafe { self.bufs.add(bid as usize * self.buf_size) }
    }

    /// Puts buffer `bid` back at the ring's tail, for the kernel to fill
    /// again, and wakes receives waiting for one.
    fn give_back(&self, bid: u16) {
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let slot = (*tail & (self.count - 1)) as usize;
        // SAFETY: `slot` < count; the kernel reads only entries between its
        // head and the published tail, and this one is past the tail. Only
        // `addr`, `len` and `bid` are written: entry 0's `resv` *is* the
        // published tail, which must not be clobbered.
        unsafe {
            let entry = self.entries.add(slot);
            (&raw mut (*entry).addr).write(self.buf_ptr(bid) as u64);
            (&raw mut (*entry).len).write(self.buf_size as u32);
            (&raw mut (*entry).bid).write(bid);
        }
        *tail = tail.wrapping_add(1);
        // SAFETY: the tail is the u16 at byte 14 of entry 0, aligned; the
        // kernel reads it atomically. Release publishes the entry above.
        unsafe { (*self.tail_word()).store(*tail, Ordering::Release) };
        drop(tail);
        self.returned.fetch_add(1, Ordering::SeqCst);
        let waiters = std::mem::take(&mut *self.waiters.lock().unwrap_or_else(|e| e.into_inner()));
        for waker in waiters {
            waker.wake();
        }
    }

    /// Parks `waker` until the next buffer comes back (once per task).
    fn wait_for_buffer(&self, waker: &Waker) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
    }

    fn tail_word(&self) -> *const AtomicU16 {
        // SAFETY: byte 14 of the first entry is inside the allocation.
        unsafe { (self.entries as *const u8).add(14) as *const AtomicU16 }
    }
}

impl Drop for BufRingMemory {
    fn drop(&mut self) {
        // SAFETY: both allocated in `BufRing::new` with these layouts; the
        // driver kept this alive until its ring closed.
        unsafe {
            alloc::dealloc(self.entries.cast(), Self::entries_layout(self.count));
            alloc::dealloc(self.bufs, Self::bufs_layout(self.count, self.buf_size));
        }
    }
}

/// A ring of `count` buffers of `buf_size` bytes, registered with the
/// current runtime thread's io_uring as a provided-buffer group: the
/// kernel picks from it for [`TcpStream::recv_multi`].
///
/// One ring serves any number of sockets (clone it: the clones share the
/// buffers), and that is how it is meant to be used: make one per runtime
/// thread, sized for the messages in flight at once. Its memory stays
/// registered with the kernel, and allocated, until the runtime shuts
/// down, even after every clone is dropped.
#[derive(Clone)]
pub struct BufRing {
    memory: Arc<BufRingMemory>,
}

impl fmt::Debug for BufRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufRing")
            .field("group", &self.memory.bgid)
            .field("count", &self.memory.count)
            .field("buf_size", &self.memory.buf_size)
            .finish()
    }
}

impl BufRing {
    /// Registers a ring of `count` buffers (a power of two, up to 32768) of
    /// `buf_size` bytes with the io_uring of the runtime running on this
    /// thread (call it there, not on another thread). Receives into it may
    /// then run anywhere: they are queued on this ring.
    ///
    /// On the thread that runs a multi-threaded runtime's `block_on`, that
    /// is the `block_on` thread's ring, which turns only while a `block_on`
    /// runs there: receives into a ring made there stall once it returns.
    /// Make a ring that must outlive the `block_on` in a task
    /// (`spindle::spawn`), on a worker.
    ///
    /// Fails if the kernel has no provided-buffer rings (Linux 5.19), with
    /// an error that says so.
    pub fn new(count: u16, buf_size: usize) -> io::Result<BufRing> {
        if !count.is_power_of_two()
            || count > 32768
            || buf_size == 0
            || buf_size > u32::MAX as usize
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "BufRing::new: a power of two of buffers (up to 32768), each 1 byte to 4 GiB",
            ));
        }
        let shared = running()?;
        let driver = Driver::of(&shared)?;
        let entries_layout = BufRingMemory::entries_layout(count);
        let bufs_layout = BufRingMemory::bufs_layout(count, buf_size);
        // SAFETY: both layouts have a non-zero size.
        let (entries, bufs) = unsafe {
            (
                alloc::alloc_zeroed(entries_layout) as *mut BufEntry,
                alloc::alloc_zeroed(bufs_layout),
            )
        };
        if entries.is_null() || bufs.is_null() {
            alloc::handle_alloc_error(entries_layout);
        }
        let memory = Arc::new(BufRingMemory {
            shared: Arc::downgrade(&shared),
            bgid: driver.next_buf_group()?,
            count,
            buf_size,
            entries,
            bufs,
            tail: Mutex::new(0),
            returned: AtomicU64::new(0),
            waiters: Mutex::new(Vec::new()),
        });
        driver.register_buf_ring(
            memory.entries as u64,
            count as u32,
            memory.bgid,
            memory.clone(),
        )?;
        for bid in 0..count {
            memory.give_back(bid);
        }
        memory.returned.store(0, Ordering::SeqCst);
        Ok(BufRing { memory })
    }

    /// The size of each buffer.
    pub fn buf_size(&self) -> usize {
        self.memory.buf_size
    }
}

/// The runtime running on this thread.
fn running() -> io::Result<Arc<Shared>> {
    context::current_shared()
        .filter(|s| context::is_running(s))
        .ok_or_else(|| {
            io::Error::other("spindle::uring::BufRing must be made on a spindle runtime's thread")
        })
}

/// A buffer of a [`BufRing`] that a receive filled: derefs to the data.
/// Dropping it gives the buffer back to the ring.
pub struct RingBuf {
    memory: Arc<BufRingMemory>,
    bid: u16,
    len: usize,
}

impl fmt::Debug for RingBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingBuf")
            .field("bid", &self.bid)
            .field("len", &self.len)
            .finish()
    }
}

impl Deref for RingBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the kernel filled `len` bytes of this buffer and handed it
        // to us: it is ours alone until we give it back in Drop.
        unsafe { std::slice::from_raw_parts(self.memory.buf_ptr(self.bid), self.len) }
    }
}

// SAFETY: the bytes are this buffer's part of the ring's memory, which the
// `Arc` keeps alive and never moves; the kernel does not touch the part
// until it is given back in Drop. So a `RingBuf` can be written out as is
// (`stream.write_all(buf)`), without a copy.
unsafe impl super::IoBuf for RingBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.memory.buf_ptr(self.bid)
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.memory.buf_size
    }
}

impl Drop for RingBuf {
    fn drop(&mut self) {
        self.memory.give_back(self.bid);
    }
}

/// An armed receive: where it stands with the driver.
struct Armed {
    shared: Arc<Shared>,
    key: usize,
    /// The ring's count of buffers given back when it was armed.
    returned: u64,
}

/// The messages of a [`TcpStream`], received into a [`BufRing`]'s buffers
/// by one multishot request (see the module docs). Made by
/// [`TcpStream::recv_multi`]; also a [`Stream`]. Ends (`None`) when the
/// peer closes its side.
pub struct RecvMulti<'a> {
    /// The stream's descriptor, held so that an abandoned request never
    /// names a closed (or reused) number (see `Op::start_on`).
    fd: Arc<OwnedFd>,
    /// Borrowed from the stream, as if the descriptor were: the owned form
    /// (`'static`, see [`RecvMulti::owning`]) is for `PollStream`, which
    /// keeps the stream beside it.
    stream: PhantomData<&'a TcpStream>,
    bufs: BufRing,
    armed: Option<Armed>,
    /// The kernel refused multishot receive: one request per message.
    single_shot: bool,
    /// Ran out of buffers when `returned` was this: wait until it moves.
    starved_at: Option<u64>,
    done: bool,
}

impl fmt::Debug for RecvMulti<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvMulti")
            .field("bufs", &self.bufs)
            .field("single_shot", &self.single_shot)
            .finish_non_exhaustive()
    }
}

impl TcpStream {
    /// Receives with one multishot request into `bufs`' buffers: each
    /// message comes as a [`RingBuf`] (see the module docs).
    pub fn recv_multi(&self, bufs: &BufRing) -> RecvMulti<'_> {
        RecvMulti::owning(self, bufs)
    }
}

impl RecvMulti<'static> {
    /// A receive that holds `stream`'s descriptor itself rather than
    /// borrow the stream: for a `PollStream`, which owns both.
    pub(super) fn owning(stream: &TcpStream, bufs: &BufRing) -> RecvMulti<'static> {
        RecvMulti {
            fd: stream.fd().clone(),
            stream: PhantomData,
            bufs: bufs.clone(),
            armed: None,
            single_shot: false,
            starved_at: None,
            done: false,
        }
    }
}

/// What an abandoned receive keeps until the kernel is done with it: its
/// ring, to give back each buffer the kernel still fills before the cancel
/// lands, and the socket's descriptor, which the request names (see
/// `Op::start_on`).
struct AbandonedRecv {
    memory: Arc<BufRingMemory>,
    _fd: Arc<OwnedFd>,
}

/// Drops the wakers of receives still waiting for a buffer of `memory`, if
/// it is a [`BufRing`]'s: the driver's shutdown calls it on everything it
/// registered (see `BufRingMemory::waiters`).
pub(super) fn drop_waiters(memory: &(dyn Any + Send + Sync)) {
    if let Some(memory) = memory.downcast_ref::<BufRingMemory>() {
        let waiters =
            std::mem::take(&mut *memory.waiters.lock().unwrap_or_else(|e| e.into_inner()));
        drop(waiters);
    }
}

/// Gives the buffer a completion names, if any, back to `memory`.
fn give_back_buffer(memory: &BufRingMemory, res: i32, flags: u32) {
    if res >= 0 && flags & IORING_CQE_F_BUFFER != 0 {
        memory.give_back((flags >> 16) as u16);
    }
}

/// Run on each completion of an abandoned receive.
fn give_back_abandoned(resources: &mut (dyn Any + Send), res: i32, flags: u32) {
    if let Some(recv) = resources.downcast_ref::<AbandonedRecv>() {
        give_back_buffer(&recv.memory, res, flags);
    }
}

impl RecvMulti<'_> {
    /// One request per message instead of one multishot request: what it
    /// falls back to by itself on a kernel without multishot receive
    /// (before 6.0), still with the ring's buffers.
    pub fn single_shot(mut self) -> Self {
        self.single_shot = true;
        self
    }

    /// The next message, or `None` once the peer closed its side.
    pub async fn next(&mut self) -> Option<io::Result<RingBuf>> {
        poll_fn(|cx| self.poll_message(cx)).await
    }

    /// Arms the request on the ring the buffer group belongs to (from any
    /// thread: a task may have moved to another worker since).
    fn arm(&mut self) -> io::Result<()> {
        let shared = self.bufs.memory.shared.upgrade().ok_or_else(|| {
            io::Error::other("spindle::uring: the runtime this BufRing was made on is gone")
        })?;
        let driver = Driver::of(&shared)?;
        let sqe = Sqe {
            opcode: IORING_OP_RECV,
            flags: IOSQE_BUFFER_SELECT,
            ioprio: if self.single_shot {
                0
            } else {
                IORING_RECV_MULTISHOT
            },
            fd: self.fd.as_raw_fd(),
            len: if self.single_shot {
                self.bufs.memory.buf_size as u32
            } else {
                0
            },
            // In a request with BUFFER_SELECT this field is the group.
            buf_index: self.bufs.memory.bgid,
            ..Sqe::default()
        };
        driver.check(IORING_OP_RECV, "recv")?;
        // SAFETY: the request names no memory of ours but the group's
        // buffers, which the driver keeps alive until the ring closes
        // (`register_buf_ring`); the kernel only fills buffers that are in
        // the ring, never one a `RingBuf` holds.
        let key = unsafe { driver.start_multi(sqe)? };
        if !context::is_running(&shared) {
            shared.unpark();
        }
        let returned = self.bufs.memory.returned.load(Ordering::SeqCst);
        self.armed = Some(Armed {
            shared,
            key,
            returned,
        });
        Ok(())
    }

    pub(super) fn poll_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<RingBuf>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            if let Some(seen) = self.starved_at {
                // Out of buffers: wait until one comes back.
                let memory = &self.bufs.memory;
                memory.wait_for_buffer(cx.waker());
                if memory.returned.load(Ordering::SeqCst) == seen {
                    return Poll::Pending;
                }
                self.starved_at = None;
            }
            if self.armed.is_none() {
                if let Err(e) = self.arm() {
                    self.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            let armed = self.armed.as_ref().expect("armed above");
            let driver = armed.shared.uring.get().expect("armed on this driver");
            let mut inner = driver.lock();
            let Some(Slot::Multi {
                waker,
                queue,
                ended,
            }) = inner.ops.get_mut(armed.key)
            else {
                unreachable!("a RecvMulti's slot is Multi until it is removed here");
            };
            let Some((res, flags)) = queue.pop_front() else {
                if *ended {
                    // Ended without a completion left (cannot happen: the
                    // last completion ends it); re-arm to be safe.
                    inner.ops.remove(armed.key);
                    drop(inner);
                    self.armed = None;
                    continue;
                }
                if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
                return Poll::Pending;
            };
            let last = flags & IORING_CQE_F_MORE == 0;
            let armed_returned = armed.returned;
            if last {
                // Nothing will follow this one: let the slot go.
                inner.ops.remove(armed.key);
                drop(inner);
                self.armed = None;
            } else {
                drop(inner);
            }
            let memory = &self.bufs.memory;
            if res >= 0 && flags & IORING_CQE_F_BUFFER != 0 {
                let buf = RingBuf {
                    memory: memory.clone(),
                    bid: (flags >> 16) as u16,
                    len: res as usize,
                };
                if res == 0 {
                    self.done = true; // the peer closed its side
                    return Poll::Ready(None);
                }
                return Poll::Ready(Some(Ok(buf)));
            }
            match -res {
                0 => {
                    self.done = true; // end of stream, no buffer used
                    return Poll::Ready(None);
                }
                libc::EINVAL if !self.single_shot => {
                    // No multishot receive in this kernel: one per message.
                    self.single_shot = true;
                }
                libc::ENOBUFS => {
                    // Every buffer is out: re-arm once one came back since
                    // this request was armed (perhaps already).
                    self.starved_at = Some(armed_returned);
                }
                _ if res < 0 => {
                    self.done = true;
                    return Poll::Ready(Some(Err(io::Error::from_raw_os_error(-res))));
                }
                _ => {}
            }
        }
    }
}

impl Stream for RecvMulti<'_> {
    type Item = io::Result<RingBuf>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_message(cx)
    }
}

impl Drop for RecvMulti<'_> {
    fn drop(&mut self) {
        let Some(armed) = self.armed.take() else {
            return;
        };
        let driver = armed.shared.uring.get().expect("armed on this driver");
        let queued = {
            let mut inner = driver.lock();
            match inner.ops.get_mut(armed.key) {
                Some(Slot::Multi { queue, .. }) => std::mem::take(queue),
                _ => Default::default(),
            }
        };
        // Completions that arrived but were never taken: their buffers go
        // back to the ring.
        for (res, flags) in queued {
            give_back_buffer(&self.bufs.memory, res, flags);
        }
        let resources = AbandonedRecv {
            memory: self.bufs.memory.clone(),
            _fd: self.fd.clone(),
        };
        driver.abandon(armed.key, Box::new(resources), Some(give_back_abandoned));
        if !context::is_running(&armed.shared) {
            armed.shared.unpark();
        }
    }
}
