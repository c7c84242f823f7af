//! The one place the crate picks its building blocks: loom's model-checked
//! `Arc`, `Mutex`, atomics and `UnsafeCell` when the sources are compiled
//! into a loom model test, the standard library's otherwise.
//!
//! loom is a dev-dependency, so only a `test` build can see it. The loom
//! models (`tests/sync_loom.rs`, `tests/channel_loom.rs`) compile the
//! crate's sources straight into the test crate with `#[path]`, which is a
//! `test` build; hence the switch is `all(loom, test)`. Every other build,
//! with or without `--cfg loom` (the library as the runtime links it, the
//! other integration tests), gets `std`.
//!
//! loom's `UnsafeCell` hands out access through closures (`with`,
//! `with_mut`) so that it can check every access; the `std` side wraps
//! `std::cell::UnsafeCell` in the same interface, which compiles down to a
//! plain pointer access.

#[cfg(all(loom, test))]
pub(crate) use loom::cell::UnsafeCell;
#[cfg(all(loom, test))]
pub(crate) use loom::sync::{
    atomic, Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

#[cfg(not(all(loom, test)))]
pub(crate) use std::sync::{
    atomic, Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

/// `std::cell::UnsafeCell` with loom's closure-based interface.
#[cfg(not(all(loom, test)))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(all(loom, test)))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a shared pointer to the contents.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a mutable pointer to the contents.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Locks `mutex`, ignoring poisoning.
///
/// Every critical section in this crate only moves numbers, list links and
/// values, runs no user code (no waker is called and no value dropped under
/// a lock) and leaves the state consistent at each step, so a panic
/// elsewhere (in a thread that held the lock when a `Waker::clone` panicked,
/// say) cannot leave it half-updated.
#[inline]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Read-locks `rwlock`, ignoring poisoning (a panicking `Clone` of a value
/// being read leaves the slot as it was).
#[inline]
pub(crate) fn read<T>(rwlock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    rwlock.read().unwrap_or_else(|e| e.into_inner())
}

/// Write-locks `rwlock`, ignoring poisoning (see [`read`]).
#[inline]
pub(crate) fn write<T>(rwlock: &RwLock<T>) -> crate::loom::RwLockWriteGuard<'_, T> {
    rwlock.write().unwrap_or_else(|e| e.into_inner())
}
