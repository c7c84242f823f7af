//! Thread-per-core sharding: one thread, one current-thread [`Runtime`](crate::Runtime) and
//! one listener per CPU, each running the same server function.
//!
//! The course notes scale a server past one core with *multiprocessing*:
//! fork a few workers after `listen`, each runs its own loop. A shard is
//! that worker done with a thread: [`Builder::run`] starts N threads, pins
//! thread *i* to the *i*-th CPU the process may use, gives each its own
//! current-thread runtime (its own reactor, timer wheel and run queue), and
//! runs your per-shard future on each. Every shard binds its own listener
//! with [`TcpListener::bind_reuseport`](crate::net::TcpListener::bind_reuseport)
//! on the same port, and the kernel spreads incoming connections over the
//! listeners by a hash of each connection's addresses and ports. A
//! connection then lives and dies on the shard that accepted it: nothing is
//! shared between shards, no task ever moves, no wake crosses a thread, and
//! each CPU's caches hold only its own connections. monoio and glommio are
//! built on this model (and so is nginx, with processes).
//!
//! ```text
//!            kernel: one port, SO_REUSEPORT group, hash(src, dst) picks a queue
//!           ┌──────────────────────┬──────────────────────┐
//!           ▼                      ▼                      ▼
//!   listener 0 (CPU 0)     listener 1 (CPU 1)     listener 2 (CPU 2)
//!   runtime 0: tasks of    runtime 1: tasks of    runtime 2: tasks of
//!   its connections only   its connections only   its connections only
//! ```
//!
//! # Against work stealing
//!
//! A work-stealing runtime (tokio's default) shares one pool of tasks among
//! all workers: an idle worker takes tasks from a busy one, so the load
//! evens out whatever the connections do, at the price of atomics, shared
//! queues and tasks that must be `Send`. Sharding pays none of that and its
//! tasks may be `!Send` ([`spawn_local`](crate::spawn_local)), but the
//! kernel's hash decides once, per connection, where the work goes: if a
//! few connections are much busier than the rest, or the hash is uneven
//! (it is a hash, not a balancer), one CPU works while another idles.
//! Sharding suits many similar, independent connections; stealing suits
//! uneven work.
//!
//! # Example
//!
//! ```no_run
//! use spindle_runtime::io::{AsyncReadExt, AsyncWriteExt};
//! use spindle_runtime::net::TcpListener;
//! use spindle_runtime::shard;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let results = shard::Builder::new().run(|shard| async move {
//!         // One listener per shard, all on port 7000.
//!         let listener = TcpListener::bind_reuseport("127.0.0.1:7000").await?;
//!         println!("shard {} of {} on CPU {:?}", shard.index(), shard.count(), shard.cpu());
//!         loop {
//!             let (mut stream, _) = listener.accept().await?;
//!             // A task of this shard's runtime: it never leaves this CPU.
//!             spindle_runtime::spawn_local(async move {
//!                 let mut buf = [0u8; 1024];
//!                 while let Ok(n) = stream.read(&mut buf).await {
//!                     if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
//!                         break;
//!                     }
//!                 }
//!             });
//!         }
//!         #[allow(unreachable_code)]
//!         Ok::<(), std::io::Error>(())
//!     })?;
//!     // Each shard's own value: one that could not bind returned its error
//!     // (the others went on serving; panic in a shard to stop them all).
//!     for result in results {
//!         result?;
//!     }
//!     Ok(())
//! }
//! ```
//!
//! To share a port the system picks (tests), bind port 0 on shard 0 and
//! hand its concrete address to the others (a
//! [`watch`](crate::channel::watch) channel will do), as
//! [`bind_reuseport`](crate::net::TcpListener::bind_reuseport) shows. Do
//! not bind a listener of the group outside the shards and keep it: the
//! kernel gives it its share of the connections, and nobody accepts them.
//!
//! # When a shard fails
//!
//! `run` returns when every shard has returned: `Ok` with each shard's
//! value in shard order. A value is the shard's to judge: a shard whose
//! future returns an `Err` (it could not bind, say) has *finished*, not
//! failed, and the others go on; check the values, or panic in the shard
//! to stop them all. If a shard panics (its future, or the closure),
//! or cannot start (its runtime cannot be built, its thread cannot be
//! pinned), the other shards are *cancelled*: the future each is running
//! is dropped at its next `.await` (with its listener, its sockets and the
//! tasks of its runtime, when the runtime is dropped), their threads are
//! joined, and `run` returns the first failure as a [`ShardError`]. So a
//! panicking shard never leaves `run` waiting on servers that loop forever.
//! A shard stuck in blocking code (never reaching an `.await`) cannot be
//! cancelled, and `run` waits for it.
//!
//! To stop the shards yourself, share a
//! [`CancellationToken`] with the closure
//! and have each shard return when it is cancelled.

use std::any::Any;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::sync::{Mutex, PoisonError};
use std::task::Poll;
use std::thread;

use crate::runtime::Builder as RuntimeBuilder;
use crate::sync::CancellationToken;
use crate::sys::cpu;

/// Configures and starts a set of shards: `Builder::new().shards(n).run(f)`.
#[derive(Debug, Clone)]
pub struct Builder {
    shards: Option<usize>,
    pin: bool,
    runtime: RuntimeBuilder,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// One shard per CPU this thread may run on, pinned; each runtime with
    /// [`Runtime::builder`](crate::Runtime::builder)'s defaults.
    pub fn new() -> Builder {
        Builder {
            shards: None,
            pin: true,
            runtime: RuntimeBuilder::new(),
        }
    }

    /// How many shards to start (default: how many CPUs the calling thread
    /// may run on, from `sched_getaffinity`). `run` refuses 0.
    ///
    /// With more shards than CPUs and pinning on, shard *i* goes to CPU
    /// number *i* modulo the count, so some CPUs carry two.
    pub fn shards(mut self, shards: usize) -> Builder {
        self.shards = Some(shards);
        self
    }

    /// Whether to pin shard *i* to the *i*-th CPU the calling thread may run
    /// on (`sched_setaffinity`; default true). Unpinned shards float
    /// wherever the scheduler puts them, and [`ShardContext::cpu`] is
    /// `None`.
    pub fn pin(mut self, pin: bool) -> Builder {
        self.pin = pin;
        self
    }

    /// The settings of every shard's runtime (backend, intervals, ...): each
    /// shard builds its own runtime from a clone of `runtime`.
    ///
    /// A shard's runtime is always current-thread: `run` refuses a builder
    /// that asks for [`multi_thread`](RuntimeBuilder::multi_thread) or
    /// [`worker_threads`](RuntimeBuilder::worker_threads), and the
    /// `SPINDLE_FLAVOR` variable does not apply to shards.
    pub fn runtime(mut self, runtime: RuntimeBuilder) -> Builder {
        self.runtime = runtime;
        self
    }

    /// Starts the shards, runs `per_shard(context)` to completion on each,
    /// joins every shard thread and returns the outputs in shard order.
    ///
    /// `per_shard` is called once per shard, *on* that shard's thread inside
    /// its runtime, so the future it returns need not be `Send` and may
    /// create sockets and `spawn_local` tasks. The calling thread blocks
    /// until every shard is done (the closure and outputs may borrow from
    /// the caller: the threads are scoped).
    ///
    /// # Errors
    ///
    /// If a shard panics or cannot start, the others are cancelled (see the
    /// module docs) and the first failure is returned. A shard's own
    /// `Err` value is not a failure: it comes back in the `Vec`. A
    /// [`runtime`](Builder::runtime) that asks for a multi-threaded
    /// runtime is refused (`ShardError::Start`, `InvalidInput`) before any
    /// shard starts.
    pub fn run<F, Fut>(self, per_shard: F) -> Result<Vec<Fut::Output>, ShardError>
    where
        F: Fn(ShardContext) -> Fut + Sync,
        Fut: Future,
        Fut::Output: Send,
    {
        if self.runtime.asks_multi_thread() {
            return Err(ShardError::Start(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a shard runs one current-thread runtime on its own thread: \
                 leave multi_thread()/worker_threads() out of Builder::runtime",
            )));
        }
        let allowed = cpu::allowed_cpus().map_err(ShardError::Start)?;
        if allowed.is_empty() {
            return Err(ShardError::Start(io::Error::other(
                "sched_getaffinity reported no CPU",
            )));
        }
        let count = self.shards.unwrap_or(allowed.len());
        if count == 0 {
            return Err(ShardError::Start(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a shard set needs at least one shard",
            )));
        }
        let failure = Failure::default();
        let per_shard = &per_shard;
        let failure_ref = &failure;
        let outputs: Vec<Option<Fut::Output>> = thread::scope(|scope| {
            let mut threads = Vec::with_capacity(count);
            for index in 0..count {
                let cpu = self.pin.then(|| allowed[index % allowed.len()]);
                let context = ShardContext { index, count, cpu };
                let runtime = self.runtime.clone();
                let spawned = thread::Builder::new()
                    .name(format!("spindle-shard-{index}"))
                    .spawn_scoped(scope, move || {
                        run_shard(context, runtime, per_shard, failure_ref)
                    });
                match spawned {
                    Ok(handle) => threads.push(handle),
                    Err(e) => {
                        failure.fail(ShardError::Start(e));
                        break;
                    }
                }
            }
            threads
                .into_iter()
                .enumerate()
                .map(|(index, t)| match t.join() {
                    Ok(output) => output,
                    // run_shard catches every panic of the shard's code; a
                    // panic here would be in run_shard itself.
                    Err(payload) => {
                        failure.fail(ShardError::Panicked {
                            index,
                            message: panic_message(&*payload),
                        });
                        None
                    }
                })
                .collect()
        });
        if let Some(error) = failure.into_first() {
            return Err(error);
        }
        // Without a failure every shard finished: all are `Some`.
        Ok(outputs.into_iter().flatten().collect())
    }
}

/// Runs one shard on its own thread: pins it, builds its runtime and runs
/// `per_shard` until it returns or a sibling's failure cancels it. `None`
/// if it did not finish (it failed, and `failure` says why, or it was
/// cancelled).
fn run_shard<F, Fut>(
    context: ShardContext,
    runtime: RuntimeBuilder,
    per_shard: &F,
    failure: &Failure,
) -> Option<Fut::Output>
where
    F: Fn(ShardContext) -> Fut + Sync,
    Fut: Future,
{
    let index = context.index;
    if let Some(cpu) = context.cpu {
        if let Err(error) = cpu::pin_current_thread(cpu) {
            failure.fail(ShardError::Pin { index, cpu, error });
            return None;
        }
    }
    let cancelled = failure.cancel.clone();
    // Everything of the shard, its runtime's drop included, inside one
    // catch_unwind: a panic anywhere becomes this shard's error.
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| -> io::Result<Option<Fut::Output>> {
        // Current-thread whatever SPINDLE_FLAVOR says (`run` refused a
        // builder that asked for workers).
        let runtime = runtime.current_thread().build()?;
        Ok(runtime.block_on(async {
            let mut work = pin!(per_shard(context));
            let mut stop = pin!(cancelled.cancelled());
            // Cancellation first: once a sibling failed, stop at once.
            poll_fn(|cx| {
                if stop.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                work.as_mut().poll(cx).map(Some)
            })
            .await
        }))
    }));
    match outcome {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => {
            failure.fail(ShardError::Runtime { index, error });
            None
        }
        Err(payload) => {
            failure.fail(ShardError::Panicked {
                index,
                message: panic_message(&*payload),
            });
            None
        }
    }
}

/// What the shards share: the first failure, and the token that cancels
/// the rest when it happens.
#[derive(Default)]
struct Failure {
    first: Mutex<Option<ShardError>>,
    cancel: CancellationToken,
}

impl Failure {
    /// Records `error` if it is the first, and cancels every shard.
    fn fail(&self, error: ShardError) {
        let mut first = self.first.lock().unwrap_or_else(PoisonError::into_inner);
        if first.is_none() {
            *first = Some(error);
        }
        drop(first);
        self.cancel.cancel();
    }

    fn into_first(self) -> Option<ShardError> {
        self.first
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The text of a panic payload (`panic!("...")` gives a `&str` or a
/// `String`; anything else is described generically).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

/// What a shard knows about itself: passed to the per-shard closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardContext {
    index: usize,
    count: usize,
    cpu: Option<usize>,
}

impl ShardContext {
    /// This shard's number, from 0 to [`count`](Self::count) − 1.
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many shards the set has.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The CPU this shard's thread is pinned to, or `None` if pinning is
    /// off ([`Builder::pin`]).
    pub fn cpu(&self) -> Option<usize> {
        self.cpu
    }
}

/// Why [`Builder::run`] failed: the first failure of any shard (the others
/// were cancelled because of it).
#[derive(Debug)]
#[non_exhaustive]
pub enum ShardError {
    /// The shard set could not start: no shards asked for, the CPU set
    /// could not be read, or a thread could not be spawned.
    Start(io::Error),
    /// Shard `index` could not be pinned to `cpu`.
    Pin {
        /// The shard.
        index: usize,
        /// The CPU it was to run on.
        cpu: usize,
        /// What `sched_setaffinity` said.
        error: io::Error,
    },
    /// Shard `index` could not build its runtime.
    Runtime {
        /// The shard.
        index: usize,
        /// Why the runtime could not be built.
        error: io::Error,
    },
    /// Shard `index` panicked (its future, the closure, or a drop in its
    /// runtime) with `message`.
    Panicked {
        /// The shard.
        index: usize,
        /// The panic's message.
        message: String,
    },
}

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardError::Start(e) => write!(f, "could not start the shards: {e}"),
            ShardError::Pin { index, cpu, error } => {
                write!(f, "shard {index} could not be pinned to CPU {cpu}: {error}")
            }
            ShardError::Runtime { index, error } => {
                write!(f, "shard {index} could not build its runtime: {error}")
            }
            ShardError::Panicked { index, message } => {
                write!(f, "shard {index} panicked: {message}")
            }
        }
    }
}

impl std::error::Error for ShardError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ShardError::Start(e) => Some(e),
            ShardError::Pin { error, .. } | ShardError::Runtime { error, .. } => Some(error),
            ShardError::Panicked { .. } => None,
        }
    }
}

impl From<ShardError> for io::Error {
    fn from(e: ShardError) -> io::Error {
        io::Error::other(e)
    }
}

/// The CPU the calling thread is running on now (`sched_getcpu`); on a
/// pinned shard, its [`ShardContext::cpu`].
pub fn current_cpu() -> io::Result<usize> {
    cpu::current_cpu()
}
