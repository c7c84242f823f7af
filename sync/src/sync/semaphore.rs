//! [`Semaphore`]: a fair counting semaphore with RAII permits.
//!
//! This is the public face of [`RawSemaphore`](super::raw): the counting,
//! queueing and cancellation logic all live there (read its module docs for
//! the hand-over protocol). This file adds the permit guards that give
//! permits back when dropped, and the error types.
//!
//! Compared with Python: `threading.Semaphore(n)` / `asyncio.Semaphore(n)`
//! pair `acquire()` with an explicit `release()`; here the permit is a value
//! and dropping it is the release (like `with sem:`). To release by hand,
//! [`forget`](SemaphorePermit::forget) the permit and later call
//! [`add_permits`](Semaphore::add_permits). Python's `BoundedSemaphore`,
//! which refuses to be released above its initial value, is
//! [`BoundedSemaphore`](super::BoundedSemaphore).

use std::fmt;
use std::io;
use std::sync::Arc;

use super::raw_semaphore::{RawSemaphore, MAX_PERMITS};
use crate::park::block_on_thread;

/// A counting semaphore: at most `n` permits are out at once, and waiters
/// are served strictly first come, first served.
///
/// A waiter asking for many permits at the head of the queue holds back
/// smaller requests behind it, so it cannot be starved. Dropping a waiting
/// `acquire` future at any point (timeout, abort) never loses a permit: one
/// it had already been handed moves on to the next waiter.
///
/// ```
/// use std::sync::Arc;
/// use spindle_runtime::sync::Semaphore;
///
/// spindle_runtime::block_on(async {
///     let sem = Arc::new(Semaphore::new(2));
///     let mut tasks = Vec::new();
///     for i in 0..5 {
///         let sem = sem.clone();
///         tasks.push(spindle_runtime::spawn(async move {
///             let _permit = sem.acquire().await.unwrap(); // at most 2 inside
///             i * 10
///         }));
///     }
///     let mut sum = 0;
///     for t in tasks {
///         sum += t.await.unwrap();
///     }
///     assert_eq!(sum, 100);
///     assert_eq!(sem.available_permits(), 2);
/// });
/// ```
pub struct Semaphore {
    pub(super) raw: RawSemaphore,
}

impl Semaphore {
    /// The most permits a semaphore can hold.
    pub const MAX_PERMITS: usize = MAX_PERMITS;

    /// A semaphore with `permits` permits available.
    ///
    /// # Panics
    /// If `permits` exceeds [`MAX_PERMITS`](Self::MAX_PERMITS).
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            raw: RawSemaphore::new(permits, false),
        }
    }

    /// A semaphore with `permits` permits, in a `const` context (for a
    /// `static`).
    ///
    /// # Panics
    /// If `permits` exceeds [`MAX_PERMITS`](Self::MAX_PERMITS).
    #[cfg(not(all(loom, test)))]
    pub const fn const_new(permits: usize) -> Semaphore {
        Semaphore {
            raw: RawSemaphore::const_new(permits),
        }
    }

    /// Takes up to `n` of the free permits away for good (permits held
    /// now are not touched); returns how many it took.
    pub fn forget_permits(&self, n: usize) -> usize {
        self.raw.forget_free(n)
    }

    /// Permits free right now (zero while anyone is waiting).
    pub fn available_permits(&self) -> usize {
        self.raw.available()
    }

    /// Adds `n` new permits. Waiters are served first, in order.
    ///
    /// # Panics
    /// If the free permits would exceed [`MAX_PERMITS`](Self::MAX_PERMITS).
    pub fn add_permits(&self, n: usize) {
        // An unbounded semaphore never refuses.
        let _ = self.raw.add(n);
    }

    /// Waits for one permit.
    ///
    /// Fails only if the semaphore is (or gets) [closed](Self::close).
    /// Cancel safe: dropping the future gives up its place in the queue and
    /// passes on a permit it had already been handed.
    pub async fn acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.acquire_many(1).await
    }

    /// Waits for `n` permits at once. While it waits at the head of the
    /// queue, released permits are set aside for it (and returned if it is
    /// dropped); later, smaller requests wait behind it.
    ///
    /// A request for more permits than will ever exist waits forever.
    pub async fn acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.raw.acquire(n as usize).await?;
        Ok(SemaphorePermit {
            sem: self,
            permits: n as usize,
        })
    }

    /// Takes one permit if one is free and nobody is waiting.
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are free and nobody is waiting.
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.raw.try_acquire(n as usize)?;
        Ok(SemaphorePermit {
            sem: self,
            permits: n as usize,
        })
    }

    /// [`acquire`](Self::acquire), returning a permit that keeps the
    /// semaphore alive instead of borrowing it (to move into a task).
    pub async fn acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.acquire_many_owned(1).await
    }

    /// [`acquire_many`](Self::acquire_many) with an owned permit.
    pub async fn acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.raw.acquire(n as usize).await?;
        Ok(OwnedSemaphorePermit {
            sem: self,
            permits: n as usize,
        })
    }

    /// [`try_acquire`](Self::try_acquire) with an owned permit.
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.raw.try_acquire(1)?;
        Ok(OwnedSemaphorePermit {
            sem: self,
            permits: 1,
        })
    }

    /// [`try_acquire_many`](Self::try_acquire_many) with an owned permit.
    pub fn try_acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.raw.try_acquire(n as usize)?;
        Ok(OwnedSemaphorePermit {
            sem: self,
            permits: n as usize,
        })
    }

    /// Blocks this OS thread until a permit is free; for plain threads.
    ///
    /// # Panics
    /// If called inside a spindle runtime (use `acquire().await` there).
    #[track_caller]
    pub fn blocking_acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        block_on_thread(self.acquire())
    }

    /// Closes the semaphore: every waiter, and every later acquire, fails
    /// with [`AcquireError`]. Permits already held stay valid and are still
    /// returned when dropped.
    pub fn close(&self) {
        self.raw.close();
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.raw.is_closed()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Permits borrowed from a [`Semaphore`]; dropping it gives them back.
#[must_use = "the permit is released as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    permits: usize,
}

impl SemaphorePermit<'_> {
    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// Drops the guard without giving the permits back: the semaphore is
    /// left with fewer permits (until [`Semaphore::add_permits`]).
    pub fn forget(mut self) {
        self.sem.raw.forget(std::mem::take(&mut self.permits));
    }

    /// Moves `other`'s permits into this one.
    ///
    /// # Panics
    /// If the two permits come from different semaphores.
    #[track_caller]
    pub fn merge(&mut self, mut other: Self) {
        assert!(
            std::ptr::eq(self.sem, other.sem),
            "merging permits of different semaphores"
        );
        self.permits += std::mem::take(&mut other.permits);
    }

    /// Splits `n` permits off into a new permit; `None` (and nothing
    /// changes) if this one holds fewer than `n`.
    pub fn split(&mut self, n: usize) -> Option<Self> {
        if n > self.permits {
            return None;
        }
        self.permits -= n;
        Some(SemaphorePermit {
            sem: self.sem,
            permits: n,
        })
    }

    /// The semaphore these permits belong to.
    pub fn semaphore(&self) -> &Semaphore {
        self.sem
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.raw.release(self.permits);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}

/// Permits of an `Arc<Semaphore>`; dropping it gives them back.
#[must_use = "the permit is released as soon as it is dropped"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Semaphore>,
    permits: usize,
}

impl OwnedSemaphorePermit {
    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// Drops the guard without giving the permits back.
    pub fn forget(mut self) {
        self.sem.raw.forget(std::mem::take(&mut self.permits));
    }

    /// Moves `other`'s permits into this one.
    ///
    /// # Panics
    /// If the two permits come from different semaphores.
    #[track_caller]
    pub fn merge(&mut self, mut other: Self) {
        assert!(
            Arc::ptr_eq(&self.sem, &other.sem),
            "merging permits of different semaphores"
        );
        self.permits += std::mem::take(&mut other.permits);
    }

    /// Splits `n` permits off into a new permit; `None` (and nothing
    /// changes) if this one holds fewer than `n`.
    pub fn split(&mut self, n: usize) -> Option<Self> {
        if n > self.permits {
            return None;
        }
        self.permits -= n;
        Some(OwnedSemaphorePermit {
            sem: self.sem.clone(),
            permits: n,
        })
    }

    /// The semaphore these permits belong to.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        self.sem.raw.release(self.permits);
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}

/// The semaphore was closed, so no permit will ever come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcquireError(pub(super) ());

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}

impl std::error::Error for AcquireError {}

/// So that `sem.acquire().await?` works in a function returning
/// `io::Result`: kind [`Other`](io::ErrorKind::Other), this error inside.
impl From<AcquireError> for io::Error {
    fn from(e: AcquireError) -> io::Error {
        io::Error::other(e)
    }
}

/// Why a `try_acquire` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// Not enough permits are free, or others are waiting for them.
    NoPermits,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => f.write_str("semaphore closed"),
            TryAcquireError::NoPermits => f.write_str("no permits available"),
        }
    }
}

impl std::error::Error for TryAcquireError {}

/// For `?` in a function returning `io::Result`: `NoPermits` becomes
/// [`WouldBlock`](io::ErrorKind::WouldBlock), `Closed` becomes
/// [`Other`](io::ErrorKind::Other) (as [`AcquireError`] does), with this
/// error inside.
impl From<TryAcquireError> for io::Error {
    fn from(e: TryAcquireError) -> io::Error {
        let kind = match e {
            TryAcquireError::NoPermits => io::ErrorKind::WouldBlock,
            TryAcquireError::Closed => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}
