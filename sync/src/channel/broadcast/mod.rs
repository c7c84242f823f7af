//! A broadcast channel: many senders, many receivers, and every receiver
//! sees every value (a clone of it), as in tokio's `sync::broadcast`.
//!
//! ```
//! use spindle_runtime::channel::broadcast;
//!
//! spindle_runtime::block_on(async {
//!     let (tx, mut rx1) = broadcast::channel(16);
//!     let mut rx2 = tx.subscribe();
//!     tx.send("hello").unwrap();
//!     tx.send("world").unwrap();
//!     drop(tx);
//!     assert_eq!(rx1.recv().await, Ok("hello"));
//!     assert_eq!(rx2.recv().await, Ok("hello"));
//!     assert_eq!(rx2.recv().await, Ok("world"));
//!     assert_eq!(rx1.recv().await, Ok("world"));
//!     assert_eq!(rx1.recv().await, Err(broadcast::error::RecvError::Closed));
//! });
//! ```
//!
//! # Bounded, and never waiting to send
//!
//! The channel is a ring of `capacity` slots (rounded up to a power of
//! two). [`Sender::send`] never waits: it writes the next slot, and if that
//! slot still held a value some receiver had not read yet, that value is
//! gone for that receiver. Its next `recv` then returns
//! [`RecvError::Lagged(n)`](error::RecvError::Lagged) (how many it missed)
//! and the receiver continues from the oldest value the ring still holds.
//! A slow receiver thus never holds up the senders or the other receivers.
//!
//! # How it works
//!
//! Every slot is an `RwLock` holding the position it was written for and
//! the value, plus an atomic count of the receivers that still have to
//! read it. A receiver keeps `next`, the position it reads next; slot
//! `next % capacity` tells it everything:
//!
//! * the slot's position is `next`: the value is there. Clone it under the
//!   read lock (receivers read in parallel), step `next`, and count down
//!   the slot's readers; the last reader drops the value at once, so a
//!   value does not outlive its last reader by a lap of the ring;
//! * the slot's position is `next - capacity`: nothing was sent yet. The
//!   receiver takes the `tail` mutex (where senders write), looks again,
//!   and registers its waker there before unlocking, so a send cannot slip
//!   in between;
//! * anything newer: the value was overwritten, the receiver lagged.
//!
//! A send takes the `tail` mutex, write-locks its slot, stores the value,
//! and takes every registered waker (waking them after unlocking). Each
//! receiver owns one waiter record for its whole life, queued in `tail` at
//! most once: being woken costs the receiver no lock at all, and a `recv`
//! future dropped mid-wait only clears its waker (nothing to hand on: every
//! waiting receiver is woken by every send).
//!
//! All locks are held for a few instructions; the only user code that runs
//! under one is `T::clone`, under a slot's read lock, as in tokio. Values
//! are dropped outside every lock. `T` must be `Send + Sync` for the
//! handles to be `Send` (receivers on several threads clone the same value
//! at once).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::coop;
use crate::loom::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use crate::loom::{lock, read, write, Arc, Mutex, RwLock, RwLockReadGuard};
use crate::park::block_on_thread;
use crate::wake_list::WakeList;

pub mod error;

use error::{RecvError, SendError, TryRecvError};

/// Creates a broadcast channel holding up to `capacity` values (rounded up
/// to a power of two) that not every receiver has read yet.
///
/// # Panics
/// If `capacity` is 0 or larger than `usize::MAX / 2`.
#[track_caller]
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "broadcast::channel: capacity must be greater than 0"
    );
    assert!(
        capacity <= usize::MAX >> 1,
        "broadcast::channel: capacity too large"
    );
    let capacity = capacity.next_power_of_two();
    let buffer = (0..capacity)
        .map(|i| Slot {
            rem: AtomicUsize::new(0),
            // "Written one lap before position i": empty.
            data: RwLock::new(SlotData {
                pos: (i as u64).wrapping_sub(capacity as u64),
                val: None,
            }),
        })
        .collect();
    let shared = Arc::new(Shared {
        buffer,
        mask: capacity - 1,
        tail: Mutex::new(Tail {
            pos: 0,
            rx_cnt: 1,
            tx_cnt: 1,
            closed: false,
            waiters: Vec::new(),
        }),
    });
    let rx = Receiver::new(shared.clone(), 0);
    (Sender { shared }, rx)
}

struct Shared<T> {
    buffer: Box<[Slot<T>]>,
    mask: usize,
    tail: Mutex<Tail>,
}

struct Slot<T> {
    /// Receivers that still have to read this slot's value.
    rem: AtomicUsize,
    data: RwLock<SlotData<T>>,
}

struct SlotData<T> {
    /// The position this slot was last written for.
    pos: u64,
    /// `None` once every receiver has read it.
    val: Option<T>,
}

/// The senders' side, behind the `tail` mutex.
struct Tail {
    /// The position the next send writes.
    pos: u64,
    rx_cnt: usize,
    tx_cnt: usize,
    /// Every sender is gone.
    closed: bool,
    /// Receivers waiting for the value at `pos`.
    waiters: Vec<Arc<RxWaiter>>,
}

/// A receiver's waiter record, queued in `Tail::waiters` at most once.
struct RxWaiter {
    /// In `Tail::waiters`; written only under the tail lock.
    queued: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl<T> Shared<T> {
    fn capacity(&self) -> u64 {
        self.buffer.len() as u64
    }

    fn slot(&self, pos: u64) -> &Slot<T> {
        &self.buffer[pos as usize & self.mask]
    }

    /// Counts one reader off the slot written for `pos`, whose read lock
    /// the caller holds (so the slot cannot be rewritten meanwhile); the
    /// last reader drops the value, after releasing every lock.
    fn read_done(&self, slot: &Slot<T>, data: RwLockReadGuard<'_, SlotData<T>>) {
        if slot.rem.fetch_sub(1, AcqRel) != 1 {
            return;
        }
        let pos = data.pos;
        drop(data);
        let mut data = write(&slot.data);
        // A send may have rewritten the slot since; its value is not ours.
        let value = if data.pos == pos {
            data.val.take()
        } else {
            None
        };
        drop(data);
        drop(value);
    }

    fn len_from(&self, next: u64) -> usize {
        let tail = lock(&self.tail);
        tail.pos.wrapping_sub(next) as usize
    }
}

/// Sends values to every [`Receiver`]; clone it for more senders.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// Receives every value sent after it subscribed. Not `Clone`: make
/// another with [`Sender::subscribe`] or [`Receiver::resubscribe`].
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The position this receiver reads next.
    next: u64,
    waiter: Arc<RxWaiter>,
}

impl<T> Sender<T> {
    /// Sends `value` to every receiver, returning how many there are. Never
    /// waits: if the ring is full, the oldest value is overwritten (and
    /// receivers that had not read it get `Lagged`). Fails, handing the
    /// value back, if there is no receiver.
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let shared = &*self.shared;
        let mut wakers = WakeList::new();
        let mut tail = lock(&shared.tail);
        if tail.rx_cnt == 0 {
            return Err(SendError(value));
        }
        let pos = tail.pos;
        let receivers = tail.rx_cnt;
        tail.pos = pos.wrapping_add(1);
        let slot = shared.slot(pos);
        let old = {
            let mut data = write(&slot.data);
            data.pos = pos;
            // Readers see `rem` through the read lock's acquire.
            slot.rem.store(receivers, Relaxed);
            data.val.replace(value)
        };
        for waiter in tail.waiters.drain(..) {
            waiter.queued.store(false, Relaxed);
            wakers.push(lock(&waiter.waker).take());
        }
        drop(tail);
        wakers.wake_all();
        drop(old);
        Ok(receivers)
    }

    /// A new receiver, which will see every value sent from now on.
    pub fn subscribe(&self) -> Receiver<T> {
        let mut tail = lock(&self.shared.tail);
        tail.rx_cnt += 1;
        let next = tail.pos;
        drop(tail);
        Receiver::new(self.shared.clone(), next)
    }

    /// Live receivers.
    pub fn receiver_count(&self) -> usize {
        lock(&self.shared.tail).rx_cnt
    }

    /// Values in the ring that some receiver has still to read (values a
    /// lagging receiver skipped count until they are overwritten).
    pub fn len(&self) -> usize {
        let shared = &*self.shared;
        let tail = lock(&shared.tail);
        let cap = shared.capacity();
        // Receivers read in order, so the slots of [start, tail.pos) that
        // every receiver has read form a prefix: binary-search its end.
        let (mut low, mut high) = (tail.pos.saturating_sub(cap), tail.pos);
        while low < high {
            let mid = low + (high - low) / 2;
            if shared.slot(mid).rem.load(Acquire) == 0 {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        (tail.pos - low) as usize
    }

    /// True if every receiver has read every value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if both senders feed the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        lock(&self.shared.tail).tx_cnt += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut wakers = WakeList::new();
        let mut tail = lock(&self.shared.tail);
        tail.tx_cnt -= 1;
        if tail.tx_cnt == 0 {
            tail.closed = true;
            for waiter in tail.waiters.drain(..) {
                waiter.queued.store(false, Relaxed);
                wakers.push(lock(&waiter.waker).take());
            }
        }
        drop(tail);
        wakers.wake_all();
    }
}

impl<T> Receiver<T> {
    fn new(shared: Arc<Shared<T>>, next: u64) -> Receiver<T> {
        Receiver {
            shared,
            next,
            waiter: Arc::new(RxWaiter {
                queued: AtomicBool::new(false),
                waker: Mutex::new(None),
            }),
        }
    }

    /// Values sent that this receiver has not read yet (lagged ones
    /// included, until it finds out).
    pub fn len(&self) -> usize {
        self.shared.len_from(self.next)
    }

    /// True if this receiver has read everything sent so far.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once every sender is gone (values may still be waiting to be
    /// read).
    pub fn is_closed(&self) -> bool {
        lock(&self.shared.tail).closed
    }

    /// True if both receivers belong to the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T: Clone> Receiver<T> {
    /// Receives the next value, waiting until one is sent.
    ///
    /// Fails with [`RecvError::Lagged`] if values were overwritten before
    /// this receiver read them (the next call continues with the oldest
    /// value still held), and with [`RecvError::Closed`] once every sender
    /// is gone and everything has been read.
    ///
    /// Cancellation safe: a value is only taken when the future completes.
    pub fn recv(&mut self) -> Recv<'_, T> {
        Recv {
            rx: self,
            pending: false,
        }
    }

    /// Receives without waiting.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.recv_value(None)
    }

    /// Receives by parking this OS thread until a value is sent.
    ///
    /// # Panics
    /// If called on a thread running a spindle runtime.
    #[track_caller]
    pub fn blocking_recv(&mut self) -> Result<T, RecvError> {
        block_on_thread(self.recv())
    }

    /// A new receiver of the same channel that sees values sent from now
    /// on (not what this one has still to read).
    pub fn resubscribe(&self) -> Receiver<T> {
        let mut tail = lock(&self.shared.tail);
        tail.rx_cnt += 1;
        let next = tail.pos;
        drop(tail);
        Receiver::new(self.shared.clone(), next)
    }

    /// Takes the value at `next`, or says why not; with a waker, registers
    /// it (under the tail lock) when nothing has been sent yet.
    fn recv_value(&mut self, waker: Option<&Waker>) -> Result<T, TryRecvError> {
        // Disjoint borrows: the slot borrows `shared` while `next` moves.
        let shared = &*self.shared;
        let next = &mut self.next;
        let rx_waiter = &self.waiter;
        let slot = shared.slot(*next);
        {
            let data = read(&slot.data);
            if data.pos == *next {
                return Ok(take(next, shared, slot, data));
            }
        }
        let mut tail = lock(&shared.tail);
        let data = read(&slot.data);
        if data.pos == *next {
            // Sent between the two looks.
            drop(tail);
            return Ok(take(next, shared, slot, data));
        }
        if data.pos.wrapping_add(shared.capacity()) == *next {
            // Not sent yet.
            if tail.closed {
                return Err(TryRecvError::Closed);
            }
            if let Some(waker) = waker {
                {
                    let mut stored = lock(&rx_waiter.waker);
                    match &*stored {
                        Some(old) if old.will_wake(waker) => {}
                        _ => *stored = Some(waker.clone()),
                    }
                }
                if !rx_waiter.queued.load(Relaxed) {
                    rx_waiter.queued.store(true, Relaxed);
                    tail.waiters.push(rx_waiter.clone());
                }
            }
            return Err(TryRecvError::Empty);
        }
        // The slot holds a newer value: ours was overwritten.
        let oldest = tail.pos.wrapping_sub(shared.capacity());
        let missed = oldest.wrapping_sub(*next);
        debug_assert!(missed > 0);
        *next = oldest;
        Err(TryRecvError::Lagged(missed))
    }
}

/// Clones the value at `*next` out of its slot (whose read lock `data` is)
/// and steps `next` past it.
fn take<T: Clone>(
    next: &mut u64,
    shared: &Shared<T>,
    slot: &Slot<T>,
    data: RwLockReadGuard<'_, SlotData<T>>,
) -> T {
    let value = data
        .val
        .clone()
        .expect("a value stays in its slot until every receiver counted there read it");
    *next = next.wrapping_add(1);
    shared.read_done(slot, data);
    value
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let shared = &*self.shared;
        let end = {
            let mut tail = lock(&shared.tail);
            tail.rx_cnt -= 1;
            if self.waiter.queued.load(Relaxed) {
                tail.waiters.retain(|w| !Arc::ptr_eq(w, &self.waiter));
            }
            tail.pos
        };
        // Count ourselves off every value we were counted for and did not
        // read, so those are dropped once the others have read them.
        let start = self.next.max(end.saturating_sub(shared.capacity()));
        for pos in start..end {
            let slot = shared.slot(pos);
            let data = read(&slot.data);
            if data.pos == pos {
                shared.read_done(slot, data);
            }
        }
    }
}

/// The future of [`Receiver::recv`].
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, T> {
    rx: &'a mut Receiver<T>,
    /// Returned `Pending`: a waker may be registered.
    pending: bool,
}

impl<T: Clone> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        let result = match self.rx.recv_value(Some(cx.waker())) {
            Ok(value) => Ok(value),
            Err(TryRecvError::Empty) => {
                self.pending = true;
                return Poll::Pending;
            }
            Err(TryRecvError::Closed) => Err(RecvError::Closed),
            Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
        };
        Poll::Ready(result)
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        // A waiting receiver is woken by every send, so a dropped wait
        // hands nothing on; it just stops pointing at its task. (If a send
        // took the waker meanwhile, there is nothing left to clear.)
        if self.pending && self.rx.waiter.queued.load(Relaxed) {
            drop(lock(&self.rx.waiter.waker).take());
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Sender")
            .field("capacity", &self.shared.capacity())
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Receiver")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Recv").finish_non_exhaustive()
    }
}
