//! [`Runtime`] and its [`Builder`] (the thread-safe [`Handle`] is in `handle.rs`).

use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;

use crate::driver::BackendFallback;
use crate::executor::multi_thread::MultiThread;
use crate::executor::{Config, Local};
use crate::handle::{EnterGuard, Handle};
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

    /// Enters the runtime on this thread until the guard drops; see
    /// [`Handle::enter`].
    pub fn enter(&self) -> EnterGuard {
        self.handle().enter()
    }

    /// Shuts the runtime down as dropping it does, but waits at most
    /// `timeout` for the worker threads of a multi-threaded runtime.
    ///
    /// Dropping a runtime waits for every worker to finish the poll it is
    /// in, so one task that never returns from a poll (a busy loop without
    /// an `.await`, a blocking call) would hold up the drop forever. As in a
    /// drop, the other workers first drop every task they can reach (all
    /// but the ones inside a poll, and the pinned tasks of a worker whose
    /// thread is busy) and the blocking pool's queued jobs are cancelled.
    /// After `timeout`, a worker still in such a poll is left to finish it
    /// by itself, and so are the others, which wait for it before they drop
    /// what is left (tasks spawned or woken since) and close their
    /// reactors: their sockets stay open until then, with nobody waiting
    /// for them. The `block_on` thread's own tasks are dropped here, as in
    /// a drop; so is everything of a current-thread runtime, for which
    /// there is nothing else to wait for.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let rt = spindle_runtime::Runtime::builder().multi_thread().worker_threads(1).build()?;
    /// let (started, release) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    /// let (s, r) = (started.clone(), release.clone());
    /// rt.spawn(async move {
    ///     s.store(true, Ordering::SeqCst);
    ///     while !r.load(Ordering::SeqCst) {
    ///         std::thread::yield_now(); // never returns to the runtime
    ///     }
    /// });
    /// while !started.load(Ordering::SeqCst) {
    ///     std::thread::yield_now();
    /// }
    /// rt.shutdown_timeout(Duration::from_millis(10)); // returns; a drop would hang
    /// release.store(true, Ordering::SeqCst); // the worker ends by itself
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown_timeout(mut self, timeout: std::time::Duration) {
        if let Some(mut workers) = self.workers.take() {
            workers.shutdown_timeout(timeout);
        }
        // Drop shuts down the block_on thread's half.
    }

    /// Shuts the runtime down without waiting for its worker threads:
    /// [`shutdown_timeout`](Self::shutdown_timeout) with a zero timeout.
    /// Each worker stops at its next look at its queues, drops its tasks
    /// and exits by itself.
    pub fn shutdown_background(self) {
        self.shutdown_timeout(std::time::Duration::ZERO);
    }

    /// Runs a blocking closure on the runtime's blocking pool; see
    /// [`spawn_blocking`](crate::spawn_blocking).
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle().spawn_blocking(f)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // The workers first: their tasks may hold handles to the block_on
        // thread's (and wake them as they drop). A worker's panic, which
        // their shutdown reports, waits until this thread's half is shut
        // down too.
        let workers = self.workers.as_mut().map(|workers| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| workers.shutdown()))
        });
        self.local.shutdown();
        if let Some(Err(panic)) = workers {
            std::panic::resume_unwind(panic);
        }
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

    /// Names the threads the runtime starts `<name>-worker-N` (workers),
    /// `<name>-worker-N-stand-in` (`block_in_place`) and `<name>-blocking`
    /// (the blocking pool); without this call `<name>` is `spindle`. (A
    /// prefix, where tokio's `thread_name` is the whole name.)
    pub fn thread_name(mut self, name: impl Into<String>) -> Builder {
        self.config.blocking.threads.name = Some(name.into());
        self
    }

    /// The stack size, in bytes, of the threads the runtime starts
    /// (default: the standard library's, 2 MiB unless `RUST_MIN_STACK`
    /// says otherwise).
    pub fn thread_stack_size(mut self, bytes: usize) -> Builder {
        self.config.blocking.threads.stack_size = Some(bytes);
        self
    }

    /// Runs `f` first thing on each thread the runtime starts (workers,
    /// stand-ins, blocking-pool threads): to set up a thread-local logger
    /// or tracing span, say. Not on the thread that calls `block_on`.
    pub fn on_thread_start(mut self, f: impl Fn() + Send + Sync + 'static) -> Builder {
        self.config.blocking.threads.on_start = Some(std::sync::Arc::new(f));
        self
    }

    /// Runs `f` last thing on each thread the runtime starts, also when the
    /// thread ends by a panic (so `f` must not panic itself: a panic while
    /// one unwinds aborts the process).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let (started, stopped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    /// let (s, t) = (started.clone(), stopped.clone());
    /// let rt = spindle_runtime::Runtime::builder()
    ///     .multi_thread()
    ///     .worker_threads(2)
    ///     .thread_name("app")
    ///     .on_thread_start(move || drop(s.fetch_add(1, Ordering::SeqCst)))
    ///     .on_thread_stop(move || drop(t.fetch_add(1, Ordering::SeqCst)))
    ///     .build()?;
    /// let name = rt.block_on(async {
    ///     spindle_runtime::spawn(async { std::thread::current().name().map(String::from) })
    ///         .await
    ///         .unwrap()
    /// });
    /// assert!(name.unwrap().starts_with("app-worker-"));
    /// drop(rt); // joins the workers
    /// assert_eq!(started.load(Ordering::SeqCst), 2);
    /// assert_eq!(stopped.load(Ordering::SeqCst), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn on_thread_stop(mut self, f: impl Fn() + Send + Sync + 'static) -> Builder {
        self.config.blocking.threads.on_stop = Some(std::sync::Arc::new(f));
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
