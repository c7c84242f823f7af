//! [`BoundedSemaphore`]: Python's `threading.BoundedSemaphore` /
//! `asyncio.BoundedSemaphore` for tasks.
//!
//! A plain semaphore lets `add_permits` raise the count without limit, so a
//! stray extra `release()` silently lets one more task into the critical
//! section. A bounded semaphore remembers its initial count and refuses to
//! exceed it, turning that bug into an error (Python raises `ValueError`).
//!
//! It counts the permits *in existence*: free, set aside for a waiter, or
//! held by a guard. A guard's drop only returns a permit that exists, so it
//! can never push the count past the bound. [`forget`] destroys one, and
//! only then may [`release`](BoundedSemaphore::release) create one again.
//! Everything else (fairness, cancellation safety, closing) is that of
//! [`Semaphore`], which it wraps.
//!
//! [`forget`]: super::SemaphorePermit::forget

use std::fmt;
use std::io;
use std::sync::Arc;

use super::raw_semaphore::RawSemaphore;
use super::semaphore::{
    AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TryAcquireError,
};

/// A [`Semaphore`] that can never hold more permits than it started with.
///
/// The acquire side is the same as [`Semaphore`]'s (and returns the same
/// permit types); releasing by hand beyond the initial count fails.
///
/// ```
/// use spindle_runtime::sync::BoundedSemaphore;
///
/// spindle_runtime::block_on(async {
///     let sem = BoundedSemaphore::new(3);
///     // Python's `sem.acquire()` ... `sem.release()`, by hand:
///     sem.acquire().await.unwrap().forget();
///     assert_eq!(sem.available_permits(), 2);
///     sem.release().unwrap();
///     // One release too many is refused, as Python raises ValueError.
///     assert!(sem.release().is_err());
///     assert_eq!(sem.available_permits(), 3);
/// });
/// ```
pub struct BoundedSemaphore {
    inner: Arc<Semaphore>,
    bound: usize,
}

impl BoundedSemaphore {
    /// A semaphore with `permits` permits, which is also its maximum.
    ///
    /// # Panics
    /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
    pub fn new(permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            inner: Arc::new(Semaphore {
                raw: RawSemaphore::new(permits, true),
            }),
            bound: permits,
        }
    }

    /// The initial (and maximum) number of permits.
    pub fn bound(&self) -> usize {
        self.bound
    }

    /// Permits free right now.
    pub fn available_permits(&self) -> usize {
        self.inner.available_permits()
    }

    /// Creates one permit again, after one was [`forget`]-ed: Python's
    /// `release()`. Fails if that would exceed the initial count.
    ///
    /// [`forget`]: SemaphorePermit::forget
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.add_permits(1)
    }

    /// Creates `n` permits; fails, adding none, if the permits in existence
    /// would then exceed the initial count.
    pub fn add_permits(&self, n: usize) -> Result<(), ReleaseError> {
        self.inner.raw.add(n).map_err(|()| ReleaseError(()))
    }

    /// Waits for one permit; see [`Semaphore::acquire`].
    pub async fn acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.inner.acquire().await
    }

    /// Waits for `n` permits; see [`Semaphore::acquire_many`]. More than
    /// [`bound`](Self::bound) will never be granted: it waits forever (and
    /// holds back everyone behind it).
    pub async fn acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.inner.acquire_many(n).await
    }

    /// Blocks this OS thread until a permit is free; for plain threads. See
    /// [`Semaphore::blocking_acquire`].
    ///
    /// # Panics
    /// If called inside a spindle runtime (use `acquire().await` there).
    #[track_caller]
    pub fn blocking_acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.inner.blocking_acquire()
    }

    /// Takes one permit if one is free and nobody is waiting.
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.inner.try_acquire()
    }

    /// Takes `n` permits if they are free and nobody is waiting.
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.inner.try_acquire_many(n)
    }

    /// [`acquire`](Self::acquire) with a permit that owns a reference to
    /// the semaphore.
    pub async fn acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.inner.clone().acquire_owned().await
    }

    /// Closes the semaphore; see [`Semaphore::close`].
    pub fn close(&self) {
        self.inner.close();
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("bound", &self.bound)
            .field("available_permits", &self.available_permits())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A release or `add_permits` on a [`BoundedSemaphore`] would have raised
/// its permits above the initial count (Python: "Semaphore released too
/// many times").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseError(());

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore released too many times: above its initial count")
    }
}

impl std::error::Error for ReleaseError {}

/// For `?` in a function returning `io::Result`: kind
/// [`InvalidInput`](io::ErrorKind::InvalidInput) (Python raises
/// `ValueError`), this error inside.
impl From<ReleaseError> for io::Error {
    fn from(e: ReleaseError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}
