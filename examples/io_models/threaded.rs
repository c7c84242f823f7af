//! A thread per connection (多线程并发): the main thread accepts; each
//! client gets its own thread, which runs the blocking echo of the loop
//! server.
//!
//! ```python
//! while True:
//!     conn, addr = server.accept()
//!     Thread(target=handle, args=(conn,), daemon=True).start()
//! ```
//!
//! # Where it blocks
//!
//! Exactly where the loop server blocks, but each thread blocks only for its
//! own client. The kernel's scheduler does the multiplexing: whichever
//! thread's data arrives is woken.
//!
//! ```text
//!  main thread        thread A (client A)        thread B (client B)     kernel
//!  ───────────        ───────────────────        ───────────────────     ──────
//!  accept ─ blocked   recv(A) ─ blocked          recv(B) ─ blocked       phase 1: waiting,
//!    │                  │                          │                     for A and B separately
//!    │                  │ ◀── copy ────────────────┼──────────────────── A's data: phase 2
//!    │                send(A)                      │  still blocked
//!    │                recv(A) ─ blocked            │ ◀── copy ────────── B's data: phase 2
//!    ▼                                           send(B)
//! ```
//!
//! Any number of clients at once, and the code of each is the simplest
//! there is. The cost is a thread per connection: its stack (reserved
//! address space; here 128 KiB instead of the default 2 MiB), a kernel
//! task, a context switch for every wake-up. Thousands work; hundreds of
//! thousands do not. Thread creation failing (`EAGAIN` at the thread limit)
//! closes that connection and the server goes on.

use std::io;
use std::net::TcpListener;
use std::thread;

use super::common::{accept_failed, echo_blocking, report};

/// Stack of each connection's thread: the 16 KiB read buffer and a few
/// frames need far less than std's default 2 MiB.
const STACK_SIZE: usize = 128 * 1024;

/// Accepts forever; each connection runs on a new thread.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    listener.set_nonblocking(false)?;
    loop {
        let Ok((stream, _peer)) = listener.accept().map_err(|e| accept_failed(&e)) else {
            continue;
        };
        let spawned = thread::Builder::new()
            .name("echo".to_string())
            .stack_size(STACK_SIZE)
            .spawn(move || {
                if let Err(e) = echo_blocking(stream) {
                    report(&e);
                }
            });
        // The handle is dropped: the thread is detached and ends with its
        // client. On failure the closure, and the stream in it, are dropped,
        // which closes the connection.
        if let Err(e) = spawned {
            eprintln!("could not start a thread for a connection: {e}");
        }
    }
}
