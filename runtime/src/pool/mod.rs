//! Pools: a fixed set of threads ([`ThreadPool`]) or processes
//! ([`ProcessPool`]) that run many jobs, like Python's
//! `concurrent.futures.ThreadPoolExecutor` / `ProcessPoolExecutor` and
//! `multiprocessing.Pool`.
//!
//! This module is behind the `process-pool` cargo feature of
//! `spindle-runtime`, which is on by default (`default-features = false`
//! builds the runtime without it).
//!
//! # Why a pool
//!
//! Starting a thread or a process per job is wasteful, and starting a
//! thousand at once overloads the machine. A pool starts `n` of them once
//! (usually `n` = the number of cores) and feeds them jobs from a queue:
//! ten jobs on `Pool(4)` run four at a time, each worker taking the next job
//! when it is done with the last.
//!
//! Every submission returns a [`JobHandle`] at once (an "asynchronous
//! submission", `apply_async` / `submit` in Python). The handle is a future
//! (`.await` it in a task), can be waited on from a plain thread
//! ([`JobHandle::wait`], Python's `future.result()`), or can be given a
//! callback that receives the result when it is ready ([`JobHandle::on_done`],
//! Python's `add_done_callback` / `apply_async(callback=..)`). `map` submits a
//! whole list and gives the results back in input order ([`MapHandle`]).
//! Nothing here blocks an event loop unless you ask it to with `wait`.
//!
//! # Threads or processes
//!
//! * [`ThreadPool`]: `n` threads in this process, independent of any runtime.
//!   Jobs are closures that may borrow nothing but may capture anything
//!   `Send`. Cheap hand-off (a queue push); use it for blocking calls and
//!   CPU work that does not need isolation.
//!   (For one-off blocking calls inside a runtime, [`spawn_blocking`](crate::spawn_blocking)
//!   is simpler.)
//! * [`ProcessPool`]: `n` worker *processes*. A job is a plain function
//!   `fn(A) -> R` plus an argument; both the argument and the result cross
//!   the process boundary as bytes ([`Wire`]). It costs a copy and a few
//!   system calls per batch of jobs, and buys isolation: a job that
//!   crashes (`abort`, a segfault, `kill -9`) takes down one worker, not
//!   your program. The pool reports the crash on that one job
//!   ([`PoolError::WorkerDied`]), starts a replacement worker and keeps going.
//!
//! # What a program using `ProcessPool` must do: nothing special
//!
//! Workers are started by running *this same program* again (Python's
//! "spawn" start method), and they branch off **before `main`**: a hook
//! that the loader runs when the program starts (an ELF `.init_array`
//! constructor, `startup.rs`) recognizes a worker by an environment
//! variable and serves jobs, never returning to `main`. In every other
//! process it returns after a few environment lookups. So `main` needs no
//! special first line, and test binaries with libtest's `main` can use
//! pools (and [`Process`](crate::process::Process), which starts its
//! children the same way). The pool must be created inside a runtime (its
//! sockets are driven by tasks of that runtime):
//!
//! ```no_run
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! fn main() -> std::io::Result<()> {
//!     // Nothing to call first: workers never get here.
//!     spindle_runtime::block_on(async {
//!         let pool = spindle_runtime::pool::ProcessPool::new(2)?;
//!         let squares = pool.map(square, 1..=10u64).await.map_err(std::io::Error::other)?;
//!         assert_eq!(squares[9], 100);
//!         pool.shutdown().await;
//!         Ok(())
//!     })
//! }
//! ```
//!
//! What a worker runs is therefore the program as it is before `main`:
//! statics at their initial values, the standard library ready, nothing
//! that `main` sets up (a logger, a panic hook). A constructor of the
//! program's own placed before spindle's (an `.init_array.NNNNN` priority
//! section) runs in workers too. [`worker_main`], which `main` had to call
//! first in earlier versions, is kept for those programs and does nothing
//! once the hook has run.
//!
//! # How the process pool works
//!
//! * **Starting a worker** (`spawn.rs`): a `socketpair` (both ends
//!   close-on-exec) and an 8-byte shared memory word; then
//!   `/proc/self/exe` is executed with `SPINDLE_POOL_WORKER=<fds>:<parent pid>`
//!   in its environment. A pre-exec hook in the child asks the kernel to
//!   kill it when its parent dies (`PR_SET_PDEATHSIG`), and leaves it no
//!   inherited descriptor but those two; the new program's load-time hook
//!   finds the variable and serves (`startup.rs`, `worker.rs`).
//!   [`StartMethod::Fork`] instead has a *fork server* (`forkserver.rs`),
//!   a single-threaded process started with the pool, fork each worker:
//!   never the multi-threaded parent, whose held locks would be copied.
//! * **Calling a function** (`call.rs`): a function pointer cannot be sent,
//!   but both processes run the same file, so functions sit at the same
//!   distance from each other: the parent sends `address(f) - address(worker_main)`,
//!   along with the offset of the generic glue that decodes `A`, calls `f`
//!   and encodes `R`, and a hash of the types that the glue checks. A
//!   function outside the program's own image (in a shared library) has
//!   no such fixed distance and is refused with [`PoolError::Rejected`].
//! * **Frames** (`frame.rs`): `[len u64][kind u8][id u64][fds u32][body]`,
//!   many per system call in both directions. Answers come back in order
//!   and are matched to handles by task id.
//! * **Descriptors** (`wire.rs`, `frame.rs`): an argument or result that
//!   holds descriptors (an `OwnedFd`, a socket or pipe end) has them
//!   duplicated while it is encoded; they travel beside the frame's bytes
//!   as `SCM_RIGHTS`, and the other side decodes the value with its own
//!   copies. So a job can be handed an open socket, and hand one back.
//! * **Faults** (`driver.rs`, `faults.rs`): a panic is caught in the
//!   worker and answered as an error. A worker that dies closes its
//!   socket; the parent waits for it to exit through its pidfd (no
//!   polling, `exit.rs`) and reaps it (signal or exit status), reads the shared
//!   word to learn which task it was running, fails that one task with
//!   [`PoolError::WorkerDied`], sends the worker's other tasks again and
//!   starts a replacement. Writes to workers never raise `SIGPIPE`.

mod builder;
pub(crate) mod call;
mod driver;
pub(crate) mod error;
mod exit;
mod faults;
mod forkserver;
pub(crate) mod frame;
mod handle;
mod process;
mod spawn;
pub(crate) mod startup;
mod thread;
mod wire;
pub(crate) mod worker;

pub use builder::{ProcessPoolBuilder, StartMethod};
pub use error::PoolError;
pub use handle::{JobHandle, MapHandle};
pub use process::ProcessPool;
pub use thread::ThreadPool;
pub use wire::{decode_fd, encode_fd, DecodeError, Wire};
pub(crate) use wire::{from_bytes, take_outgoing_fds, with_incoming_fds};
pub use worker::worker_main;

#[cfg(test)]
mod tests;
