//! [`RwLock`]: many readers or one writer, fair to both.
//!
//! An `RwLock<T>` is a [`RawSemaphore`] with [`MAX_READS`] permits plus an
//! `UnsafeCell<T>`. A reader takes one permit; a writer takes all of them,
//! so it can only hold the lock when no reader does.
//!
//! Writer preference falls out of the semaphore's FIFO queue. Once a writer
//! is queued, the pool is empty (released permits are set aside for the
//! head of the queue), so a reader arriving later cannot slip in past it: it
//! queues behind the writer. As the earlier readers leave, their permits
//! accumulate on the writer until it has them all. Readers queued behind the
//! writer get in together when it unlocks. Neither side can starve.
//!
//! Cancellation is the semaphore's: a writer dropped while it has gathered
//! part of the permits returns them, and the readers behind it proceed.
//!
//! Python has no read-write lock in `threading` or `asyncio`; this is the
//! usual one (tokio's, Java's fair `ReentrantReadWriteLock` without
//! re-entrance).

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use super::mutex::TryLockError;
use super::raw_semaphore::RawSemaphore;
use crate::park::block_on_thread;

/// How many readers may hold an [`RwLock`] at once.
pub const MAX_READS: u32 = u32::MAX >> 3;
const ALL: usize = MAX_READS as usize;

/// An async reader-writer lock, FIFO between readers and writers.
///
/// ```
/// use spindle_runtime::sync::RwLock;
///
/// spindle_runtime::block_on(async {
///     let lock = RwLock::new(5);
///     {
///         let r1 = lock.read().await;
///         let r2 = lock.read().await; // readers share
///         assert_eq!(*r1 + *r2, 10);
///         assert!(lock.try_write().is_err());
///     }
///     *lock.write().await += 1;
///     assert_eq!(*lock.read().await, 6);
/// });
/// ```
pub struct RwLock<T: ?Sized> {
    raw: RawSemaphore,
    data: UnsafeCell<T>,
}

// SAFETY: a writer may get `&mut T` on any thread, so `T: Send`.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: readers on several threads share `&T` at once (`T: Sync`), and a
// writer on any thread gets `&mut T` (`T: Send`), as for std's `RwLock`.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    /// An unlocked lock holding `value`.
    pub fn new(value: T) -> RwLock<T> {
        RwLock {
            raw: RawSemaphore::new(ALL, false),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Waits for shared access. Behind a queued writer, waits for it.
    pub async fn read(&self) -> RwLockReadGuard<'_, T> {
        acquired(self.raw.acquire(1).await);
        RwLockReadGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// Waits for exclusive access, in turn.
    pub async fn write(&self) -> RwLockWriteGuard<'_, T> {
        acquired(self.raw.acquire(ALL).await);
        RwLockWriteGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// Shared access if no writer holds or waits for the lock.
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        match self.raw.try_acquire(1) {
            Ok(()) => Ok(RwLockReadGuard {
                lock: self,
                _marker: PhantomData,
            }),
            Err(_) => Err(TryLockError(())),
        }
    }

    /// Exclusive access if nobody holds or waits for the lock.
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        match self.raw.try_acquire(ALL) {
            Ok(()) => Ok(RwLockWriteGuard {
                lock: self,
                _marker: PhantomData,
            }),
            Err(_) => Err(TryLockError(())),
        }
    }

    /// Blocks this OS thread for shared access (for plain threads).
    ///
    /// # Panics
    /// If called inside a spindle runtime.
    #[track_caller]
    pub fn blocking_read(&self) -> RwLockReadGuard<'_, T> {
        block_on_thread(self.read())
    }

    /// Blocks this OS thread for exclusive access (for plain threads).
    ///
    /// # Panics
    /// If called inside a spindle runtime.
    #[track_caller]
    pub fn blocking_write(&self) -> RwLockWriteGuard<'_, T> {
        block_on_thread(self.write())
    }

    /// The value, through `&mut self`: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

fn acquired<E>(result: Result<(), E>) {
    if result.is_err() {
        unreachable!("an RwLock's semaphore is never closed");
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Shared access to an [`RwLock`]'s value; dropping it releases one read.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _marker: PhantomData<&'a T>,
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds a read permit, so no writer (the only
        // source of `&mut T`) holds the lock while it lives.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.release(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to an [`RwLock`]'s value; dropping it unlocks.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _marker: PhantomData<&'a mut T>,
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Turns write access into read access without letting a writer in
    /// between; readers queued right behind are let in at once.
    pub fn downgrade(this: Self) -> RwLockReadGuard<'a, T> {
        let lock = this.lock;
        std::mem::forget(this);
        lock.raw.release(ALL - 1);
        RwLockReadGuard {
            lock,
            _marker: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds every permit: no other guard exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds every permit, and `&mut self` makes this
        // access unique.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.release(ALL);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
