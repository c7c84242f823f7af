//! Asynchronous IO (异步IO) on spindle: the notes' fifth model, where the
//! kernel does *both* phases of a read and the program hears only of the
//! finished copy. A task per connection on `spindle::uring`, which queues
//! each read as an io_uring operation with an owned buffer.
//!
//! ```rust,ignore
//! let (res, buf) = stream.read(buf).await;      // both phases done by the kernel
//! let (res, buf) = stream.write_all(buf).await; // the same buffer goes back out
//! ```
//!
//! # Where it blocks
//!
//! ```text
//!  task                  runtime thread                      kernel
//!  ────                  ──────────────                      ──────
//!  read(buf).await ────▶ queue RECV{buf}                                    ┐
//!  (suspended)           io_uring_enter: submit the batch ─▶ phase 1:       │
//!                        sleep in epoll_wait (ring eventfd)   waiting       │
//!                                                             phase 2:      │ both
//!                                                             copy into buf │ the kernel's
//!                        ◀── eventfd ───────────────────────  completion    ┘
//!                        io_uring_enter: reap CQE -> wake
//!  (res, buf) = ...      
//!  write_all(buf).await  queue SEND{buf} (the next enter submits it)
//! ```
//!
//! Compare `spindle_async.rs`: there the task wakes on *readiness* and
//! copies the data itself with `recv`; here no `recv` or `send` system
//! call is made by the program at all, one `io_uring_enter` per loop turn
//! submits every queued transfer and collects every finished one.
//!
//! # Memory
//!
//! The price of completions: a read waiting in the kernel owns its buffer,
//! so every idle connection holds one (here 4 KiB), where the readiness
//! model holds none while idle.

use std::io;

use spindle::uring::{TcpListener, TcpStream};
use spindle::Runtime;

use super::common::{report, CHUNK};

/// Serves the echo protocol with `spindle::uring`, forever.
pub fn serve(listener: std::net::TcpListener) -> io::Result<()> {
    let runtime = Runtime::builder().current_thread().build()?;
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener)?;
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => {
                    spindle::spawn(async move {
                        if let Err(e) = echo(stream).await {
                            report(&e);
                        }
                    });
                }
                Err(e) => eprintln!("accept failed: {e}"),
            }
        }
    })
}

/// Echoes one connection until the client closes it: read into the
/// buffer, write the same buffer back, reuse it.
async fn echo(stream: TcpStream) -> io::Result<()> {
    let mut buf = Vec::with_capacity(CHUNK);
    loop {
        let (res, b) = stream.read(buf).await;
        if res? == 0 {
            return Ok(());
        }
        let (res, b) = stream.write_all(b).await;
        res?;
        buf = b;
    }
}
