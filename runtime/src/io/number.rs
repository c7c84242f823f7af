//! Reading and writing numbers in binary: the futures behind
//! `AsyncReadExt::read_u32` / `read_f64_le` / ... and
//! `AsyncWriteExt::write_u32` / ..., and the macros that declare those
//! methods on the two traits.
//!
//! Every integer and float type has a big-endian method (network byte
//! order, the usual choice for protocols: `read_u32`) and a little-endian
//! twin (`read_u32_le`); `u8` and `i8` have one byte and no order. A read
//! fills a 16-byte array (room for a `u128`) with exactly the type's size
//! and then decodes it; a write encodes into the array first and writes it
//! all. Neither is cancel safe: bytes moved before the future is dropped
//! are lost to the caller, as with `read_exact` and `write_all`.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::{AsyncRead, AsyncWrite};

/// Room for the largest number type, `u128`.
const MAX_SIZE: usize = 16;

/// Future returned by the `read_*` number methods of
/// [`AsyncReadExt`](super::AsyncReadExt) (`read_u8`, `read_i32_le`,
/// `read_f64`, ...): resolves to the number once all its bytes are read.
///
/// Fails with `UnexpectedEof` if the stream ends first.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ReadNumber<'a, R: ?Sized, N> {
    reader: &'a mut R,
    buf: [u8; MAX_SIZE],
    len: usize,
    filled: usize,
    decode: fn(&[u8]) -> N,
}

impl<'a, R: ?Sized, N> ReadNumber<'a, R, N> {
    /// Reads `len` bytes and turns them into a number with `decode`.
    pub(super) fn new(reader: &'a mut R, len: usize, decode: fn(&[u8]) -> N) -> Self {
        debug_assert!(len <= MAX_SIZE);
        ReadNumber {
            reader,
            buf: [0; MAX_SIZE],
            len,
            filled: 0,
            decode,
        }
    }
}

impl<R: AsyncRead + Unpin + ?Sized, N> Future for ReadNumber<'_, R, N> {
    type Output = io::Result<N>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        while this.filled < this.len {
            let unfilled = &mut this.buf[this.filled..this.len];
            match ready!(Pin::new(&mut *this.reader).poll_read(cx, unfilled)) {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "stream ended after {} of the number's {} bytes",
                            this.filled, this.len
                        ),
                    )))
                }
                Ok(n) => this.filled += n.min(unfilled.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok((this.decode)(&this.buf[..this.len])))
    }
}

impl<R: ?Sized, N> fmt::Debug for ReadNumber<'_, R, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadNumber")
            .field("len", &self.len)
            .field("filled", &self.filled)
            .finish_non_exhaustive()
    }
}

/// Future returned by the `write_*` number methods of
/// [`AsyncWriteExt`](super::AsyncWriteExt) (`write_u8`, `write_i32_le`,
/// `write_f64`, ...): resolves once all the number's bytes are written.
///
/// Fails with `WriteZero` if the writer accepts zero bytes.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct WriteNumber<'a, W: ?Sized> {
    writer: &'a mut W,
    buf: [u8; MAX_SIZE],
    len: usize,
    written: usize,
}

impl<'a, W: ?Sized> WriteNumber<'a, W> {
    /// Writes `bytes` (a number's encoding, at most 16 bytes).
    pub(super) fn new(writer: &'a mut W, bytes: &[u8]) -> Self {
        let mut buf = [0; MAX_SIZE];
        buf[..bytes.len()].copy_from_slice(bytes);
        WriteNumber {
            writer,
            buf,
            len: bytes.len(),
            written: 0,
        }
    }
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for WriteNumber<'_, W> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        while this.written < this.len {
            let rest = &this.buf[this.written..this.len];
            match ready!(Pin::new(&mut *this.writer).poll_write(cx, rest)) {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "writer accepted zero bytes",
                    )))
                }
                Ok(n) => this.written += n.min(rest.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<W: ?Sized> fmt::Debug for WriteNumber<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteNumber")
            .field("len", &self.len)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

/// Declares `read_*` methods inside `AsyncReadExt`: one per
/// `name: type, from_bytes_fn, "byte order";` line.
macro_rules! read_number_methods {
    ($($name:ident: $ty:ty, $from:ident, $order:literal;)*) => {$(
        #[doc = concat!("Reads a ", $order, " `", stringify!($ty), "` (",
            stringify!($ty), "::", stringify!($from), ").")]
        ///
        /// Fails with `UnexpectedEof` if the stream ends first. Not cancel
        /// safe: bytes read before the future is dropped are lost.
        fn $name(&mut self) -> $crate::io::number::ReadNumber<'_, Self, $ty>
        where
            Self: Unpin,
        {
            $crate::io::number::ReadNumber::new(self, ::std::mem::size_of::<$ty>(), |bytes| {
                let mut array = [0; ::std::mem::size_of::<$ty>()];
                array.copy_from_slice(bytes);
                <$ty>::$from(array)
            })
        }
    )*};
}

/// Declares `write_*` methods inside `AsyncWriteExt`: one per
/// `name: type, to_bytes_fn, "byte order";` line.
macro_rules! write_number_methods {
    ($($name:ident: $ty:ty, $to:ident, $order:literal;)*) => {$(
        #[doc = concat!("Writes `n` as a ", $order, " `", stringify!($ty), "` (",
            stringify!($ty), "::", stringify!($to), ").")]
        ///
        /// Fails with `WriteZero` if the writer accepts zero bytes. Not
        /// cancel safe: bytes written before the future is dropped stay
        /// written.
        fn $name(&mut self, n: $ty) -> $crate::io::number::WriteNumber<'_, Self>
        where
            Self: Unpin,
        {
            $crate::io::number::WriteNumber::new(self, &n.$to())
        }
    )*};
}

pub(super) use {read_number_methods, write_number_methods};
