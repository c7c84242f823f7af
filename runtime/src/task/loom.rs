//! The one place `task` picks its atomics and `UnsafeCell`: loom's
//! model-checked ones when the task sources are compiled into a loom model
//! test, the standard library's otherwise.
//!
//! loom is a dev-dependency, so only a `test` build can see it. The core
//! models (`runtime/tests/core_loom.rs`) compile `state.rs` and
//! `atomic_waker.rs` straight into the test crate with `#[path]`, which is a
//! `test` build; hence the switch is `all(loom, test)`, like spindle-sync's
//! `loom.rs`. Every other build, with or without `--cfg loom`, gets
//! `std`, and the code compiles to exactly what it did before the switch.
//!
//! loom's `UnsafeCell` hands out access through closures (`with`,
//! `with_mut`) so that it can check that no two threads touch the contents
//! at once without ordering between them; the `std` side wraps
//! `std::cell::UnsafeCell` in the same interface, which compiles down to a
//! plain pointer access.

#[cfg(all(loom, test))]
pub(crate) use loom::cell::UnsafeCell;
#[cfg(all(loom, test))]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicUsize};

#[cfg(not(all(loom, test)))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicUsize};

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
