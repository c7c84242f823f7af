//! The core both [`mpsc`](super) channels share: a locked buffer on the
//! senders' side, a private batch on the receiver's side, and (bounded
//! only) one atomic counter through which the receiver gives slots back.
//!
//! # The two buffers
//!
//! Senders push onto `Shared::buf` under the channel's mutex; the lock is
//! held for a push, a couple of comparisons and taking the receiver's
//! waker, nothing else. The receiver does not pop from that buffer one
//! value at a time: when its private `batch` runs dry it takes the lock
//! once and *swaps* the two `VecDeque`s, so it gets everything buffered so
//! far for one lock round-trip, and both allocations are reused forever.
//! Popping from the batch touches no shared memory (bounded: but for one
//! atomic add, below).
//!
//! # Capacity (bounded channels)
//!
//! `Shared::used` counts the slots the senders know to be taken: values in
//! `buf`, values in the receiver's batch, slots handed to a waiting sender
//! that has not pushed yet, and live [`Permit`](super::Permit)s. A send
//! takes a slot (`used += 1`) under the lock if `used < cap`.
//!
//! The receiver frees a slot per value it pops, without the lock: it adds
//! `ONE` to the atomic `freed` word. Senders fold `freed` back into `used`
//! (`used -= freed; freed = 0`) whenever `used` reaches `cap`, so the atomic
//! is touched by a sender only once per `cap` sends when the receiver keeps
//! up. The first value of each batch is popped while the swap still holds
//! the lock, so its slot goes back with a plain `used -= 1` instead: with
//! small capacities, where a batch is one or two values, that saves an
//! atomic add and a second lock round-trip per value.
//!
//! A sender that finds no room queues itself in `send_waiters` (FIFO) and
//! sets the `WAITING` bit of `freed`; both happen in one compare-and-swap
//! on `freed` under the lock (`settle`), which also folds in whatever was
//! freed meanwhile. The receiver's `fetch_add` returns the previous word: if
//! `WAITING` was set, it takes the lock and runs `settle` itself, which
//! assigns the freed slots to the first waiters (marks them, `used += 1`
//! each) and wakes them. Since the receiver's add and the sender's CAS are
//! read-modify-writes of the same word, one always sees the other: either
//! the sender folds in the freed slot, or the receiver sees `WAITING`. No
//! wake-up can be lost and no fence is needed.
//!
//! While anyone waits, newcomers queue behind them (no barging), and a slot
//! assigned to a waiter that is then dropped goes back through `settle` to
//! the next waiter: see `send.rs`.

use std::collections::VecDeque;
use std::mem;
use std::task::{Context, Poll, Waker};

use super::error::{TryRecvError, TrySendError};
use crate::coop;
use crate::loom::atomic::{AtomicUsize, Ordering::*};
use crate::loom::{lock, Arc, Mutex, MutexGuard};
use crate::wait_list::{WaitList, WaiterId};
use crate::wake_list::WakeList;

/// Bit of `Chan::freed`: senders are queued for a slot.
const WAITING: usize = 1;
/// One freed slot in `Chan::freed` (the count sits above the flag bit).
const ONE: usize = 2;
/// `Chan::cap` of an unbounded channel.
pub(super) const UNBOUNDED: usize = usize::MAX;

/// A waiting sender's request, in `Shared::send_waiters`.
pub(super) struct SlotWait {
    /// Slots it waits for (1, or `n` for `reserve_many`).
    pub(super) wanted: usize,
    /// `settle` took them on its behalf: it owns them now.
    pub(super) assigned: bool,
}

pub(super) struct Chan<T> {
    shared: Mutex<Shared<T>>,
    /// Slots freed by the receiver not yet folded into `used`, times `ONE`,
    /// plus the `WAITING` bit. Unused by unbounded channels.
    freed: AtomicUsize,
    pub(super) cap: usize,
}

pub(super) struct Shared<T> {
    buf: VecDeque<T>,
    rx_waker: Option<Waker>,
    /// The receiver was closed or dropped: sends fail.
    pub(super) closed: bool,
    rx_dropped: bool,
    senders: usize,
    /// Slots taken, as the senders know it (see the module docs).
    pub(super) used: usize,
    /// Live permits; the receiver does not end while one may still send.
    pub(super) permits: usize,
    /// Senders waiting for slots.
    pub(super) send_waiters: WaitList<SlotWait>,
    closed_waiters: WaitList<()>,
}

impl<T> Chan<T> {
    pub(super) fn new(cap: usize) -> Arc<Chan<T>> {
        Arc::new(Chan {
            shared: Mutex::new(Shared {
                buf: VecDeque::new(),
                rx_waker: None,
                closed: false,
                rx_dropped: false,
                senders: 1,
                used: 0,
                permits: 0,
                send_waiters: WaitList::new(),
                closed_waiters: WaitList::new(),
            }),
            freed: AtomicUsize::new(0),
            cap,
        })
    }

    #[inline]
    pub(super) fn lock(&self) -> MutexGuard<'_, Shared<T>> {
        lock(&self.shared)
    }

    /// Queues `value` for the receiver; returns its waker, to wake after
    /// unlocking. The caller has accounted for the slot.
    #[inline]
    pub(super) fn push(sh: &mut Shared<T>, value: T) -> Option<Waker> {
        sh.buf.push_back(value);
        sh.rx_waker.take()
    }

    /// Folds the receiver's freed slots into `used`. Only while nobody
    /// waits (else `settle`, which also keeps the `WAITING` bit right).
    #[inline]
    pub(super) fn absorb(&self, sh: &mut Shared<T>) {
        debug_assert!(sh.send_waiters.is_empty());
        let freed = self.freed.swap(0, AcqRel);
        sh.used -= freed / ONE;
    }

    /// Folds in freed slots, assigns free slots to the first waiters
    /// (collecting their wakers), and leaves `WAITING` set iff some still
    /// wait.
    ///
    /// A waiter wants one slot (`send`, `reserve`) or several
    /// (`reserve_many`); the head of the queue is served first and in
    /// full, so a large request is never overtaken by later small ones.
    pub(super) fn settle(&self, sh: &mut Shared<T>, wakers: &mut WakeList) {
        // Fold in what the receiver freed, leaving `WAITING` set while we
        // work: a receiver that frees a slot meanwhile sees the bit and
        // settles again after us (it needs the lock we hold).
        let word = self.freed.swap(WAITING, AcqRel);
        sh.used -= word / ONE;
        while let Some(front) = sh.send_waiters.front_mut() {
            if front.wanted > self.cap - sh.used {
                break;
            }
            sh.used += front.wanted;
            let (front, waker) = sh.send_waiters.pop_front().expect("looked at above");
            front.assigned = true;
            wakers.push(waker);
        }
        if sh.send_waiters.is_empty() {
            // Nobody waits: clear the bit, folding in anything freed since.
            let word = self.freed.swap(0, AcqRel);
            sh.used -= word / ONE;
        }
    }

    /// Gives `n` slots back from the senders' side (dropped permits, or a
    /// waiter that got its slots and then gave up).
    pub(super) fn release_slots(&self, sh: &mut Shared<T>, n: usize, wakers: &mut WakeList) {
        sh.used -= n;
        self.settle(sh, wakers);
        if sh.closed && sh.permits == 0 {
            // The receiver may be waiting for the last permit to resolve.
            wakers.push(sh.rx_waker.take());
        }
    }

    /// [`release_slots`](Self::release_slots) of one slot.
    pub(super) fn release_slot(&self, sh: &mut Shared<T>, wakers: &mut WakeList) {
        self.release_slots(sh, 1, wakers);
    }

    /// Free slots right now.
    pub(super) fn capacity(&self) -> usize {
        let sh = self.lock();
        self.cap - (sh.used - self.freed.load(Acquire) / ONE)
    }

    pub(super) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// For a permit's send: `Err(value)` only if the receiver is gone.
    pub(super) fn push_reserved(&self, value: T) -> Result<(), T> {
        let mut wakers = WakeList::new();
        let mut sh = self.lock();
        sh.permits -= 1;
        if sh.rx_dropped {
            self.release_slot(&mut sh, &mut wakers);
            return Err(value);
        }
        let waker = Chan::push(&mut sh, value);
        drop(sh);
        wakers.push(waker);
        wakers.wake_all();
        Ok(())
    }

    /// The receiver's view: closed, or every sender gone.
    pub(super) fn rx_is_closed(&self) -> bool {
        let sh = self.lock();
        sh.closed || sh.senders == 0
    }

    /// A weak sender's upgrade: one more sender handle, unless they are
    /// all gone already (then the stream has ended and stays ended).
    pub(super) fn upgrade_sender(&self) -> bool {
        let mut sh = self.lock();
        if sh.senders == 0 {
            return false;
        }
        sh.senders += 1;
        true
    }

    /// Takes `n` slots without waiting (as permits), unless the channel is
    /// closed, or full, or senders are queued.
    pub(super) fn try_reserve(&self, n: usize) -> Result<(), TrySendError<()>> {
        let mut sh = self.lock();
        if sh.closed {
            return Err(TrySendError::Closed(()));
        }
        if !sh.send_waiters.is_empty() || n > self.cap {
            return Err(TrySendError::Full(()));
        }
        if sh.used + n > self.cap {
            self.absorb(&mut sh);
            if sh.used + n > self.cap {
                return Err(TrySendError::Full(()));
            }
        }
        sh.used += n;
        sh.permits += n;
        Ok(())
    }

    /// One more sender handle.
    pub(super) fn add_sender(&self) {
        self.lock().senders += 1;
    }

    /// A sender handle went away; the last one ends the stream.
    pub(super) fn drop_sender(&self) {
        let mut sh = self.lock();
        sh.senders -= 1;
        let waker = if sh.senders == 0 {
            sh.rx_waker.take()
        } else {
            None
        };
        drop(sh);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Polls for the receiver's close; `waiter` is the caller's queue slot.
    pub(super) fn poll_closed(&self, waiter: &mut Option<WaiterId>, cx: &Context<'_>) -> Poll<()> {
        let mut sh = self.lock();
        if sh.closed {
            if let Some(id) = waiter.take() {
                sh.closed_waiters.remove(id);
            }
            return Poll::Ready(());
        }
        match *waiter {
            None => *waiter = Some(sh.closed_waiters.push_back((), cx.waker())),
            Some(id) => sh.closed_waiters.register(id, cx.waker()),
        }
        Poll::Pending
    }

    /// The drop half of `poll_closed`.
    pub(super) fn cancel_closed(&self, waiter: WaiterId) {
        self.lock().closed_waiters.remove(waiter);
    }

    /// Marks the channel closed and wakes every waiting sender; returns
    /// whatever `f` took out under the same lock, to drop after unlocking.
    fn close_with<R>(&self, f: impl FnOnce(&mut Shared<T>) -> R) -> R {
        let mut wakers = WakeList::new();
        let mut sh = self.lock();
        sh.closed = true;
        sh.send_waiters.drain(&mut wakers, |_| {});
        sh.closed_waiters.drain(&mut wakers, |_| {});
        let taken = f(&mut sh);
        drop(sh);
        wakers.wake_all();
        taken
    }
}

/// The receiver's private batch. Only `&mut Rx` touches the values; `&Rx`
/// (shared between threads if the receiver is) reads nothing but the
/// length, so the batch is `Sync` whenever the values are `Send`.
struct Batch<T>(VecDeque<T>);

// SAFETY: through `&Batch` only `len()` is reachable (see `Rx::len`), which
// reads no `T`; values only move in and out through `&mut`.
unsafe impl<T: Send> Sync for Batch<T> {}

/// The receiving half, shared by `Receiver` and `UnboundedReceiver`.
pub(super) struct Rx<T> {
    pub(super) chan: Arc<Chan<T>>,
    batch: Batch<T>,
    /// Returned the end (`None` / `Disconnected`): the stream is over.
    terminated: bool,
}

// Values are moved in and out, never pinned.
impl<T> Unpin for Rx<T> {}

/// Why `Rx::refill_pop` returned no value.
enum Refill {
    Empty,
    Ended,
}

impl<T> Rx<T> {
    pub(super) fn new(chan: Arc<Chan<T>>) -> Rx<T> {
        Rx {
            chan,
            batch: Batch(VecDeque::new()),
            terminated: false,
        }
    }

    /// Moves everything buffered into the (empty) batch and pops the first
    /// value, or registers `waker` if there was nothing. That first value's
    /// slot is freed right here under the lock, and handed to a waiting
    /// sender if any (see the module docs).
    fn refill_pop(&mut self, waker: Option<&Waker>) -> Result<T, Refill> {
        let chan = &*self.chan;
        let mut sh = chan.lock();
        if sh.buf.is_empty() {
            if sh.permits == 0 && (sh.closed || sh.senders == 0) {
                return Err(Refill::Ended);
            }
            if let Some(waker) = waker {
                match &sh.rx_waker {
                    Some(old) if old.will_wake(waker) => {}
                    _ => sh.rx_waker = Some(waker.clone()),
                }
            }
            return Err(Refill::Empty);
        }
        mem::swap(&mut sh.buf, &mut self.batch.0);
        let value = self
            .batch
            .0
            .pop_front()
            .expect("swapped in a non-empty buffer");
        if chan.cap != UNBOUNDED {
            sh.used -= 1;
            if !sh.send_waiters.is_empty() {
                let mut wakers = WakeList::new();
                chan.settle(&mut sh, &mut wakers);
                drop(sh);
                wakers.wake_all();
            }
        }
        Ok(value)
    }

    /// Pops from the batch and gives the slot back (bounded).
    #[inline]
    fn pop(&mut self) -> Option<T> {
        let value = self.batch.0.pop_front()?;
        if self.chan.cap != UNBOUNDED {
            let prev = self.chan.freed.fetch_add(ONE, AcqRel);
            if prev & WAITING != 0 {
                let mut wakers = WakeList::new();
                self.chan.settle(&mut self.chan.lock(), &mut wakers);
                wakers.wake_all();
            }
        }
        Some(value)
    }

    pub(super) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // A receive costs one unit of budget. It is charged before looking,
        // so that a value, once taken out, is always returned; if none is
        // left the value stays put for the next poll.
        if coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        if self.batch.0.is_empty() {
            return match self.refill_pop(Some(cx.waker())) {
                Ok(value) => Poll::Ready(Some(value)),
                Err(Refill::Empty) => Poll::Pending,
                Err(Refill::Ended) => {
                    self.terminated = true;
                    Poll::Ready(None)
                }
            };
        }
        Poll::Ready(self.pop())
    }

    pub(super) fn try_recv(&mut self) -> Result<T, TryRecvError> {
        if self.batch.0.is_empty() {
            return self.refill_pop(None).map_err(|e| match e {
                Refill::Empty => TryRecvError::Empty,
                Refill::Ended => {
                    self.terminated = true;
                    TryRecvError::Disconnected
                }
            });
        }
        self.pop().ok_or(TryRecvError::Empty)
    }

    pub(super) fn close(&mut self) {
        self.chan.close_with(|_| ());
    }

    pub(super) fn is_terminated(&self) -> bool {
        self.terminated
    }

    /// Values in the private batch (no lock): a hint for `recv_many`.
    pub(super) fn len_hint(&self) -> usize {
        self.batch.0.len()
    }

    pub(super) fn len(&self) -> usize {
        self.chan.lock().buf.len() + self.batch.0.len()
    }
}

impl<T> Drop for Rx<T> {
    fn drop(&mut self) {
        let (buf, waker) = self.chan.close_with(|sh| {
            sh.rx_dropped = true;
            (mem::take(&mut sh.buf), sh.rx_waker.take())
        });
        // Values and the waker are dropped outside the lock: their `Drop`
        // may run arbitrary code.
        drop((buf, waker));
        self.batch.0.clear();
    }
}
