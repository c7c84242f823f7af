//! Asynchronous IO (异步IO) on spindle: the notes' fifth model, where the
//! kernel does *both* phases of a read and the program hears only of the
//! finished copy. A task per connection on `spindle::uring`, which queues
//! each read as an io_uring operation with an owned buffer.
//!
//! ```rust,ignore
//! let mut recv = stream.recv_multi(&bufs);      // one standing receive
//! while let Some(buf) = recv.next().await {     // both phases done by the kernel,
//!     let (res, _) = stream.write_all(buf?).await; // into a buffer it picked
//! }
//! ```
//!
//! # Where it blocks
//!
//! ```text
//!  task                  runtime thread                      kernel
//!  ────                  ──────────────                      ──────
//!  read(buf).await ────▶ queue RECV{buf}                                    ┐
//!  (suspended)           io_uring_enter: submit the batch ─▶ phase 1:       │
//!                        and sleep in the ring                waiting       │
//!                                                             phase 2:      │ both
//!                                                             copy into buf │ the kernel's
//!                        ◀── the wait returns ──────────────  completion    ┘
//!                        reap the CQE -> wake the task
//!  (res, buf) = ...
//!  write_all(buf).await  queue SEND{buf} (the next enter submits it)
//! ```
//!
//! Compare `spindle_async.rs`: there the task wakes on *readiness* and
//! copies the data itself with `recv`; here no `recv` or `send` system
//! call is made by the program at all, one `io_uring_enter` per loop turn
//! submits every queued transfer and collects every finished one.
//!
//! # Buffers: a ring the kernel picks from
//!
//! A plain completion read (`stream.read(buf)`) owns its buffer while it
//! waits in the kernel, so every idle connection would hold one. Here each
//! connection has one *multishot* receive instead, and all of them share a
//! [`BufRing`]: the kernel takes a buffer from the ring only when data
//! arrives, the task writes that very buffer back, and dropping it returns
//! it to the ring. An idle connection holds no buffer, and a message costs
//! no new receive request. Where the kernel has no provided-buffer rings
//! (before Linux 5.19) the server falls back to `read(buf)` per message.

use std::io;

use spindle::uring::{BufRing, TcpListener, TcpStream};
use spindle::Runtime;

use super::common::{report, CHUNK};

/// Serves the echo protocol with `spindle::uring`, forever.
pub fn serve(listener: std::net::TcpListener) -> io::Result<()> {
    let runtime = Runtime::builder().current_thread().build()?;
    runtime.block_on(async move { accept_loop_on(TcpListener::from_std(listener)?).await })
}

/// Accepts connections on `listener` and echoes each in a task of its own
/// on the current runtime, forever (also each shard's loop in
/// `sharded.rs`'s `spindle-sharded-uring`).
pub async fn accept_loop_on(listener: TcpListener) -> io::Result<()> {
    // Buffers for 4096 messages in flight at once (the kernel only
    // touches a buffer's memory when it fills it).
    let bufs = BufRing::new(4096, RING_BUF)
        .map_err(|e| eprintln!("no provided-buffer ring ({e}): one read per message"))
        .ok();
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                let bufs = bufs.clone();
                spindle::spawn(async move {
                    let res = match bufs {
                        Some(bufs) => echo_multishot(stream, bufs).await,
                        None => echo(stream).await,
                    };
                    if let Err(e) = res {
                        report(&e);
                    }
                });
            }
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
}

/// Bytes per buffer of the ring (a longer message arrives in several).
const RING_BUF: usize = 2048;

/// Echoes one connection until the client closes it: one multishot
/// receive; each buffer the kernel filled is written back as it is, and
/// goes back to the ring when dropped.
async fn echo_multishot(stream: TcpStream, bufs: BufRing) -> io::Result<()> {
    let mut recv = stream.recv_multi(&bufs);
    while let Some(buf) = recv.next().await {
        let (res, _buf) = stream.write_all(buf?).await;
        res?;
    }
    Ok(())
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
