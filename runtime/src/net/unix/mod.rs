//! Unix-domain sockets: [`UnixListener`](super::UnixListener) and
//! [`UnixStream`](super::UnixStream) for byte streams,
//! [`UnixDatagram`](super::UnixDatagram) for datagrams, between processes
//! on the same machine. This module holds the halves a stream splits into
//! and [`UCred`], the credentials of a peer process.
//!
//! Addresses are filesystem paths (a path starting with a NUL byte names
//! one in Linux's abstract namespace) and come back as
//! [`std::os::unix::net::SocketAddr`], which may also be unnamed (an unbound
//! socket, or one end of a `pair`). Binding a path creates the socket file;
//! nothing removes it when the socket closes, so remove it yourself.

pub(super) mod datagram;
pub(super) mod listener;
mod split;
pub(super) mod stream;

pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
pub use stream::UCred;
