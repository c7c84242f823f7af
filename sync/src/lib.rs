//! spindle-sync: locks, semaphores, flags, notifications, condition
//! variables, barriers and channels for async tasks and plain threads,
//! with no executor inside.
//!
//! * [`sync`]: `Mutex`, `RwLock`, `Semaphore`, `BoundedSemaphore`, `Flag`
//!   (Python's `Event`), `Notify`, `Condvar`, `Barrier`,
//!   `CancellationToken`, `OnceCell`; and the channel modules again under
//!   tokio's paths (`sync::mpsc`, `sync::oneshot`, `sync::broadcast`,
//!   `sync::watch`).
//! * [`channel`]: `oneshot`, `mpsc` (bounded and unbounded), `broadcast`,
//!   `watch` and `Queue` (Python's `asyncio.Queue`).
//!
//! spindle's runtime re-exports both as `spindle::sync` and
//! `spindle::channel`, and most users reach them that way. They live in a
//! crate of their own (as smol keeps async-lock and async-channel apart from
//! its executor) because nothing in them needs an executor: a waiting
//! future leaves a `Waker` behind and whoever completes it calls that waker,
//! whichever runtime, thread or hand-written executor the waiter runs on.
//! So they work across runtimes, between a runtime and plain threads (every
//! primitive has `blocking_*` methods that park an OS thread), and under
//! any executor.
//!
//! # How a runtime couples to them
//!
//! Two facts about the current thread make the primitives behave well
//! inside a runtime, and the runtime supplies both through [`coop`], not
//! through a dependency of this crate on it:
//!
//! * **The cooperative budget.** A runtime grants each task poll a budget
//!   (`coop::reset`), and every operation here that completes without
//!   waiting spends a unit of it (`coop::poll_proceed`). A task looping on
//!   an always-free lock or an always-full channel then still yields to its
//!   neighbours now and then. Outside a runtime there is no budget.
//! * **"A runtime is running on this thread."** The runtime holds a
//!   `coop::RuntimeGuard` while it runs its loop; the `blocking_*` methods
//!   panic on such a thread instead of parking it, which would stall every
//!   task of that runtime.
//!
//! Both are plain thread-locals: reading them costs a load, with no
//! dynamic dispatch and nothing to register. An executor that knows
//! nothing of them still works; its tasks are just never asked to yield.
//!
//! One more piece is public because a runtime needs the same thing:
//! [`wake_list::WakeList`], the list that collects wakers under a lock so
//! they can be woken after it is released (spindle's IO driver uses it).
//!
//! # Inside
//!
//! | file | what it holds |
//! | --- | --- |
//! | `coop.rs` | the runtime interface: budget and running flag |
//! | `wait_list.rs` | the FIFO list of waiters behind every primitive and channel |
//! | `wake_list.rs` | wakers to call once the lock is released |
//! | `park.rs` | `block_on_thread`, the engine of every `blocking_*` method |
//! | `loom.rs` | the switch between `std` and loom's model-checked types |
//! | `sync/` | the primitives |
//! | `channel/` | the channels |

#![warn(missing_docs)]

pub mod channel;
pub mod coop;
pub(crate) mod loom;
pub(crate) mod park;
pub mod sync;
pub(crate) mod wait_list;
pub mod wake_list;
