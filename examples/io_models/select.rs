//! IO multiplexing with `select(2)` (IO多路复用: select): one thread, one
//! system call that waits on every socket at once.
//!
//! The notes' version:
//!
//! ```python
//! reads_l = [server]
//! while True:
//!     r_l, _, _ = select.select(reads_l, [], [])   # block until some are ready
//!     for obj in r_l:
//!         if obj == server:
//!             conn, addr = obj.accept(); reads_l.append(conn)
//!         else:
//!             data = obj.recv(1024); obj.send(data)
//! ```
//!
//! # Where it blocks
//!
//! Phase 1 moves into `select`: the process sleeps there, but for *all*
//! its sockets at once, and wakes when any is ready. Phase 2 is the `recv`
//! that follows, which no longer waits (the data is there) but still
//! copies. Two system calls per read instead of one; the gain is that one
//! thread serves everybody.
//!
//! ```text
//!  server (one thread)                          kernel
//!  ───────────────────                          ──────
//!  select({listener, A, B, ...}) ─────────────▶ copy in the bit sets     ┐
//!      │  blocked: waiting for ANY socket       watch every fd < maxfd+1 │ phase 1
//!      │                                        B has data               ┘
//!  select returns ◀── bit sets, B's bit set ─── copy out the bit sets
//!  scan bits 0..=maxfd: B is ready
//!  recv(B) ───────────────────────────────────▶ copy kernel → buffer     ┐ phase 2
//!  recv returns n ◀──────── n bytes ─────────── done                     ┘
//! ```
//!
//! # Costs and limits
//!
//! * Every call copies the sets in and out, and both kernel and program
//!   test every bit up to the highest descriptor: O(highest fd) per wait,
//!   even when one socket is ready.
//! * An `fd_set` is a fixed 1024-bit array (`FD_SETSIZE`): a descriptor
//!   numbered 1024 or more cannot be watched at all. This server closes
//!   such connections at once and keeps serving the rest (about 1020
//!   clients at most; see `Model::max_conns`).
//!
//! `poll.rs` lifts the limit; `epoll.rs` removes the per-wait scan.
//! The loop itself is shared: `reactor_loop.rs`.

/// Serves the echo protocol with a `select(2)` loop, forever.
pub fn serve(listener: std::net::TcpListener) -> std::io::Result<()> {
    super::reactor_loop::reactor_loop(spindle::reactor::Backend::Select, listener)
}
