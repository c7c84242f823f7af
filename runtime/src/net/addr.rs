//! Address resolution for `bind`, `connect` and `send_to`, and
//! [`lookup_host`]: host names are looked up on the blocking pool, never on
//! the runtime's thread.
//!
//! Addresses are given as anything implementing this module's
//! [`ToSocketAddrs`] (tokio's trait of the same name; std's blocks): a
//! `SocketAddr`, an `(IpAddr, port)` pair, `"127.0.0.1:8080"`,
//! `"localhost:80"`, `("localhost", 80)`, a slice of addresses...
//!
//! # Numbers now, names on the pool
//!
//! The trait's one (hidden) method sorts its input in two, without a
//! system call: an address that is already numeric (a `SocketAddr`, or a
//! string that parses as one) is [`Resolution::Ready`]; anything else is
//! a host name, [`Resolution::Lookup`], which [`resolve`] hands to std's
//! resolver (`getaddrinfo`, which may wait for DNS for seconds) in a
//! [`spawn_blocking`](crate::spawn_blocking) job. So a literal address never
//! touches the pool, and while a name is being looked up the runtime's
//! thread keeps serving sockets and timers: a `timeout` around
//! `TcpStream::connect("name:port")` fires on time. Dropping the future
//! abandons the lookup (the pool thread finishes it and the answer is
//! discarded).
//!
//! A name can resolve to several addresses (IPv6 and IPv4, say);
//! [`each_addr`] tries them in order and keeps the first that works, as std
//! does.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Anything that names socket addresses: `SocketAddr`, `"127.0.0.1:80"`,
/// `"localhost:80"`, `("localhost", 80)`, `(IpAddr, u16)`, a slice of
/// addresses, or a reference to any of these.
///
/// Unlike std's trait of the same name, resolving a host name never blocks
/// the runtime: the lookup runs on the blocking pool (see
/// [`lookup_host`]). Numeric addresses are parsed on the spot. The trait
/// is sealed: its method is internal.
pub trait ToSocketAddrs: sealed::ToSocketAddrsPriv {}

pub(crate) mod sealed {
    use std::io;
    use std::net::SocketAddr;

    /// The hidden half of [`ToSocketAddrs`](super::ToSocketAddrs).
    pub trait ToSocketAddrsPriv {
        /// Sorts the address into ready numbers or a name to look up.
        fn to_resolution(&self) -> Resolution;
    }

    /// What [`ToSocketAddrsPriv::to_resolution`] found.
    #[derive(Debug)]
    pub enum Resolution {
        /// Numeric addresses (or an error found by parsing).
        Ready(io::Result<Vec<SocketAddr>>),
        /// A `"host:port"` string for the resolver.
        Lookup(String),
        /// A host name and a port for the resolver.
        LookupPair(String, u16),
    }
}

use sealed::{Resolution, ToSocketAddrsPriv};

/// Implements the trait for a type whose value is always numeric.
macro_rules! numeric {
    ($($ty:ty => |$v:ident| $addr:expr;)+) => {$(
        impl ToSocketAddrs for $ty {}
        impl ToSocketAddrsPriv for $ty {
            fn to_resolution(&self) -> Resolution {
                let $v = self;
                Resolution::Ready(Ok(vec![$addr]))
            }
        }
    )+};
}

numeric! {
    SocketAddr => |a| *a;
    SocketAddrV4 => |a| SocketAddr::V4(*a);
    SocketAddrV6 => |a| SocketAddr::V6(*a);
    (IpAddr, u16) => |a| SocketAddr::new(a.0, a.1);
    (Ipv4Addr, u16) => |a| SocketAddr::new(IpAddr::V4(a.0), a.1);
    (Ipv6Addr, u16) => |a| SocketAddr::new(IpAddr::V6(a.0), a.1);
}

impl ToSocketAddrs for [SocketAddr] {}
impl ToSocketAddrsPriv for [SocketAddr] {
    fn to_resolution(&self) -> Resolution {
        Resolution::Ready(Ok(self.to_vec()))
    }
}

impl ToSocketAddrs for str {}
impl ToSocketAddrsPriv for str {
    fn to_resolution(&self) -> Resolution {
        match self.parse::<SocketAddr>() {
            Ok(addr) => Resolution::Ready(Ok(vec![addr])),
            Err(_) => Resolution::Lookup(self.to_owned()),
        }
    }
}

impl ToSocketAddrs for String {}
impl ToSocketAddrsPriv for String {
    fn to_resolution(&self) -> Resolution {
        self.as_str().to_resolution()
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl ToSocketAddrsPriv for (&str, u16) {
    fn to_resolution(&self) -> Resolution {
        let (host, port) = *self;
        match host.parse::<IpAddr>() {
            Ok(ip) => Resolution::Ready(Ok(vec![SocketAddr::new(ip, port)])),
            Err(_) => Resolution::LookupPair(host.to_owned(), port),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl ToSocketAddrsPriv for (String, u16) {
    fn to_resolution(&self) -> Resolution {
        (self.0.as_str(), self.1).to_resolution()
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: ToSocketAddrsPriv + ?Sized> ToSocketAddrsPriv for &T {
    fn to_resolution(&self) -> Resolution {
        (**self).to_resolution()
    }
}

/// Resolves `addr`: at once if it is numeric, else on the blocking pool.
pub(crate) async fn resolve(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let lookup: Box<dyn FnOnce() -> io::Result<Vec<SocketAddr>> + Send> = match addr.to_resolution()
    {
        Resolution::Ready(addrs) => return addrs,
        Resolution::Lookup(host) => {
            Box::new(move || std::net::ToSocketAddrs::to_socket_addrs(&host).map(Vec::from_iter))
        }
        Resolution::LookupPair(host, port) => Box::new(move || {
            std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)).map(Vec::from_iter)
        }),
    };
    match crate::spawn_blocking(lookup).await {
        Ok(result) => result,
        Err(e) => Err(io::Error::other(e)),
    }
}

/// Looks up the addresses of `host` (`"name:port"`, `("name", port)`, or an
/// address already numeric, returned as is). The name is resolved by the
/// system resolver on the blocking pool, so the runtime keeps running while
/// DNS answers, and a [`timeout`](crate::time::timeout) around it works.
///
/// ```
/// # spindle_runtime::block_on(async {
/// for addr in spindle_runtime::net::lookup_host("localhost:8080").await? {
///     assert!(addr.ip().is_loopback());
/// }
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn lookup_host(host: impl ToSocketAddrs) -> io::Result<std::vec::IntoIter<SocketAddr>> {
    Ok(resolve(host).await?.into_iter())
}

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
    for addr in resolve(addr).await? {
        match op(addr).await {
            Ok(value) => return Ok(value),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(no_addresses))
}

/// The first address `addr` resolves to (a datagram goes to one place).
pub(crate) async fn first_addr(addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    resolve(addr)
        .await?
        .into_iter()
        .next()
        .ok_or_else(no_addresses)
}
