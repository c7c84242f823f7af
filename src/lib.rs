//! # spindle
//!
//! An async runtime for Rust, built from scratch to be read: its own epoll
//! reactor, its own executor and task queue, its own timer wheel, and
//! sockets and IO traits on top.
//!
//! ```no_run
//! use spindle::io::{AsyncReadExt, AsyncWriteExt};
//! use spindle::net::TcpListener;
//!
//! fn main() -> std::io::Result<()> {
//!     spindle::block_on(async {
//!         let listener = TcpListener::bind("127.0.0.1:7000").await?;
//!         loop {
//!             let (mut stream, _) = listener.accept().await?;
//!             spindle::spawn(async move {
//!                 let mut buf = [0u8; 1024];
//!                 while let Ok(n) = stream.read(&mut buf).await {
//!                     if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
//!                         break;
//!                     }
//!                 }
//!             });
//!         }
//!     })
//! }
//! ```
//!
//! # Depending on it
//!
//! The package is `spindle-rt` (the name `spindle` on crates.io belongs to
//! an unrelated crate); the library it provides is `spindle`:
//!
//! ```toml
//! [dependencies]
//! spindle-rt = { path = "../spindle" }  # a checkout; or { git = "<its repository URL>" }
//! # spindle-rt = "0.1"                  # once it is published on crates.io
//! ```
//!
//! and the code says `use spindle::...`.
//!
//! # What is here
//!
//! This crate is a facade over crates you can also use on their own:
//! [`reactor`] (`spindle-reactor`: OS readiness, no tasks) and
//! `spindle-runtime` (executor, tasks, time, net, io, sync, channels,
//! processes and pools), whose public items are re-exported here by name.
//! The examples in those items' docs are tested in `spindle-runtime`
//! itself, so they name it: read `spindle_runtime::net::TcpListener` as
//! `spindle::net::TcpListener`, the same item.

pub use spindle_reactor as reactor;

pub use spindle_runtime::{channel, fs, io, net, process, signal, sync, task, time, uring};

/// Thread-per-core: one current-thread runtime pinned to each CPU, each
/// with its own `SO_REUSEPORT` listener (`spindle::shard::Builder`).
pub use spindle_runtime::shard;

/// Adapters to futures-io's and tokio's IO traits (features `futures-io`,
/// `tokio-io`): see docs/ecosystem.md.
#[cfg(any(feature = "futures-io", feature = "tokio-io"))]
pub use spindle_runtime::compat;

/// Thread and process pools (the `process-pool` feature, on by default).
#[cfg(feature = "process-pool")]
pub use spindle_runtime::pool;

/// Pipes, queues, shared memory and locks between processes (the
/// `process-pool` feature).
#[cfg(feature = "process-pool")]
pub use spindle_runtime::ipc;

/// hyper 1.x on spindle: `Executor` and `Timer` (the `hyper` feature), and
/// `Connector` for hyper-util's pooled client (the `hyper-util` feature); the
/// stream sockets implement `hyper::rt::{Read, Write}` themselves.
#[cfg(feature = "hyper")]
pub use spindle_runtime::hyper;

pub use spindle_runtime::{
    block_on, spawn, spawn_blocking, spawn_local, yield_now, Backend, BackendFallback, Builder,
    EnterGuard, Handle, JoinError, JoinHandle, Runtime, RuntimeFlavor, RuntimeMetrics,
};

/// `#[spindle::main]` and `#[spindle::test]`: run an `async fn` on a
/// runtime of its own, with the runtime's options
/// (`#[spindle::test(start_paused = true)]` for the test clock).
pub use spindle_runtime::{main, test};

/// `spindle::join!`, `spindle::try_join!`, `spindle::select!` (tokio's grammar)
/// and `spindle::task_local!`.
pub use spindle_runtime::{join, select, task_local, try_join};

/// The README's Rust code blocks, compiled and run as doctests
/// (`cargo test --doc`), so the front page cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// docs/guide.md's Rust code blocks (whole programs: threads, processes,
/// pools, `ipc`, signals, `uring`...), compiled and run as doctests, so
/// the guide cannot drift from the API either.
#[cfg(doctest)]
#[doc = include_str!("../docs/guide.md")]
pub struct GuideDoctests;

/// The compile errors of `#[spindle::main]` and `#[spindle::test]`, as
/// `compile_fail` doctests.
#[cfg(doctest)]
#[doc = include_str!("../macros/compile_errors.md")]
pub struct MacroCompileErrors;
