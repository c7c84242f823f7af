//! The halves of a [`UnixStream`]: see `net/split.rs` for how splitting
//! works; the types are declared by the macro there.

use super::stream::UnixStream;

crate::net::split::define_halves!(UnixStream, unix_addrs);
