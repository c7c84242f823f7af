//! Adapters between spindle's IO traits and the two other sets of async IO
//! traits in the ecosystem: futures-io's (feature `futures-io`) and tokio's
//! (feature `tokio-io`).
//!
//! # Why an adapter type
//!
//! Rust has three look-alike families of async IO traits: spindle's
//! [`io::AsyncRead`](crate::io::AsyncRead) and friends, `futures_io::AsyncRead`
//! (used by async-std, smol, futures-util and crates built on them) and
//! `tokio::io::AsyncRead` (used by tokio-util's codecs, tokio-rustls and many
//! more). A library written against one family cannot take a stream that
//! implements another. Implementing the foreign traits directly on
//! spindle's sockets would fix that, but then a `TcpStream` would have two
//! `AsyncRead`s, and with both extension traits in scope `stream.read(..)`
//! becomes ambiguous (error E0034). So spindle's types keep only spindle's
//! traits, and the bridge is a wrapper you put on when you hand a stream to
//! a library of the other family:
//!
//! * [`Compat<T>`] around a **spindle** stream implements futures-io's
//!   `AsyncRead`/`AsyncWrite`/`AsyncBufRead` and tokio's
//!   `AsyncRead`/`AsyncWrite`/`AsyncBufRead`/`AsyncSeek`. Get one with
//!   [`CompatExt::compat`] (readers and reader-writers) or
//!   [`CompatWriteExt::compat_write`] (write-only streams).
//! * [`Compat<T>`] around a **futures-io** stream ([`Compat::new`])
//!   implements spindle's traits.
//! * [`TokioCompat<T>`] around a **tokio** stream implements spindle's traits
//!   (`AsyncSeek` included).
//!   It is a separate type because one `Compat<T>` cannot implement spindle's
//!   `AsyncRead` both "when `T` is a futures-io reader" and "when `T` is a
//!   tokio reader": Rust forbids the two overlapping impls, since some `T`
//!   might be both.
//!
//! Every wrapper forwards each call to the inner stream and translates only
//! the shapes that differ: futures-io's `poll_close` is spindle's
//! `poll_shutdown`, and tokio's `poll_read` fills a `ReadBuf` instead of
//! returning a count (see below). Nothing is buffered or copied by the
//! wrapper itself, and [`get_ref`](Compat::get_ref),
//! [`get_mut`](Compat::get_mut) and [`into_inner`](Compat::into_inner) give
//! the stream back.
//!
//! # tokio's `ReadBuf`
//!
//! tokio's `poll_read` receives a `ReadBuf`: a buffer whose tail may still be
//! uninitialized memory. spindle's `poll_read` takes `&mut [u8]`, which must
//! be initialized (handing uninitialized bytes to safe code as a `&[u8]` is
//! undefined behaviour). The adapter therefore reads into the part of the
//! `ReadBuf` that is already initialized and, when there is none, zeroes a
//! bounded stretch first (at most 64 KiB, so a reader that hands in a huge
//! empty buffer does not pay to zero all of it on every read). `ReadBuf`
//! remembers what it has initialized, so a caller that reuses its buffer
//! pays for zeroing once. This needs no `unsafe`.
//!
//! ```
//! # #[cfg(all(feature = "futures-io", feature = "tokio-io"))]
//! # fn main() -> std::io::Result<()> {
//! use spindle_runtime::compat::CompatExt;
//! use spindle_runtime::io::duplex;
//!
//! spindle_runtime::block_on(async {
//!     let (ours, theirs) = duplex(64);
//!     // `ours` is a spindle stream; `ours.compat()` is a futures-io
//!     // and a tokio stream, for libraries written against either.
//!     let _for_a_futures_io_library = ours.compat();
//!     # drop(theirs);
//!     Ok(())
//! })
//! # }
//! # #[cfg(not(all(feature = "futures-io", feature = "tokio-io")))]
//! # fn main() {}
//! ```

#![forbid(unsafe_code)]

use std::pin::Pin;

#[cfg(feature = "futures-io")]
mod futures_io_impls;
#[cfg(feature = "tokio-io")]
mod tokio_io_impls;

#[cfg(feature = "tokio-io")]
pub use tokio_io_impls::TokioCompat;

pin_project_lite::pin_project! {
    /// A stream seen through another family's IO traits: a spindle stream as
    /// a futures-io and tokio stream, or a futures-io stream as a spindle
    /// stream. See the [module docs](self).
    #[derive(Debug, Clone, Default)]
    pub struct Compat<T> {
        #[pin]
        inner: T,
    }
}

impl<T> Compat<T> {
    /// Wraps `inner`. For a spindle stream, [`CompatExt::compat`] says the
    /// same thing at the call site.
    pub fn new(inner: T) -> Self {
        Compat { inner }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably. Reading or writing through it directly
    /// is fine: the wrapper keeps no state of its own.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// The wrapped stream, pinned.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut T> {
        self.project().inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

/// `.compat()` on spindle readers (and reader-writers such as `TcpStream`):
/// wraps the stream in a [`Compat`], which implements the futures-io and
/// tokio traits.
pub trait CompatExt: crate::io::AsyncRead {
    /// Wraps `self` in a [`Compat`].
    fn compat(self) -> Compat<Self>
    where
        Self: Sized,
    {
        Compat::new(self)
    }
}

impl<T: crate::io::AsyncRead + ?Sized> CompatExt for T {}

/// `.compat_write()` on spindle writers that do not read (a `WriteHalf`, a
/// `BufWriter` over one): wraps the stream in a [`Compat`]. Reader-writers
/// can use [`CompatExt::compat`] instead; the result is the same.
pub trait CompatWriteExt: crate::io::AsyncWrite {
    /// Wraps `self` in a [`Compat`].
    fn compat_write(self) -> Compat<Self>
    where
        Self: Sized,
    {
        Compat::new(self)
    }
}

impl<T: crate::io::AsyncWrite + ?Sized> CompatWriteExt for T {}
