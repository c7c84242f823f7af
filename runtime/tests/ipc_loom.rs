//! loom model checks of the process locks' protocols on their shared words
//! (`src/ipc/protocol.rs`): the hand-off that passes on a wake taken by a
//! task that went away (`futex.rs`), the [`Mutex`]'s owner word and waiters
//! bit (`lock.rs`), the `Semaphore`'s count and waiters flag
//! (`semaphore.rs`), the `Event`'s flag (`event.rs`), and the `Queue`'s
//! wait words (`ring.rs`, `queue.rs`): the event counts its consumers and
//! producers sleep on, changed under the ring's lock. Each model drives the
//! real steps through every interleaving of a few threads (up to the
//! preemption bound) and asserts on the outcome: no wake-up is lost (a
//! waiter nobody wakes sleeps forever, and loom reports the deadlock), a
//! lock excludes and orders what it protects, a wake is passed on exactly
//! when it must be, and a queue's items come out once each, in order.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test -p spindle-runtime --release --test ipc_loom
//! ```
//!
//! # How the ipc code sees loom
//!
//! As in `core_loom.rs`: loom is a dev-dependency, and this test crate
//! compiles the real `src/ipc/protocol.rs` through a `#[path]` module.
//! Being a `test` build with `--cfg loom`, that file picks loom's atomics
//! through its `cfg(all(loom, test))` switch. It holds the locks' atomic
//! steps and nothing else: `lock.rs`, `semaphore.rs`, `event.rs`,
//! `ring.rs` and `futex.rs` call them on the word in shared memory and make
//! the futex calls themselves.
//!
//! # What stands in for the rest
//!
//! * **The futex.** `support::Futex`: the word, and a loom mutex and
//!   condvar as the kernel's wait queue, with the kernel's check of the
//!   word under the queue's lock. Sleeps have no timeout (the real ones
//!   do), so a lost wake-up is a deadlock here rather than a delay.
//! * **The callers' loops.** `Mutex::blocking_lock`, the `Semaphore`'s and
//!   the `Event`'s `blocking_*` loops are a few lines around the steps
//!   (look, sleep on what the look said, look again); the models spell
//!   them out the same way (`mutex_models::lock` and so on). The async
//!   loops are the same loops with the sleep on a pool thread, which
//!   `hand_off_models` adds.
//! * **The queue's ring.** A loom mutex for the ring's lock (a process
//!   `Mutex`, modelled on its own), guarding a buffer with room for one
//!   item and the closed flag in place of the records in shared memory;
//!   the `Queue`'s blocking get and put loops around it (`queue_models`).
//! * **Processes.** Threads, each with its own "pid" for the mutex word
//!   (and a model where two threads share one, as two threads of one
//!   process do).
//!
//! # Not modelled
//!
//! The `Mutex`'s robustness: a waiter whose sleep timed out asks the
//! kernel whether the owner's process has ended, and takes over a dead
//! owner's lock (`take_over_if_dead`). That needs a process to die and a
//! timeout to pass, neither of which loom has; the takeover is one
//! compare-and-swap (`protocol::mutex::take_over`), tested with real
//! processes in `tests/ipc_locks.rs`. Likewise the ring's repair after its
//! lock's owner died (`Locked::repair`, which also wakes both words' sleepers
//! in case the dead process owed them a wake): nothing dies here.
//!
//! Without `--cfg loom` this file is empty.
//!
//! [`Mutex`]: spindle_runtime::ipc::Mutex

#![cfg(loom)]
#![allow(dead_code, unused_imports)]

#[path = "../src/ipc"]
mod ipc {
    pub(crate) mod protocol;
}

#[path = "ipc_loom/event_models.rs"]
mod event_models;
#[path = "ipc_loom/hand_off_models.rs"]
mod hand_off_models;
#[path = "ipc_loom/mutex_models.rs"]
mod mutex_models;
#[path = "ipc_loom/queue_models.rs"]
mod queue_models;
#[path = "ipc_loom/semaphore_models.rs"]
mod semaphore_models;
#[path = "ipc_loom/support.rs"]
mod support;
