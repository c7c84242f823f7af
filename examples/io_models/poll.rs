//! IO multiplexing with `poll(2)` (IO多路复用: poll): `select` without the
//! 1024 limit.
//!
//! `poll` takes an array of `struct pollfd { fd, events, revents }` instead
//! of bit sets: any descriptor number fits, the array is as long as the
//! number of watched sockets (not the highest number), and the kernel
//! writes results into `revents` without destroying the request, so the
//! array need not be rebuilt (the notes: 去掉了1024个连接的限制, 不再修改传入的参数).
//!
//! # Where it blocks
//!
//! As with select: phase 1 in `poll`, for all sockets at once; phase 2 in
//! the `recv` that follows.
//!
//! ```text
//!  server (one thread)                          kernel
//!  ───────────────────                          ──────
//!  poll([{L,IN},{A,IN},{B,IN},...]) ──────────▶ copy in N pollfds         ┐
//!      │  blocked: waiting for ANY of N         check each of the N       │ phase 1
//!      │                                        A has data: A.revents=IN  ┘
//!  poll returns 1 ◀── copy out N pollfds ────── ...
//!  walk all N entries, find A.revents != 0
//!  recv(A) ───────────────────────────────────▶ copy kernel → buffer      ┐ phase 2
//!  recv returns n ◀──────── n bytes ─────────── done                      ┘
//! ```
//!
//! # Costs
//!
//! Still O(watched sockets) per wait, in both directions: the whole array
//! crosses into the kernel and back, and both sides walk all of it to find
//! the few that are ready (不能准确的知道哪个有数据). With 10,000 mostly idle
//! connections, each wake-up for one message pays for 10,000 entries.
//! `epoll.rs` keeps the list in the kernel instead.
//!
//! The loop is shared with select and epoll: `reactor_loop.rs`.

/// Serves the echo protocol with a `poll(2)` loop, forever.
pub fn serve(listener: std::net::TcpListener) -> std::io::Result<()> {
    super::reactor_loop::reactor_loop(spindle::reactor::Backend::Poll, listener)
}
