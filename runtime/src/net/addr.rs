//! Address resolution for `bind`, `connect` and `send_to`.
//!
//! Addresses are given as anything implementing std's [`ToSocketAddrs`]: a
//! `SocketAddr`, `"127.0.0.1:8080"`, `("localhost", 80)`, a slice of
//! addresses... Numeric forms are parsed without any system call. A host
//! *name* is resolved by std's blocking resolver (`getaddrinfo`), on the
//! calling thread, which stalls the runtime while DNS answers: give numeric
//! addresses on hot paths.
//!
//! A name can resolve to several addresses (IPv6 and IPv4, say);
//! [`each_addr`] tries them in order and keeps the first that works, as std
//! does.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

fn no_addresses() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "could not resolve to any address",
    )
}

/// Runs `op` on each address `addr` resolves to, until one succeeds.
/// Returns the last error if none does.
pub(crate) async fn each_addr<A, T, F, Fut>(addr: A, mut op: F) -> io::Result<T>
where
    A: ToSocketAddrs,
    F: FnMut(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let mut last_err = None;
    for addr in addr.to_socket_addrs()? {
        match op(addr).await {
            Ok(value) => return Ok(value),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(no_addresses))
}

/// The first address `addr` resolves to (a datagram goes to one place).
pub(crate) fn first_addr(addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?.next().ok_or_else(no_addresses)
}
