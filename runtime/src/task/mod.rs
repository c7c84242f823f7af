//! Tasks: spawned futures, how they are woken, and how their results come back.
//!
//! # What a task is
//!
//! A task is a future the runtime owns and drives to completion on its own,
//! apart from the code that spawned it. [`spawn`] moves the future into one
//! allocation that holds a small header, then the future itself, and later
//! (in the same bytes) its output: a block of the task arena (`arena/`,
//! per-thread free lists over 2 MiB segments), or a `Box` for a future too
//! large for it. Nothing else is allocated per task:
//! the run queue holds pointers to the header, and a `Waker` is that same
//! pointer with a vtable.
//!
//! # The state machine
//!
//! The header starts with one atomic word (see `state.rs`): six flags and a
//! reference count. One flag, JOIN_WAKER, guards the `JoinHandle`'s waker
//! slot, so completion touches the slot only when the handle is waiting.
//!
//! ```text
//!             spawn
//!               |
//!               v        executor pops it          poll -> Pending,
//!   +------> SCHEDULED ---------------------> RUNNING ----------------+
//!   |        (queued)                          |   ^   no wake came   |
//!   |                                          |   |                  v
//!   |   woken while running: requeued         |   |                IDLE
//!   +--------<--------------------------------+   |                  |
//!   |                                              |                  |
//!   +----------------------------------------------+------<-----------+
//!               a Waker::wake on an idle task schedules it again
//!
//!   RUNNING --poll -> Ready (or panic)--> COMPLETE: output stored, JoinHandle woken
//!   any    --JoinHandle::abort--------->  CANCELLED, then dropped by its executor
//! ```
//!
//! * A **wake** of an idle task sets SCHEDULED and pushes the task on a queue;
//!   a wake of a task that is already scheduled does nothing, so a task is
//!   never in a queue twice. A wake while RUNNING only sets SCHEDULED; the
//!   executor sees it when the poll returns and puts the task back at the
//!   end of the run queue (this is how [`yield_now`] works).
//! * **Completion** stores the output (or the caught panic), sets COMPLETE
//!   and wakes the [`JoinHandle`] if it is waiting. If the handle was
//!   already dropped, the output is dropped right away.
//! * **Abort** sets CANCELLED. An idle task is scheduled so its executor
//!   notices; the executor drops the future instead of polling it, and the
//!   handle receives a cancelled [`JoinError`].
//! * **References**: the run-queue entry, the owner's task list, the
//!   `JoinHandle` and each `Waker` hold one. The last one to go frees the
//!   allocation.
//!
//! A task's future is polled and dropped on the thread of the runtime that
//! owns it. That is what makes [`spawn_local`] (futures that are not `Send`)
//! sound, and it is why a wake from that same thread needs no lock: it is a
//! compare-and-swap on the state word and a push onto a thread-local queue.
//! Two exceptions, both for `Send` futures only: a `spawn_blocking` job runs
//! on a pool thread, and a task handed to a runtime that has already shut
//! down is dropped by the thread that spawned it.

mod abort;
mod arena;
mod atomic_waker;
mod budget;
mod id;
mod join;
mod join_set;
pub(crate) mod list;
pub(crate) mod loom;
pub(crate) mod raw;
mod state;
mod task_local;
mod waker;

/// Also at the crate root; here too, where tokio keeps it
/// (`tokio::task::spawn_blocking`).
pub use crate::blocking::spawn_blocking;
pub use abort::AbortHandle;
pub(crate) use atomic_waker::AtomicWaker;
pub use budget::{consume_budget, unconstrained, Unconstrained};
pub use id::{id, try_id, Id};
pub use join::{JoinError, JoinHandle};
pub use join_set::JoinSet;
pub(crate) use state::{ToCancelled, ToComplete, ToCompleteReleasing, ToIdle, ToRunning};
pub use task_local::{AccessError, LocalKey, TaskLocalFuture};
pub(crate) use waker::{borrowed_waker, CompactWaker};

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::executor::context;

/// Spawns a `Send` future onto the current runtime and returns a handle to
/// its output.
///
/// The task starts running the next time the runtime's executor gets
/// control (at the spawner's next `.await` that returns `Pending`), whether
/// or not the handle is awaited.
///
/// # Panics
/// If called outside a runtime, that is, not inside
/// [`Runtime::block_on`](crate::Runtime::block_on), a task, a
/// [`spawn_blocking`] closure or a thread that
/// [entered](crate::Handle::enter) a runtime. Use
/// [`Handle::spawn`](crate::Handle::spawn) to spawn from other threads.
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if context::is_inside() {
        return context::with_current(|local| local.expect("inside").spawn_send(future));
    }
    // A thread that only entered a runtime (a `spawn_blocking` closure,
    // `Handle::enter`) sends the task to the runtime's thread.
    match context::current_shared() {
        Some(shared) => shared.spawn_remote(future),
        None => panic!(
            "spindle::spawn must be called from inside a runtime (in block_on, a task, \
             a spawn_blocking closure or under Handle::enter); \
             use Handle::spawn from other threads"
        ),
    }
}

/// Runs `f`, which may block, on this thread, while the rest of the
/// runtime keeps running: the worker's tasks, IO and timers are handed to a
/// stand-in thread until `f` returns.
///
/// Meant for a multi-threaded runtime's worker. `f` need not be `'static` or
/// `Send`: it runs right here, and may borrow from the task. Inside `f`
/// this thread counts as outside the runtime (it has entered it, as a
/// `spawn_blocking` closure has): `spawn`, timers and `Handle::current`
/// work, and so do the `blocking_*` methods of spindle's locks and channels.
///
/// Tasks spawned with `spawn_local` on this worker wait for `f` to return
/// (they may not change threads). With the io_uring poller no other thread
/// may wait on the worker's ring: the stand-in runs the worker's tasks and
/// timers and sleeps on the poller's notify instead; the events of the
/// worker's own sockets (and the closing of those dropped meanwhile) wait
/// for `f` to return, and a socket or an ipc channel first awaited on the
/// stand-in joins the next worker's reactor. On a one-worker io_uring
/// runtime there is no next worker, so `block_in_place` panics there, with
/// the reason. On every poller, a `spindle::uring` operation started on the
/// stand-in goes to the next worker's ring (the stand-in never enters the
/// worker's own; with one worker it waits for `f`), and the operations
/// already in the worker's ring complete after `f` returns.
///
/// Inside `f` the thread counts as entered into *another* worker (with
/// two or more): timers, sockets, spawns and `spindle::uring` operations
/// made in `f` go there, where they run. (Nobody turns the blocked
/// worker's own io_uring ring until `f` returns: a stand-in may not.)
///
/// The task that called `block_in_place` is still inside its poll while
/// `f` runs, so dropping the runtime waits for `f` to return. The drop
/// first drops the futures of the other tasks, so an `f` waiting for
/// something a task's drop releases (a channel whose last sender a task
/// holds) is released. Two kinds wait for later: the `spawn_local` tasks
/// of the worker whose thread runs `f` (they may be dropped on that thread
/// only) and those of the thread running `block_on`. If `f` waits for one
/// of those, or for anything else, end the runtime with
/// [`Runtime::shutdown_timeout`](crate::Runtime::shutdown_timeout).
///
/// On the thread that runs a multi-threaded runtime's `block_on` (the
/// future of `#[spindle::main(flavor = "multi_thread")]`, say), which is
/// not a worker, `f` simply runs there: it holds up only that future and
/// the tasks `spawn_local`ed on that thread, as any blocking call in
/// `block_on` does; the workers go on.
///
/// ```
/// let rt = spindle_runtime::Runtime::builder().multi_thread().worker_threads(2).build()?;
/// let total = rt.block_on(async {
///     spindle_runtime::spawn(async {
///         let numbers = vec![1u64, 2, 3];
///         // Borrows `numbers`: no 'static needed, unlike spawn_blocking.
///         spindle_runtime::task::block_in_place(|| numbers.iter().sum::<u64>())
///     })
///     .await
///     .unwrap()
/// });
/// assert_eq!(total, 6);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Panics
/// On a current-thread runtime (its one thread would block, and every task
/// with it: use [`spawn_blocking`]), and outside a
/// multi-threaded runtime (a plain thread, a `spawn_blocking` closure).
#[track_caller]
pub fn block_in_place<F, R>(f: F) -> R
where
    F: FnOnce() -> R,
{
    crate::executor::multi_thread::block_in_place(f)
}

/// Spawns a future that need not be `Send` onto the current runtime.
///
/// spindle's runtime runs every task on the thread that owns it, so a
/// `!Send` future (one holding an `Rc`, say) can be spawned directly.
///
/// # Panics
/// If called outside a runtime. And on the thread that stands in for a
/// worker of a multi-threaded runtime while the worker's own thread
/// blocks in [`block_in_place`]: a `Send` task may run there for a while,
/// but that thread ends when `block_in_place` returns, so a task pinned to
/// it could never run again (and its future, made on that thread, must not
/// move to another). Use [`spawn`] there.
///
/// So on a multi-threaded runtime, call `spawn_local` from a task that was
/// itself spawned with `spawn_local` (or from `block_on`): a pinned task
/// never runs on a stand-in. A `Send` task that calls it (an accept loop
/// spawned with [`spawn`] that pins each connection, say) panics there as
/// soon as any task of its worker calls `block_in_place`.
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    if context::is_stand_in() {
        panic!(
            "spindle::spawn_local called on a block_in_place stand-in: this task runs, for now, \
             on the thread that stands in for a worker blocked in block_in_place, and that \
             thread ends when block_in_place returns, so no task can be pinned to it; \
             use spindle::spawn"
        );
    }
    match context::with_current(|local| local.map(|l| l.spawn(future))) {
        Some(handle) => handle,
        None => panic!(
            "spindle::spawn_local must be called from inside a runtime (in block_on or a task); \
             use Handle::spawn from other threads (with a Send future)"
        ),
    }
}

/// Gives other tasks (and the reactor) a turn, then resumes.
///
/// The current task goes to the back of the run queue. A loop that never
/// waits on anything should call this now and then; the cooperative budget
/// forces it anyway after a bounded number of ready operations.
pub async fn yield_now() {
    YieldNow { yielded: false }.await
}

struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
