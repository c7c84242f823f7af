//! [`Queue`]: a multi-producer, multi-consumer FIFO queue with Python's
//! `asyncio.Queue` semantics (`put` / `get`, `qsize` / `full` / `empty`
//! under their Rust names `len` / `is_full` / `is_empty`, and `task_done` /
//! `join` as in `JoinableQueue`), plus `close`.
//!
//! # How it works
//!
//! One `Mutex` guards the buffer, three FIFO wait lists (getters, putters,
//! joiners) and two counts of things *held* for woken waiters:
//!
//! * `held_items`: values in the buffer promised to getters that were
//!   woken but have not run yet. A put that finds getters waiting holds
//!   the new value for the first of them (unlinks and marks its node) and
//!   wakes it; `get_nowait` only sees `buf.len() - held_items`, so no
//!   newcomer overtakes a waiting getter.
//! * `held_slots`: free slots promised to woken putters, the same way.
//!
//! Holding (instead of waking and letting everyone race) is what makes the
//! queue both fair and cancellation safe: a woken getter that is dropped
//! before it runs gives its hold back, and the item is handed to the next
//! getter at once (or stays in the queue); likewise for a putter's slot.
//! The value a putter carries lives in its future until it is in the
//! buffer, so dropping a put loses only what the caller dropped.
//!
//! Invariants, true whenever the lock is free: if a getter is queued,
//! every buffered value is held (`buf.len() == held_items`); if a putter
//! is queued, every free slot is held.

mod error;
mod wait;

use std::collections::VecDeque;
use std::fmt;

pub use error::{GetError, PutError, QueueClosed, TaskDoneError};

use crate::loom::{lock, Arc, Mutex, MutexGuard};
use crate::park::block_on_thread;
use crate::wait_list::WaitList;
use crate::wake_list::WakeList;
use wait::{Get, Join, Put};

/// A multi-producer, multi-consumer queue with `asyncio.Queue` semantics.
///
/// `Queue` is a cheap handle: clone it for every producer and consumer
/// (all clones are the same queue). `maxsize` 0 means unbounded; otherwise
/// `put` waits while `maxsize` items are queued. Waiting getters and
/// putters are served first come, first served.
///
/// Every item put counts as unfinished until a consumer calls
/// [`task_done`](Queue::task_done) for it; [`join`](Queue::join) waits for
/// that count to reach zero. [`close`](Queue::close) replaces the "one
/// sentinel per consumer" trick: consumers drain what is left, then `get`
/// fails with [`QueueClosed`].
///
/// ```
/// use spindle_runtime::channel::Queue;
///
/// spindle_runtime::block_on(async {
///     let q = Queue::new(2);
///     let mut workers = Vec::new();
///     for _ in 0..3 {
///         let q = q.clone();
///         workers.push(spindle_runtime::spawn(async move {
///             let mut done = 0;
///             while let Ok(job) = q.get().await {
///                 done += job;
///                 q.task_done();
///             }
///             done
///         }));
///     }
///     for job in 1..=10 {
///         q.put(job).await.unwrap(); // waits while 2 are queued
///     }
///     q.join().await; // every job was taken and marked done
///     q.close(); // the workers' `get` now fails: they finish
///     let mut total = 0;
///     for w in workers {
///         total += w.await.unwrap();
///     }
///     assert_eq!(total, 55);
/// });
/// ```
pub struct Queue<T> {
    inner: Arc<Mutex<State<T>>>,
}

struct State<T> {
    buf: VecDeque<T>,
    /// `maxsize`, or `usize::MAX` for unbounded.
    cap: usize,
    closed: bool,
    held_items: usize,
    held_slots: usize,
    /// Items put and not yet marked done.
    unfinished: usize,
    /// Value: "woken with something held for it".
    getters: WaitList<bool>,
    putters: WaitList<bool>,
    joiners: WaitList<()>,
}

impl<T> State<T> {
    /// Values not held for a woken getter.
    fn available(&self) -> usize {
        self.buf.len() - self.held_items
    }

    /// Free slots not held for a woken putter.
    fn free(&self) -> usize {
        self.cap - self.buf.len() - self.held_slots
    }

    /// Appends a value (its slot is accounted for) and hands it on.
    fn push(&mut self, value: T, wakers: &mut WakeList) {
        self.buf.push_back(value);
        self.unfinished += 1;
        self.hand_items(wakers);
    }

    /// Takes the front value (available or held for the caller) and hands
    /// the slot it frees on.
    fn pop(&mut self, wakers: &mut WakeList) -> T {
        let value = self.buf.pop_front().expect("the caller checked");
        self.hand_slots(wakers);
        value
    }

    /// Holds available values for waiting getters and collects their wakers.
    fn hand_items(&mut self, wakers: &mut WakeList) {
        while self.available() > 0 {
            let Some((held, waker)) = self.getters.pop_front() else {
                break;
            };
            *held = true;
            self.held_items += 1;
            wakers.push(waker);
        }
    }

    /// Holds free slots for waiting putters and collects their wakers.
    fn hand_slots(&mut self, wakers: &mut WakeList) {
        while self.free() > 0 {
            let Some((held, waker)) = self.putters.pop_front() else {
                break;
            };
            *held = true;
            self.held_slots += 1;
            wakers.push(waker);
        }
    }
}

impl<T> Queue<T> {
    /// A queue holding at most `maxsize` items; 0 means unbounded.
    pub fn new(maxsize: usize) -> Queue<T> {
        Queue {
            inner: Arc::new(Mutex::new(State {
                buf: VecDeque::new(),
                cap: if maxsize == 0 { usize::MAX } else { maxsize },
                closed: false,
                held_items: 0,
                held_slots: 0,
                unfinished: 0,
                getters: WaitList::new(),
                putters: WaitList::new(),
                joiners: WaitList::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        lock(&self.inner)
    }

    /// Puts `value` at the back, waiting while the queue is full. Fails,
    /// handing the value back, if the queue is (or gets) closed first.
    ///
    /// Cancellation safe: dropped before it completes, the put did not
    /// happen, and a slot already held for it goes to the next putter.
    pub async fn put(&self, value: T) -> Result<(), QueueClosed<T>> {
        Put::new(&self.inner, value).await
    }

    /// Takes the front item, waiting while the queue is empty. After
    /// [`close`](Self::close) it keeps returning what is left, then fails.
    ///
    /// Cancellation safe: dropped before it completes, nothing was taken,
    /// and an item already held for it goes to the next getter.
    pub async fn get(&self) -> Result<T, QueueClosed> {
        Get::new(&self.inner).await
    }

    /// Puts without waiting.
    pub fn put_nowait(&self, value: T) -> Result<(), PutError<T>> {
        let mut wakers = WakeList::new();
        let mut st = self.lock();
        if st.closed {
            return Err(PutError::Closed(value));
        }
        if st.free() == 0 {
            return Err(PutError::Full(value));
        }
        st.push(value, &mut wakers);
        drop(st);
        wakers.wake_all();
        Ok(())
    }

    /// Takes the front item without waiting.
    pub fn get_nowait(&self) -> Result<T, GetError> {
        let mut wakers = WakeList::new();
        let mut st = self.lock();
        if st.available() == 0 {
            let closed = st.closed && st.buf.is_empty();
            return Err(if closed {
                GetError::Closed
            } else {
                GetError::Empty
            });
        }
        let value = st.pop(&mut wakers);
        drop(st);
        wakers.wake_all();
        Ok(value)
    }

    /// [`put`](Self::put) by parking this OS thread (for plain threads).
    ///
    /// # Panics
    /// If called on a thread running a spindle runtime.
    #[track_caller]
    pub fn blocking_put(&self, value: T) -> Result<(), QueueClosed<T>> {
        block_on_thread(self.put(value))
    }

    /// [`get`](Self::get) by parking this OS thread (for plain threads).
    ///
    /// # Panics
    /// If called on a thread running a spindle runtime.
    #[track_caller]
    pub fn blocking_get(&self) -> Result<T, QueueClosed> {
        block_on_thread(self.get())
    }

    /// Items in the queue (including those already promised to woken
    /// getters). Python's `qsize()`.
    #[doc(alias = "qsize")]
    pub fn len(&self) -> usize {
        self.lock().buf.len()
    }

    /// The bound given to [`new`](Self::new); 0 for unbounded.
    pub fn maxsize(&self) -> usize {
        let cap = self.lock().cap;
        if cap == usize::MAX {
            0
        } else {
            cap
        }
    }

    /// True if [`len`](Self::len) is 0. Python's `empty()`.
    #[doc(alias = "empty")]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if the queue is bounded and holds `maxsize` items. (A put can
    /// also have to wait when slots are promised to woken putters.)
    /// Python's `full()`.
    #[doc(alias = "full")]
    pub fn is_full(&self) -> bool {
        let st = self.lock();
        st.cap != usize::MAX && st.buf.len() >= st.cap
    }

    /// Marks one item taken with `get` as processed, for [`join`](Self::join).
    ///
    /// # Panics
    /// If called more times than items were put (Python raises
    /// `ValueError`); use [`try_task_done`](Self::try_task_done) to get an
    /// error instead.
    #[track_caller]
    pub fn task_done(&self) {
        if let Err(e) = self.try_task_done() {
            panic!("Queue::task_done: {e}");
        }
    }

    /// Like [`task_done`](Self::task_done), but over-calling is an error
    /// and changes nothing.
    pub fn try_task_done(&self) -> Result<(), TaskDoneError> {
        let mut wakers = WakeList::new();
        let mut st = self.lock();
        if st.unfinished == 0 {
            return Err(TaskDoneError);
        }
        st.unfinished -= 1;
        if st.unfinished == 0 {
            st.joiners.drain(&mut wakers, |_| {});
        }
        drop(st);
        wakers.wake_all();
        Ok(())
    }

    /// Waits until every item ever put has been marked done with
    /// [`task_done`](Self::task_done). Returns at once if none is pending.
    pub async fn join(&self) {
        Join::new(&self.inner).await
    }

    /// Items put and not yet marked done.
    pub fn unfinished_tasks(&self) -> usize {
        self.lock().unfinished
    }

    /// Closes the queue: every put from now on (and every waiting put)
    /// fails, handing its value back. Getters keep taking what is left;
    /// once it is gone, `get` fails with [`QueueClosed`]. `join` is not
    /// affected. Closing twice does nothing.
    pub fn close(&self) {
        let mut wakers = WakeList::new();
        let mut st = self.lock();
        st.closed = true;
        // Getters still queued have nothing held, and nothing more can come.
        st.getters.drain(&mut wakers, |_| {});
        st.putters.drain(&mut wakers, |_| {});
        drop(st);
        wakers.wake_all();
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

impl<T> Clone for Queue<T> {
    /// Another handle to the same queue.
    fn clone(&self) -> Self {
        Queue {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Default for Queue<T> {
    /// An unbounded queue.
    fn default() -> Self {
        Queue::new(0)
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Queue")
            .field("len", &st.buf.len())
            .field("maxsize", &if st.cap == usize::MAX { 0 } else { st.cap })
            .field("unfinished", &st.unfinished)
            .field("closed", &st.closed)
            .finish()
    }
}
