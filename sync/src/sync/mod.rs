//! Synchronization primitives for tasks: locks, semaphores, flags,
//! notifications, condition variables and barriers.
//!
//! | type | Python counterpart | what it is for |
//! | --- | --- | --- |
//! | [`Mutex`] | `Lock` | exclusive access to data, across `.await` |
//! | [`RwLock`] | none | many readers or one writer |
//! | [`Semaphore`] | `Semaphore` | at most `n` at once |
//! | [`BoundedSemaphore`] | `BoundedSemaphore` | the same, refusing releases past `n` |
//! | [`Flag`] | `Event` | a flag tasks wait for (named so it cannot be confused with the reactor's `Event`) |
//! | [`Notify`] | none | wake one (with a stored permit) or all |
//! | [`Condvar`] | `Condition` | wait for a condition on a `Mutex`'s data |
//! | [`Barrier`] | `Barrier` | `n` tasks meet, then all go on |
//! | [`CancellationToken`] | none | a tree of cancel signals tasks wait for |
//! | [`OnceCell`] | none | a value set once, by an initialiser that may `.await` |
//!
//! Python's re-entrant `RLock` has no counterpart: a task has no identity a
//! lock could recognise, and an async lock that a task re-enters would hide
//! the bug it exists to catch.
//!
//! # Shared design
//!
//! Every type keeps its state behind one short-lived `std::sync::Mutex`,
//! next to a FIFO list of waiters (the crate's `wait_list.rs`). Nothing is
//! locked across an `.await` or while a waker runs. The locks ([`Mutex`],
//! [`RwLock`]) and semaphores share one fair semaphore
//! (`raw_semaphore.rs`) whose release *hands* permits
//! to the first waiter rather than putting them back in a pool, so a
//! newcomer can never overtake a waiting task.
//!
//! All types are `Send + Sync` (the lock types when their contents allow),
//! so they may be shared by tasks of different runtimes and by plain
//! threads; the `blocking_*` methods let a thread that runs no runtime wait
//! on them by parking (the crate's `park.rs`). A wake of a task on the same thread is a
//! push onto that runtime's local queue: a contended primitive whose
//! waiters all live on one runtime costs no system call.
//!
//! # Cancellation safety
//!
//! Every waiting future can be dropped at any point, for a timeout, an
//! abort or a `select!`, without losing anything. What a waiter is handed
//! (permits, a lock, a notification) is recorded in its node in the wait
//! list, which only the future itself frees: on completion it takes what is
//! there; when dropped it passes it on to the next waiter, or back to the
//! pool. Each file's docs spell out the details for its type.
//!
//! # Testing
//!
//! The semaphore hand-over and the cancellation and wake-up paths are
//! model checked with [loom](https://docs.rs/loom) (`tests/sync_loom.rs`),
//! through the crate's `loom.rs` shim that swaps in loom's `Mutex` and
//! atomics:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test -p spindle-sync --release --test sync_loom
//! ```

mod barrier;
mod bounded_semaphore;
mod cancellation;
mod condvar;
mod flag;
mod mutex;
mod notify;
// Not in loom builds: its `const fn new` needs std's `const` `Mutex::new`.
#[cfg(not(all(loom, test)))]
mod once_cell;
mod raw_semaphore;
mod rwlock;
mod semaphore;

/// The channels, also here under tokio's paths (`sync::mpsc`,
/// `sync::oneshot`, `sync::broadcast`, `sync::watch`); the same modules as
/// in [`crate::channel`].
pub use crate::channel::{broadcast, mpsc, oneshot, watch};

pub use barrier::{Barrier, BarrierWaitResult};
pub use bounded_semaphore::{BoundedSemaphore, ReleaseError};
pub use cancellation::{
    CancellationToken, DropGuard, WaitForCancellationFuture, WaitForCancellationFutureOwned,
};
pub use condvar::Condvar;
pub use flag::Flag;
pub use mutex::{Mutex, MutexGuard, OwnedMutexGuard, TryLockError};
pub use notify::{Notified, Notify};
#[cfg(not(all(loom, test)))]
pub use once_cell::{OnceCell, SetError};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard, MAX_READS};
pub use semaphore::{
    AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TryAcquireError,
};
