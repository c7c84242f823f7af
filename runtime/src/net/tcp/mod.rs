//! TCP: [`TcpListener`](super::TcpListener) accepts connections,
//! [`TcpStream`](super::TcpStream) is one connection, and this module holds
//! the halves a stream splits into.
//!
//! Both types are the shared non-blocking socket of `net` plus TCP's own
//! methods: binding and connecting through [`ToSocketAddrs`](super::ToSocketAddrs),
//! and the TCP socket options.

pub(super) mod listener;
pub(super) mod socket;
mod split;
pub(super) mod stream;

pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
