//! The one place `sync` picks its building blocks: loom's model-checked
//! `Mutex`, `Arc` and atomics in a test build under `--cfg loom`, the
//! standard library's otherwise.
//!
//! Only a test build can see loom (it is a dev-dependency), so the switch is
//! `all(loom, test)`: with `--cfg loom` set, the library as other crates and
//! the other integration tests link it still gets `std`, and the rest of the
//! crate is untouched. `tests/sync_loom.rs` compiles these sources into a
//! test crate, where `test` holds and loom is in.

#[cfg(all(loom, test))]
#[allow(unused_imports)] // `Arc` is for the loom tests
pub(crate) use loom::sync::{atomic, Arc, Mutex, MutexGuard};

#[cfg(not(all(loom, test)))]
#[allow(unused_imports)] // `Arc` is for the loom tests
pub(crate) use std::sync::{atomic, Arc, Mutex, MutexGuard};

/// Locks `mutex`, ignoring poisoning.
///
/// The critical sections in `sync` only move numbers and list links and
/// leave the state consistent at every step, so a panic elsewhere (in a
/// thread that held the lock when a `Waker::clone` panicked, say) does not
/// make the state unusable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
