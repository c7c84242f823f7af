//! spindle's runtime: executor, tasks, timers, networking and IO traits.
//!
//! Most users depend on the facade crate `spindle`, which re-exports this
//! one. The pieces, in the order a wake travels through them:
//!
//! * [`spindle_reactor`] (its own crate): epoll tells which descriptors are ready.
//! * `driver`: turns each readiness event into a wake of the waiting task
//!   (a `Registration` per descriptor).
//! * `task`: the task allocation (from a task arena of per-thread free
//!   lists), its state machine and its `Waker`.
//! * `executor`: the run queue and the loop that polls tasks and turns the reactor.
//! * [`time`]: the timer wheel behind [`time::sleep`] and [`time::timeout`].
//! * [`net`] and [`io`]: sockets that wait through the driver, and the
//!   `AsyncRead` / `AsyncWrite` traits with their helpers.
//! * [`shard`]: thread-per-core, one current-thread runtime pinned to each
//!   CPU with its own `SO_REUSEPORT` listener.
//! * `sys`: the system-call layer under `net`, `process`, `signal` and
//!   `pool`: every generic `libc` wrapper of the runtime, once.
//!
//! # Cargo features
//!
//! * `process-pool` (on by default): the [`pool`] module, thread and
//!   process pools that run many jobs. Turn default features off to build
//!   the runtime without it.
//! * `futures-io`, `tokio-io` (off by default): the `compat` module,
//!   whose `Compat` lets futures-io and tokio-io libraries use spindle
//!   streams and back (tokio's IO traits only, never its runtime).
//!
//! # Environment variables
//!
//! * `SPINDLE_POLLER` (`epoll`, `poll`, `select`, `io_uring`): the
//!   readiness backend of runtimes built without `Builder::poller`.
//! * `SPINDLE_TASK_ARENA`, read once per process: tasks' memory comes from
//!   the runtime's task arena (2 MiB segments, per-thread free lists) by
//!   default; `off` sends every task to the global allocator (for valgrind,
//!   heaptrack and other tools that track it); `huge-pages` advises the
//!   arena's segments onto transparent huge pages, which is faster where
//!   huge pages are ready to hand and can stall a spawn where they are not
//!   (docs/architecture.md, "The task arena").
//!
//! [`sync`] and [`channel`] are re-exported from the `spindle-sync` crate,
//! which has no executor: this runtime drives its cooperative budget and
//! tells it where a runtime is running through `spindle_sync::coop`.
//!
//! docs/architecture.md in the repository walks through them with a diagram.

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod blocking;
#[cfg(any(feature = "futures-io", feature = "tokio-io"))]
pub mod compat;
mod driver;
mod executor;
pub mod fs;
mod handle;
#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub mod hyper;
pub mod io;
#[cfg(feature = "process-pool")]
#[cfg_attr(docsrs, doc(cfg(feature = "process-pool")))]
pub mod ipc;
#[doc(hidden)]
pub mod macros;
pub mod net;
#[cfg(feature = "process-pool")]
#[cfg_attr(docsrs, doc(cfg(feature = "process-pool")))]
pub mod pool;
pub mod process;
mod runtime;
pub mod shard;
pub mod signal;
mod sys;
pub mod task;
pub mod time;
pub mod uring;

/// The cooperative budget lives in spindle-sync, so that its primitives
/// and this runtime's sockets, timers and join handles spend the same one.
use spindle_sync::coop;

pub use spindle_sync::{channel, sync};

pub use blocking::spawn_blocking;
pub use driver::BackendFallback;
pub use executor::multi_thread::RuntimeMetrics;
pub use handle::{EnterGuard, Handle, RuntimeFlavor};
pub use runtime::{block_on, Builder, Runtime};
pub use spindle_reactor::Backend;
pub use task::{spawn, spawn_local, yield_now, JoinError, JoinHandle};

/// `#[main]` and `#[test]`: run an `async fn` on a runtime of its own (the
/// `spindle-macros` crate). Used through this crate, say which crate to
/// name: `#[spindle_runtime::test(crate = "spindle_runtime")]`.
pub use spindle_macros::{main, test};
