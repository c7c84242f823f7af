//! The ring in shared memory that holds a [`Queue`](super::Queue)'s items.
//!
//! One shared [`Region`] per queue, mapped by every process that holds a
//! handle:
//!
//! ```text
//!   offset  0  lock       the ring's lock: a process Mutex's word (lock.rs)
//!           4  not_empty  wait word: consumers sleep here  } event counts
//!           8  not_full   wait word: producers sleep here  } (protocol.rs)
//!          12  closed     1 once the queue is closed
//!          16  head       u64: bytes taken off the ring, ever
//!          24  tail       u64: bytes put on the ring, ever
//!          32  items      records between head and tail (not counting pads)
//!          36  reserved   places held for items on their way through the socket
//!                         (0 or 1: only the sending lock's holder holds one)
//!          40  sending    a second process Mutex's word: held by a producer
//!                         from its item's place to its marker (see below)
//!          64  data       CAPACITY bytes of records, a circular buffer:
//!
//!       [ len u32 | kind u32 | value bytes, padded to 8 ] [ len | kind | ... ] ...
//!         kind VALUE: the value's Wire bytes (no descriptors, at most MAX_ITEM)
//!         kind MARKER: "the next item is in the socket" (len 0)
//!         kind PAD: skip to the end of the buffer (a record that would not fit
//!                   before the end starts again at offset 0)
//! ```
//!
//! Everything past the lock word is read and written only under the lock,
//! which is held for a few hundred nanoseconds: a copy in or out and a few
//! counters, never a system call or user code. So the lock is taken the
//! blocking way even on a runtime's thread (see `queue.rs`).
//!
//! A consumer that takes a marker receives the message at the front of the
//! socket, so markers must be in the order their messages entered the
//! socket. A producer therefore holds a place, sends (never waiting) and
//! writes its marker while it holds the *sending* lock
//! ([`Ring::lock_sending`]): two producers' items cannot cross between the
//! socket and the ring, and each producer's items come out in the order it
//! put them. That lock is held for one `sendmsg` and two short holds of the
//! ring's lock, and is taken the blocking way too; nobody waits for a place
//! or for room in the socket holding it (nor holding a place). A process
//! that dies holding it may leave its item in the socket without a marker
//! (`queue.rs` says what becomes of it), and the place it held is given
//! back by the next process to take the lock.
//!
//! # A process that dies holding the lock
//!
//! Every change is made so that the record is written before the counter
//! that makes it visible: a producer writes its record (and pad), then
//! `items`, then `tail`; a consumer copies a record out, then moves `head`,
//! then `items`. A process killed anywhere in between leaves `head` and
//! `tail` describing whole records, at worst with `items` off by one. The
//! next process to take the lock is told the owner died (the `Mutex`'s
//! robustness) and [`repairs`](Locked::repair) the ring: it walks the
//! records from `head` to `tail` and counts them again. Nothing is lost
//! that another process could reach. (A compiler fence keeps the record's
//! bytes before the counters in the machine code too: a plain store may
//! otherwise be moved past another to a different address.)
//!
//! Counters that no process of ours could have left (`head` or `tail` not
//! a multiple of 8, more than the buffer apart, more places held or items
//! counted than fit: a process wrote over them) are noticed whenever the
//! lock is taken, and the ring is repaired as after a death: recounted, or
//! emptied if `head` and `tail` themselves are unusable, so that no record
//! is read at a misaligned or stray offset and no count overflows.

use std::io;
use std::sync::atomic::{compiler_fence, Ordering};
use std::sync::Arc;

use super::futex::{Backoff, Woke, Word};
use super::lock::{Mutex, MutexGuard, TryLockError};
use super::protocol::eventcount;
use super::region::Region;
use crate::pool::DecodeError;

/// The ring's data bytes: room for about 16,000 small items.
pub(super) const CAPACITY: usize = 256 * 1024;
/// The largest value (its Wire encoding) kept in the ring; larger ones, and
/// values that hold descriptors, travel through the queue's socket.
pub(super) const MAX_ITEM: usize = 4096;

pub(super) const LOCK: usize = 0;
pub(super) const NOT_EMPTY: usize = 4;
pub(super) const NOT_FULL: usize = 8;
pub(super) const CLOSED: usize = 12;
pub(super) const HEAD: usize = 16;
pub(super) const TAIL: usize = 24;
pub(super) const ITEMS: usize = 32;
pub(super) const RESERVED: usize = 36;
pub(super) const SENDING: usize = 40;
pub(super) const DATA: usize = 64;
/// The whole region.
pub(super) const REGION_LEN: usize = DATA + CAPACITY;

/// A record's header: its length, then its kind.
pub(super) const HEADER: usize = 8;
pub(super) const VALUE: u32 = 1;
pub(super) const MARKER: u32 = 2;
pub(super) const PAD: u32 = 3;

/// A queue's ring, its lock and its two wait words.
#[derive(Debug, Clone)]
pub(super) struct Ring {
    lock: Mutex,
    /// Held from a socket item's place to its marker (see the module docs).
    sending: Mutex,
    not_empty: Word,
    not_full: Word,
}

/// What [`Locked::pop`] found at the front of the ring.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Popped {
    /// A value's bytes, now in the caller's buffer.
    Value,
    /// A marker: the item is in the socket.
    InSocket,
    /// Nothing.
    Empty,
}

/// Which of the two wait words.
#[derive(Debug, Clone, Copy)]
pub(super) enum Wait {
    /// Consumers waiting for an item (or the close).
    NotEmpty,
    /// Producers waiting for room (or the close).
    NotFull,
}

impl Ring {
    /// A new, empty ring in a fresh shared memory file.
    pub(super) fn create() -> io::Result<Ring> {
        Ok(Ring::in_region(Region::create(
            c"spindle-ipc-queue",
            REGION_LEN,
        )?))
    }

    /// The ring in a region that came from another process.
    pub(super) fn decode(input: &mut &[u8]) -> Result<Ring, DecodeError> {
        Ok(Ring::in_region(Region::decode(input, REGION_LEN)?))
    }

    fn in_region(region: Arc<Region>) -> Ring {
        Ring {
            lock: Mutex::in_region(Word::new(region.clone(), LOCK)),
            sending: Mutex::in_region(Word::new(region.clone(), SENDING)),
            not_empty: Word::new(region.clone(), NOT_EMPTY),
            not_full: Word::new(region, NOT_FULL),
        }
    }

    /// The shared memory file (for `Wire`).
    pub(super) fn region(&self) -> &Arc<Region> {
        self.not_empty.region()
    }

    /// Takes the ring's lock, repairing the ring if its last owner died
    /// holding it. Blocks the thread while another holds it, which is for
    /// a few hundred nanoseconds unless the holder was descheduled (or
    /// died: the `Mutex` notices within milliseconds).
    pub(super) fn lock(&self) -> Locked<'_> {
        let (guard, died) = match self.lock.blocking_lock() {
            Ok(guard) => (guard, false),
            Err(died) => (died.into_inner(), true),
        };
        let mut locked = Locked {
            ring: self,
            guard: Some(guard),
            wake: [false; 2],
        };
        if died || !locked.in_shape() {
            locked.repair();
        }
        locked
    }

    /// Takes the sending lock, held by a producer from its item's place to
    /// its marker, so that markers are in the socket's order (see the
    /// module docs). Blocks the thread while another holds it, which is for
    /// one non-waiting `sendmsg`.
    ///
    /// If its last owner died holding it, the place it may have held (the
    /// only one: places are held under this lock) is given back. Its item
    /// may be in the socket without a marker (see `queue.rs`).
    pub(super) fn lock_sending(&self) -> MutexGuard<'_> {
        match self.sending.blocking_lock() {
            Ok(guard) => guard,
            Err(died) => {
                self.lock().unreserve();
                died.into_inner()
            }
        }
    }

    /// Gives back the place held by a producer that died holding the
    /// sending lock, if one did (true then). For a producer of ring items
    /// that found no room while a place was held: no producer of socket
    /// items may come to take the lock over and give the place back.
    pub(super) fn reclaim_dead_senders_place(&self) -> bool {
        match self.sending.try_lock() {
            Err(TryLockError::OwnerDied(_guard)) => {
                self.lock().unreserve();
                true
            }
            // Free (and now released again), or held by a live process.
            Ok(_) | Err(TryLockError::WouldBlock) => false,
        }
    }

    fn word(&self, which: Wait) -> &Word {
        match which {
            Wait::NotEmpty => &self.not_empty,
            Wait::NotFull => &self.not_full,
        }
    }

    /// Sleeps this thread while `which` holds `expected` (what
    /// [`Locked::prepare_wait`] returned), for at most a tenth of a second.
    pub(super) fn wait_blocking(&self, which: Wait, expected: u32) -> Woke {
        self.word(which).wait_blocking(expected, Backoff::MAX)
    }

    /// [`wait_blocking`](Ring::wait_blocking) on a blocking-pool thread,
    /// awaited (see `futex.rs`).
    pub(super) async fn wait(&self, which: Wait, expected: u32) -> Woke {
        self.word(which).wait(expected, Backoff::MAX).await
    }
}

/// The ring with its lock held. Dropping it releases the lock, then wakes
/// the sleepers that [`notify`](Locked::notify) said must wake.
pub(super) struct Locked<'a> {
    ring: &'a Ring,
    /// `Some` until dropped.
    guard: Option<MutexGuard<'a>>,
    /// Wake the sleepers on not_empty, not_full once unlocked.
    wake: [bool; 2],
}

impl Locked<'_> {
    fn region(&self) -> &Region {
        self.ring.region()
    }

    fn get32(&self, offset: usize) -> u32 {
        // SAFETY: an aligned u32 inside the region (`ptr` checks the
        // bounds; the mapping is page-aligned and offsets are multiples of
        // 4: the fixed fields, or `DATA` plus a record's place, derived
        // from a `head` or `tail` that `Ring::lock` checked to be a
        // multiple of 8 (`in_shape`), and that `record_at` checks again),
        // read under the ring's lock, which every writer holds.
        unsafe { self.region().ptr(offset, 4).cast::<u32>().read() }
    }

    fn set32(&mut self, offset: usize, value: u32) {
        // SAFETY: as in `get32`; we hold the lock, so no one else writes.
        unsafe { self.region().ptr(offset, 4).cast::<u32>().write(value) }
    }

    fn get64(&self, offset: usize) -> u64 {
        // SAFETY: as in `get32`, for an 8-aligned u64.
        unsafe { self.region().ptr(offset, 8).cast::<u64>().read() }
    }

    fn set64(&mut self, offset: usize, value: u64) {
        // SAFETY: as in `set32`, for an 8-aligned u64.
        unsafe { self.region().ptr(offset, 8).cast::<u64>().write(value) }
    }

    /// Whether the queue is closed.
    pub(super) fn is_closed(&self) -> bool {
        self.get32(CLOSED) != 0
    }

    /// Closes the queue and wakes every sleeper.
    pub(super) fn close(&mut self) {
        self.set32(CLOSED, 1);
        self.notify(Wait::NotEmpty);
        self.notify(Wait::NotFull);
    }

    /// Bytes in use, places held for the socket counted.
    fn used(&self) -> usize {
        self.get64(TAIL).wrapping_sub(self.get64(HEAD)) as usize
            + self.get32(RESERVED) as usize * HEADER
    }

    /// Bytes a record of a `len`-byte value takes at the tail, the pad
    /// that skips to the start of the buffer included.
    fn needed(&self, len: usize) -> usize {
        let record = HEADER + len.next_multiple_of(8);
        let to_end = CAPACITY - (self.get64(TAIL) as usize % CAPACITY);
        if record <= to_end {
            record
        } else {
            to_end + record
        }
    }

    /// Whether an item of `len` bytes fits, with at most `maxsize` items
    /// (0: no limit but the buffer).
    pub(super) fn has_room(&self, len: usize, maxsize: u32) -> bool {
        let places = self.get32(ITEMS) + self.get32(RESERVED);
        (maxsize == 0 || places < maxsize) && self.used() + self.needed(len) <= CAPACITY
    }

    /// Puts a value's bytes at the tail (the caller checked
    /// [`has_room`](Locked::has_room)).
    pub(super) fn push_value(&mut self, bytes: &[u8]) {
        debug_assert!(bytes.len() <= MAX_ITEM);
        self.push(VALUE, bytes);
    }

    /// Holds a place for an item that goes through the socket: the marker
    /// that [`push_marker`](Locked::push_marker) writes once it is sent
    /// will fit (the caller holds the sending lock, and checked
    /// [`has_room`](Locked::has_room) for 0 bytes).
    pub(super) fn reserve(&mut self) {
        let reserved = self.get32(RESERVED);
        self.set32(RESERVED, reserved + 1);
    }

    /// Whether a place is held for a socket item.
    pub(super) fn holds_place(&self) -> bool {
        self.get32(RESERVED) != 0
    }

    /// Gives back a place held by [`reserve`](Locked::reserve).
    pub(super) fn unreserve(&mut self) {
        let reserved = self.get32(RESERVED);
        self.set32(RESERVED, reserved.saturating_sub(1));
        self.notify(Wait::NotFull);
    }

    /// Turns a held place into a marker at the tail: the item is in the
    /// socket now.
    pub(super) fn push_marker(&mut self) {
        let reserved = self.get32(RESERVED);
        if reserved == 0 && self.used() + HEADER > CAPACITY {
            // The place was lost with a count that was written over (see
            // `repair`), and the ring is full: the item stays in the socket
            // without its marker, as a dead producer's would.
            return;
        }
        self.set32(RESERVED, reserved.saturating_sub(1));
        self.push(MARKER, &[]);
    }

    fn push(&mut self, kind: u32, bytes: &[u8]) {
        let mut tail = self.get64(TAIL);
        let record = HEADER + bytes.len().next_multiple_of(8);
        let mut at = tail as usize % CAPACITY;
        if record > CAPACITY - at {
            // Skip to the start: a pad fills the end (at least a header's
            // worth, as records are multiples of 8).
            self.write_header(at, (CAPACITY - at - HEADER) as u32, PAD);
            tail = tail.wrapping_add((CAPACITY - at) as u64);
            at = 0;
        }
        self.write_header(at, bytes.len() as u32, kind);
        let dst = self.region().ptr(DATA + at + HEADER, bytes.len());
        // SAFETY: `dst` is `bytes.len()` bytes inside the region (checked
        // by `ptr`), in free space of the ring that only the lock holder
        // touches; the caller's buffer is not in the region.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
        // The record first, then the counters that make it visible, in the
        // machine code too (a process may be killed at any instruction).
        compiler_fence(Ordering::SeqCst);
        let items = self.get32(ITEMS);
        self.set32(ITEMS, items + 1);
        self.set64(TAIL, tail.wrapping_add(record as u64));
        self.notify(Wait::NotEmpty);
    }

    fn write_header(&mut self, at: usize, len: u32, kind: u32) {
        self.set32(DATA + at, len);
        self.set32(DATA + at + 4, kind);
    }

    /// Takes the record at the head: a value's bytes go into `out`.
    ///
    /// # Errors
    /// `InvalidData` if the ring's memory does not hold well-formed records
    /// (a process wrote over it); the ring is emptied so that the queue
    /// goes on.
    pub(super) fn pop(&mut self, out: &mut Vec<u8>) -> io::Result<Popped> {
        loop {
            let head = self.get64(HEAD);
            let tail = self.get64(TAIL);
            if head == tail {
                return Ok(Popped::Empty);
            }
            let Some((len, kind, record)) = self.record_at(head, tail) else {
                self.set64(HEAD, tail);
                self.set32(ITEMS, 0);
                self.notify(Wait::NotFull);
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the queue's shared memory was overwritten: its items are lost",
                ));
            };
            if kind == PAD {
                self.set64(HEAD, head.wrapping_add(record as u64));
                continue;
            }
            if kind == VALUE {
                let at = head as usize % CAPACITY;
                let src = self.region().ptr(DATA + at + HEADER, len);
                out.clear();
                // SAFETY: `src` is `len` bytes inside the region (checked by
                // `ptr`), a record that only the lock holder touches; `out`
                // is not in the region.
                out.extend_from_slice(unsafe { std::slice::from_raw_parts(src, len) });
            }
            self.set64(HEAD, head.wrapping_add(record as u64));
            let items = self.get32(ITEMS);
            self.set32(ITEMS, items.saturating_sub(1));
            self.notify(Wait::NotFull);
            return Ok(if kind == VALUE {
                Popped::Value
            } else {
                Popped::InSocket
            });
        }
    }

    /// The record at `head` (before `tail`): its length, kind and size in
    /// the ring, or `None` if it is not well-formed.
    fn record_at(&self, head: u64, tail: u64) -> Option<(usize, u32, usize)> {
        let span = tail.wrapping_sub(head);
        if span > CAPACITY as u64 || !head.is_multiple_of(8) {
            return None;
        }
        let at = head as usize % CAPACITY;
        let len = self.get32(DATA + at) as usize;
        let kind = self.get32(DATA + at + 4);
        let record = HEADER + len.next_multiple_of(8);
        let fits = record <= CAPACITY - at && record as u64 <= span;
        let valid = match kind {
            VALUE => len <= MAX_ITEM,
            MARKER => len == 0,
            PAD => at + record == CAPACITY,
            _ => false,
        };
        (fits && valid).then_some((len, kind, record))
    }

    /// Whether the counters are ones this module could have left between
    /// two holds of the lock: `head` and `tail` multiples of 8 at most the
    /// buffer apart, the places held fitting in the rest, and no more items
    /// than records of 8 bytes fit between `head` and `tail`. Cheap: the
    /// lock checks it each time it is taken.
    fn in_shape(&self) -> bool {
        let (head, tail) = (self.get64(HEAD), self.get64(TAIL));
        let span = tail.wrapping_sub(head);
        (head | tail).is_multiple_of(8)
            && span <= CAPACITY as u64
            && u64::from(self.get32(RESERVED)) <= (CAPACITY as u64 - span) / HEADER as u64
            && u64::from(self.get32(ITEMS)) <= span / HEADER as u64
    }

    /// After the lock's last owner died holding it (or when the counters
    /// are not [in shape](Locked::in_shape)): counts the records again (the
    /// dead process may have moved `head` or `tail` without `items`), or
    /// empties a ring whose records or counters are not well-formed.
    pub(super) fn repair(&mut self) {
        let mut tail = self.get64(TAIL);
        let mut head = self.get64(HEAD);
        if !(head | tail).is_multiple_of(8) || tail.wrapping_sub(head) > CAPACITY as u64 {
            // Not counters this module wrote: start again at 0.
            (head, tail) = (0, 0);
            self.set64(HEAD, 0);
            self.set64(TAIL, 0);
        }
        let mut items = 0;
        while head != tail {
            match self.record_at(head, tail) {
                Some((_, kind, record)) => {
                    items += u32::from(kind != PAD);
                    head = head.wrapping_add(record as u64);
                }
                None => {
                    self.set64(HEAD, tail);
                    items = 0;
                    break;
                }
            }
        }
        self.set32(ITEMS, items);
        // More places held than fit can only be memory written over: none
        // are held then (a producer that did hold one writes its marker
        // only if it still fits, see `push_marker`).
        let free = (CAPACITY as u64 - tail.wrapping_sub(self.get64(HEAD))) / HEADER as u64;
        if u64::from(self.get32(RESERVED)) > free {
            self.set32(RESERVED, 0);
        }
        // Whoever slept on the dead process may have missed a wake (it may
        // have counted the event and died before waking anyone, so the
        // sleepers are woken whatever the words say).
        self.notify(Wait::NotEmpty);
        self.notify(Wait::NotFull);
        self.wake = [true; 2];
    }

    /// Marks the caller as a sleeper on `which` and says what value to
    /// sleep on once the lock is released.
    pub(super) fn prepare_wait(&mut self, which: Wait) -> u32 {
        eventcount::prepare(self.ring.word(which).atomic())
    }

    /// The condition `which` stands for became true: its sleepers wake
    /// once the lock is released.
    fn notify(&mut self, which: Wait) {
        if eventcount::notify(self.ring.word(which).atomic()) {
            self.wake[which as usize] = true;
        }
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        for which in [Wait::NotEmpty, Wait::NotFull] {
            if self.wake[which as usize] {
                self.ring.word(which).wake(u32::MAX);
            }
        }
    }
}
