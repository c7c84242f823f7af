//! [`Handle`]: a runtime seen from any thread. It spawns onto the runtime,
//! runs blocking jobs on its pool, enters it (so that `spawn`, timers and
//! new sockets on this thread go to it), and blocks a thread that does not
//! run the runtime on a future (`block_on`), while the runtime's own
//! thread or workers drive the tasks, timers and IO.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::executor::multi_thread::RuntimeMetrics;
use crate::executor::{context, Shared};
use crate::task::JoinHandle;
use spindle_reactor::Backend;

/// A cheap, cloneable, thread-safe reference to a runtime, for spawning
/// onto it from any thread.
///
/// # Handing a spawner to a library
///
/// Libraries ask for "something that spawns" in one of three shapes, and a
/// `Handle` fills each without a wrapper crate:
///
/// * hyper's `hyper::rt::Executor`: use `spindle::hyper::Executor` (feature
///   `hyper`).
/// * A closure: `move |fut| drop(handle.spawn(fut))`. Dropping the
///   [`JoinHandle`] detaches the task; it still runs to completion.
/// * The `futures` crate's `Spawn` trait (`futures::task::Spawn`). It lives
///   in futures-task, which spindle does not depend on, so the impl is yours
///   to write, in your crate, on a newtype:
///
/// ```ignore
/// struct SpindleSpawner(spindle::Handle);
///
/// impl futures::task::Spawn for SpindleSpawner {
///     fn spawn_obj(&self, f: futures::task::FutureObj<'static, ()>)
///         -> Result<(), futures::task::SpawnError> {
///         drop(self.0.spawn(f));
///         Ok(())
///     }
/// }
/// ```
///
/// (`runtime/tests/compat.rs` compiles and runs exactly this impl.)
///
/// # After the runtime is dropped
///
/// A `Handle` may outlive its runtime (as tokio's may); what it can still
/// do then fails cleanly, and what cannot be failed panics, as in tokio:
///
/// * [`spawn`](Handle::spawn) and [`spawn_blocking`](Handle::spawn_blocking)
///   return a [`JoinHandle`] that resolves to a cancelled
///   [`JoinError`](crate::task::JoinError); the future or closure is
///   dropped, never run.
/// * Under [`enter`](Handle::enter) (or inside [`block_on`](Handle::block_on)),
///   making a socket, a pipe or a child process returns an `io::Error`
///   saying the runtime has shut down, and an IO object made before the
///   drop fails its operations the same way (waiting ones are woken to
///   fail).
/// * A timer (`sleep`, `timeout`, `interval`) polled on such a thread
///   panics, saying the runtime has shut down: a timer has no error to
///   return. That includes one a thread was waiting on in
///   [`block_on`](Handle::block_on) when the runtime was dropped.
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl Handle {
    /// The handle of the runtime running on this thread.
    ///
    /// # Panics
    /// Outside a runtime; see [`try_current`](Handle::try_current).
    #[track_caller]
    pub fn current() -> Handle {
        Handle::try_current().expect("Handle::current called outside a spindle runtime")
    }

    /// The handle of the runtime running on this thread, if any.
    pub fn try_current() -> Option<Handle> {
        context::current_shared().map(|shared| Handle { shared })
    }

    /// The readiness backend the runtime runs on (as
    /// [`Runtime::backend`](crate::Runtime::backend)).
    pub fn backend(&self) -> Backend {
        self.shared.io.poller.backend()
    }

    /// The runtime's per-worker counters (tasks polled, steals, parks,
    /// queue depth); a current-thread runtime has no workers.
    pub fn metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics::new(self.shared.mt.get().and_then(|link| link.group()))
    }

    /// Which kind of runtime this is.
    ///
    /// ```
    /// use spindle_runtime::{Runtime, RuntimeFlavor};
    ///
    /// let rt = Runtime::builder().multi_thread().worker_threads(1).build()?;
    /// assert_eq!(rt.handle().runtime_flavor(), RuntimeFlavor::MultiThread);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn runtime_flavor(&self) -> RuntimeFlavor {
        match self.shared.mt.get() {
            Some(_) => RuntimeFlavor::MultiThread,
            None => RuntimeFlavor::CurrentThread,
        }
    }

    /// Enters the runtime on this thread until the guard drops: meanwhile
    /// [`Handle::current`], [`spawn`](crate::spawn),
    /// [`spawn_blocking`](crate::spawn_blocking), timers, new sockets,
    /// child processes and signal listeners use this runtime, even though
    /// this thread does not run it (another thread's `block_on`, or the
    /// workers of a multi-threaded runtime, drive the tasks, timers and
    /// IO). A `spawn_blocking` closure runs entered like this already. What
    /// must run on the runtime's own thread refuses here: `spawn_local`,
    /// `block_in_place`, and creating a `ProcessPool`.
    ///
    /// ```
    /// let rt = spindle_runtime::Runtime::new().unwrap();
    /// let handle = rt.handle();
    /// let job = std::thread::spawn(move || {
    ///     let _guard = handle.enter();
    ///     spindle_runtime::spawn(async { 6 * 7 })
    /// })
    /// .join()
    /// .unwrap();
    /// assert_eq!(rt.block_on(job).unwrap(), 42);
    /// ```
    pub fn enter(&self) -> EnterGuard {
        EnterGuard {
            _entered: context::enter_shared(self.shared.clone()),
        }
    }

    /// Spawns a task from any thread. It runs when the runtime next runs
    /// (waking it if it is asleep). If the runtime was dropped, the task is
    /// dropped at once and its handle reports a cancelled `JoinError`.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let local = context::with_current(|local| {
            local.is_some_and(|l| Arc::ptr_eq(&l.shared, &self.shared))
        });
        if local {
            crate::task::spawn(future)
        } else {
            self.shared.spawn_remote(future)
        }
    }
}

impl Handle {
    /// Blocks this thread until `future` completes, with the runtime
    /// entered (see [`enter`](Self::enter)), and returns its output: how a
    /// thread that does not run the runtime (a plain thread, a
    /// `spawn_blocking` closure) waits for async work.
    ///
    /// The future is polled on this thread; the runtime's IO and timers are
    /// driven by whoever runs it: the workers of a multi-threaded runtime,
    /// or, on a current-thread runtime, the thread in its
    /// [`Runtime::block_on`](crate::Runtime::block_on). On a current-thread
    /// runtime that nobody runs meanwhile, a future that waits for IO, a
    /// timer or a task waits until somebody does (as with tokio's
    /// `Handle::block_on`).
    ///
    /// ```
    /// let rt = spindle_runtime::Runtime::builder().multi_thread().build()?;
    /// let handle = rt.handle();
    /// let answer = std::thread::spawn(move || {
    ///     handle.block_on(async {
    ///         spindle_runtime::time::sleep(std::time::Duration::from_millis(1)).await;
    ///         spindle_runtime::spawn(async { 6 * 7 }).await.unwrap()
    ///     })
    /// })
    /// .join()
    /// .unwrap();
    /// assert_eq!(answer, 42);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    /// On a thread that runs a runtime (inside `Runtime::block_on` or a
    /// task): blocking it would stall that runtime's loop. Use `.await`
    /// there.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        if context::is_inside() {
            panic!(
                "Handle::block_on called on a thread that runs a spindle runtime (in block_on or \
                 a task): it would stall that runtime's loop; .await the future instead"
            );
        }
        let _entered = self.enter();
        spindle_sync::coop::park_on(future)
    }

    /// Runs a blocking closure on the runtime's blocking pool, from any thread.
    /// See [`spawn_blocking`](crate::spawn_blocking).
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.shared
            .blocking
            .spawn(crate::blocking::BlockingTask::new(f), &self.shared)
    }
}

/// Keeps a runtime entered on this thread; see [`Handle::enter`].
///
/// Guards nest: dropping one restores the runtime entered before it. A
/// guard is not `Send`, as it belongs to the thread that entered.
#[must_use = "the runtime stays entered only while the guard lives"]
pub struct EnterGuard {
    _entered: context::EnterShared,
}

impl fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

/// The kind of a runtime, from [`Handle::runtime_flavor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RuntimeFlavor {
    /// Every task runs on the thread in `block_on` (the default).
    CurrentThread,
    /// Tasks run on a pool of worker threads that steal work from each
    /// other.
    MultiThread,
}
