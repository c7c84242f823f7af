//! Thread-per-core (分片, the notes' multiprocessing done with threads): one
//! spindle runtime per CPU, each pinned to its CPU with its own listener on
//! the same port, each serving exactly as `spindle_async.rs` does.
//!
//! ```rust,ignore
//! spindle::shard::Builder::new().run(|shard| async move {
//!     let listener = TcpListener::bind_reuseport(addr).await?;  // one per CPU
//!     accept_loop(listener).await                               // as spindle-epoll
//! })
//! ```
//!
//! # Where it blocks
//!
//! Like `spindle-epoll`, on every CPU at once. Each shard's thread sleeps
//! in its own `epoll_wait`, for its own connections only. Which shard gets
//! a connection is decided by the kernel before any of them wakes:
//! `SO_REUSEPORT` puts the listeners into one group and hashes each new
//! connection's addresses and ports to one listener's accept queue. There
//! is no shared accept queue (no thundering herd of shards woken for one
//! connection) and nothing shared after the accept: a connection's task
//! lives and dies on one CPU.
//!
//! ```text
//!                   kernel: hash(client addr, port) -> one of the queues
//!             ┌───────────────────────┴───────────────────────┐
//!   CPU 0: listener 0, epoll_wait,               CPU 1: listener 1, epoll_wait,
//!          tasks of its connections                     tasks of its connections
//! ```
//!
//! Against `spindle-epoll`, that is N times the CPUs for the same code;
//! against `threads`, the threads are per CPU, not per connection.
//!
//! # The first listener
//!
//! `io_models::serve` hands every model one listener, already bound and
//! listening (its address is what the showdown printed), and every member
//! of a `SO_REUSEPORT` group must have the option. So the model sets
//! `SO_REUSEPORT` on the listener it was handed (Linux accepts the option
//! on a listening socket; the group forms when the next listener on the
//! port listens), gives it to shard 0, and binds the other shards'
//! listeners to the same address with `TcpListener::bind_reuseport`. Their
//! backlog is raised to the showdown's 65535 (`listen` again only changes
//! the backlog), so a storm of connects fits in each queue.
//!
//! The shards are as many as the CPUs the server may run on: with the
//! showdown's `--pin` (server on CPU 0) that is one.
//!
//! # With completions: `spindle-sharded-uring`
//!
//! [`serve_uring`] shards the same way, and each shard runs
//! `spindle-uring-completion`'s loop (`spindle_uring.rs`) on its own
//! listener: a `uring::TcpListener` taken from the shard's socket, one
//! standing multishot receive per connection into the shard's own ring of
//! buffers. That is thread-per-core as monoio and glommio build it: a ring
//! per core, nothing shared between cores.

use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Mutex;

use spindle::net::TcpListener;
use spindle::{shard, uring, Backend, Runtime};

use super::spindle_async::accept_loop_on;
use super::spindle_uring;

/// The accept queue of every shard's listener (the kernel caps it at
/// `net.core.somaxconn`); also the process workers' (`processes.rs`).
pub(super) const BACKLOG: libc::c_int = 65535;

/// Serves the echo protocol with one spindle runtime (epoll) per CPU,
/// forever; returns the first shard's failure.
pub fn serve(listener: std::net::TcpListener) -> io::Result<()> {
    let runtime = Runtime::builder().poller(Backend::Epoll);
    run_shards(
        listener,
        shard::Builder::new().runtime(runtime),
        "",
        |listener| async move { accept_loop_on(TcpListener::from_std(listener)?).await },
    )
}

/// Serves the echo protocol with one spindle runtime per CPU, each running
/// `spindle-uring-completion`'s loop on its own listener, forever; returns
/// the first shard's failure.
pub fn serve_uring(listener: std::net::TcpListener) -> io::Result<()> {
    run_shards(
        listener,
        shard::Builder::new(),
        "io_uring ",
        |listener| async move {
            spindle_uring::accept_loop_on(uring::TcpListener::from_std(listener)?).await
        },
    )
}

/// Starts `shards`, and on each calls `serve_shard` with that shard's
/// listener: shard 0 the one it was handed (given `SO_REUSEPORT` first),
/// the others a new one on the same address ([`bind_shard_listener`]).
/// Shards only return on failure: returns the first. `kind` names the
/// shards in the line shard 0 prints.
fn run_shards<Fut>(
    listener: std::net::TcpListener,
    shards: shard::Builder,
    kind: &str,
    serve_shard: impl Fn(std::net::TcpListener) -> Fut + Sync,
) -> io::Result<()>
where
    Fut: Future<Output = io::Result<()>>,
{
    set_reuseport(&listener)?;
    let addr = listener.local_addr()?;
    let first = Mutex::new(Some(listener));
    let outputs = shards.run(|ctx| {
        let handed = match ctx.index() {
            0 => first.lock().unwrap().take(),
            _ => None,
        };
        let serve_shard = &serve_shard;
        async move {
            let listener = match handed {
                Some(listener) => listener,
                None => bind_shard_listener(addr).await?,
            };
            if ctx.index() == 0 {
                // stderr: stdout's first line is the `listening on` line.
                eprintln!("running {} {kind}shards, one per CPU", ctx.count());
            }
            serve_shard(listener).await
        }
    })?;
    outputs
        .into_iter()
        .collect::<io::Result<Vec<()>>>()
        .map(drop)
}

/// A shard's own listener: bound to `addr` with `SO_REUSEPORT`, its
/// backlog raised to [`BACKLOG`].
async fn bind_shard_listener(addr: std::net::SocketAddr) -> io::Result<std::net::TcpListener> {
    let listener = TcpListener::bind_reuseport(addr).await?;
    // SAFETY: `listen` on a socket descriptor we own.
    if unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) } != 0 {
        return Err(io::Error::last_os_error());
    }
    listener.into_std()
}

/// Sets `SO_REUSEPORT` on an already listening socket (also used by
/// `processes.rs`).
pub(super) fn set_reuseport(listener: &std::net::TcpListener) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a live c_int of the length passed; the descriptor is
    // the listener's, open for this call.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEPORT,
            (&raw const on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
