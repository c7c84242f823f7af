//! Which runtime, if any, is running on this thread right now.
//!
//! `block_on` (and a runtime's shutdown) set a thread-local pointer to the
//! runtime's [`Local`] half for as long as they run. `spawn`, timers and IO
//! registrations find their runtime through it, and a waker uses it to tell
//! a wake on the runtime's own thread (push on the local queue) from one on
//! any other thread (go through the injection queue).

use std::cell::Cell;
use std::ptr;

use super::Local;

thread_local! {
    static CURRENT: Cell<*const Local> = const { Cell::new(ptr::null()) };
}

/// Calls `f` with the runtime running on this thread, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Local>) -> R) -> R {
    let ptr = CURRENT.try_with(|c| c.get()).unwrap_or(ptr::null());
    // SAFETY: the pointer is non-null only while an `Enter` guard is alive;
    // the guard borrows the `Local`, so it outlives every use here, and the
    // `Local` is only ever used from this thread.
    f(unsafe { ptr.as_ref() })
}

/// True if some runtime is running on this thread.
pub(crate) fn is_inside() -> bool {
    CURRENT.try_with(|c| !c.get().is_null()).unwrap_or(false)
}

/// Restores the previous runtime pointer when dropped.
pub(crate) struct Enter<'a> {
    prev: *const Local,
    _local: std::marker::PhantomData<&'a Local>,
}

/// Makes `local` the current runtime of this thread until the guard drops.
pub(crate) fn enter(local: &Local) -> Enter<'_> {
    let prev = CURRENT.with(|c| c.replace(local as *const Local));
    Enter {
        prev,
        _local: std::marker::PhantomData,
    }
}

impl Drop for Enter<'_> {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.prev));
    }
}
