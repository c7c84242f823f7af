//! Non-blocking IO, busy polling (非阻塞IO, `setblocking(False)`): one
//! thread, every socket non-blocking, and a loop that asks each of them in
//! turn whether there is something to do.
//!
//! The notes' version:
//!
//! ```python
//! server.setblocking(False)
//! conn_list = []
//! while True:
//!     try:
//!         conn, addr = server.accept()
//!         conn_list.append(conn)
//!     except BlockingIOError:           # no client waiting: ask the others
//!         for conn in conn_list:
//!             try:
//!                 data = conn.recv(1024)
//!                 conn.send(data)
//!             except BlockingIOError:   # no data on this one: next
//!                 continue
//! ```
//!
//! # Where it blocks
//!
//! Nowhere in phase 1: a `recv` with no data fails at once with
//! `WouldBlock` (`BlockingIOError`), and the loop moves on. Phase 2 still
//! happens inside `recv`: when data is there, the call copies it before
//! returning. So the process never sleeps; instead it *asks*, over and over:
//!
//! ```text
//!  server (one thread)                     kernel
//!  ───────────────────                     ──────
//!  recv(A) ─────────────────────────────▶  no data ──▶ EWOULDBLOCK   ┐
//!  recv(B) ─────────────────────────────▶  no data ──▶ EWOULDBLOCK   │ phase 1: nobody
//!  accept() ────────────────────────────▶  no client ▶ EWOULDBLOCK   │ waits, the loop
//!  recv(A) ─────────────────────────────▶  no data ──▶ EWOULDBLOCK   │ asks again and
//!  ...                                     (data for B arrives)      ┘ again
//!  recv(B) ─────────────────────────────▶  copy kernel → buffer      ┐ phase 2: copying
//!  recv returns n ◀─────────── n bytes ──  done                      ┘ (blocks, briefly)
//! ```
//!
//! Many clients on one thread, no threads or processes to pay for, but
//! every pass costs a system call per connection whether or not anything
//! happened: with N idle connections the server still makes N calls per
//! pass, forever, at 100% CPU. That is the notes' first objection (循环调用
//! recv() 会大幅度推高CPU占用率); the second is latency: data that arrives
//! just after its socket was asked waits for the whole pass.
//!
//! # One difference from the notes
//!
//! The notes' loop spins flat out (they suggest a `time.sleep` to spare
//! weak machines). Here, when a whole pass found nothing at all, the thread
//! calls `std::thread::yield_now()`, letting other runnable threads (the
//! clients, in a benchmark on the same machine) go first. It still uses a
//! whole core when it has nothing else to yield to: `yield_now` returns at
//! once then. A real fix needs the kernel to say *which* socket is ready:
//! `select`, `poll`, `epoll`.
//!
//! Unlike the notes, the echo keeps what a `send` did not take (a partial
//! write) and sends it on later passes; see [`Echo`].

use std::io::{self, ErrorKind};
use std::net::{TcpListener, TcpStream};

use super::common::{accept_failed, report, Echo};

/// Busy-polls the listener and every connection, forever.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    // `server.setblocking(False)`
    listener.set_nonblocking(true)?;
    let mut conns: Vec<(TcpStream, Echo)> = Vec::new();
    loop {
        let mut busy = accept_all(&listener, &mut conns);
        conns.retain_mut(|(stream, echo)| {
            // No readiness information: just try both directions.
            echo.can_read = true;
            echo.can_write = true;
            match echo.pump(stream) {
                Ok(n) if echo.finished() => {
                    busy |= n > 0;
                    false
                }
                Ok(n) => {
                    busy |= n > 0;
                    true
                }
                Err(e) => {
                    report(&e);
                    false
                }
            }
        });
        if !busy {
            std::thread::yield_now();
        }
    }
}

/// Accepts until `WouldBlock`, adding each connection in non-blocking mode;
/// returns whether any came.
fn accept_all(listener: &TcpListener, conns: &mut Vec<(TcpStream, Echo)>) -> bool {
    let mut any = false;
    loop {
        match listener.accept() {
            Ok((stream, _peer)) => {
                any = true;
                // `conn.setblocking(False)`: accepted sockets start blocking.
                match stream.set_nonblocking(true) {
                    Ok(()) => conns.push((stream, Echo::new())),
                    Err(e) => report(&e),
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return any,
            Err(e) => {
                accept_failed(&e);
                return any;
            }
        }
    }
}
