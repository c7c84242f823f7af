//! async/await on spindle (异步): a task per connection, written like the
//! blocking echo, run by one thread on a readiness backend of your choice.
//!
//! ```rust,ignore
//! loop {
//!     let (stream, _) = listener.accept().await?;   // suspends this task only
//!     spindle::spawn(echo(stream));                 // a task, not a thread
//! }
//! ```
//!
//! # Where it blocks
//!
//! A task never blocks: where the blocking server would sleep in `recv`, the
//! task *suspends* at `readable().await`, handing the thread back to the
//! runtime. When every task is suspended the runtime's thread does what the
//! select/poll/epoll loops do: it sleeps in the backend's wait, for all
//! sockets at once. Readiness wakes the task that waits on it, which then
//! copies the data itself with `try_read`.
//!
//! ```text
//!  task A           task B           runtime thread                kernel
//!  ──────           ──────           ──────────────                ──────
//!  readable().await readable().await                                         ┐
//!  (suspended)      (suspended)      nothing to run: wait in       phase 1:  │
//!                                    epoll_wait / poll / select ─▶ waiting   │
//!                                    ◀──── B is readable ───────── B's data  ┘
//!                   woken: try_read ─────────────────────────────▶ copy      ┐ phase 2
//!                   try_write (echo)                               done      ┘
//!                   readable().await (suspended again)
//! ```
//!
//! So it is IO multiplexing underneath (phase 2 is still ours: this is not
//! the notes' asynchronous IO, where the kernel copies for us and signals
//! completion; spindle's io_uring backend, too, only uses it for readiness),
//! written as straight-line code per connection instead of callbacks.
//!
//! # No buffer while idle
//!
//! As in the `echo_server` example: a task's future keeps every variable
//! that lives across an `.await`. The task awaits only readiness, then calls
//! a plain function ([`echo_ready`]) that reads into a buffer on the stack,
//! writes it back with `try_write`, and returns. Only bytes the socket did
//! not take cross an `.await`, in a `Vec` of exactly their size.
//!
//! # Limits
//!
//! On the select backend a connection whose descriptor is 1024 or more
//! cannot join the reactor: `accept` returns the registration error (the
//! socket is already closed by then) and the server counts it and goes on.
//! If the kernel refuses io_uring, the runtime falls back to epoll (one line
//! on stderr).

use std::io::{self, ErrorKind};

use spindle::io::AsyncWriteExt;
use spindle::net::{TcpListener, TcpStream};
use spindle::{Backend, Runtime};

use super::common::{report, Refusals, CHUNK};

/// Serves the echo protocol on a spindle runtime using `backend`, forever.
pub fn serve(backend: Backend, listener: std::net::TcpListener) -> io::Result<()> {
    let runtime = Runtime::builder().poller(backend).build()?;
    // On stderr: stdout's first line is the `listening on` line scripts read.
    // (The backend differs from the one asked for only if the kernel refused
    // io_uring and the runtime fell back to epoll.)
    eprintln!("running on spindle's {} backend", runtime.backend());
    runtime.block_on(accept_loop(listener))
}

/// Accepts forever, spawning a task per connection.
async fn accept_loop(listener: std::net::TcpListener) -> io::Result<()> {
    accept_loop_on(TcpListener::from_std(listener)?).await
}

/// The accept loop on a spindle listener: also each shard's of
/// `sharded.rs`.
pub async fn accept_loop_on(listener: TcpListener) -> io::Result<()> {
    let mut refused = Refusals::default();
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                spindle::spawn(async move {
                    if let Err(e) = echo(stream).await {
                        report(&e);
                    }
                });
            }
            // The accepted socket could not be registered (select's
            // FD_SETSIZE): `accept` has closed it already.
            Err(e) if e.kind() == ErrorKind::InvalidInput => refused.record(&e),
            // Out of descriptors, say: `accept` pauses before its next try.
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
}

/// What one call of [`echo_ready`] left to do.
enum Leftover {
    /// The client closed its side.
    Closed,
    /// Everything read was written back.
    Nothing,
    /// These bytes did not fit in the socket yet.
    Unsent(Vec<u8>),
}

/// Echoes one connection until the client closes it.
async fn echo(mut stream: TcpStream) -> io::Result<()> {
    loop {
        // Phase 1: suspended, holding no buffer.
        stream.readable().await?;
        match echo_ready(&stream) {
            Ok(Leftover::Closed) => return Ok(()),
            Ok(Leftover::Nothing) => {}
            // The only bytes kept across an await: waits for room.
            Ok(Leftover::Unsent(bytes)) => stream.write_all(&bytes).await?,
            // The readiness was stale; wait for the next.
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// Phase 2, without waiting: copies what has arrived and writes it back as
/// far as the socket takes it. Not async, so `buf` lives only on the stack
/// of this call.
fn echo_ready(stream: &TcpStream) -> io::Result<Leftover> {
    let mut buf = [0u8; CHUNK];
    let n = stream.try_read(&mut buf)?;
    if n == 0 {
        return Ok(Leftover::Closed);
    }
    let mut sent = 0;
    while sent < n {
        match stream.try_write(&buf[sent..n]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(k) => sent += k,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                return Ok(Leftover::Unsent(buf[sent..n].to_vec()));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Leftover::Nothing)
}
