//! The halves of a [`TcpStream`]: see `net/split.rs` for how splitting
//! works; the types are declared by the macro there.

use super::stream::TcpStream;

crate::net::split::define_halves!(TcpStream, inet_addrs);
