//! IO multiplexing with `epoll(7)` (IO多路复用: epoll): the kernel keeps
//! the list of watched sockets, and hands back only the ready ones.
//!
//! `epoll_ctl` registers a socket once (the interest list lives in the
//! kernel); when data arrives, the socket's wait queue callback puts it on
//! the epoll instance's ready list; `epoll_wait` returns just that list
//! (the notes: epoll可以准确的告诉你哪个socket里有数据). Nothing is copied or
//! scanned per watched socket, only per ready one.
//!
//! # Where it blocks
//!
//! ```text
//!  server (one thread)                          kernel
//!  ───────────────────                          ──────
//!  epoll_ctl(ADD, A) ... once per socket ─────▶ interest list: L, A, B, ...
//!
//!  epoll_wait(ep) ────────────────────────────▶ ready list empty          ┐
//!      │  blocked: waiting for ANY socket       B's data arrives:         │ phase 1
//!      │                                        B joins the ready list    ┘
//!  epoll_wait returns [B] ◀── only B ────────── take the ready list
//!  recv(B) ... until EWOULDBLOCK ─────────────▶ copy kernel → buffer      ┐ phase 2
//!  recv returns n ◀──────── n bytes ─────────── done                      ┘
//! ```
//!
//! # Edge-triggered
//!
//! spindle's epoll backend is edge-triggered (`EPOLLET`): B is reported
//! when it *becomes* readable, not again while unread data remains. So the
//! callback reads until `WouldBlock` (or remembers it stopped early, when
//! too many echo bytes are queued); stopping early and forgetting would
//! leave the connection hanging. In exchange no `modify` call is needed
//! after each event, unlike select and poll: see `reactor_loop.rs`.
//!
//! Cost per wait: O(ready sockets). Ten thousand idle connections cost
//! memory, not time. No descriptor limit beyond `RLIMIT_NOFILE`.

/// Serves the echo protocol with a `epoll(7)` loop, forever.
pub fn serve(listener: std::net::TcpListener) -> std::io::Result<()> {
    super::reactor_loop::reactor_loop(spindle::reactor::Backend::Epoll, listener)
}
