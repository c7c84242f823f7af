//! Macros that give the public socket types the methods and trait impls
//! that are identical for every address family.
//!
//! Each public type holds its [`Socket`](super::socket::Socket) in a field
//! named `sock` (directly, by reference or in an `Arc`), so one macro body
//! serves `TcpStream`, `UnixStream`, their halves, `UdpSocket` and
//! `UnixDatagram` alike. What differs between families (addresses,
//! options, construction) is written out in each type's own file.
//!
//! * `forward_methods!(readable, try_read, ...)` inside an `impl` block
//!   adds the named inherent methods. The groups `read_half`, `write_half`
//!   and `stream` (both halves, `take_error`, `shutdown_std`) name the sets
//!   the stream types share.
//! * `impl_async_read!(Type)` / `impl_async_write!(Type)` implement
//!   [`AsyncRead`](crate::io::AsyncRead) / [`AsyncWrite`](crate::io::AsyncWrite).
//! * `impl_fd!(Type)` implements `AsFd` and `AsRawFd`.
//! * `impl_hyper_read!(Type)` / `impl_hyper_write!(Type)` implement
//!   `hyper::rt::Read` / `hyper::rt::Write` with the `hyper` feature, and
//!   expand to nothing without it.

/// Adds inherent methods that forward to `self.sock`; see the module docs.
macro_rules! forward_methods {
    (readable) => {
        /// Waits until the socket is readable: data, a datagram or end of
        /// stream is waiting, or an error is pending. Then call `try_read`
        /// (or `try_recv`): readiness can be a false positive, in which case
        /// it fails with `WouldBlock` and you wait again.
        pub async fn readable(&self) -> ::std::io::Result<()> {
            self.sock.ready($crate::driver::Direction::Read).await
        }
    };
    (writable) => {
        /// Waits until the socket is writable: there is room in the send
        /// buffer, or an error is pending. Then call `try_write` (or
        /// `try_send`), which may still fail with `WouldBlock`.
        pub async fn writable(&self) -> ::std::io::Result<()> {
            self.sock.ready($crate::driver::Direction::Write).await
        }
    };
    (ready) => {
        /// Waits until the socket is (believed) ready for any of
        /// `interest`, and returns what it is ready for: readable,
        /// writable, read or write closed, error. Then try the operation
        /// (`try_read`, `try_write`, ...): readiness can be a false
        /// positive, answered with `WouldBlock`, after which you wait again.
        /// Any number of tasks may wait at once; cancel safe.
        pub async fn ready(
            &self,
            interest: $crate::io::Interest,
        ) -> ::std::io::Result<$crate::io::Ready> {
            self.sock.ready_for(interest).await
        }
    };
    (try_read) => {
        /// Reads what is available into `buf` without waiting.
        ///
        /// `Ok(0)` with a non-empty `buf` means end of stream; an empty
        /// `buf` gives `Ok(0)` at once. Fails with `WouldBlock` if no data is
        /// ready; wait with `readable` and try again.
        pub fn try_read(&self, buf: &mut [u8]) -> ::std::io::Result<usize> {
            self.sock.try_read(buf)
        }
    };
    (try_read_vectored) => {
        /// Like `try_read`, filling several buffers in order (`readv`).
        pub fn try_read_vectored(
            &self,
            bufs: &mut [::std::io::IoSliceMut<'_>],
        ) -> ::std::io::Result<usize> {
            self.sock.try_read_vectored(bufs)
        }
    };
    (try_write) => {
        /// Writes as much of `buf` as fits in the send buffer, without
        /// waiting. Fails with `WouldBlock` if it is full; wait with
        /// `writable` and try again. Never raises `SIGPIPE`: writing to a
        /// reset connection is an `EPIPE`/`ECONNRESET` error.
        pub fn try_write(&self, buf: &[u8]) -> ::std::io::Result<usize> {
            self.sock.try_write(buf)
        }
    };
    (try_write_vectored) => {
        /// Like `try_write`, taking the data from several buffers in order
        /// (`sendmsg`).
        pub fn try_write_vectored(&self, bufs: &[::std::io::IoSlice<'_>]) -> ::std::io::Result<usize> {
            self.sock.try_write_vectored(bufs)
        }
    };
    (send) => {
        /// Sends `buf` as one datagram to the connected peer, waiting for
        /// room in the send buffer. Returns the number of bytes sent.
        pub async fn send(&self, buf: &[u8]) -> ::std::io::Result<usize> {
            self.sock.send(buf).await
        }
    };
    (recv) => {
        /// Receives one datagram from the connected peer into `buf`, waiting
        /// for one to arrive. A datagram longer than `buf` is truncated.
        pub async fn recv(&self, buf: &mut [u8]) -> ::std::io::Result<usize> {
            self.sock.recv(buf).await
        }
    };
    (try_send) => {
        /// Sends one datagram to the connected peer without waiting; fails
        /// with `WouldBlock` if the send buffer is full.
        pub fn try_send(&self, buf: &[u8]) -> ::std::io::Result<usize> {
            self.sock.try_send(buf)
        }
    };
    (try_recv) => {
        /// Receives one datagram without waiting; fails with `WouldBlock`
        /// if none is queued.
        pub fn try_recv(&self, buf: &mut [u8]) -> ::std::io::Result<usize> {
            self.sock.try_recv(buf)
        }
    };
    (peek) => {
        /// Reads into `buf` without taking the data off the receive queue
        /// (`MSG_PEEK`), waiting until some is available: the next read
        /// returns the same bytes. `Ok(0)` means end of stream.
        pub async fn peek(&self, buf: &mut [u8]) -> ::std::io::Result<usize> {
            self.sock.peek(buf).await
        }
    };
    (inet_addrs) => {
        /// The local address of the socket.
        pub fn local_addr(&self) -> ::std::io::Result<::std::net::SocketAddr> {
            self.sock.local_addr()?.to_inet()
        }

        /// The address of the connected peer; `NotConnected` if there is none.
        pub fn peer_addr(&self) -> ::std::io::Result<::std::net::SocketAddr> {
            self.sock.peer_addr()?.to_inet()
        }
    };
    (unix_addrs) => {
        /// The local address of the socket: a path, or unnamed.
        pub fn local_addr(&self) -> ::std::io::Result<::std::os::unix::net::SocketAddr> {
            self.sock.local_addr()?.to_unix()
        }

        /// The address of the connected peer; `NotConnected` if there is none.
        pub fn peer_addr(&self) -> ::std::io::Result<::std::os::unix::net::SocketAddr> {
            self.sock.peer_addr()?.to_unix()
        }
    };
    (ttl) => {
        /// Sets the IP time-to-live (`IP_TTL`) of outgoing packets.
        pub fn set_ttl(&self, ttl: u32) -> ::std::io::Result<()> {
            let fd = ::std::os::fd::AsFd::as_fd(&self.sock);
            $crate::sys::socket::set_opt(fd, $crate::sys::socket::Opt::Ttl, ttl)
        }

        /// The IP time-to-live (see [`set_ttl`](Self::set_ttl)).
        pub fn ttl(&self) -> ::std::io::Result<u32> {
            let fd = ::std::os::fd::AsFd::as_fd(&self.sock);
            $crate::sys::socket::opt(fd, $crate::sys::socket::Opt::Ttl)
        }
    };
    (take_error) => {
        /// Takes the socket's pending error (`SO_ERROR`), if any, clearing it.
        pub fn take_error(&self) -> ::std::io::Result<Option<::std::io::Error>> {
            self.sock.take_error()
        }
    };
    (shutdown_std) => {
        /// Shuts down the read side, the write side or both, at once.
        ///
        /// Reports what the kernel says, like `std`'s `shutdown`: on a
        /// connection the peer already reset that is `NotConnected`, which
        /// [`AsyncWriteExt::shutdown`](crate::io::AsyncWriteExt::shutdown)
        /// takes as success.
        ///
        /// Named `shutdown_std` so it does not hide
        /// [`AsyncWriteExt::shutdown`](crate::io::AsyncWriteExt::shutdown),
        /// which shuts down the write side and is what most code wants.
        pub fn shutdown_std(&self, how: ::std::net::Shutdown) -> ::std::io::Result<()> {
            self.sock.shutdown(how)
        }
    };
    (read_half) => {
        $crate::net::forward::forward_methods!(readable, try_read, try_read_vectored, peek);
    };
    (write_half) => {
        $crate::net::forward::forward_methods!(writable, try_write, try_write_vectored);
    };
    (stream) => {
        $crate::net::forward::forward_methods!(read_half, write_half, ready, take_error, shutdown_std);
    };
    ($($name:ident),+ $(,)?) => {
        $($crate::net::forward::forward_methods!($name);)+
    };
}

/// Implements `AsyncRead` for `$ty` through `self.sock`.
macro_rules! impl_async_read {
    ($ty:ty) => {
        impl $crate::io::AsyncRead for $ty {
            fn poll_read(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &mut [u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                self.sock.poll_read(cx, buf)
            }
        }
    };
}

/// Implements a write trait for `$ty` through `self.sock`: spindle's
/// `AsyncWrite`, and hyper's `rt::Write` (feature `hyper`), whose methods
/// have the same signatures. Writes go out at once (flush does nothing);
/// shutdown shuts down the write side, and succeeds if the connection is
/// already gone (see `Socket::shutdown_write`).
macro_rules! impl_write_trait {
    ($trait:path, $ty:ty) => {
        impl $trait for $ty {
            fn poll_write(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &[u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                self.sock.poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                self.sock.poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(
                self: ::std::pin::Pin<&mut Self>,
                _: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::std::task::Poll::Ready(Ok(()))
            }

            fn poll_shutdown(
                self: ::std::pin::Pin<&mut Self>,
                _: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::std::task::Poll::Ready(self.sock.shutdown_write())
            }
        }
    };
}

/// Implements `AsyncWrite` for `$ty` through `self.sock` (see `impl_write_trait`).
macro_rules! impl_async_write {
    ($ty:ty) => {
        $crate::net::forward::impl_write_trait!($crate::io::AsyncWrite, $ty);
    };
}

/// Implements `hyper::rt::Read` for `$ty` through `self.sock` (feature
/// `hyper`). hyper hands over a cursor into its own buffer, whose free part
/// is uninitialized memory: `recv` writes straight into it
/// (`Socket::poll_recv_uninit`) and the cursor is advanced by what arrived.
/// Nothing is zeroed and nothing is copied.
#[cfg(feature = "hyper")]
macro_rules! impl_hyper_read {
    ($ty:ty) => {
        impl ::hyper::rt::Read for $ty {
            fn poll_read(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                mut buf: ::hyper::rt::ReadBufCursor<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                // SAFETY: `as_mut` asks that we never de-initialize bytes
                // of the cursor: `recv` only writes bytes it received.
                let unfilled = unsafe { buf.as_mut() };
                let n = ::std::task::ready!(self.sock.poll_recv_uninit(cx, unfilled))?;
                // SAFETY: `poll_recv_uninit` returned `Ok(n)`: the kernel
                // wrote the first `n` bytes of the cursor.
                unsafe { buf.advance(n) };
                ::std::task::Poll::Ready(Ok(()))
            }
        }
    };
}

/// Implements `hyper::rt::Write` for `$ty` through `self.sock` (feature
/// `hyper`), with the same semantics as `impl_async_write`.
#[cfg(feature = "hyper")]
macro_rules! impl_hyper_write {
    ($ty:ty) => {
        $crate::net::forward::impl_write_trait!(::hyper::rt::Write, $ty);
    };
}

/// Without the `hyper` feature the hyper impls are left out.
#[cfg(not(feature = "hyper"))]
macro_rules! impl_hyper_read {
    ($ty:ty) => {};
}

/// Without the `hyper` feature the hyper impls are left out.
#[cfg(not(feature = "hyper"))]
macro_rules! impl_hyper_write {
    ($ty:ty) => {};
}

/// Implements `AsFd` and `AsRawFd` for `$ty` through `self.sock`.
macro_rules! impl_fd {
    ($ty:ty) => {
        impl ::std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                ::std::os::fd::AsFd::as_fd(&self.sock)
            }
        }

        impl ::std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                ::std::os::fd::AsRawFd::as_raw_fd(&::std::os::fd::AsFd::as_fd(&self.sock))
            }
        }
    };
}

pub(crate) use {
    forward_methods, impl_async_read, impl_async_write, impl_fd, impl_hyper_read, impl_hyper_write,
    impl_write_trait,
};
