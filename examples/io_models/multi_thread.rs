//! Work stealing (多线程 + 异步): the `spindle-epoll` server on spindle's
//! multi-threaded runtime, one worker thread per CPU. The code is the same
//! accept loop and the same task per connection; only the runtime differs.
//!
//! ```rust,ignore
//! let runtime = Runtime::builder().multi_thread().build()?;   // a worker per CPU
//! runtime.block_on(async {
//!     spindle::spawn(accept_loop(listener)).await               // on a worker
//! })
//! ```
//!
//! # Where it blocks
//!
//! Like `spindle-epoll`, but on every CPU: each worker is an event loop
//! with its own epoll instance, and sleeps in its own `epoll_wait` when it
//! has nothing to run and nothing to steal. What the workers share is the
//! *tasks*: a worker with an empty queue takes half of a busy one's, so no
//! CPU sits idle while a connection's task waits to run.
//!
//! ```text
//!   worker 0: epoll_wait (its sockets) ─▶ run queue ◀─ steal ─┐
//!   worker 1: epoll_wait (its sockets) ─▶ run queue ──────────┘ (when idle)
//! ```
//!
//! A socket joins the epoll instance of the worker that created it (here,
//! the worker running the accept loop) and its readiness wakes its task
//! there; the task runs where it is woken, unless an idle worker steals it
//! first. Against `spindle-sharded`: there the kernel spreads the
//! connections over the loops once, at `accept`, and a connection never
//! changes CPU; here one listener accepts everything and the workers
//! balance the work as it comes, task by task.
//!
//! The accept loop runs as a task (spawned from `block_on`), not on the
//! `block_on` thread itself: that thread is no worker, and a listener there
//! would put every connection's readiness on it.

use std::io;

use spindle::net::TcpListener;
use spindle::{Backend, Runtime};

use super::spindle_async::accept_loop_on;

/// Serves the echo protocol on a multi-threaded spindle runtime (epoll, one
/// worker per CPU the process may run on), forever.
pub fn serve(listener: std::net::TcpListener) -> io::Result<()> {
    let runtime = Runtime::builder()
        .multi_thread()
        .poller(Backend::Epoll)
        .build()?;
    // stderr: stdout's first line is the `listening on` line.
    eprintln!(
        "running spindle's multi-threaded runtime, {} workers",
        runtime.handle().metrics().num_workers()
    );
    runtime.block_on(async move {
        // The listener becomes spindle's on the worker that runs the loop,
        // so it registers with that worker's reactor.
        spindle::spawn(async move { accept_loop_on(TcpListener::from_std(listener)?).await })
            .await
            .map_err(io::Error::other)?
    })
}
