//! [`SockAddr`]: a socket address as the kernel takes it, converted from
//! and to `std::net::SocketAddr` and unix socket paths.

use std::ffi::OsStr;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::SocketAddr as UnixAddr;
use std::path::Path;

/// A socket address as the kernel takes it: storage big enough for every
/// family, and how many of its bytes are used.
pub(crate) struct SockAddr {
    storage: libc::sockaddr_storage,
    /// How many bytes of `storage` are used (the kernel updates it).
    pub(super) len: libc::socklen_t,
}

impl SockAddr {
    /// Zeroed storage with its full size as the length, for the kernel to fill.
    pub(crate) fn empty() -> SockAddr {
        SockAddr {
            // SAFETY: sockaddr_storage is plain integers; all-zero is valid.
            storage: unsafe { mem::zeroed() },
            len: mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    pub(crate) fn as_ptr(&self) -> *const libc::sockaddr {
        (&raw const self.storage).cast()
    }

    /// The address of the length word, for calls that update it.
    pub(crate) fn len_mut_ptr(&mut self) -> *mut libc::socklen_t {
        &raw mut self.len
    }

    /// Sets how many bytes are used, after a call that wrote an address
    /// and its length elsewhere (a `msghdr`); capped at the storage size.
    pub(crate) fn set_len(&mut self, len: libc::socklen_t) {
        self.len = len.min(mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t);
    }

    /// How many bytes of the storage the address uses.
    pub(crate) fn len(&self) -> libc::socklen_t {
        self.len
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&raw mut self.storage).cast()
    }

    /// Stores `value`, one of the `sockaddr_*` types, at the start.
    fn put<T: Copy>(&mut self, value: T) {
        assert!(mem::size_of::<T>() <= mem::size_of::<libc::sockaddr_storage>());
        // SAFETY: sockaddr_storage is at least as large (checked) and as
        // aligned as every sockaddr type, and `value` is fully initialised.
        unsafe { self.as_mut_ptr().cast::<T>().write(value) };
        self.len = mem::size_of::<T>() as libc::socklen_t;
    }

    /// Reads the start as `T`, one of the `sockaddr_*` types, after the
    /// caller checked the family says it is one.
    fn get<T: Copy>(&self) -> T {
        assert!(mem::size_of::<T>() <= mem::size_of::<libc::sockaddr_storage>());
        // SAFETY: in bounds and aligned as in `put`; the storage is fully
        // initialised (zeroed, then written) and `T` is plain integers.
        unsafe { self.as_ptr().cast::<T>().read() }
    }

    fn family(&self) -> libc::c_int {
        self.storage.ss_family as libc::c_int
    }

    /// An IPv4 or IPv6 address.
    pub(crate) fn from_inet(addr: &SocketAddr) -> SockAddr {
        let mut out = SockAddr::empty();
        match addr {
            SocketAddr::V4(a) => out.put(libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            }),
            SocketAddr::V6(a) => out.put(libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            }),
        }
        out
    }

    /// A unix socket path. A path starting with a NUL byte names an
    /// address in Linux's abstract namespace.
    pub(crate) fn from_path(path: &Path) -> io::Result<SockAddr> {
        let bytes = path.as_os_str().as_bytes();
        let abstract_name = bytes.first() == Some(&0);
        let invalid = |msg| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        let mut un = libc::sockaddr_un {
            sun_family: libc::AF_UNIX as libc::sa_family_t,
            sun_path: [0; 108],
        };
        if bytes.len() >= un.sun_path.len() {
            return invalid("unix socket path must be shorter than 108 bytes");
        }
        if !abstract_name && bytes.contains(&0) {
            return invalid("unix socket path must not contain NUL bytes");
        }
        for (dst, src) in un.sun_path.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        let mut out = SockAddr::empty();
        out.put(un);
        // A path name counts its terminating NUL; an abstract name does not.
        let nul = usize::from(!abstract_name && !bytes.is_empty());
        out.len = (mem::offset_of!(libc::sockaddr_un, sun_path) + bytes.len() + nul) as _;
        Ok(out)
    }

    /// As an IPv4 or IPv6 address.
    pub(crate) fn to_inet(&self) -> io::Result<SocketAddr> {
        match self.family() {
            libc::AF_INET => {
                let sin: libc::sockaddr_in = self.get();
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Ok(SocketAddrV4::new(ip, u16::from_be(sin.sin_port)).into())
            }
            libc::AF_INET6 => {
                let sin6: libc::sockaddr_in6 = self.get();
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                let port = u16::from_be(sin6.sin6_port);
                Ok(SocketAddrV6::new(ip, port, sin6.sin6_flowinfo, sin6.sin6_scope_id).into())
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not an IPv4 or IPv6 socket address",
            )),
        }
    }

    /// As a unix socket address: a path, an abstract name, or unnamed.
    /// The kernel reports an unbound datagram sender with length 0 (not
    /// even a family); that is unnamed too.
    pub(crate) fn to_unix(&self) -> io::Result<UnixAddr> {
        if self.len != 0 && self.family() != libc::AF_UNIX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a unix socket address",
            ));
        }
        let un: libc::sockaddr_un = self.get();
        let offset = mem::offset_of!(libc::sockaddr_un, sun_path);
        let len = (self.len as usize)
            .saturating_sub(offset)
            .min(un.sun_path.len());
        let mut bytes = [0u8; 108];
        for (dst, src) in bytes.iter_mut().zip(&un.sun_path[..len]) {
            *dst = *src as u8;
        }
        let bytes = &bytes[..len];
        match bytes.first() {
            // No path: an unnamed socket (unbound, or one end of a pair).
            // std has no constructor for that; an empty path name yields
            // exactly that address (a unit test checks it).
            None => UnixAddr::from_pathname(""),
            Some(0) => UnixAddr::from_abstract_name(&bytes[1..]),
            Some(_) => {
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(len);
                UnixAddr::from_pathname(OsStr::from_bytes(&bytes[..end]))
            }
        }
    }
}

#[cfg(test)]
#[path = "sockaddr_tests.rs"]
mod tests;
