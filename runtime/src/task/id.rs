//! [`Id`]: a number that names a task for as long as the process lives, and
//! [`id`] / [`try_id`], which tell a task its own.
//!
//! Ids come from one process-wide counter, taken a block at a time by each
//! thread (see [`Id::next`]), so two tasks never share one, even on
//! different runtimes. The executor (and the blocking pool) mark
//! which task is running by setting a thread-local for the length of each
//! poll, and of the drop of an aborted future: that is what [`try_id`]
//! reads. Outside a task (in `block_on`'s own future, on a plain thread) it
//! is `None`.

use std::cell::Cell;
use std::fmt;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The unique identifier of a task, as in tokio: compare it, hash it,
/// print it. It is never reused while the process runs.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(NonZeroU64);

/// How many ids a thread takes from the process-wide counter at once.
const ID_BLOCK: u64 = 1024;

/// The process-wide counter: the first id no thread has taken yet.
static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's block of ids: the next one to hand out, and the end
    /// of the block (exclusive). Empty (0, 0) until the first spawn.
    static ID_RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

impl Id {
    /// The id as a number (to pick a shard by).
    #[inline]
    pub(crate) fn as_u64(self) -> u64 {
        self.0.get()
    }

    /// The next unused id.
    ///
    /// Ids are handed out from a per-thread block of [`ID_BLOCK`], taken
    /// from the process-wide counter with one atomic add; so a spawn pays
    /// a thread-local read and write instead of an atomic on a cache line
    /// every spawning thread shares. Blocks never overlap, so ids stay
    /// unique; they are no longer in spawn order across threads (tokio
    /// promises no order either).
    #[inline]
    pub(crate) fn next() -> Id {
        let n = ID_RANGE
            .try_with(|range| {
                let (next, end) = range.get();
                if next < end {
                    range.set((next + 1, end));
                    next
                } else {
                    let start = NEXT_BLOCK.fetch_add(ID_BLOCK, Relaxed);
                    range.set((start + 1, start + ID_BLOCK));
                    start
                }
            })
            // A thread whose thread-locals are being torn down takes one
            // id straight from the counter (a block of one).
            .unwrap_or_else(|_| NEXT_BLOCK.fetch_add(1, Relaxed));
        // Counting up from 1, a u64 cannot wrap to 0 in practice.
        Id(NonZeroU64::new(n).expect("task id counter wrapped"))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.0)
    }
}

thread_local! {
    static CURRENT: Cell<Option<Id>> = const { Cell::new(None) };
}

/// The id of the task running on this thread.
///
/// # Panics
/// If called outside a task (from `block_on`'s own future, say). Use
/// [`try_id`] where that can happen.
#[track_caller]
pub fn id() -> Id {
    try_id().expect("spindle::task::id() called outside of a task")
}

/// The id of the task running on this thread, or `None` outside a task.
pub fn try_id() -> Option<Id> {
    CURRENT.try_with(|c| c.get()).ok().flatten()
}

/// Marks `id` as the running task until dropped, then restores whatever
/// was running before (a task polled inside another's poll, as a
/// `block_on` nested in a blocking job can do).
pub(crate) struct CurrentTask {
    prev: Option<Id>,
}

impl CurrentTask {
    #[inline]
    pub(crate) fn enter(id: Id) -> CurrentTask {
        let prev = CURRENT.try_with(|c| c.replace(Some(id))).ok().flatten();
        CurrentTask { prev }
    }
}

impl Drop for CurrentTask {
    #[inline]
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.prev));
    }
}
