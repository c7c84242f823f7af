//! Networking: TCP, UDP and unix-domain sockets that wait through the
//! runtime's reactor instead of blocking the thread.
//!
//! The types mirror `std::net` and `std::os::unix::net` (and tokio's):
//! [`TcpListener`], [`TcpStream`], [`UdpSocket`], [`UnixListener`],
//! [`UnixStream`] and [`UnixDatagram`]. Streams implement
//! [`AsyncRead`](crate::io::AsyncRead) and [`AsyncWrite`](crate::io::AsyncWrite)
//! and split into halves ([`tcp`], [`unix`]). Every socket also has the
//! readiness API: `readable().await` / `writable().await` followed by
//! `try_read` / `try_write` (or `try_recv` / `try_send`), which fail with
//! `WouldBlock` when readiness was a false alarm. [`TcpSocket`] sets
//! options and binds before connecting or listening.
//!
//! Addresses are anything implementing [`ToSocketAddrs`]; host names are
//! looked up on the blocking pool ([`lookup_host`], `addr.rs`), never on
//! the runtime's thread, and numeric addresses without any lookup.
//!
//! # How it is built
//!
//! Three layers, bottom up:
//!
//! 1. `crate::sys::socket` (the runtime's system-call layer, shared with
//!    `process`, `signal` and the pool): one safe function per system call;
//!    every descriptor is born close-on-exec and non-blocking, and every
//!    send passes `MSG_NOSIGNAL` (a write to a reset connection is an
//!    `EPIPE` error, never a `SIGPIPE`). `net` itself has no `libc` call.
//! 2. `socket.rs`: `Socket`, a descriptor plus its reactor
//!    `Registration`, registered edge-triggered for both
//!    directions (listeners: readable only). Every operation is "try the
//!    system call; on `WouldBlock` clear the readiness and wait for the next
//!    edge". The registration is dropped before the descriptor closes.
//! 3. The public types, one file each, holding a `Socket`. What every
//!    family shares (readiness methods, the IO traits, split halves, the
//!    accept loop with its `EMFILE` back-off in `accept.rs`) is written once
//!    in `forward.rs`, `split.rs` and `accept.rs`.
//!
//! Sockets must be created inside a runtime (in `block_on` or a task): they
//! register with the reactor of the runtime running on the current thread.

mod accept;
mod addr;
mod forward;
mod socket;
mod split;
pub mod tcp;
mod udp;
pub mod unix;

pub use addr::{lookup_host, ToSocketAddrs};

pub use tcp::listener::TcpListener;
pub use tcp::socket::TcpSocket;
pub use tcp::stream::TcpStream;
pub use udp::UdpSocket;
pub use unix::datagram::UnixDatagram;
pub use unix::listener::UnixListener;
pub use unix::stream::UnixStream;
