//! [`AbortHandle`]: the right to cancel a task, without the right to its output.
//!
//! It is a counted reference to the task (like a `Waker`), so it keeps the
//! header alive, and it can be cloned and sent anywhere: `abort` is the same
//! state transition [`JoinHandle::abort`](super::JoinHandle::abort) makes.

use std::fmt;
use std::ptr::NonNull;

use super::raw::{drop_ref, Header, TaskRef};
use super::state::ToCancelled;
use super::Id;

/// Cancels a task from anywhere, without awaiting it (tokio's `AbortHandle`).
///
/// Made by [`JoinHandle::abort_handle`](super::JoinHandle::abort_handle) and
/// [`JoinSet::spawn`](super::JoinSet::spawn). Dropping it does nothing to
/// the task.
pub struct AbortHandle {
    raw: NonNull<Header>,
}

// SAFETY: the handle touches the task only through its atomic state word and
// its immutable id; it never reaches the future or its output.
unsafe impl Send for AbortHandle {}
// SAFETY: as above: every method takes `&self` and is atomic.
unsafe impl Sync for AbortHandle {}

impl AbortHandle {
    /// A handle on the task `raw`, taking a new reference to it.
    pub(crate) fn new(raw: NonNull<Header>) -> AbortHandle {
        // SAFETY: the caller holds a reference, so the task is alive.
        unsafe { raw.as_ref() }.state.ref_inc();
        AbortHandle { raw }
    }

    fn header(&self) -> &Header {
        // SAFETY: the handle holds a reference to the task.
        unsafe { self.raw.as_ref() }
    }

    /// Asks the task to stop; see [`JoinHandle::abort`](super::JoinHandle::abort).
    pub fn abort(&self) {
        abort_task(self.raw);
    }

    /// True once the task has finished (completed, panicked or been cancelled).
    pub fn is_finished(&self) -> bool {
        self.header().state.is_complete()
    }

    /// The task's id.
    pub fn id(&self) -> Id {
        self.header().id
    }
}

/// Sets CANCELLED on the task and, if it was idle, queues it so that its
/// executor drops the future.
pub(crate) fn abort_task(raw: NonNull<Header>) {
    // SAFETY: every caller holds a reference to the task.
    let header = unsafe { raw.as_ref() };
    if header.state.transition_to_cancelled() == ToCancelled::Enqueue {
        // SAFETY: the transition took a reference for the queue entry.
        let task = unsafe { TaskRef::from_raw(raw) };
        crate::executor::schedule(task);
    }
}

impl Clone for AbortHandle {
    fn clone(&self) -> AbortHandle {
        AbortHandle::new(self.raw)
    }
}

impl Drop for AbortHandle {
    fn drop(&mut self) {
        // SAFETY: the handle owned one reference.
        unsafe { drop_ref(self.raw) };
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}
