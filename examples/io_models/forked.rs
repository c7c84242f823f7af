//! A process per connection (多进程并发, `os.fork()`): the parent accepts;
//! for each client it forks a child, which runs the blocking echo and exits.
//!
//! ```python
//! while True:
//!     conn, addr = server.accept()
//!     pid = os.fork()
//!     if pid == 0:                  # child
//!         server.close()
//!         handle(conn)
//!         os._exit(0)
//!     conn.close()                  # parent: the child has its own copy
//!     while os.waitpid(-1, os.WNOHANG)[0] > 0:
//!         pass                      # reap finished children: no zombies
//! ```
//!
//! # Where it blocks
//!
//! Like the thread per connection, with processes: each child blocks in
//! both phases of its own client's reads, the parent blocks in `accept`.
//!
//! ```text
//!  parent             child A (client A)          child B (client B)      kernel
//!  ──────             ──────────────────          ──────────────────      ──────
//!  accept ─ blocked   recv(A) ─ blocked           recv(B) ─ blocked       phase 1: waiting
//!  (fork on each        │ ◀── copy ───────────────────────────────────── A's data: phase 2
//!   new client)       send(A) ...                   │ still blocked
//!  waitpid(WNOHANG)   _exit(0) when A closes        │ ◀── copy ────────── B's data: phase 2
//! ```
//!
//! # The three duties of the parent
//!
//! * **Close its copy of the connection.** After `fork` both processes hold
//!   the socket (like a `dup`); the client sees the connection close only
//!   when *both* have closed it.
//! * **Reap children.** A child that exits stays a zombie (an entry in the
//!   process table holding its exit status) until its parent collects it
//!   with `wait`. The parent calls `waitpid(-1, WNOHANG)` in a loop after
//!   every `accept`: it collects every child that has exited, without
//!   waiting for those still running. Children that exit between two
//!   accepts stay zombies until the next one (at most the clients that left
//!   meanwhile).
//! * **Stay single-threaded.** The child gets a copy of the whole memory but
//!   only the thread that called `fork`; a lock another thread held (the
//!   allocator's, stdout's) would stay locked in the child forever. This
//!   server never starts threads; it warns if it finds others.
//!
//! The child closes the listening socket (it will never accept) and ends
//! with `_exit`, which skips the parent's exit handlers and stdio buffers
//! it inherited: the child must not flush the parent's output twice.
//!
//! Isolation is total (a crashing child takes only its own client with
//! it); the price is a process per client, more than a thread.

use std::io;
use std::net::{TcpListener, TcpStream};

use super::common::{accept_failed, echo_blocking, report};

/// Accepts forever, forking a child per connection.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    listener.set_nonblocking(false)?;
    warn_if_threaded();
    loop {
        let accepted = listener.accept();
        reap_children();
        let Ok((stream, _peer)) = accepted.map_err(|e| accept_failed(&e)) else {
            continue;
        };
        // SAFETY: this process is single-threaded (see the module docs and
        // `warn_if_threaded`), so the child's copy of the memory is
        // consistent: no lock is held by a thread that does not exist there.
        match unsafe { libc::fork() } {
            -1 => {
                // Out of processes: `stream` drops here, closing the connection.
                eprintln!("fork failed: {}", io::Error::last_os_error());
            }
            0 => child(listener, stream),
            // Parent: close our copy; the child serves the client.
            _child_pid => drop(stream),
        }
    }
}

/// The child: serve one client, then leave without returning to the loop.
fn child(listener: TcpListener, stream: TcpStream) -> ! {
    drop(listener);
    let code = match echo_blocking(stream) {
        Ok(()) => 0,
        Err(e) => {
            report(&e);
            1
        }
    };
    // SAFETY: `_exit` ends this process at once; nothing of ours needs to
    // run after it, and the inherited stdio buffers must not be flushed.
    unsafe { libc::_exit(code) }
}

/// Collects every child that has exited, without waiting for the others.
fn reap_children() {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a live, writable int for the call's duration.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        // 0: children remain but none has exited; -1: no children (ECHILD).
        if pid <= 0 {
            return;
        }
    }
}

/// Warns if the process has more than one thread: forking it is unsafe.
fn warn_if_threaded() {
    let threads = std::fs::read_dir("/proc/self/task").map_or(1, |dir| dir.count());
    if threads > 1 {
        eprintln!(
            "warning: the fork model runs in a process with {threads} threads; \
             a child may deadlock on a lock another thread held at fork time"
        );
    }
}
