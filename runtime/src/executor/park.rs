//! [`Parker`]: the two flags that decide whether waking the executor's
//! thread needs a write to the poller's eventfd.
//!
//! # The handshake
//!
//! The executor blocks in the poller (`epoll_wait` and friends) when it has
//! nothing to run. Another thread that hands it work (a task pushed on the
//! injection queue, a wake of the main future) must then interrupt that
//! wait by writing the eventfd; but a write per wake-up would cost a system
//! call on every cross-thread wake, even while the loop is busy running
//! tasks and will look at its queues anyway. So:
//!
//! ```text
//!   executor thread (Local::turn)        another thread (Shared::unpark)
//!   -----------------------------        -------------------------------
//!   before_park: parked = true           publish the work (queue push,
//!   any work published?  -> don't sleep     main_woken = true)
//!   wait in the poller                   unpark: parked? and first to set
//!   after_park:  parked = false                  notified?  -> write eventfd
//! ```
//!
//! Each side first publishes (the `parked` flag, or the work) and then reads
//! what the other side published. With sequentially consistent accesses
//! (`SeqCst` stores, loads and read-modify-writes, on both sides) these two
//! store-then-load pairs cannot both miss each other: either the executor
//! sees the work before it sleeps, or the waker sees `parked` and writes
//! the eventfd. `notified` makes that write happen once per sleep, not once
//! per wake: the first waker to set it pays for the system call.
//!
//! `notified` is reset when a sleep begins, not only when it ends. A waker
//! that read `parked` as true a moment before the loop woke up (and was
//! then preempted, say) may set `notified` just after `after_park` cleared
//! it. Its eventfd write is then easily consumed by a wait that never sets
//! `parked`: the zero-timeout turn the loop takes every `event_interval`
//! polls, or a turn that found work at its last look. Left set, that
//! `notified` would make every waker of the *next* sleep skip its write,
//! and the loop would sleep through the new work: a lost wake-up, until a
//! timer or an IO event came. (`tests/core_loom/park_models.rs`,
//! `late_notified_flag_does_not_silence_the_next_sleep`, is that case.)
//! Resetting it before `parked` is set means that a waker that sees this
//! sleep's `parked` also sees this sleep's fresh `notified`.
//!
//! # Under loom
//!
//! loom models `SeqCst` accesses as acquire/release only, which allows the
//! two store-then-load pairs above to miss each other. The real guarantee
//! comes from the single total order of `SeqCst` operations, which loom
//! does implement for `SeqCst` *fences*; so in a loom build a fence stands
//! where the protocol relies on that order (after `before_park` stores
//! `parked`, before `unpark` loads it). In every other build that fence
//! compiles to nothing: the `SeqCst` accesses already give the ordering
//! under the C++/Rust memory model.
//!
//! `notified` is cleared with a `swap` rather than a `store` for the same
//! reason: loom 0.7 may let a waker's later `swap` read past a plain store
//! that raced an earlier `swap`, a false lost wake-up. Under the memory
//! model the two are the same here, and on x86 a `SeqCst` store is an
//! `xchg` anyway.

use std::sync::atomic::Ordering::SeqCst;

#[cfg(all(loom, test))]
use loom::sync::atomic::AtomicBool;
#[cfg(not(all(loom, test)))]
use std::sync::atomic::AtomicBool;

/// Whether the executor is (about to be) blocked in the poller, and whether
/// someone already woke it for this sleep.
pub(crate) struct Parker {
    /// The loop is (about to be) blocked in the poller.
    parked: AtomicBool,
    /// Someone already wrote the eventfd for this sleep.
    notified: AtomicBool,
}

impl Parker {
    /// An executor that is awake.
    pub(crate) fn new() -> Parker {
        Parker {
            parked: AtomicBool::new(false),
            notified: AtomicBool::new(false),
        }
    }

    /// The executor is about to block in the poller. From here on a waker
    /// must write the eventfd; the caller must look at its queues once more
    /// *after* this call and skip the sleep if there is work.
    pub(crate) fn before_park(&self) {
        // A fresh sleep: no one has written the eventfd for it yet. Before
        // `parked`, so a waker that sees this sleep's `parked` sees this.
        self.notified.swap(false, SeqCst);
        self.parked.store(true, SeqCst);
        seq_cst_store_load_for_loom();
    }

    /// The executor is awake again: wakers need not write the eventfd (the
    /// loop looks at its queues before it sleeps again).
    pub(crate) fn after_park(&self) {
        self.parked.store(false, SeqCst);
        // A swap, not a store: see "Under loom" in the module docs.
        self.notified.swap(false, SeqCst);
    }

    /// Called after publishing work for the executor. Returns true if the
    /// caller must write the eventfd: the executor is (about to be) asleep
    /// and no one has written it for this sleep yet.
    pub(crate) fn unpark(&self) -> bool {
        seq_cst_store_load_for_loom();
        self.parked.load(SeqCst) && !self.notified.swap(true, SeqCst)
    }
}

/// A `SeqCst` fence in loom builds, nothing otherwise: see "Under loom" in
/// the module docs.
#[inline(always)]
fn seq_cst_store_load_for_loom() {
    #[cfg(all(loom, test))]
    loom::sync::atomic::fence(SeqCst);
}
