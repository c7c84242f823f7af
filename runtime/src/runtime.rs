//! [`Runtime`], its [`Builder`], and the thread-safe [`Handle`].

use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::driver::BackendFallback;
use crate::executor::multi_thread::{MultiThread, RuntimeMetrics};
use crate::executor::{context, Config, Local, Shared};
use crate::task::JoinHandle;
use spindle_reactor::Backend;

/// An async runtime: an executor, a reactor and a timer wheel.
///
/// By default a runtime is **current-thread**: everything spawned on it
/// runs on the thread that calls [`block_on`](Runtime::block_on). Several
/// runtimes may live on several threads at once; they share nothing.
///
/// [`Builder::multi_thread`] builds a **multi-threaded** runtime instead:
/// `spawn`ed tasks run on a pool of worker threads (one per CPU by default)
/// that steal work from each other, while `block_on` runs its future, and
/// what it `spawn_local`s, on the calling thread. The two flavors are the
/// same type with the same API.
///
/// A `Runtime` stays on the thread that created it (it is not `Send`): tasks
/// spawned with [`spawn_local`](crate::spawn_local) may hold values that must
/// not change threads. To hand work to it from elsewhere, use a
/// [`Handle`].
///
/// Dropping the runtime drops every task it still holds (their futures, and
/// with them their sockets and timers), so nothing it ran outlives it.
///
/// ```
/// let rt = spindle_runtime::Runtime::new()?;
/// let answer = rt.block_on(async {
///     let task = spindle_runtime::spawn(async { 6 * 7 });
///     task.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Runtime {
    local: Local,
    /// The workers, on a multi-threaded runtime.
    workers: Option<MultiThread>,
    _not_send: PhantomData<*const ()>,
}

impl Runtime {
    /// A runtime with default settings.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// Starts configuring a runtime.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `future` to completion on this thread, running all spawned tasks
    /// meanwhile, and returns its output.
    ///
    /// Tasks that are still pending when it returns stay in the runtime and
    /// resume at the next `block_on`.
    ///
    /// # Panics
    /// If called from inside a runtime (a task or another `block_on`): that
    /// would stall the outer runtime. Use `.await` there.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.local.block_on(future)
    }

    /// Spawns a task. On a current-thread runtime it runs during the next
    /// `block_on`; on a multi-threaded one, on the workers, at once.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.local.spawn_send(future)
    }

    /// The readiness backend this runtime runs on.
    pub fn backend(&self) -> Backend {
        self.local.shared.io.poller.backend()
    }

    /// Why this runtime runs on another backend than the one asked for, if
    /// it does: io_uring was requested (by [`Builder::poller`] or
    /// `SPINDLE_POLLER`) and the kernel refused it, so the runtime runs on
    /// epoll. `None` when it runs on the backend requested.
    ///
    /// The library prints nothing about this; a program that cares says so
    /// itself, once, where it reports its backend:
    ///
    /// ```
    /// let rt = spindle_runtime::Runtime::new()?;
    /// match rt.backend_fallback() {
    ///     Some(fallback) => eprintln!("backend: {} ({fallback})", rt.backend()),
    ///     None => eprintln!("backend: {}", rt.backend()),
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn backend_fallback(&self) -> Option<&BackendFallback> {
        self.local.fallback.as_ref()
    }

    /// A handle for spawning onto this runtime from any thread.
    pub fn handle(&self) -> Handle {
        Handle {
            shared: self.local.shared.clone(),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // The workers first: their tasks may hold handles to the block_on
        // thread's (and wake them as they drop).
        if let Some(workers) = &mut self.workers {
            workers.shutdown();
        }
        self.local.shutdown();
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

/// Configures and builds a [`Runtime`].
///
/// ```
/// let rt = spindle_runtime::Runtime::builder().event_interval(31).build()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    config: Config,
}

impl Builder {
    /// Default settings.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// How many tasks run between two checks of the reactor when tasks are
    /// always ready (default 61). Lower favours IO latency, higher favours
    /// throughput of compute-bound tasks.
    pub fn event_interval(mut self, polls: u32) -> Builder {
        self.config.event_interval = polls.max(1);
        self
    }

    /// How often (in task polls) the queue of tasks woken from other threads
    /// is served before the local queue (default 31).
    pub fn inject_interval(mut self, polls: u32) -> Builder {
        self.config.inject_interval = polls.max(1);
        self
    }

    /// How many readiness events one `epoll_wait` may return (default 1024).
    pub fn max_io_events_per_tick(mut self, events: usize) -> Builder {
        self.config.events_capacity = events.max(1);
        self
    }

    /// The most threads the blocking pool may run at once (default 512).
    /// Jobs beyond that wait in the pool's queue. A runtime has one pool:
    /// on a multi-threaded runtime its workers and its `block_on` thread
    /// share it, so the limit is the whole runtime's.
    pub fn max_blocking_threads(mut self, threads: usize) -> Builder {
        self.config.blocking.max_threads = threads.max(1);
        self
    }

    /// How long an idle blocking-pool thread waits for work before it exits
    /// (default 10 s).
    pub fn thread_keep_alive(mut self, keep_alive: std::time::Duration) -> Builder {
        self.config.blocking.keep_alive = keep_alive;
        self
    }

    /// The readiness backend: epoll (the default), poll, select or io_uring.
    ///
    /// Without this call the environment variable `SPINDLE_POLLER` chooses
    /// (`SPINDLE_POLLER=select cargo run --example echo_server`), else epoll.
    /// An io_uring the kernel refuses falls back to epoll, and
    /// [`Runtime::backend_fallback`] says why (nothing is printed); select
    /// limits descriptors to numbers below 1024.
    pub fn poller(mut self, backend: Backend) -> Builder {
        self.config.poller = Some(backend);
        self
    }

    /// Starts the runtime with its clock paused, as if the first thing it
    /// ran were [`time::pause`](crate::time::pause): the test clock, which
    /// jumps to the next timer whenever the runtime has nothing else to
    /// do. `#[spindle::test(start_paused = true)]` sets this.
    pub fn start_paused(mut self, paused: bool) -> Builder {
        self.config.start_paused = paused;
        self
    }

    /// A multi-threaded runtime: `spawn`ed tasks run on a pool of worker
    /// threads that steal work from each other (see
    /// [`worker_threads`](Builder::worker_threads)). `block_on` still runs
    /// its future on the calling thread.
    ///
    /// ```
    /// let rt = spindle_runtime::Runtime::builder().multi_thread().worker_threads(2).build()?;
    /// let sum = rt.block_on(async {
    ///     let tasks: Vec<_> = (0..4u64).map(|i| spindle_runtime::spawn(async move { i * i })).collect();
    ///     let mut sum = 0;
    ///     for t in tasks {
    ///         sum += t.await.unwrap();
    ///     }
    ///     sum
    /// });
    /// assert_eq!(sum, 14);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn multi_thread(mut self) -> Builder {
        if self.config.multi_thread.is_none() {
            self.config.multi_thread = Some(None);
        }
        self.config.flavor_chosen = true;
        self
    }

    /// A current-thread runtime (the default): every task runs on the
    /// thread that calls `block_on`.
    pub fn current_thread(mut self) -> Builder {
        self.config.multi_thread = None;
        self.config.flavor_chosen = true;
        self
    }

    /// How many worker threads a multi-threaded runtime starts (default:
    /// one per CPU this process may run on). Implies
    /// [`multi_thread`](Builder::multi_thread).
    pub fn worker_threads(mut self, threads: usize) -> Builder {
        self.config.multi_thread = Some(Some(threads.max(1)));
        self.config.flavor_chosen = true;
        self
    }

    /// Whether a multi-threaded runtime was asked for by name
    /// ([`multi_thread`](Builder::multi_thread) or
    /// [`worker_threads`](Builder::worker_threads)).
    pub(crate) fn asks_multi_thread(&self) -> bool {
        self.config.multi_thread.is_some()
    }

    /// Creates the runtime: an epoll instance and an eventfd, both
    /// close-on-exec (one each per worker too, on a multi-threaded runtime,
    /// whose worker threads start here).
    pub fn build(mut self) -> io::Result<Runtime> {
        if !self.config.flavor_chosen && !self.config.start_paused {
            // Like SPINDLE_POLLER for the backend: lets a test suite (and
            // CI) run every test on the other flavor unchanged.
            match std::env::var("SPINDLE_FLAVOR").as_deref() {
                Ok("multi_thread") => self.config.multi_thread = Some(None),
                Ok("current_thread") | Err(_) => {}
                Ok(other) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "SPINDLE_FLAVOR={other:?}: expected current_thread or multi_thread"
                        ),
                    ))
                }
            }
        }
        let local = Local::new(self.config.clone())?;
        let workers = match self.config.multi_thread {
            None => None,
            Some(threads) => {
                if self.config.start_paused {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "start_paused needs a current-thread runtime: \
                         the test clock drives one loop, not a pool of workers",
                    ));
                }
                let threads = match threads {
                    Some(n) => n,
                    None => crate::sys::cpu::allowed_cpus().map_or(1, |cpus| cpus.len().max(1)),
                };
                let mut config = self.config.clone();
                config.multi_thread = None;
                Some(MultiThread::start(&config, threads, &local.shared)?)
            }
        };
        Ok(Runtime {
            local,
            workers,
            _not_send: PhantomData,
        })
    }
}

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
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
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
    /// [`Runtime::backend`]).
    pub fn backend(&self) -> Backend {
        self.shared.io.poller.backend()
    }

    /// The runtime's per-worker counters (tasks polled, steals, parks,
    /// queue depth); a current-thread runtime has no workers.
    pub fn metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics::new(self.shared.mt.get().and_then(|link| link.group()))
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

/// Runs `future` to completion on a new runtime on this thread.
///
/// Shorthand for `Runtime::new()?.block_on(future)`; the runtime, and every
/// task still in it, is dropped when the future completes.
///
/// # Panics
/// If the runtime cannot be created (the process is out of file
/// descriptors), or if called inside a runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    Runtime::new()
        .unwrap_or_else(|e| panic!("failed to create a spindle runtime: {e}"))
        .block_on(future)
}
