//! Which runtime, if any, this thread belongs to right now.
//!
//! Two kinds of membership:
//!
//! * **Running it.** `block_on` (and a runtime's shutdown) set a
//!   thread-local pointer to the runtime's [`Local`] half for as long as
//!   they run. A waker uses it to tell a wake on the runtime's own thread
//!   (push on the local queue) from one on any other thread (go through the
//!   injection queue), and `spawn_local` and timers use the local half
//!   directly.
//! * **Entered.** A thread that does not run the loop can still *enter* a
//!   runtime: every blocking-pool thread enters the runtime of the job it
//!   runs, and [`Handle::enter`](crate::Handle::enter) enters one on any
//!   thread. Such a thread holds the runtime's [`Shared`] half, so
//!   `Handle::current()`, `spawn` (of `Send` futures), `spawn_blocking`,
//!   timers and new sockets work there, through the thread-safe paths.
//!
//! [`current_shared`] answers "which runtime is current" for both kinds:
//! the runtime being run wins over an entered one.

use std::cell::{Cell, RefCell};
use std::ptr;
use std::sync::Arc;

use super::{Local, Shared};

thread_local! {
    static CURRENT: Cell<*const Local> = const { Cell::new(ptr::null()) };
    static ENTERED: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
}

/// Calls `f` with the runtime running on this thread, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Local>) -> R) -> R {
    let ptr = CURRENT.try_with(|c| c.get()).unwrap_or(ptr::null());
    // SAFETY: the pointer is non-null only while an `Enter` guard is alive;
    // the guard borrows the `Local`, so it outlives every use here, and the
    // `Local` is only ever used from this thread.
    f(unsafe { ptr.as_ref() })
}

/// The shared half of the current runtime: the one running on this thread,
/// else the one this thread entered.
pub(crate) fn current_shared() -> Option<Arc<Shared>> {
    with_current(|local| local.map(|l| l.shared.clone()))
        .or_else(|| ENTERED.try_with(|e| e.borrow().clone()).ok().flatten())
}

/// The shared half whose reactor (and timer wheel, for a timer set from a
/// thread that runs no runtime) a new IO object joins: the current
/// runtime's, except where that is the `block_on` thread of a
/// multi-threaded runtime (running it, or entered through its `Handle`).
/// That thread is no worker: its reactor turns only while a `block_on`
/// runs there, so a socket made in one `block_on` and served by a task
/// after it returned would never hear of its events, and one served while
/// it runs would have every event cross from that thread to the workers.
/// Such objects join the first worker's reactor instead (`Group::io_worker`).
///
/// Likewise on a `block_in_place` stand-in of a worker whose poller is
/// io_uring: only the worker's own thread, blocked in `f`, may wait on
/// that ring, so a new object joins the next worker's reactor, which
/// turns. (`block_in_place` refuses to run on a one-worker io_uring
/// runtime, where there is no next worker.)
pub(crate) fn current_io_shared() -> Option<Arc<Shared>> {
    let shared = current_shared()?;
    if is_ring_stand_in(&shared) {
        return Some(next_worker_or(shared));
    }
    if !shared.is_mt_block_on_thread() {
        return Some(shared);
    }
    match shared.mt.get().and_then(|link| link.group()) {
        Some(group) => Some(group.io_worker().clone()),
        // The runtime is gone: the object fails to register with it.
        None => Some(shared),
    }
}

/// For what registers with the thread that waits on it (an ipc
/// descriptor's registration): the runtime this thread runs; on a thread
/// that only entered a runtime, the one [`current_io_shared`] names (whose
/// thread turns its reactor and ring). A `block_in_place` stand-in on the
/// io_uring poller names the next worker, as [`current_io_shared`] does:
/// it never waits on its own worker's ring.
#[cfg(feature = "process-pool")]
pub(crate) fn running_or_io_shared() -> Option<Arc<Shared>> {
    running_or_io_shared_unless(is_ring_stand_in)
}

/// The runtime whose completion ring takes a `spindle::uring` operation
/// started on this thread: as [`running_or_io_shared`], except that a
/// `block_in_place` stand-in on any poller sends it to the next worker's
/// ring. A stand-in never enters its worker's ring (only the ring's own
/// thread may, and it is blocked in `f`), so the operation would wait
/// for `f` to return; `f` may well be waiting for it. With one worker
/// there is no other ring, and it does wait.
pub(crate) fn ring_shared() -> Option<Arc<Shared>> {
    running_or_io_shared_unless(|_| is_stand_in())
}

/// The runtime this thread runs, or the next worker's where `leave` says
/// this thread may not use its own (a stand-in); on a thread that only
/// entered a runtime, the one [`current_io_shared`] names.
fn running_or_io_shared_unless(leave: impl Fn(&Shared) -> bool) -> Option<Arc<Shared>> {
    match with_current(|local| local.map(|l| l.shared.clone())) {
        Some(shared) if leave(&shared) => Some(next_worker_or(shared)),
        Some(shared) => Some(shared),
        None => current_io_shared(),
    }
}

/// The worker after `shared`'s in its multi-threaded runtime, or `shared`
/// itself where there is none (one worker, a current-thread runtime, or a
/// runtime that is gone).
fn next_worker_or(shared: Arc<Shared>) -> Arc<Shared> {
    let next = shared
        .mt
        .get()
        .and_then(|link| link.group())
        .and_then(|group| group.worker_after(&shared).cloned());
    next.unwrap_or(shared)
}

thread_local! {
    /// This thread is a `block_in_place` stand-in, running a worker's loop
    /// for a while on the worker's behalf.
    static STAND_IN: Cell<bool> = const { Cell::new(false) };
}

/// Marks this thread as a `block_in_place` stand-in (for its whole life:
/// a stand-in thread runs one loop and exits).
pub(crate) fn set_stand_in() {
    STAND_IN.with(|s| s.set(true));
}

/// True on a `block_in_place` stand-in thread: it runs the worker's loop
/// but must not enter the worker's io_uring rings (only the thread that
/// owns a ring may; see `uring/driver.rs`).
pub(crate) fn is_stand_in() -> bool {
    STAND_IN.try_with(Cell::get).unwrap_or(false)
}

/// True on a `block_in_place` stand-in for a worker (whose shared half is
/// `shared`) on the io_uring poller: only the worker's own thread, blocked
/// in `f`, may wait on that ring, so the stand-in must not wait on it, nor
/// register new IO with it, nor free what waits for its next submission.
pub(crate) fn is_ring_stand_in(shared: &Shared) -> bool {
    is_stand_in() && shared.io.poller.backend() == spindle_reactor::Backend::IoUring
}

/// True if the runtime whose shared half is `shared` is the one running
/// on this thread (entering it does not count).
pub(crate) fn is_running(shared: &Shared) -> bool {
    with_current(|local| local.is_some_and(|l| ptr::eq(&*l.shared, shared)))
}

/// True if some runtime is *running* on this thread (entering one does not
/// count: a thread that only entered a runtime may still `block_on`).
pub(crate) fn is_inside() -> bool {
    CURRENT.try_with(|c| !c.get().is_null()).unwrap_or(false)
}

/// Restores the previous runtime pointer when dropped.
pub(crate) struct Enter<'a> {
    prev: *const Local,
    /// Tells spindle-sync that a runtime runs here (its `blocking_*`
    /// methods then panic rather than stall us), for exactly as long as
    /// [`is_inside`] holds.
    _sync: spindle_sync::coop::RuntimeGuard,
    _local: std::marker::PhantomData<&'a Local>,
}

/// Makes `local` the current runtime of this thread until the guard drops.
pub(crate) fn enter(local: &Local) -> Enter<'_> {
    let prev = CURRENT.with(|c| c.replace(local as *const Local));
    Enter {
        prev,
        _sync: spindle_sync::coop::enter_runtime(),
        _local: std::marker::PhantomData,
    }
}

impl Drop for Enter<'_> {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.prev));
    }
}

/// While alive, this thread does not run the runtime it was running (its
/// `Local` is driven by another thread meanwhile: `block_in_place`); it has
/// merely entered it, so spindle calls take the thread-safe paths.
pub(crate) struct Suspended {
    prev: *const Local,
    _entered: EnterShared,
    _sync: spindle_sync::coop::RuntimeGuard,
}

/// Suspends the runtime running on this thread until the guard drops; see
/// [`Suspended`].
pub(crate) fn suspend_current() -> Suspended {
    suspend_current_into(None)
}

/// [`suspend_current`], entering `instead` (another thread's half of the
/// same runtime) rather than the runtime this thread was running, if given.
pub(crate) fn suspend_current_into(instead: Option<Arc<Shared>>) -> Suspended {
    let prev = CURRENT.with(|c| c.replace(ptr::null()));
    // SAFETY: `prev` came from a live `Enter` guard further up this
    // thread's stack, which outlives this guard; we only clone its Arc.
    let running = unsafe { prev.as_ref() }
        .map(|local| local.shared.clone())
        .expect("suspend_current called outside a runtime");
    let shared = instead.unwrap_or(running);
    Suspended {
        prev,
        _entered: enter_shared(shared),
        _sync: spindle_sync::coop::leave_runtime(),
    }
}

impl Drop for Suspended {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.prev));
    }
}

/// Restores the previously entered runtime when dropped.
pub(crate) struct EnterShared {
    prev: Option<Arc<Shared>>,
    /// Guards nest on one thread: the guard must not move to another.
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Makes `shared` the entered runtime of this thread until the guard drops.
pub(crate) fn enter_shared(shared: Arc<Shared>) -> EnterShared {
    let prev = ENTERED.with(|e| e.replace(Some(shared)));
    EnterShared {
        prev,
        _not_send: std::marker::PhantomData,
    }
}

impl Drop for EnterShared {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = ENTERED.try_with(|e| *e.borrow_mut() = prev);
    }
}
