//! Blocking IO, the loop server (阻塞IO, 循环服务器): accept a client, echo
//! it until it closes, then accept the next.
//!
//! ```python
//! while True:
//!     conn, addr = server.accept()      # blocks until a client connects
//!     while True:
//!         data = conn.recv(1024)        # blocks until the client sends
//!         if not data: break
//!         conn.send(data)
//!     conn.close()
//! ```
//!
//! # Where it blocks
//!
//! Both phases of every read happen inside one system call, and the only
//! thread of the server sleeps through both:
//!
//! ```text
//!  server (one thread)                   kernel
//!  ───────────────────                   ──────
//!  recv(conn) ──── system call ────────▶ no data yet          ┐
//!      │                                     │                │ phase 1:
//!      │  blocked                            │ waiting...     │ waiting for data
//!      │                                     ▼                │
//!      │                                 data arrives         ┘
//!      │  blocked                        copy kernel → buffer ┐ phase 2:
//!      │                                     │                │ copying
//!  recv returns n ◀──── n bytes ─────────────┘                ┘
//!  send(conn, data)  (may block too, until the client reads)
//! ```
//!
//! While it waits on one client's `recv`, it is not in `accept`: a second
//! client's connect succeeds (the kernel completes the handshake and queues
//! it, up to the listen backlog) but nobody reads from it until the first
//! client leaves. One client at a time: `Model::max_conns` is `Some(1)`.
//!
//! Simple and cheap (one thread, no bookkeeping); fine when each client
//! stays a moment. The notes' remedy is one thread or process per client
//! (`threaded.rs`, `forked.rs`).

use std::io;
use std::net::TcpListener;

use super::common::{accept_failed, echo_blocking, report};

/// Serves one client at a time, forever.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    listener.set_nonblocking(false)?;
    loop {
        // `accept` blocks too: its phase 1 is waiting for a client.
        let Ok((stream, _peer)) = listener.accept().map_err(|e| accept_failed(&e)) else {
            continue;
        };
        // The whole conversation, before anyone else is accepted.
        if let Err(e) = echo_blocking(stream) {
            report(&e);
        }
    }
}
