//! Splitting a stream into a read half and a write half, for TCP and unix
//! streams alike.
//!
//! * `split(&mut self)` lends the stream's socket to a `ReadHalf` and a
//!   `WriteHalf`: free, but both stay in the borrowing task (use them in
//!   one `select`-style future, or read and write from two futures joined
//!   together).
//! * `into_split(self)` moves the socket into an `Arc` shared by an
//!   `OwnedReadHalf` and an `OwnedWriteHalf`, which can go to different
//!   tasks. Dropping the owned write half shuts down the write direction
//!   (the peer reads end of stream) even while the read half lives on; the
//!   socket itself closes when both halves are gone.
//!
//! Both halves work on the same descriptor at once without locking: the
//! driver keeps one waker per direction, so a reader waiting for data and a
//! writer waiting for buffer space wait independently.
//!
//! The four types are the same for every stream family, so
//! `define_halves!` declares them once per family module.

use std::ops::Deref;
use std::sync::Arc;

use super::socket::Socket;

/// The socket of an owned write half: shared with the read half; shuts
/// down the write direction when dropped.
#[derive(Debug)]
pub(crate) struct ShutdownOnDrop(Arc<Socket>);

impl Deref for ShutdownOnDrop {
    type Target = Socket;

    fn deref(&self) -> &Socket {
        &self.0
    }
}

impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        // A connection already gone counts as shut down; any other error
        // has no one to be reported to from a destructor.
        let _ = self.0.shutdown_write();
    }
}

/// Moves `sock` into the shared form the owned halves hold.
pub(crate) fn share(sock: Socket) -> (Arc<Socket>, ShutdownOnDrop) {
    let sock = Arc::new(sock);
    (sock.clone(), ShutdownOnDrop(sock))
}

/// Declares `OwnedReadHalf`, `OwnedWriteHalf`, `ReadHalf` and `WriteHalf`
/// for the stream type `$stream` (which holds its socket in `sock`), and
/// gives `$stream` its `split` and `into_split` methods. `$addrs` is the
/// `forward_methods!` arm for the family's addresses.
macro_rules! define_halves {
    ($stream:ident, $addrs:ident) => {
        #[doc = concat!("The read half of a [`", stringify!($stream), "`], made by [`",
                    stringify!($stream), "::into_split`]; it can move to its own task.")]
        #[derive(Debug)]
        pub struct OwnedReadHalf {
            sock: ::std::sync::Arc<$crate::net::socket::Socket>,
        }

        #[doc = concat!("The write half of a [`", stringify!($stream), "`], made by [`",
                    stringify!($stream), "::into_split`]; it can move to its own task.\n\n",
                    "Dropping it shuts down the write direction: the peer reads end of stream.")]
        #[derive(Debug)]
        pub struct OwnedWriteHalf {
            sock: $crate::net::split::ShutdownOnDrop,
        }

        #[doc = concat!("The read half of a borrowed [`", stringify!($stream), "`], made by [`",
                    stringify!($stream), "::split`].")]
        #[derive(Debug)]
        pub struct ReadHalf<'a> {
            sock: &'a $crate::net::socket::Socket,
        }

        #[doc = concat!("The write half of a borrowed [`", stringify!($stream), "`], made by [`",
                    stringify!($stream), "::split`].")]
        #[derive(Debug)]
        pub struct WriteHalf<'a> {
            sock: &'a $crate::net::socket::Socket,
        }

        impl $stream {
            /// Splits the stream into a read half and a write half that
            /// borrow it: both must stay in this task. See
            /// [`into_split`](Self::into_split) for halves that can move.
            pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
                (
                    ReadHalf { sock: &self.sock },
                    WriteHalf { sock: &self.sock },
                )
            }

            /// Splits the stream into a read half and a write half that own
            /// it together (an `Arc`), so each can move to its own task.
            pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
                let (read, write) = $crate::net::split::share(self.sock);
                (OwnedReadHalf { sock: read }, OwnedWriteHalf { sock: write })
            }
        }

        impl OwnedReadHalf {
            $crate::net::forward::forward_methods!($addrs, read_half);
        }

        impl OwnedWriteHalf {
            $crate::net::forward::forward_methods!($addrs, write_half);
        }

        impl ReadHalf<'_> {
            $crate::net::forward::forward_methods!($addrs, read_half);
        }

        impl WriteHalf<'_> {
            $crate::net::forward::forward_methods!($addrs, write_half);
        }

        $crate::net::forward::impl_async_read!(OwnedReadHalf);
        $crate::net::forward::impl_async_read!(ReadHalf<'_>);
        $crate::net::forward::impl_async_write!(OwnedWriteHalf);
        $crate::net::forward::impl_async_write!(WriteHalf<'_>);
        $crate::net::forward::impl_hyper_read!(OwnedReadHalf);
        $crate::net::forward::impl_hyper_write!(OwnedWriteHalf);
    };
}

pub(crate) use define_halves;
