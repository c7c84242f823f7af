//! [`Mutex`]: an async mutual-exclusion lock, handed over first come, first
//! served.
//!
//! A `Mutex<T>` is a [`RawSemaphore`] with one permit plus an `UnsafeCell<T>`.
//! Locking acquires the permit; the guard's drop releases it, and the
//! semaphore's hand-over gives it straight to the first queued waiter
//! instead of putting it back where a newcomer could grab it. So the order
//! of `lock()` calls is the order of entry, and no task can be starved.
//!
//! Cancellation: a `lock()` future dropped while queued leaves the queue; one
//! dropped after it was handed the lock but before it ran passes the lock on
//! to the next waiter (see `raw.rs`). Either way the lock cannot leak.
//!
//! Unlike `std::sync::Mutex` the guard may be held across `.await` (a task
//! that waits while holding it only delays other lockers, it does not block
//! a thread). There is no poisoning: a panic while holding the guard
//! unlocks it like any other drop. Python's `threading.Lock` /
//! `asyncio.Lock` are this type without the data; Python's re-entrant
//! `RLock` has no counterpart, because a task has no identity the lock
//! could recognise, and re-locking from the same task deadlocks by design.

use std::cell::UnsafeCell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::raw_semaphore::RawSemaphore;
use crate::park::block_on_thread;

/// An async mutex protecting a `T`, fair (FIFO) and cancellation safe.
///
/// ```
/// use std::sync::Arc;
/// use spindle_runtime::sync::Mutex;
///
/// spindle_runtime::block_on(async {
///     let count = Arc::new(Mutex::new(0));
///     let tasks: Vec<_> = (0..10)
///         .map(|_| {
///             let count = count.clone();
///             spindle_runtime::spawn(async move {
///                 let mut n = count.lock().await;
///                 spindle_runtime::yield_now().await; // held across an await
///                 *n += 1;
///             })
///         })
///         .collect();
///     for t in tasks {
///         t.await.unwrap();
///     }
///     assert_eq!(*count.lock().await, 10);
/// });
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawSemaphore,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands `&mut T` to one guard at a time, possibly on
// different threads, so `T: Send` is needed and sufficient (as for
// `std::sync::Mutex`). The semaphore state is `Send` itself.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above: sharing the mutex only ever gives exclusive access.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// Returned by [`Mutex::try_lock`] and `RwLock::try_*` when the lock is
/// taken (or others are already queued for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TryLockError(pub(super) ());

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("lock is held or has waiters")
    }
}

impl std::error::Error for TryLockError {}

/// For `?` in a function returning `io::Result`: kind
/// [`WouldBlock`](io::ErrorKind::WouldBlock), this error inside.
impl From<TryLockError> for io::Error {
    fn from(e: TryLockError) -> io::Error {
        io::Error::new(io::ErrorKind::WouldBlock, e)
    }
}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub fn new(value: T) -> Mutex<T> {
        Mutex {
            raw: RawSemaphore::new(1, false),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex and returns the value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock, in turn. Cancel safe: see the module docs.
    pub async fn lock(&self) -> MutexGuard<'_, T> {
        acquired(self.raw.acquire(1).await);
        MutexGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// Takes the lock if it is free and nobody is waiting for it.
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        match self.raw.try_acquire(1) {
            Ok(()) => Ok(MutexGuard {
                lock: self,
                _marker: PhantomData,
            }),
            Err(_) => Err(TryLockError(())),
        }
    }

    /// Blocks this OS thread until the lock is handed to it; lets a plain
    /// thread share data with tasks.
    ///
    /// # Panics
    /// If called inside a spindle runtime (use `lock().await` there).
    #[track_caller]
    pub fn blocking_lock(&self) -> MutexGuard<'_, T> {
        block_on_thread(self.lock())
    }

    /// [`lock`](Self::lock), returning a guard that keeps the mutex alive
    /// instead of borrowing it (to move into a spawned task).
    pub async fn lock_owned(self: Arc<Self>) -> OwnedMutexGuard<T> {
        acquired(self.raw.acquire(1).await);
        OwnedMutexGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// [`try_lock`](Self::try_lock) with an owned guard.
    pub fn try_lock_owned(self: Arc<Self>) -> Result<OwnedMutexGuard<T>, TryLockError> {
        match self.raw.try_acquire(1) {
            Ok(()) => Ok(OwnedMutexGuard {
                lock: self,
                _marker: PhantomData,
            }),
            Err(_) => Err(TryLockError(())),
        }
    }

    /// The value, through `&mut self`: no locking needed, none can be held.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

/// A mutex's semaphore is never closed, so its acquire cannot fail.
fn acquired<E>(result: Result<(), E>) {
    if result.is_err() {
        unreachable!("a Mutex's semaphore is never closed");
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Access to a [`Mutex`]'s value; dropping it unlocks (and hands the lock
/// to the first waiter).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    lock: &'a Mutex<T>,
    /// Makes the guard `Sync` only if `T: Sync` (it hands out `&T`).
    _marker: PhantomData<&'a mut T>,
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// The mutex this guard locks (what `Condvar::wait` re-locks).
    pub fn mutex(this: &Self) -> &'a Mutex<T> {
        this.lock
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex's only permit, so no other
        // reference to the data exists while it lives.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this access unique.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.release(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A [`MutexGuard`] that owns an `Arc` of its mutex, so it is `'static`.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct OwnedMutexGuard<T: ?Sized> {
    lock: Arc<Mutex<T>>,
    /// Makes the guard `Sync` only if `T: Sync` (it hands out `&T`).
    _marker: PhantomData<T>,
}

impl<T: ?Sized> OwnedMutexGuard<T> {
    /// The mutex this guard locks.
    pub fn mutex(this: &Self) -> &Arc<Mutex<T>> {
        &this.lock
    }
}

impl<T: ?Sized> Deref for OwnedMutexGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex's only permit.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for OwnedMutexGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the mutex's only permit; `&mut self`
        // makes this access unique.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for OwnedMutexGuard<T> {
    fn drop(&mut self) {
        self.lock.raw.release(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
