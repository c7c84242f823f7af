//! Loom model checks of `sync`: the semaphore hand-over (Mutex, RwLock,
//! Semaphore) racing with cancelled waiters and `close`, and the wake-up
//! paths of Notify, Condvar and Event. The models themselves are in
//! `src/sync/loom_tests.rs`.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=/work/target-loom \
//!     cargo test -p spindle-runtime --release --test sync_loom
//! ```
//!
//! # How the sync code sees loom
//!
//! loom is a dev-dependency, so the library itself never links it. This
//! test crate compiles the `sync` sources directly (`#[path]` below); being
//! a `test` build with `--cfg loom`, `sync/loom.rs` picks loom's `Mutex`,
//! `Arc` and atomics, and `sync/mod.rs` includes `loom_tests`. The two
//! crate-internal items `sync` uses are supplied here: a cooperative budget
//! that never runs out, and "not inside a runtime". Without `--cfg loom`
//! this file is empty.

#![cfg(loom)]
#![allow(dead_code, unused_imports)]

#[path = "../src/sync/mod.rs"]
mod sync;

mod coop {
    use std::task::{Context, Poll};

    /// No runtime here, hence no budget.
    pub(crate) fn poll_proceed(_cx: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }

    pub(crate) fn reset() {}
}

mod executor {
    pub(crate) mod context {
        /// Loom threads never run a spindle runtime.
        pub(crate) fn is_inside() -> bool {
            false
        }
    }
}
