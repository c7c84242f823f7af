//! Communication between processes: the parent, its [`Process`] children
//! and its pool workers (the course notes' `multiprocessing.Pipe`, `Queue`,
//! `Value`, `Array` and `Lock`).
//!
//! Everything here can be handed to another process as (part of) a job's
//! or a `Process`'s argument: each type implements
//! [`Wire`](crate::pool::Wire), and the descriptors it holds travel beside
//! the bytes (see `pool/wire.rs`).
//!
//! # Shared memory and process locks
//!
//! [`Shared`] and [`SharedArray`] (`Value` and `Array`) keep [`Plain`]
//! values in an anonymous memory file mapped by every process that holds
//! a copy; [`Mutex`], [`Semaphore`] and [`Event`] keep their state in one
//! 32-bit word of such a file. Taking a free lock is a compare-and-swap in
//! that memory (no system call); a caller that must wait sleeps on the word
//! with a futex, which the kernel shares between processes. A task waits
//! on a blocking-pool thread (`lock().await`, `acquire().await`,
//! `wait().await`), so the runtime's thread never blocks; plain threads
//! use the `blocking_*` methods.
//!
//! The [`Mutex`] is robust: its word holds the owner's pid, and a waiter
//! that finds the owner dead takes the lock over and is told so with
//! [`OwnerDied`]. A `Clone` of any of these shares the same memory.
//!
//! ```
//! # spindle_runtime::block_on(async {
//! use spindle_runtime::ipc::{Mutex, Shared};
//!
//! let tickets = Shared::new(100u32)?;
//! let office = Mutex::new()?;
//! // ... each process, holding clones of both:
//! {
//!     let _open = office.lock().await.unwrap_or_else(|died| died.into_inner());
//!     let left = tickets.get();
//!     if left > 0 {
//!         tickets.set(left - 1);
//!     }
//! }
//! assert_eq!(tickets.get(), 99);
//! # std::io::Result::Ok(()) }).unwrap();
//! ```
//!
//! [`Process`]: crate::process::Process

mod event;
mod futex;
mod hand_over;
mod lock;
mod message;
mod pipe;
mod polled;
mod protocol;
mod queue;
mod queue_error;
mod region;
mod ring;
#[cfg(test)]
mod ring_tests;
mod semaphore;
mod shared;
#[cfg(test)]
mod shm_tests;

pub use event::Event;
pub use lock::{LockResult, Mutex, MutexGuard, OwnerDied, TryLockError, TryLockResult};
pub use semaphore::{Semaphore, SemaphorePermit};
pub use shared::{Plain, Shared, SharedArray};

pub use pipe::{pipe, pipe_one_way, Pipe, PipeReceiver, PipeSender};
pub use queue::Queue;
pub use queue_error::{GetError, PutError};
