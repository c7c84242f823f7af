//! Ten ways to write the same TCP echo server, one per IO model of the
//! course notes, so they can be run, read and measured side by side.
//!
//! | model | file | notes' name | who waits for data |
//! |---|---|---|---|
//! | [`Model::Blocking`] | `blocking.rs` | 循环服务器 (loop server) | the only thread, in `read` |
//! | [`Model::Threaded`] | `threaded.rs` | 多线程并发 | one thread per client, each in its `read` |
//! | [`Model::Forked`] | `forked.rs` | 多进程并发 (`os.fork`) | one process per client, each in its `read` |
//! | [`Model::NonBlocking`] | `nonblocking.rs` | 非阻塞IO (`setblocking(False)`) | nobody: the loop asks every socket, again and again |
//! | [`Model::Select`] | `select.rs` | IO多路复用: `select` | the only thread, in `select(2)`, for all sockets |
//! | [`Model::Poll`] | `poll.rs` | IO多路复用: `poll` | the only thread, in `poll(2)` |
//! | [`Model::Epoll`] | `epoll.rs` | IO多路复用: `epoll` | the only thread, in `epoll_wait(2)` |
//! | [`Model::SignalDriven`] | `sigio.rs` | 信号驱动IO (`O_ASYNC`, `F_SETSIG`) | the only thread, in `read` of a signalfd: the kernel queues a signal per ready socket |
//! | [`Model::UringLoop`] | `uring_completion.rs` | 异步IO (asynchronous IO), by hand | the only thread, in `io_uring_enter`: the kernel waits for the data *and* copies it, then posts a completion |
//! | [`Model::Async`] | `spindle_async.rs` | 异步 (async/await) | tasks suspend; the runtime's thread waits in the backend |
//! | [`Model::UringCompletion`] | `spindle_uring.rs` | 异步IO (asynchronous IO) | the kernel does both phases (io_uring operations); tasks hear of the finished copy |
//! | [`Model::MultiThread`] | `multi_thread.rs` | 多线程 + 异步 (work stealing) | as `Async`, once per CPU: each worker waits in its own epoll; idle workers steal tasks from busy ones |
//! | [`Model::Sharded`] | `sharded.rs` | 多进程 + 异步, with threads (thread-per-core) | as `Async`, once per CPU: each pinned shard waits in its own epoll, for its own connections |
//! | [`Model::ShardedUring`] | `sharded.rs` | 多进程 + 异步IO, with threads (thread-per-core, as monoio and glommio) | as `UringCompletion`, once per CPU: each pinned shard waits in its own ring, for its own connections |
//! | [`Model::Processes`] | `processes.rs` | 多进程 + 异步 (process-per-core, the notes' multiprocessing server) | as `Sharded`, but each loop is a worker process (`spindle::process::Process`) |
//!
//! The ten models of the notes each use one core for their loop (the
//! thread and process models use more, one per connection). The last three
//! rows are the notes' multiprocessing applied to the event loop: one loop
//! per CPU, either sharing the tasks (work stealing: spindle's
//! multi-threaded runtime) or each with its own connections, the kernel
//! spreading them over the loops: in threads of one process
//! (`spindle::shard`) or in processes (`spindle::process::Process`).
//!
//! Every read, in every model, has the same two phases (the notes: 等待数据准备,
//! 将数据从内核拷贝到进程中):
//!
//! ```text
//!   phase 1: waiting for data     the bytes are still on the network; the
//!                                 kernel has nothing to hand over yet
//!   phase 2: copying the data     the bytes are in the kernel's socket buffer;
//!                                 read(2) copies them into our buffer
//! ```
//!
//! The models differ only in *who* sits still during phase 1, and how many
//! clients one sleeper can stand for. Phase 2 is always done by the server
//! itself, inside `read`, and is short. Each file's docs draw its own
//! timeline.
//!
//! The protocol is a plain echo: whatever bytes arrive are written back
//! unchanged, with no framing. Every model copes with partial writes and
//! with clients that close at any moment.
//!
//! Used by the `io_model` example (one model, one port) and by the
//! `showdown` example, both through `#[path = "io_models/mod.rs"] mod io_models;`,
//! and both through [`serve_announced`], which prints the address once the
//! server is ready.
//! Each uses a different subset, so put `#[allow(dead_code)]` on that `mod`
//! item (an inner attribute here would clash with it).

mod blocking;
mod common;
mod epoll;
mod forked;
mod multi_thread;
mod nonblocking;
mod poll;
// `spindle::process` and `spindle::ipc` come with the default
// `process-pool` feature; without it the model says so when started.
#[cfg(feature = "process-pool")]
mod processes;
mod reactor_loop;
mod select;
mod sharded;
mod sigio;
mod spindle_async;
mod spindle_uring;
mod threaded;
mod uring_completion;

use std::io;
use std::net::{SocketAddr, TcpListener};

use spindle::Backend;

/// One way of serving many clients: the IO models of the course notes,
/// plus spindle's async runtime on a chosen readiness backend.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Model {
    /// The loop server (循环服务器): accept one client, echo it until it
    /// closes, then accept the next. Blocking calls, one thread.
    Blocking,
    /// A thread per connection, each with blocking calls.
    Threaded,
    /// A process per connection (`fork`), each with blocking calls.
    Forked,
    /// One thread, non-blocking sockets, and a loop that tries every socket
    /// in turn (`setblocking(False)` busy polling).
    NonBlocking,
    /// One thread, a readiness loop on `select(2)`.
    Select,
    /// One thread, a readiness loop on `poll(2)`.
    Poll,
    /// One thread, a readiness loop on `epoll(7)`.
    Epoll,
    /// One thread, signal-driven IO: each socket raises a real-time signal
    /// when it becomes ready, and the loop reads the signals from a
    /// signalfd.
    SignalDriven,
    /// One thread, a hand-written io_uring completion loop: the kernel does
    /// both phases of every read (asynchronous IO).
    UringLoop,
    /// spindle's async runtime on the given backend: a task per connection.
    Async(Backend),
    /// Asynchronous IO: a task per connection on `spindle::uring`, whose
    /// reads and writes are io_uring operations (completions, not readiness).
    UringCompletion,
    /// Work stealing: spindle's multi-threaded runtime (epoll), one worker
    /// per CPU, a task per connection.
    MultiThread,
    /// Thread-per-core: one spindle runtime (epoll) per CPU, each pinned,
    /// each with a `SO_REUSEPORT` listener on the same port.
    Sharded,
    /// Thread-per-core with completions: as `Sharded`, each shard serving
    /// as `UringCompletion` does (io_uring operations on its own ring).
    ShardedUring,
    /// Process-per-core: one worker process per CPU (`spindle::process::Process`),
    /// each pinned, each with a current-thread spindle runtime (epoll) and a
    /// `SO_REUSEPORT` listener on the same port.
    Processes,
}

impl Model {
    /// The ten models, in the order of the notes (the five IO models, with
    /// the loop, thread and process servers before them, and asynchronous
    /// IO written by hand with io_uring); the async model runs on epoll
    /// here (see [`Model::async_all`] for the others).
    pub fn all() -> Vec<Model> {
        vec![
            Model::Blocking,
            Model::Threaded,
            Model::Forked,
            Model::NonBlocking,
            Model::Select,
            Model::Poll,
            Model::Epoll,
            Model::SignalDriven,
            Model::UringLoop,
            Model::Async(Backend::Epoll),
        ]
    }

    /// The models that run an event loop on every CPU: `spindle-mt`,
    /// `spindle-sharded`, `spindle-sharded-uring` and `spindle-processes`.
    pub fn multi_core() -> Vec<Model> {
        vec![
            Model::MultiThread,
            Model::Sharded,
            Model::ShardedUring,
            Model::Processes,
        ]
    }

    /// The async model on each readiness backend (select, poll, epoll,
    /// io_uring), and on completions (`spindle::uring`).
    pub fn async_all() -> Vec<Model> {
        let mut all: Vec<Model> = Backend::ALL.iter().map(|&b| Model::Async(b)).collect();
        all.push(Model::UringCompletion);
        all
    }

    /// The model's name on the command line and in reports: `blocking`,
    /// `threads`, `fork`, `nonblocking`, `select`, `poll`, `epoll`, or
    /// `spindle-<backend>` (`spindle-epoll`, `spindle-poll`,
    /// `spindle-select`, `spindle-io_uring`), `spindle-mt`,
    /// `spindle-sharded`, `spindle-sharded-uring` or `spindle-processes`.
    pub fn name(&self) -> String {
        match self {
            Model::Blocking => "blocking".to_string(),
            Model::Threaded => "threads".to_string(),
            Model::Forked => "fork".to_string(),
            Model::NonBlocking => "nonblocking".to_string(),
            Model::Select => "select".to_string(),
            Model::Poll => "poll".to_string(),
            Model::Epoll => "epoll".to_string(),
            Model::SignalDriven => "sigio".to_string(),
            Model::UringLoop => "uring-completion".to_string(),
            Model::Async(backend) => format!("spindle-{}", backend.name()),
            Model::UringCompletion => "spindle-uring-completion".to_string(),
            Model::MultiThread => "spindle-mt".to_string(),
            Model::Sharded => "spindle-sharded".to_string(),
            Model::ShardedUring => "spindle-sharded-uring".to_string(),
            Model::Processes => "spindle-processes".to_string(),
        }
    }

    /// The model a name stands for: every [`name`](Model::name), ignoring
    /// case, plus a few aliases (`loop`, `threaded`, `forked`,
    /// `non-blocking`, `spindle` / `async` for `spindle-epoll`, and
    /// `async-<backend>`, `mt`, `multi-thread` and `work-stealing` for
    /// `spindle-mt`, `sharded` and `thread-per-core` for `spindle-sharded`,
    /// `sharded-uring` for `spindle-sharded-uring`,
    /// `processes` and `process-per-core` for `spindle-processes`).
    /// `None` for anything else.
    pub fn parse(s: &str) -> Option<Model> {
        let s = s.trim().to_ascii_lowercase();
        let model = match s.as_str() {
            "blocking" | "loop" => Model::Blocking,
            "threads" | "threaded" | "thread" => Model::Threaded,
            "fork" | "forked" | "process" => Model::Forked,
            "nonblocking" | "non-blocking" => Model::NonBlocking,
            "select" => Model::Select,
            "poll" => Model::Poll,
            "epoll" => Model::Epoll,
            "sigio" | "signal" | "signal-driven" => Model::SignalDriven,
            "uring-completion" | "uring" | "aio" => Model::UringLoop,
            "spindle" | "async" => Model::Async(Backend::Epoll),
            "spindle-uring-completion" | "uring-completion-spindle" | "completion" => {
                Model::UringCompletion
            }
            "spindle-mt" | "mt" | "multi-thread" | "multi_thread" | "work-stealing" => {
                Model::MultiThread
            }
            "spindle-sharded" | "sharded" | "thread-per-core" => Model::Sharded,
            "spindle-sharded-uring" | "sharded-uring" => Model::ShardedUring,
            "spindle-processes" | "processes" | "process-per-core" => Model::Processes,
            other => {
                let backend = other
                    .strip_prefix("spindle-")
                    .or_else(|| other.strip_prefix("async-"))?;
                Model::Async(backend.parse().ok()?)
            }
        };
        Some(model)
    }

    /// How many clients the model can serve at the same time, if it has a
    /// hard limit:
    ///
    /// * `Some(1)` for [`Model::Blocking`]: the loop server serves one
    ///   client at a time; the others wait in the listen queue until it
    ///   is done (their connects succeed, their echoes do not come).
    /// * `Some(1020)` for the select-based models ([`Model::Select`] and
    ///   `Model::Async(Backend::Select)`): `select(2)` cannot watch a
    ///   descriptor numbered 1024 or more, and a few low numbers are taken
    ///   (stdio, the listener, the poller's own eventfd), so about 1020
    ///   connections fit. Past that the server closes new connections at
    ///   once and keeps serving the others.
    /// * `None` for the rest: bounded only by memory, descriptors
    ///   (`RLIMIT_NOFILE`) and, for threads and processes, the system's
    ///   thread and process limits.
    pub fn max_conns(&self) -> Option<usize> {
        match self {
            Model::Blocking => Some(1),
            Model::Select | Model::Async(Backend::Select) => Some(1020),
            _ => None,
        }
    }
}

/// Serves the echo protocol on `listener` (bound, listening, in blocking
/// mode, as `std::net::TcpListener::bind` returns it) with `model`, forever.
///
/// Returns only if the model cannot run at all (the poller or the runtime
/// cannot be created, the listener cannot be switched to non-blocking
/// mode) or its loop fails in a way it cannot recover from. Errors of one
/// connection close that connection and are otherwise ignored.
///
/// [`Model::Forked`] calls `fork(2)`: call it from a single-threaded process
/// (the child of a fork gets only the calling thread; locks held by other
/// threads would stay locked in it forever).
pub fn serve(model: &Model, listener: TcpListener) -> io::Result<()> {
    match *model {
        Model::Blocking => blocking::serve(listener),
        Model::Threaded => threaded::serve(listener),
        Model::Forked => forked::serve(listener),
        Model::NonBlocking => nonblocking::serve(listener),
        Model::Select => select::serve(listener),
        Model::Poll => poll::serve(listener),
        Model::Epoll => epoll::serve(listener),
        Model::SignalDriven => sigio::serve(listener),
        Model::UringLoop => uring_completion::serve(listener),
        Model::Async(backend) => spindle_async::serve(backend, listener),
        Model::UringCompletion => spindle_uring::serve(listener),
        Model::MultiThread => multi_thread::serve(listener),
        Model::Sharded => sharded::serve(listener),
        Model::ShardedUring => sharded::serve_uring(listener),
        #[cfg(feature = "process-pool")]
        Model::Processes => processes::serve(listener, |_| Ok(())),
        #[cfg(not(feature = "process-pool"))]
        Model::Processes => Err(without_processes()),
    }
}

/// As [`serve`], calling `announce` with the listener's address once the
/// server is ready for clients (before serving them).
///
/// For most models that is at once: the listener queues clients from the
/// moment it listens. [`Model::Processes`] calls it only once every worker
/// process listens, so that connections made as soon as the address is
/// known spread over all the workers (see `processes.rs`).
pub fn serve_announced(
    model: &Model,
    listener: TcpListener,
    announce: impl FnOnce(SocketAddr) -> io::Result<()>,
) -> io::Result<()> {
    match *model {
        #[cfg(feature = "process-pool")]
        Model::Processes => processes::serve(listener, announce),
        #[cfg(not(feature = "process-pool"))]
        Model::Processes => Err(without_processes()),
        _ => {
            announce(listener.local_addr()?)?;
            serve(model, listener)
        }
    }
}

/// Why [`Model::Processes`] cannot run in a build without the
/// `process-pool` feature.
#[cfg(not(feature = "process-pool"))]
fn without_processes() -> io::Error {
    io::Error::other("spindle-processes needs spindle's `process-pool` feature (on by default)")
}
